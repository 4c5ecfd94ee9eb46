"""Differences between the browsers' API captures and the replay module that are known, each
explained in tests/data/API_FACTS.md ("Module vs capture", item N). Pure data: a difference
no entry covers fails test_module_matches_capture; an entry that covers nothing any more
fails test_every_known_difference_still_occurs (remove it when the module is fixed).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Known:
    browser: str  # "chromium156" | "firefox" | "*"
    area: str  # api_compare.AREAS
    what: str  # a substring of the difference line
    item: int  # API_FACTS.md, "Module vs capture", item number

    def covers(self, browser: str, area: str, line: str) -> bool:
        return self.browser in ("*", browser) and self.area == area and self.what in line


def _all(browser: str, area: str, item: int, *whats: str) -> tuple[Known, ...]:
    return tuple(Known(browser, area, w, item) for w in whats)


KNOWN: tuple[Known, ...] = (
    # 1: prototype property order (constructor first in the module)
    *_all("*", "surface", 1, ".chain[0].props"),
    *_all("*", "states", 1, "localDescriptionShape.chain[0].props"),
    *_all("*", "events", 1, ".chain[0].props"),
    # 2: createOffer() resolves a plain object in the browsers
    *_all("*", "states", 2, "offer."),
    # 3: RTCSessionDescription setters and length
    *_all("*", "surface", 3, "RTCSessionDescription.prototype.type.", "RTCSessionDescription.prototype.sdp."),
    *_all("firefox", "surface", 3, "RTCSessionDescription.length", "RTCSessionDescription.statics.length",
          "RTCSessionDescription.prototype.constructor.length"),
    # 4: function lengths
    *_all("*", "surface", 4, "setRemoteDescription.length", "RTCDataChannel.prototype.send.length",
          "RTCStatsReport.prototype.forEach.length"),
    # 5: calling RTCPeerConnection without new
    *_all("*", "surface", 5, "surface.callWithoutNew.message"),
    # 6: RTCIceCandidate from an init dictionary
    *_all("*", "surface", 6, ".toJSON.usernameFragment", ".toJSON.sdpMLineIndex", ".attributes.usernameFragment"),
    # 7: the report holds only local candidates
    *_all("*", "stats", 7, "statsAtEnd.types"),
    # 8: getStats() after close()
    *_all("*", "stats", 8, "statsAfterClose."),
    *_all("*", "close", 8, "close.afterClose.getStats."),
    # 9: no data channel event on close()
    *_all("*", "close", 9, "close run order:"),
    # 10: configuration validation and messages
    *_all("*", "badinput", 10, "badInput."),
    # 11: Chrome's localDescription is one object
    *_all("chromium156", "states", 11, "localDescriptionSame"),
    # 12: Chrome's legacy members
    *_all("chromium156", "surface", 12, "DiagnosticLogging", ".addStream", ".removeStream", ".createDTMFSender",
          ".getLocalStreams", ".getRemoteStreams", ".onaddstream", ".onremovestream", ".reliable"),
    # 13: Chrome's constructed error event hostCandidate
    *_all("chromium156", "surface", 13, "iceErrorEventConstructed.attributes.hostCandidate"),
    # 14: Firefox's accessor toString
    *_all("firefox", "surface", 14, ".getToString", ".setToString", "surface.onicecandidateSetToString",
          "surface.onicecandidateSetString"),
    # 15: Firefox's description getters throw after close()
    *_all("firefox", "states", 15, "stateAfterClose."),
    *_all("firefox", "close", 15, "close.stateEnd.", "close.stateAfterTries."),
    # 16: Firefox's members
    *_all("firefox", "surface", 16, "setIdentityProvider", "getIdentityAssertion", "peerIdentity", "idpLoginUrl",
          ".getLocalStreams", ".getRemoteStreams", ".addStream", ".onaddstream", ".onaddtrack"),
    # 17: Firefox's binaryType
    *_all("firefox", "surface", 17, ".binaryType"),
    # 18: Firefox's constructor messages
    *_all("firefox", "surface", 18, ".error.message", "surface.iceErrorEventNoInit.message"),
    # 19: Firefox's Event members in the vm realm
    *_all("firefox", "events", 19, ".originalTarget", ".explicitOriginalTarget", "_MASK"),
    *_all("firefox", "surface", 19, ".originalTarget", ".explicitOriginalTarget", "_MASK"),
    # 20: Firefox's negotiationneeded when the page does not call SLD at once
    *_all("firefox", "timeline", 20, "resolve:createOffer event:negotiationneeded call:setLocalDescription"),
)


def known_item(browser: str, area: str, line: str) -> int | None:
    return next((k.item for k in KNOWN if k.covers(browser, area, line)), None)
