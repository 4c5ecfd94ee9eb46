// icesim WebRTC value interfaces: RTCIceCandidate, the two ICE events, RTCSessionDescription,
// RTCStatsReport and RTCDataChannel, shaped per browser family.
//
// Self-contained like the other icesim-*.mjs parts (the runner evaluates it in each realm).

export function icesimRtcTypes(global, natives, family, doc) {
  const { Object, WeakMap, Map, TypeError, String, Number, Symbol } = global;
  const { finishInterface, defineHandlers, domException, Event, EventTarget } = natives;
  const ILLEGAL = {}; // the token that lets the module construct non-constructible interfaces

  function slotOf(slots, object) {
    const slot = slots.get(object);
    if (slot === undefined) throw new TypeError("Illegal invocation");
    return slot;
  }
  function getter(slots, key) {
    return Object.getOwnPropertyDescriptor({ get [key]() { return slotOf(slots, this)[key]; } }, key).get;
  }
  function defineGetters(proto, slots, keys) {
    for (const key of keys) {
      Object.defineProperty(proto, key, { get: getter(slots, key), enumerable: true, configurable: true });
    }
  }
  // The document decides which attributes exist: exactly the keys of its dicts (a Firefox
  // stream has no relayProtocol/url); the family table when the stream has none.
  function keysFromDoc(type, pick, fallback) {
    for (const event of (doc && doc.events) || []) {
      if (event.type !== type) continue;
      const dict = pick(event);
      if (dict) return Object.keys(dict);
    }
    return fallback;
  }
  const candidateKeys = keysFromDoc("icecandidate", (e) => e.candidate, family.candidateKeys);
  // An error event's own keys minus the line's "type" and "t".
  const errorKeys = keysFromDoc("icecandidateerror",
    (e) => { const { type, t, ...attributes } = e; return attributes; }, family.errorKeys);
  // The browser's member order (family table) for the members that exist, extra ones last.
  function orderOf(iface, members) {
    const order = family.protoOrder[iface].split(" ");
    const known = order.filter((k) => members.includes(k) || k === "toJSON");
    return known.concat(members.filter((k) => !order.includes(k)));
  }

  // --- RTCIceCandidate ------------------------------------------------------------------------
  const candidateSlots = new WeakMap();
  // candidate-attribute grammar (RFC 8839 section 5.1) as Blink/Gecko parse it for the attributes.
  function parseCandidate(text) {
    const out = { foundation: null, component: null, priority: null, address: null, protocol: null,
      port: null, type: null, tcpType: null, relatedAddress: null, relatedPort: null, ufrag: null };
    const body = text.startsWith("candidate:") ? text.slice(10) : text.startsWith("a=candidate:") ? text.slice(12) : null;
    if (body === null) return out;
    const parts = body.trim().split(/\s+/);
    if (parts.length < 8 || parts[6] !== "typ") return out;
    out.foundation = parts[0];
    out.component = parts[1] === "1" ? "rtp" : parts[1] === "2" ? "rtcp" : null;
    out.protocol = parts[2].toLowerCase();
    out.priority = Number(parts[3]) >>> 0;
    out.address = parts[4];
    out.port = Number(parts[5]);
    out.type = parts[7];
    for (let i = 8; i + 1 < parts.length; i += 2) {
      const [key, value] = [parts[i], parts[i + 1]];
      if (key === "raddr") out.relatedAddress = value;
      else if (key === "rport") out.relatedPort = Number(value);
      else if (key === "tcptype") out.tcpType = value;
      else if (key === "ufrag") out.ufrag = value;
    }
    return out;
  }

  class RTCIceCandidate {
    constructor(candidateInitDict) {
      const init = candidateInitDict == null ? {} : candidateInitDict;
      if (typeof init !== "object" && typeof init !== "function") {
        throw new TypeError("Failed to construct 'RTCIceCandidate': The provided value is not of type 'RTCIceCandidateInit'.");
      }
      const candidate = init.candidate === undefined ? "" : String(init.candidate);
      const sdpMid = init.sdpMid == null ? null : String(init.sdpMid);
      const sdpMLineIndex = init.sdpMLineIndex == null ? null : Number(init.sdpMLineIndex) & 0xffff;
      if (sdpMid === null && sdpMLineIndex === null) throw new TypeError(family.candidateNoMidMessage);
      const parsed = parseCandidate(candidate);
      // capture: the browsers do not read usernameFragment from the candidate string.
      const usernameFragment = init.usernameFragment == null ? null : String(init.usernameFragment);
      delete parsed.ufrag;
      candidateSlots.set(this, Object.assign(parsed, { candidate, sdpMid, sdpMLineIndex, usernameFragment,
        relayProtocol: null, url: null }));
    }
  }
  const candidateToJSON = {
    toJSON() {
      const slot = slotOf(candidateSlots, this);
      const out = {};
      for (const key of family.candidateJSONKeys) {
        const value = slot[key] === undefined ? null : slot[key];
        // capture (Chromium): null sdpMid/sdpMLineIndex are left out, a null ufrag reads "".
        if (family.candidateJSONOmitsNull && value === null && key !== "candidate") {
          if (key === "usernameFragment") out[key] = "";
          continue;
        }
        out[key] = value;
      }
      return out;
    },
  }.toJSON;
  Object.defineProperty(RTCIceCandidate.prototype, "toJSON", { value: candidateToJSON, writable: true, configurable: true });
  defineGetters(RTCIceCandidate.prototype, candidateSlots, candidateKeys);
  finishInterface(RTCIceCandidate, "RTCIceCandidate", 0, orderOf("RTCIceCandidate", candidateKeys));
  function makeCandidate(dict) {
    const candidate = Object.create(RTCIceCandidate.prototype);
    const slot = {};
    for (const key of candidateKeys) slot[key] = dict[key] === undefined ? null : dict[key];
    candidateSlots.set(candidate, slot);
    return candidate;
  }

  // --- RTCPeerConnectionIceEvent / RTCPeerConnectionIceErrorEvent -----------------------------
  const iceEventSlots = new WeakMap();
  class RTCPeerConnectionIceEvent extends Event {
    constructor(type, eventInitDict) {
      if (arguments.length < 1) {
        throw new TypeError("Failed to construct 'RTCPeerConnectionIceEvent': 1 argument required, but only 0 present.");
      }
      super(type, eventInitDict);
      const init = eventInitDict == null ? {} : eventInitDict;
      const candidate = init.candidate == null ? null : init.candidate;
      if (candidate !== null && !candidateSlots.has(candidate)) {
        throw new TypeError("Failed to construct 'RTCPeerConnectionIceEvent': Failed to read the 'candidate' "
          + "property from 'RTCPeerConnectionIceEventInit': Failed to convert value to 'RTCIceCandidate'.");
      }
      iceEventSlots.set(this, { candidate, url: init.url == null ? null : String(init.url) });
    }
  }
  const iceEventKeys = family.iceEventHasUrl ? ["candidate", "url"] : ["candidate"];
  defineGetters(RTCPeerConnectionIceEvent.prototype, iceEventSlots, iceEventKeys);
  finishInterface(RTCPeerConnectionIceEvent, "RTCPeerConnectionIceEvent", 1, iceEventKeys);

  const errorEventSlots = new WeakMap();
  class RTCPeerConnectionIceErrorEvent extends Event {
    constructor(type, eventInitDict) {
      if (arguments.length < 2) throw new TypeError(family.errorEventArgsMessage(arguments.length));
      super(type, eventInitDict);
      const init = eventInitDict == null ? {} : eventInitDict;
      if (init.errorCode === undefined) {
        throw new TypeError("Failed to construct 'RTCPeerConnectionIceErrorEvent': Failed to read the 'errorCode' "
          + "property from 'RTCPeerConnectionIceErrorEventInit': Required member is undefined.");
      }
      const slot = {};
      const defaults = family.errorEventDefaults;
      for (const key of errorKeys) slot[key] = init[key] === undefined ? (key in defaults ? defaults[key] : null) : init[key];
      errorEventSlots.set(this, slot);
    }
  }
  defineGetters(RTCPeerConnectionIceErrorEvent.prototype, errorEventSlots, errorKeys);
  finishInterface(RTCPeerConnectionIceErrorEvent, "RTCPeerConnectionIceErrorEvent", 2,
    orderOf("RTCPeerConnectionIceErrorEvent", errorKeys));

  function makeIceEvent(candidateDict) {
    return new RTCPeerConnectionIceEvent("icecandidate",
      { candidate: candidateDict == null ? null : makeCandidate(candidateDict) });
  }
  function makeErrorEvent(dict) {
    const event = new RTCPeerConnectionIceErrorEvent("icecandidateerror", { errorCode: dict.errorCode });
    const slot = {};
    for (const key of errorKeys) slot[key] = dict[key] === undefined ? null : dict[key];
    errorEventSlots.set(event, slot);
    return event;
  }

  // --- RTCSessionDescription ------------------------------------------------------------------
  const descriptionSlots = new WeakMap();
  const DESCRIPTION_TYPES = ["offer", "pranswer", "answer", "rollback"];
  class RTCSessionDescription {
    constructor(descriptionInitDict) {
      const init = descriptionInitDict == null ? {} : descriptionInitDict;
      if (init.type !== undefined && !DESCRIPTION_TYPES.includes(String(init.type))) {
        throw new TypeError("Failed to construct 'RTCSessionDescription': Failed to read the 'type' property from "
          + "'RTCSessionDescriptionInit': The provided value '" + String(init.type)
          + "' is not a valid enum value of type RTCSdpType.");
      }
      descriptionSlots.set(this, { type: init.type === undefined ? "" : String(init.type),
        sdp: init.sdp == null ? "" : String(init.sdp) });
    }
  }
  const descriptionMembers = {
    get type() { return slotOf(descriptionSlots, this).type; },
    set type(value) { // capture: a setter exists in both browsers
      const v = String(value);
      if (DESCRIPTION_TYPES.includes(v)) slotOf(descriptionSlots, this).type = v;
    },
    get sdp() { return slotOf(descriptionSlots, this).sdp; },
    set sdp(value) { slotOf(descriptionSlots, this).sdp = value == null ? "" : String(value); },
    toJSON() { const slot = slotOf(descriptionSlots, this); return { type: slot.type, sdp: slot.sdp }; },
  };
  Object.defineProperties(RTCSessionDescription.prototype, Object.getOwnPropertyDescriptors(descriptionMembers));
  finishInterface(RTCSessionDescription, "RTCSessionDescription", family.sessionDescriptionLength,
    family.protoOrder.RTCSessionDescription.split(" "));
  function makeDescription(type, sdp) {
    const description = Object.create(RTCSessionDescription.prototype);
    descriptionSlots.set(description, { type, sdp });
    return description;
  }

  // --- RTCStatsReport (maplike<DOMString, object>) --------------------------------------------
  const reportSlots = new WeakMap();
  class RTCStatsReport {
    constructor(token) { if (token !== ILLEGAL) throw new TypeError(family.illegalConstructor); }
    get size() { return slotOf(reportSlots, this).size; }
    entries() { return slotOf(reportSlots, this).entries(); }
    forEach(callback) {
      const thisArg = arguments[1];
      const map = slotOf(reportSlots, this);
      if (typeof callback !== "function") {
        throw new TypeError("Failed to execute 'forEach' on 'RTCStatsReport': The callback provided as parameter 1 is not a function.");
      }
      map.forEach((value, key) => callback.call(thisArg, value, key, this));
    }
    get(key) { return slotOf(reportSlots, this).get(String(key)); }
    has(key) { return slotOf(reportSlots, this).has(String(key)); }
    keys() { return slotOf(reportSlots, this).keys(); }
    values() { return slotOf(reportSlots, this).values(); }
  }
  Object.defineProperty(RTCStatsReport.prototype, Symbol.iterator, {
    value: RTCStatsReport.prototype.entries, writable: true, enumerable: false, configurable: true,
  });
  finishInterface(RTCStatsReport, "RTCStatsReport", 0, family.protoOrder.RTCStatsReport.split(" "));
  function makeStatsReport(entries) {
    const report = new RTCStatsReport(ILLEGAL);
    reportSlots.set(report, new Map(entries.map((entry) => [entry.id, entry])));
    return report;
  }

  // --- RTCDataChannel -------------------------------------------------------------------------
  const channelSlots = new WeakMap();
  class RTCDataChannel extends EventTarget {
    constructor(token) {
      if (token !== ILLEGAL) throw new TypeError(family.illegalConstructor);
      super();
    }
    get binaryType() { return slotOf(channelSlots, this).binaryType; }
    set binaryType(value) {
      const v = String(value);
      if (v === "blob" || v === "arraybuffer") slotOf(channelSlots, this).binaryType = v;
    }
    get bufferedAmountLowThreshold() { return slotOf(channelSlots, this).bufferedAmountLowThreshold; }
    set bufferedAmountLowThreshold(value) { slotOf(channelSlots, this).bufferedAmountLowThreshold = Number(value) >>> 0; }
    close() {
      const slot = slotOf(channelSlots, this);
      if (slot.readyState === "closing" || slot.readyState === "closed") return;
      slot.readyState = "closing";
      // guess: a channel that never opened goes to "closed" on the next task, with a close event.
      slot.schedule(() => {
        slot.readyState = "closed";
        natives.fire(this, new Event("close"));
      });
    }
    get reliable() { // Chromium's legacy attribute
      const slot = slotOf(channelSlots, this);
      return slot.maxRetransmits === null && slot.maxPacketLifeTime === null;
    }
    send(data) {
      slotOf(channelSlots, this);
      throw domException("InvalidStateError", family.sendNotOpenMessage);
    }
  }
  defineGetters(RTCDataChannel.prototype, channelSlots, ["label", "ordered", "maxPacketLifeTime",
    "maxRetransmits", "protocol", "negotiated", "id", "readyState", "bufferedAmount"]);
  defineHandlers(RTCDataChannel.prototype, ["open", "bufferedamountlow", "error", "closing", "close", "message"]);
  finishInterface(RTCDataChannel, "RTCDataChannel", 0, family.protoOrder.RTCDataChannel.split(" "));
  function makeDataChannel(label, options, schedule) {
    const channel = new RTCDataChannel(ILLEGAL);
    const opts = options == null ? {} : options;
    const maxPacketLifeTime = opts.maxPacketLifeTime == null ? null : Number(opts.maxPacketLifeTime) & 0xffff;
    const maxRetransmits = opts.maxRetransmits == null ? null : Number(opts.maxRetransmits) & 0xffff;
    if (maxPacketLifeTime !== null && maxRetransmits !== null) {
      throw new TypeError("Failed to execute 'createDataChannel' on 'RTCPeerConnection': "
        + "RTCDataChannelInit.maxRetransmits and maxPacketLifeTime are mutually exclusive.");
    }
    const negotiated = !!opts.negotiated;
    channelSlots.set(channel, {
      label: String(label), ordered: opts.ordered === undefined ? true : !!opts.ordered,
      maxPacketLifeTime, maxRetransmits, protocol: opts.protocol == null ? "" : String(opts.protocol),
      negotiated, id: negotiated && opts.id != null ? Number(opts.id) & 0xffff : null,
      readyState: "connecting", bufferedAmount: 0, bufferedAmountLowThreshold: 0,
      binaryType: family.dataChannelBinaryType, schedule,
    });
    return channel;
  }
  // pc.close(): the channel is closed at once, its events follow as a task (capture).
  function closeDataChannel(channel) {
    const slot = channelSlots.get(channel);
    if (!slot || slot.readyState === "closed") return;
    slot.readyState = "closed";
    slot.schedule(() => {
      for (const type of family.dataChannelCloseEvents) natives.fire(channel, new Event(type));
    });
  }

  return {
    RTCIceCandidate, RTCPeerConnectionIceEvent, RTCPeerConnectionIceErrorEvent, RTCSessionDescription,
    RTCStatsReport, RTCDataChannel, makeCandidate, makeIceEvent, makeErrorEvent, makeDescription,
    makeStatsReport, makeDataChannel, closeDataChannel, ILLEGAL,
  };
}
