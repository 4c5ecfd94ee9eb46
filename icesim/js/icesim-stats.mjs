// icesim getStats(): what the RTCStatsReport holds at a moment of the replay, per family.
//
// Self-contained like the other icesim-*.mjs parts. `slot` is an RTCPeerConnection's state
// (sldResolved, eventIndex, closed, channels, statsIds).

export function icesimStats(global, family, doc) {
  const { Math, Set, WeakMap, String, Array } = global;
  // getStats(): the document's entries due so far (from event i on; -1: once SLD resolved) and,
  // unless the document carries them, the entries every report has (capture, API_FACTS.md).
  const statsEntries = Array.isArray(doc.stats) ? doc.stats : [];
  const offerSdp = String(doc.offer_sdp || "");
  const docStatTypes = new Set(statsEntries.map(([, entry]) => entry.type));
  const ufrag = (statsEntries.map(([, e]) => e.usernameFragment).find(Boolean))
    || ((/a=ice-ufrag:(\S+)/.exec(offerSdp) || [])[1]) || "";
  let seed = 2166136261;
  for (const ch of String(doc.session_id || "")) seed = Math.imul(seed ^ ch.charCodeAt(0), 16777619) >>> 0;
  const hex = (digits) => {
    let out = "";
    while (out.length < digits) {
      seed = Math.imul(seed ^ (seed >>> 15), 2246822507) >>> 0;
      seed = (seed + 0x9e3779b9) >>> 0;
      out += seed.toString(16).padStart(8, "0");
    }
    return out.slice(0, digits);
  };
  const channelNumbers = new WeakMap();
  let channelsMade = 0;
  function statsIdsOf(slot) {
    if (!slot.statsIds) {
      slot.statsIds = family.statsIds === "firefox"
        ? { pc: "{" + [hex(8), hex(4), "4" + hex(3), "a" + hex(3), hex(12)].join("-") + "}",
          transport: hex(8).replace(/^0+/, ""), channel: (i) => hex(8).replace(/^0+/, "") }
        // libwebrtc: "D" + the channel's internal id, a page-wide counter from 1 (the capture
        // page's third channel was D3).
        : { pc: "P", transport: "T01", channel: (i) => "D" + channelNumbers.get(slot.channels[i]) };
      slot.statsIds.channels = [];
    }
    return slot.statsIds;
  }
  function entriesNow(slot) {
    const ids = statsIdsOf(slot);
    const firefox = family.statsIds === "firefox";
    const pc = docStatTypes.has("peer-connection") ? []
      : [{ id: ids.pc, type: "peer-connection", dataChannelsClosed: 0, dataChannelsOpened: 0 }];
    // Gecko drops a closed channel from the report (capture).
    const channels = docStatTypes.has("data-channel") || (slot.closed && firefox) ? [] : slot.channels.map((channel, i) => {
      if (!ids.channels[i]) ids.channels[i] = ids.channel(i);
      return { id: ids.channels[i], type: "data-channel", bytesReceived: 0, bytesSent: 0, label: channel.label,
        messagesReceived: 0, messagesSent: 0, protocol: channel.protocol, state: channel.readyState };
    });
    // The document's entries due so far; its peer-connection entry is there from the start.
    const due = statsEntries.filter(([index, entry]) => entry.type === "peer-connection"
      || (slot.sldResolved && Number(index) <= slot.eventIndex)).map(([, entry]) => entry);
    const duePc = due.filter((entry) => entry.type === "peer-connection");
    const candidates = due.filter((entry) => entry.type !== "peer-connection");
    const transport = !slot.sldResolved || docStatTypes.has("transport") ? [] : [firefox
      ? { id: ids.transport, type: "transport", dtlsState: "new", iceLocalUsernameFragment: ufrag,
        iceRole: "controlling", iceState: "checking" }
      : { id: ids.transport, type: "transport", bytesReceived: 0, bytesSent: 0, dtlsRole: "unknown",
        dtlsState: "new", iceLocalUsernameFragment: ufrag, iceRole: "controlling", iceState: "new",
        packetsReceived: 0, packetsSent: 0, selectedCandidatePairChanges: 0 }];
    let all = pc.concat(duePc, channels, candidates, transport);
    // Chromium: after close() the report holds the peer-connection entry only (capture).
    if (slot.closed && family.statsAfterClose === "peer-connection") all = all.filter((e) => e.type === "peer-connection");
    // Chromium's report is a map sorted by id; Gecko lists pc, channels, candidates, transport.
    return firefox ? all : all.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  return {
    entriesNow,
    channelCreated(channel) {
      channelsMade += 1;
      channelNumbers.set(channel, channelsMade);
    },
  };
}
