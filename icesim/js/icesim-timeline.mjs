// icesim replay timeline: when each recorded event reaches the page, and what it changes first.
//
// Self-contained like the other icesim-*.mjs parts. Event i fires at createOfferCall + t_i,
// shifted as a whole when the page called setLocalDescription() late, never before SLD
// resolves (README "The module").

export function icesimTimeline(global, natives, types, doc, env) {
  const { Math, Number, Array } = global;
  const { fire, Event } = natives;
  const { clock, schedule, unschedule, now, finish, sdpFrom, offerMs, controller } = env;
  const events = Array.isArray(doc.events) ? doc.events : [];

  function startReplay(pc, slot, anchor, sldCall, sldResolveAt) {
    slot.replayStarted = true;
    controller.started = true;
    if (!events.length) { finish(); return; }
    const nominalSld = anchor + offerMs;
    const shift = sldCall > nominalSld ? sldCall - nominalSld : 0;
    const times = events.map((event) => Math.max(anchor + Number(event.t) + shift, sldResolveAt));
    const dispatch = (index) => {
      dispatchReplayEvent(pc, slot, events[index], index);
      if (index === events.length - 1) finish();
    };
    if (clock) {
      // The virtual clock keeps same-time timers in creation order: one timer per event.
      events.forEach((event, index) => {
        const id = schedule(() => { slot.timers.delete(id); dispatch(index); }, times[index] - now());
        slot.timers.add(id);
      });
      return;
    }
    // Real timers: a browser may run same-time timers out of order (Firefox did, capture), so
    // one event per task from a single chain; due events go through a MessageChannel task,
    // which no nested-timer clamp slows down.
    let next = 0;
    const step = () => {
      slot.timers.clear();
      if (slot.stopped) return;
      dispatch(next);
      next += 1;
      if (next < events.length) arm();
    };
    const arm = () => {
      const delay = times[next] - now();
      if (delay <= 0 && typeof global.MessageChannel === "function") {
        const channel = new global.MessageChannel();
        channel.port1.onmessage = () => { channel.port1.close(); step(); };
        channel.port2.postMessage(null);
        return;
      }
      slot.timers.add(schedule(step, Math.max(0, delay)));
    };
    arm();
  }
  function stopReplay(slot) {
    if (!slot) return;
    slot.stopped = true;
    for (const id of slot.timers) unschedule(id);
    slot.timers.clear();
  }

  function dispatchReplayEvent(pc, slot, event, index) {
    if (slot.closed) return;
    slot.eventIndex = index;
    if (sdpFrom.has(index)) slot.localSdp = sdpFrom.get(index);
    if (event.type === "icegatheringstatechange") {
      slot.iceGatheringState = event.state;
      fire(pc, new Event("icegatheringstatechange"));
    } else if (event.type === "icecandidate") {
      fire(pc, types.makeIceEvent(event.candidate));
    } else if (event.type === "icecandidateerror") {
      fire(pc, types.makeErrorEvent(event));
    }
  }

  return { startReplay, stopReplay };
}
