"""Per-browser API facts the module must reproduce, as captured from Chromium 156 and Firefox ESR 153.

Expected values come from the API captures (tests/data/{chromium156,firefox}/api/,
summarised in tests/data/API_FACTS.md).
"""

from __future__ import annotations

import pytest
from js_helpers import fixture_doc, needs_node, replay, write_detector

pytestmark = needs_node

FACTS = r"""
function facts(callback) {
  const out = {};
  const attempt = (label, fn) => {
    try { out[label] = ["ok", fn()]; } catch (e) { out[label] = [e.name, e.message]; }
  };
  attempt("noNew", () => RTCPeerConnection());
  out.parent = Object.getPrototypeOf(RTCPeerConnection) === EventTarget
    && Object.getPrototypeOf(RTCPeerConnectionIceEvent) === Event;
  out.constructorIsGlobal = RTCPeerConnection.prototype.constructor === RTCPeerConnection;
  out.candidateProto = Object.getOwnPropertyNames(RTCIceCandidate.prototype);
  out.errorProto = Object.getOwnPropertyNames(RTCPeerConnectionIceErrorEvent.prototype);
  out.setterText = Function.prototype.toString.call(
    Object.getOwnPropertyDescriptor(RTCPeerConnection.prototype, "onicecandidate").set);
  out.statics = Object.keys(RTCPeerConnection);
  out.others = ["RTCRtpSender", "RTCRtpReceiver", "RTCRtpTransceiver", "RTCDtlsTransport", "RTCIceTransport",
                "RTCSctpTransport", "RTCCertificate", "RTCDataChannelEvent", "RTCTrackEvent", "RTCError",
                "RTCErrorEvent"].map((n) => typeof window[n] + ":" + window[n].length);
  out.senderMembers = Object.getOwnPropertyNames(RTCRtpSender.prototype);
  attempt("newSender", () => new RTCRtpSender());
  out.webkit = typeof webkitRTCPeerConnection === "function" && webkitRTCPeerConnection === RTCPeerConnection;
  out.lengths = [RTCSessionDescription.length, RTCPeerConnection.prototype.setRemoteDescription.length,
                 RTCStatsReport.prototype.forEach.length];
  attempt("number", () => new RTCPeerConnection(5));
  attempt("serversNull", () => new RTCPeerConnection({ iceServers: null }));
  attempt("noUrls", () => new RTCPeerConnection({ iceServers: [{}] }));
  attempt("badScheme", () => new RTCPeerConnection({ iceServers: [{ urls: "foo:bar" }] }));
  attempt("turnUserOnly", () => new RTCPeerConnection({ iceServers: [{ urls: "turn:x", username: "u" }] }));
  attempt("policy", () => new RTCPeerConnection({ iceTransportPolicy: "foo" }));
  attempt("legacyUrl", () => new RTCPeerConnection({ iceServers: [{ url: "stun:x" }] }).getConfiguration().iceServers);

  const pc = new RTCPeerConnection();
  const channel = pc.createDataChannel("");
  const channelEvents = [];
  channel.onclosing = () => channelEvents.push("closing");
  channel.onclose = () => channelEvents.push("close");
  pc.createOffer().then((offer) => pc.setLocalDescription(offer)).then(() => {
    out.sameDescription = pc.localDescription === pc.localDescription;
  });
  setTimeout(async () => {
    pc.close();
    out.gatheringAfterClose = pc.iceGatheringState;
    attempt("descriptionAfterClose", () => pc.localDescription && pc.localDescription.type);
    out.statsAfterClose = [...(await pc.getStats()).values()].map((e) => e.type);
    await new Promise((r) => setTimeout(r, 10));
    out.channelEvents = channelEvents;
    out.channelState = channel.readyState;
    callback(out);
  }, 1000);
}
"""


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    detector = write_detector(tmp_path_factory.mktemp("facts"), FACTS)
    chrome, firefox = replay(detector, [fixture_doc("chrome_stun"), fixture_doc("firefox_stun")])
    assert chrome["errors"] == [] and firefox["errors"] == []
    return chrome["value"], firefox["value"]


