// icesim's other WebRTC interface objects: present with the browser's shape (members, order,
// lengths; capture: API_FACTS.md "surface") so that feature tests (`typeof RTCRtpSender`) read as
// in the browser. A gathering-only page never gets an instance of the non-constructible ones;
// the event and error classes construct as in the browser.
//
// Self-contained like the other icesim-*.mjs parts.

export function icesimStubInterfaces(global, natives, familyName) {
  const { Object, WeakMap, TypeError, Reflect } = global;
  const { finishInterface, defineHandlers, defineGlobal, Event, EventTarget, DOMException } = natives;
  // name: [parent, length, "member:kind ..." (g getter, gs accessor, N method length), statics]
  const CHROME = {
    RTCCertificate: ["Object", 0, "expires:g getFingerprints:0", ""],
    RTCRtpSender: ["Object", 0, "track:g transport:g rtcpTransport:g dtmf:g createEncodedStreams:0 getParameters:0 "
      + "getStats:0 replaceTrack:1 setParameters:1 setStreams:0 transform:gs", "getCapabilities:1"],
    RTCRtpReceiver: ["Object", 0, "track:g transport:g rtcpTransport:g playoutDelayHint:gs createEncodedStreams:0 "
      + "getContributingSources:0 getParameters:0 getStats:0 getSynchronizationSources:0 jitterBufferTarget:gs "
      + "transform:gs", "getCapabilities:1"],
    RTCRtpTransceiver: ["Object", 0, "mid:g sender:g receiver:g stopped:g direction:gs currentDirection:g "
      + "getHeaderExtensionsToNegotiate:0 getNegotiatedHeaderExtensions:0 setCodecPreferences:1 "
      + "setHeaderExtensionsToNegotiate:1 stop:0", ""],
    RTCDtlsTransport: ["EventTarget", 0, "iceTransport:g state:g onstatechange:gs onerror:gs getRemoteCertificates:0", ""],
    RTCIceTransport: ["EventTarget", 0, "role:g state:g gatheringState:g onstatechange:gs ongatheringstatechange:gs "
      + "onselectedcandidatepairchange:gs getLocalCandidates:0 getLocalParameters:0 getRemoteCandidates:0 "
      + "getRemoteParameters:0 getSelectedCandidatePair:0", ""],
    RTCSctpTransport: ["EventTarget", 0, "transport:g state:g maxMessageSize:g maxChannels:g onstatechange:gs", ""],
    RTCDataChannelEvent: ["Event", 2, "channel:g", ""],
    RTCTrackEvent: ["Event", 2, "receiver:g track:g streams:g transceiver:g", ""],
    RTCError: ["DOMException", 1, "errorDetail:g sdpLineNumber:g httpRequestStatusCode:g sctpCauseCode:g "
      + "receivedAlert:g sentAlert:g", ""],
    RTCErrorEvent: ["Event", 2, "error:g", ""],
  };
  const FIREFOX = {
    RTCCertificate: ["Object", 0, "getFingerprints:0 expires:g", ""],
    RTCRtpSender: ["Object", 0, "setParameters:1 getParameters:0 replaceTrack:1 setStreams:0 getStats:0 track:g "
      + "transport:g dtmf:g transform:gs", "getCapabilities:1"],
    RTCRtpReceiver: ["Object", 0, "getParameters:0 getContributingSources:0 getSynchronizationSources:0 getStats:0 "
      + "track:g transport:g jitterBufferTarget:gs transform:gs", "getCapabilities:1"],
    RTCRtpTransceiver: ["Object", 0, "stop:0 setCodecPreferences:1 mid:g sender:g receiver:g stopped:g direction:gs "
      + "currentDirection:g", ""],
    RTCDtlsTransport: ["EventTarget", 0, "getRemoteCertificates:0 iceTransport:g state:g onstatechange:gs", ""],
    RTCIceTransport: ["EventTarget", 0, "role:g state:g gatheringState:g onstatechange:gs ongatheringstatechange:gs", ""],
    RTCSctpTransport: ["EventTarget", 0, "transport:g state:g maxMessageSize:g maxChannels:g onstatechange:gs", ""],
    RTCDataChannelEvent: ["Event", 2, "channel:g", ""],
    RTCTrackEvent: ["Event", 2, "receiver:g track:g streams:g transceiver:g", ""],
    RTCError: ["DOMException", 1, "errorDetail:g sdpLineNumber:g sctpCauseCode:g receivedAlert:g sentAlert:g", ""],
    RTCErrorEvent: ["Event", 2, "error:g", ""],
  };
  const table = familyName === "firefox" ? FIREFOX : CHROME;
  const slots = new WeakMap();
  const slotOf = (object) => {
    const slot = slots.get(object);
    if (slot === undefined) throw new TypeError("Illegal invocation");
    return slot;
  };
  const argsMessage = (name, needed, given) => (familyName === "firefox"
    ? name + " constructor: At least " + needed + " argument" + (needed > 1 ? "s" : "") + " required, but only "
      + given + " passed"
    : "Failed to construct '" + name + "': " + needed + " argument" + (needed > 1 ? "s" : "") + " required, but only "
      + given + " present.");

  function makeClass(name, parent, length) {
    if (parent === "Event") {
      return class extends Event {
        constructor(type, init) {
          if (arguments.length < length) throw new TypeError(argsMessage(name, length, arguments.length));
          super(type, init);
          slots.set(this, init == null ? {} : init);
        }
      };
    }
    if (parent === "DOMException") {
      return class extends DOMException {
        constructor(init, message) {
          if (arguments.length < length) throw new TypeError(argsMessage(name, length, arguments.length));
          super(message, "OperationError");
          slots.set(this, init == null ? {} : init);
        }
      };
    }
    const Base = parent === "EventTarget" ? EventTarget : Object;
    return class extends Base {
      constructor() {
        throw new TypeError("Illegal constructor");
        super(); // eslint-disable-line no-unreachable
      }
    };
  }

  for (const [name, [parent, length, memberText, staticText]] of Object.entries(table)) {
    const Stub = makeClass(name, parent, length);
    Object.defineProperty(Stub, "name", { value: name });
    const order = [];
    const handlers = [];
    for (const member of memberText.split(" ")) {
      const [key, kind] = member.split(":");
      order.push(key);
      if (key.startsWith("on") && kind === "gs") { handlers.push(key.slice(2)); continue; }
      if (kind === "g" || kind === "gs") {
        const accessors = {
          get [key]() { const v = slotOf(this)[key]; return v === undefined ? null : v; },
          set [key](value) { slotOf(this)[key] = value; },
        };
        const desc = Object.getOwnPropertyDescriptor(accessors, key);
        if (kind === "g") delete desc.set;
        Object.defineProperty(Stub.prototype, key, desc);
      } else {
        const method = { [key]() { slotOf(this); return undefined; } }[key];
        Object.defineProperty(method, "length", { value: Number(kind) });
        Object.defineProperty(Stub.prototype, key, { value: method, writable: true, configurable: true });
      }
    }
    defineHandlers(Stub.prototype, handlers);
    for (const member of staticText ? staticText.split(" ") : []) {
      const [key, len] = member.split(":");
      // guess: the codec lists are not simulated; null is what an unknown kind gives.
      const method = { [key](kind) { return null; } }[key];
      Object.defineProperty(method, "length", { value: Number(len) });
      Object.defineProperty(Stub, key, { value: method, writable: true, enumerable: true, configurable: true });
    }
    finishInterface(Stub, name, length, order);
    defineGlobal(name, Stub);
  }
}
