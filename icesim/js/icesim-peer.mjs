// icesim RTCPeerConnection: the DOM-API state machine (signalling, operations chain, states,
// descriptions, close) around one session's replay (icesim-timeline.mjs, icesim-stats.mjs).
//
// Self-contained like the other icesim-*.mjs parts (the runner evaluates it in each realm).

export function icesimPeerConnection(global, natives, types, family, doc, options, parts) {
  const { validateConfiguration, icesimStats, icesimTimeline } = parts;
  const { Object, WeakMap, Map, Set, TypeError, String, Number, Promise, Math } = global;
  const { finishInterface, defineHandlers, domException, Event, EventTarget, fire } = natives;
  const clock = options.clock || null;
  const hostSetTimeout = global.setTimeout;
  const hostClearTimeout = global.clearTimeout;
  const schedule = clock ? (fn, ms) => clock.setTimeout(fn, ms)
    : (fn, ms) => hostSetTimeout.call(global, fn, ms);
  const unschedule = clock ? (id) => clock.clearTimeout(id) : (id) => hostClearTimeout.call(global, id);
  const perf = global.performance;
  const now = clock ? () => clock.now() : () => perf.now();
  const epochMs = () => (clock ? clock.epochMs : perf.timeOrigin);

  const offerMs = Number(doc.offer_ms) || 0;
  const sldMs = Number(doc.sld_ms) || 0;
  const offerSdp = String(doc.offer_sdp || "");
  // localDescription.sdp once SLD resolved (index -1) and from each event index on.
  const sdpFrom = new Map((Array.isArray(doc.local_descriptions) ? doc.local_descriptions : [])
    .map(([index, sdp]) => [Number(index), String(sdp)]));
  const setupThrows = doc.webrtc === "setup_throws";
  const IFACE = "RTCPeerConnection";

  // The replay controller returned by installIcesim.
  let settleDone;
  const done = new Promise((resolve) => { settleDone = resolve; });
  const controller = { done, started: false, finished: false, connections: [] };
  const finish = () => {
    if (controller.finished) return;
    controller.finished = true;
    settleDone();
  };
  controller.stop = () => {
    for (const pc of controller.connections) stopReplay(pcSlots.get(pc));
    finish();
  };

  // An offer without m-lines (no data channel, no transceiver): Chromium gathers nothing.
  function sessionPartOf(sdp) {
    const cut = sdp.indexOf("\r\nm=");
    const head = cut < 0 ? sdp : sdp.slice(0, cut + 2);
    return head.split("\r\n").filter((line) => !line.startsWith("a=group:BUNDLE")).join("\r\n");
  }

  function legacy(promise, success, failure) {
    if (typeof success !== "function") return promise;
    return promise.then((value) => { success(value); }, (error) => { if (typeof failure === "function") failure(error); });
  }
  const rejectClosed = (method) => Promise.reject(domException("InvalidStateError", family.closedMessage(IFACE, method)));


  const pcSlots = new WeakMap();
  const slotOf = (pc) => {
    const slot = pcSlots.get(pc);
    if (slot === undefined) throw new TypeError("Illegal invocation");
    return slot;
  };

  function fireSimple(pc, type) { fire(pc, new Event(type)); }

  // Operations chain: one operation at a time, each finishing `ms` after it starts.
  function enqueueOperation(slot, ms, run) {
    const start = Math.max(now(), slot.busyUntil);
    slot.busyUntil = start + ms;
    slot.operations += 1;
    return new Promise((resolve, reject) => {
      schedule(() => {
        slot.operations -= 1;
        if (slot.closed) return; // webrtc-pc: an operation on a closed connection never settles
        try { run(resolve, reject); } catch (error) { reject(error); }
      }, start + ms - now());
    });
  }

  // webrtc-pc "update the negotiation-needed flag": a task; while operations are queued it waits
  // for the chain to empty. Chromium then fires it just before the operation's promise settles;
  // Gecko checks again in a new task, by when a prompt setLocalDescription() has queued another
  // operation, so it fires only when the page is slow to call it (captures, both browsers).
  function negotiationNeeded(pc, slot) {
    schedule(() => {
      if (slot.closed || slot.signalingState !== "stable") return;
      if (slot.operations > 0) { slot.negotiationDeferred = true; return; }
      fireSimple(pc, "negotiationneeded");
    }, 0);
  }
  function fireDeferredNegotiationNeeded(pc, slot) {
    if (!slot.negotiationDeferred) return;
    slot.negotiationDeferred = false;
    const fireIfIdle = () => {
      if (!slot.closed && slot.signalingState === "stable" && slot.operations === 0) fireSimple(pc, "negotiationneeded");
    };
    if (family.negotiationNeededWhileBusy) fireIfIdle();
    else schedule(fireIfIdle, 0);
  }

  const { startReplay, stopReplay } = icesimTimeline(global, natives, types, doc,
    { clock, schedule, unschedule, now, finish, sdpFrom, offerMs, controller });

  // Gecko throws when the descriptions are read after close() (capture).
  function readableSlot(pc) {
    const slot = slotOf(pc);
    if (slot.closed && family.descriptionsThrowAfterClose) {
      throw domException("InvalidStateError", family.closedMessage(IFACE, "localDescription"));
    }
    return slot;
  }
  // Chromium hands out the same object until the description changes, Gecko a new one per read.
  function localDescriptionOf(slot) {
    if (!family.localDescriptionCached) return types.makeDescription(slot.localType, slot.localSdp);
    const cached = slot.description;
    if (cached && cached.sdp === slot.localSdp && cached.type === slot.localType) return cached.object;
    const object = types.makeDescription(slot.localType, slot.localSdp);
    slot.description = { sdp: slot.localSdp, type: slot.localType, object };
    return object;
  }

  const stats = icesimStats(global, family, doc);

  class RTCPeerConnection extends EventTarget {
    constructor(configuration) {
      super();
      const { config, servers } = validateConfiguration(configuration, "Failed to construct 'RTCPeerConnection'");
      pcSlots.set(this, {
        config, servers, signalingState: "stable", iceGatheringState: "new", iceConnectionState: "new",
        connectionState: "new", closed: false, localSdp: null, localType: null, remote: null,
        pendingIsLocal: false, hasMedia: false, channels: [], offerCallAt: null, replayStarted: false,
        eventIndex: -1, sldResolved: false, timers: new Set(), busyUntil: 0, operations: 0,
        negotiationDeferred: false, description: null, statsIds: null,
      });
      controller.connections.push(this);
    }
    get localDescription() {
      const slot = readableSlot(this);
      return slot.localSdp === null ? null : localDescriptionOf(slot);
    }
    get currentLocalDescription() {
      const slot = readableSlot(this);
      return slot.localSdp === null || slot.pendingIsLocal ? null : localDescriptionOf(slot);
    }
    get pendingLocalDescription() {
      const slot = readableSlot(this);
      return slot.localSdp === null || !slot.pendingIsLocal ? null : localDescriptionOf(slot);
    }
    get remoteDescription() {
      const slot = slotOf(this);
      return slot.remote ? types.makeDescription(slot.remote.type, slot.remote.sdp) : null;
    }
    get currentRemoteDescription() { return this.remoteDescription; }
    get pendingRemoteDescription() { slotOf(this); return null; }
    get signalingState() { return slotOf(this).signalingState; }
    get iceGatheringState() { return slotOf(this).iceGatheringState; }
    get iceConnectionState() { return slotOf(this).iceConnectionState; }
    get connectionState() { return slotOf(this).connectionState; }
    get canTrickleIceCandidates() {
      const slot = slotOf(this);
      return slot.remote ? slot.remote.sdp.includes("a=ice-options:trickle") : null;
    }
    get sctp() { slotOf(this); return null; } // null until a remote description negotiates SCTP

    createOffer(successOrOptions, failure, legacyOptions) {
      const slot = slotOf(this);
      const legacyForm = typeof successOrOptions === "function";
      const opts = (legacyForm ? legacyOptions : successOrOptions) || {};
      if (slot.closed) return legacy(rejectClosed("createOffer"), legacyForm && successOrOptions, failure);
      if (opts.offerToReceiveAudio || opts.offerToReceiveVideo) slot.hasMedia = true;
      slot.offerCallAt = now();
      const pc = this;
      const promise = enqueueOperation(slot, offerMs, (resolve) => {
        fireDeferredNegotiationNeeded(pc, slot);
        const sdp = slot.hasMedia ? offerSdp : sessionPartOf(offerSdp);
        slot.lastOfferSdp = sdp;
        // capture: both browsers resolve a plain Object (own keys in their order), no toJSON.
        const offer = {};
        for (const key of family.offerKeys) offer[key] = key === "type" ? "offer" : sdp;
        resolve(offer);
      });
      return legacy(promise, legacyForm && successOrOptions, failure);
    }

    createAnswer(success, failure) {
      const slot = slotOf(this);
      if (slot.closed) return legacy(rejectClosed("createAnswer"), success, failure);
      // icesim replays gathering only: no remote offer can exist, so this is the wrong state.
      return legacy(Promise.reject(domException("InvalidStateError", "Failed to execute 'createAnswer' on "
        + "'RTCPeerConnection': PeerConnection cannot create an answer in a state other than have-remote-offer "
        + "or have-local-pranswer.")), success, failure);
    }

    setLocalDescription(description, success, failure) {
      const slot = slotOf(this);
      if (slot.closed) return legacy(rejectClosed("setLocalDescription"), success, failure);
      const desc = description == null ? {} : description;
      const type = desc.type === undefined || desc.type === "" ? "offer" : String(desc.type);
      if (type !== "offer") {
        const state = slot.signalingState;
        if (type === "rollback" && state === "have-local-offer") {
          return legacy(enqueueOperation(slot, sldMs, (resolve) => {
            slot.signalingState = "stable";
            slot.localSdp = null;
            fireSimple(this, "signalingstatechange");
            resolve(undefined);
          }), success, failure);
        }
        return legacy(Promise.reject(domException("InvalidStateError", family.wrongStateMessage(type, state))),
          success, failure);
      }
      const sldCall = now();
      const implicit = description == null || desc.sdp === undefined || desc.sdp === "";
      const anchor = implicit || slot.offerCallAt === null ? sldCall : slot.offerCallAt;
      // An implicit offer (setLocalDescription() without one) is created first, as Chromium does.
      const duration = sldMs + (implicit ? offerMs : 0);
      const sldResolveAt = Math.max(sldCall, slot.busyUntil) + duration;
      const pc = this;
      const promise = enqueueOperation(slot, duration, (resolve, reject) => {
        if (setupThrows) { reject(domException("InvalidStateError", family.setupThrowsMessage)); return; }
        const firstTime = !slot.sldResolved;
        slot.sldResolved = true;
        slot.localType = "offer";
        slot.pendingIsLocal = true;
        const offered = slot.lastOfferSdp || (slot.hasMedia ? offerSdp : sessionPartOf(offerSdp));
        slot.localSdp = firstTime && slot.hasMedia && sdpFrom.has(-1) ? sdpFrom.get(-1)
          : (slot.localSdp !== null && slot.replayStarted ? slot.localSdp : offered);
        if (slot.signalingState !== "have-local-offer") {
          slot.signalingState = "have-local-offer";
          fireSimple(pc, "signalingstatechange");
        }
        resolve(undefined);
      });
      if (!setupThrows && !slot.replayStarted && slot.hasMedia) startReplay(this, slot, anchor, sldCall, sldResolveAt);
      return legacy(promise, success, failure);
    }

    setRemoteDescription(description, success, failure) {
      const slot = slotOf(this);
      if (slot.closed) return legacy(rejectClosed("setRemoteDescription"), success, failure);
      const desc = description == null ? {} : description;
      const type = String(desc.type);
      const state = slot.signalingState;
      if (!((type === "answer" || type === "pranswer") && state === "have-local-offer")
        && !(type === "offer" && state === "stable")) {
        return legacy(Promise.reject(domException("InvalidStateError", "Failed to execute 'setRemoteDescription' "
          + "on 'RTCPeerConnection': Failed to set remote " + type + " sdp: Called in wrong state: " + state)),
          success, failure);
      }
      // icesim does not connect: the description is kept and the signalling state moves on.
      return legacy(enqueueOperation(slot, sldMs, (resolve) => {
        slot.remote = { type, sdp: String(desc.sdp || "") };
        slot.signalingState = type === "offer" ? "have-remote-offer" : type === "answer" ? "stable" : "have-remote-pranswer";
        if (type === "answer") slot.pendingIsLocal = false;
        fireSimple(this, "signalingstatechange");
        resolve(undefined);
      }), success, failure);
    }

    addIceCandidate(candidate, success, failure) {
      const slot = slotOf(this);
      if (slot.closed) return legacy(rejectClosed("addIceCandidate"), success, failure);
      if (!slot.remote) {
        return legacy(Promise.reject(domException("InvalidStateError", family.addIceCandidateNoRemoteMessage)),
          success, failure);
      }
      return legacy(Promise.resolve(undefined), success, failure);
    }

    getConfiguration() {
      const slot = slotOf(this);
      return family.configuration(slot.servers, slot.config);
    }
    setConfiguration(configuration) {
      const slot = slotOf(this);
      if (slot.closed) throw domException("InvalidStateError", family.closedMessage(IFACE, "setConfiguration"));
      const { config, servers } = validateConfiguration(configuration,
        "Failed to execute 'setConfiguration' on 'RTCPeerConnection'");
      slot.config = config;
      slot.servers = servers;
    }
    restartIce() { slotOf(this); }

    getStats() {
      const slot = slotOf(this);
      const entries = stats.entriesNow(slot);
      return new Promise((resolve) => {
        schedule(() => {
          const stamp = family.statsTimestamp(epochMs() + now());
          resolve(types.makeStatsReport(entries.map((entry) => Object.assign({ id: entry.id, timestamp: stamp },
            entry))));
        }, family.getStatsMs);
      });
    }

    getSenders() { slotOf(this); return []; }
    getLocalStreams() { slotOf(this); return []; }
    getRemoteStreams() { slotOf(this); return []; }
    addStream(stream) {
      slotOf(this);
      throw new TypeError("Failed to execute 'addStream' on 'RTCPeerConnection': parameter 1 is not of type 'MediaStream'.");
    }
    removeStream(stream) {
      slotOf(this);
      throw new TypeError("Failed to execute 'removeStream' on 'RTCPeerConnection': parameter 1 is not of type 'MediaStream'.");
    }
    createDTMFSender(track) {
      slotOf(this);
      throw new TypeError("Failed to execute 'createDTMFSender' on 'RTCPeerConnection': parameter 1 is not of type 'MediaStreamTrack'.");
    }
    setIdentityProvider(provider) { slotOf(this); } // Gecko
    getIdentityAssertion() { slotOf(this); return new Promise(() => {}); } // guess: pending without an IdP
    get peerIdentity() { // Gecko: a promise settled by a remote identity, so pending here
      const slot = slotOf(this);
      if (!slot.peerIdentity) slot.peerIdentity = new Promise(() => {});
      return slot.peerIdentity;
    }
    get idpLoginUrl() { slotOf(this); return null; }
    getReceivers() { slotOf(this); return []; }
    getTransceivers() { slotOf(this); return []; }
    addTrack(track) {
      slotOf(this);
      throw new TypeError("Failed to execute 'addTrack' on 'RTCPeerConnection': parameter 1 is not of type 'MediaStreamTrack'.");
    }
    removeTrack() {
      slotOf(this);
      throw new TypeError("Failed to execute 'removeTrack' on 'RTCPeerConnection': parameter 1 is not of type 'RTCRtpSender'.");
    }
    addTransceiver(trackOrKind, init) {
      const slot = slotOf(this);
      if (slot.closed) throw domException("InvalidStateError", family.closedMessage(IFACE, "addTransceiver"));
      const kind = String(trackOrKind);
      if (kind !== "audio" && kind !== "video") {
        throw new TypeError("Failed to execute 'addTransceiver' on 'RTCPeerConnection': The argument provided as "
          + "parameter 1 is not a valid MediaStreamTrack kind.");
      }
      const first = !slot.hasMedia;
      slot.hasMedia = true;
      if (first) negotiationNeeded(this, slot);
      const direction = init && init.direction ? String(init.direction) : "sendrecv";
      return { mid: null, direction, currentDirection: null, sender: null, receiver: null, stop() {} };
    }

    createDataChannel(label, dataChannelDict) {
      const slot = slotOf(this);
      if (arguments.length < 1) {
        throw new TypeError("Failed to execute 'createDataChannel' on 'RTCPeerConnection': 1 argument required, "
          + "but only 0 present.");
      }
      if (slot.closed) throw domException("InvalidStateError", family.closedMessage(IFACE, "createDataChannel"));
      const channel = types.makeDataChannel(label, dataChannelDict, (fn) => schedule(fn, 0));
      stats.channelCreated(channel);
      const first = slot.channels.length === 0;
      slot.channels.push(channel);
      if (first) {
        const hadMedia = slot.hasMedia;
        slot.hasMedia = true;
        if (!hadMedia) negotiationNeeded(this, slot);
      }
      return channel;
    }

    close() {
      const slot = slotOf(this);
      if (slot.closed) return;
      slot.closed = true;
      slot.signalingState = "closed";
      slot.iceConnectionState = "closed";
      slot.connectionState = "closed";
      stopReplay(slot);
      for (const channel of slot.channels) types.closeDataChannel(channel);
      if (controller.connections.every((pc) => pcSlots.get(pc).closed || !pcSlots.get(pc).replayStarted)) finish();
    }
  }
  defineHandlers(RTCPeerConnection.prototype, ["negotiationneeded", "icecandidate", "icecandidateerror",
    "signalingstatechange", "iceconnectionstatechange", "icegatheringstatechange", "connectionstatechange",
    "datachannel", "track", "addstream", "removestream", "addtrack"]);
  Object.defineProperty(RTCPeerConnection, "generateCertificate", {
    value: { generateCertificate(keygenAlgorithm) {
      if (arguments.length < 1) {
        return Promise.reject(new TypeError("Failed to execute 'generateCertificate' on 'RTCPeerConnection': "
          + "1 argument required, but only 0 present."));
      }
      return Promise.reject(domException("NotSupportedError", "Failed to execute 'generateCertificate' on "
        + "'RTCPeerConnection': The 1st argument provided is an AlgorithmIdentifier, but the algorithm is not supported."));
    } }.generateCertificate,
    writable: true, enumerable: true, configurable: true,
  });
  // capture: method lengths (both browsers agree)
  const LENGTHS = { addIceCandidate: 0, addStream: 1, addTrack: 1, addTransceiver: 1, createAnswer: 0,
    createDTMFSender: 1, createDataChannel: 1, createOffer: 0, removeStream: 1, removeTrack: 1,
    setConfiguration: 0, setLocalDescription: 0, setRemoteDescription: 1, setIdentityProvider: 1,
    getIdentityAssertion: 0 };
  for (const [name, length] of Object.entries(LENGTHS)) {
    Object.defineProperty(RTCPeerConnection.prototype[name], "length", { value: length });
  }
  const statics = {
    cancelDiagnosticLogging() {}, startDiagnosticLogging() {}, stopDiagnosticLogging() {},
  };
  for (const name of family.pcStatics) {
    if (name === "generateCertificate") continue;
    Object.defineProperty(RTCPeerConnection, name, { value: statics[name], writable: true, enumerable: true,
      configurable: true });
  }
  finishInterface(RTCPeerConnection, IFACE, 0, family.protoOrder.RTCPeerConnection.split(" "));

  return { RTCPeerConnection, controller };
}