def test_interface_objects(facts):
    chrome, firefox = facts
    assert chrome["noNew"] == ["TypeError", "Failed to construct 'RTCPeerConnection': Please use the 'new' "
                               "operator, this DOM object constructor cannot be called as a function."]
    assert firefox["noNew"] == ["TypeError", "RTCPeerConnection constructor: 'new' is required"]
    for value in facts:
        assert value["parent"] and value["constructorIsGlobal"]
    assert chrome["statics"] == ["generateCertificate", "cancelDiagnosticLogging", "startDiagnosticLogging",
                                 "stopDiagnosticLogging"]
    assert firefox["statics"] == ["generateCertificate"]
    lengths = [0, 0, 0, 0, 0, 0, 0, 2, 2, 1, 2]
    for value in facts:
        assert value["others"] == [f"function:{n}" for n in lengths]
        assert value["newSender"] == ["TypeError", "Illegal constructor"]
    assert chrome["senderMembers"][:4] == ["track", "transport", "rtcpTransport", "dtmf"]
    assert firefox["senderMembers"][:2] == ["setParameters", "getParameters"]
    assert chrome["webkit"] is True and firefox["webkit"] is False
    assert chrome["lengths"] == [0, 1, 1] and firefox["lengths"] == [1, 1, 1]


def test_prototype_member_order_and_accessor_text(facts):
    chrome, firefox = facts
    attributes = ["candidate", "sdpMid", "sdpMLineIndex", "foundation", "component", "priority", "address",
                  "protocol", "port", "type", "tcpType", "relatedAddress", "relatedPort", "usernameFragment"]
    assert chrome["candidateProto"] == attributes + ["relayProtocol", "url", "toJSON", "constructor"]
    assert firefox["candidateProto"] == ["toJSON"] + attributes + ["constructor"]
    # Chrome's order, though the document's error dicts list hostCandidate last.
    assert chrome["errorProto"] == ["address", "port", "hostCandidate", "url", "errorCode", "errorText", "constructor"]
    assert firefox["errorProto"] == ["address", "port", "url", "errorCode", "errorText", "constructor"]
    assert chrome["setterText"] == "function set onicecandidate() { [native code] }"
    assert firefox["setterText"] == "function onicecandidate() {\n    [native code]\n}"


def test_configuration_errors(facts):
    chrome, firefox = facts
    prefix = "Failed to construct 'RTCPeerConnection': "
    assert chrome["number"] == ["TypeError", prefix + "The provided value is not of type 'RTCConfiguration'."]
    assert chrome["serversNull"] == ["TypeError", prefix + "Failed to read the 'iceServers' property from "
                                     "'RTCConfiguration': The provided value cannot be converted to a sequence."]
    assert chrome["noUrls"] == ["TypeError", prefix + "Malformed RTCIceServer"]
    assert chrome["badScheme"] == ["SyntaxError", prefix + "'foo:bar' is not a valid stun or turn URL."]
    assert chrome["turnUserOnly"] == ["InvalidAccessError", prefix + "Both username and credential are required "
                                      "when the URL scheme is \"turn\" or \"turns\"."]
    assert chrome["policy"][0] == "TypeError" and "RTCIceTransportPolicy" in chrome["policy"][1]
    assert firefox["number"] == ["TypeError", "RTCPeerConnection constructor: Argument 1 can't be converted to a "
                                 "dictionary."]
    assert firefox["noUrls"] == ["TypeError", "Missing required 'urls' member of RTCIceServer"]
    assert firefox["badScheme"] == ["SyntaxError", "PeerConnectionImpl.setConfiguration: 'foo:bar' has "
                                    "unsupported scheme 'foo' (must be stun/stuns/turn/turns)"]
    assert firefox["turnUserOnly"] == ["InvalidAccessError", "PeerConnectionImpl.setConfiguration: TURN server "
                                       "requires a credential"]
    assert chrome["legacyUrl"] == ["ok", [{"credential": "", "urls": ["stun:x"], "username": ""}]]
    assert firefox["legacyUrl"] == ["ok", [{"credentialType": "password", "url": "stun:x", "urls": ["stun:x"]}]]


def test_descriptions_stats_and_channels_around_close(facts):
    chrome, firefox = facts
    assert chrome["sameDescription"] is True and firefox["sameDescription"] is False
    assert chrome["gatheringAfterClose"] == firefox["gatheringAfterClose"] == "complete"
    assert chrome["descriptionAfterClose"] == ["ok", "offer"]
    assert firefox["descriptionAfterClose"] == ["InvalidStateError", "Peer connection is closed"]
    assert chrome["statsAfterClose"] == ["peer-connection"]
    assert firefox["statsAfterClose"][0] == "peer-connection" and "local-candidate" in firefox["statsAfterClose"]
    assert "data-channel" not in firefox["statsAfterClose"]
    assert chrome["channelEvents"] == ["closing", "close"] and firefox["channelEvents"] == ["close"]
    assert chrome["channelState"] == firefox["channelState"] == "closed"


SLOW_SLD = r"""
async function slow(callback) {
  const pc = new RTCPeerConnection();
  const seen = [];
  pc.onnegotiationneeded = () => seen.push("negotiationneeded@" + performance.now());
  pc.createDataChannel("");
  const offer = await pc.createOffer();
  seen.push("offer@" + performance.now());
  await new Promise((r) => setTimeout(r, 50));
  await pc.setLocalDescription(offer);
  return seen;
}
"""


def test_negotiationneeded_per_browser_when_the_page_is_slow(tmp_path):
    chrome, firefox = replay(write_detector(tmp_path, SLOW_SLD),
                             [fixture_doc("chrome_stun"), fixture_doc("firefox_stun")])
    # Chromium: just before createOffer resolves; Gecko: in a task after, the page being idle.
    assert chrome["value"] == ["negotiationneeded@12.6", "offer@12.6"]
    assert firefox["value"] == ["offer@40", "negotiationneeded@40"]


STATS_TYPES = r"""
function statsTypes(callback) {
  const pc = new RTCPeerConnection();
  const before = pc.getStats();
  pc.createDataChannel("");
  pc.createOffer().then((o) => pc.setLocalDescription(o));
  setTimeout(async () => {
    const ids = (report) => [...report.values()].map((e) => e.type + ":" + e.id);
    callback({ before: ids(await before), after: ids(await pc.getStats()) });
  }, 1000);
}
"""


def test_document_stats_entries_replace_the_module_ones(tmp_path):
    # The Python side may send peer-connection/transport entries (Gecko order: pc first,
    # transport last); the module then adds only the page's data channel, after the pc entry.
    doc = fixture_doc("firefox_stun")
    doc["stats"] = ([[-1, {"id": "{pc}", "type": "peer-connection", "dataChannelsClosed": 0, "dataChannelsOpened": 0}]]
                    + doc["stats"]
                    + [[-1, {"id": "t1", "type": "transport", "dtlsState": "new", "iceLocalUsernameFragment": "x",
                             "iceRole": "controlling", "iceState": "checking"}]])
    (result,) = replay(write_detector(tmp_path, STATS_TYPES), [doc])
    value = result["value"]
    assert value["before"] == ["peer-connection:{pc}"]
    after = value["after"]
    assert after[0] == "peer-connection:{pc}" and after[1].startswith("data-channel:") and after[-1] == "transport:t1"
    assert [a for a in after if a.startswith("local-candidate")] == [f"local-candidate:{e['id']}" for _, e in doc["stats"][1:-1]]
    assert len(after) == len(doc["stats"]) + 1
