// icesim-webrtc: a browser-faithful RTCPeerConnection that replays one recorded session.
//
//   import { installIcesim, VirtualClock } from "./icesim-webrtc.mjs";
//   const replay = installIcesim(globalThis, doc, { clock });
//
// Plain ES module, no build step, no dependencies; it imports its sibling icesim-*.mjs parts
// (serve the directory). Every part is one self-contained function of the realm it builds into,
// so a host such as replay-runner.mjs can evaluate `icesimRealmSource()` inside each vm context
// and get classes that belong to that context's realm, as a page's do.

import { icesimNatives } from "./icesim-realm.mjs";
import { icesimClock } from "./icesim-clock.mjs";
import { icesimFamily } from "./icesim-family.mjs";
import { icesimRtcTypes } from "./icesim-rtc-types.mjs";
import { icesimPeerConnection } from "./icesim-peer.mjs";
import { icesimConfiguration } from "./icesim-config.mjs";
import { icesimStubInterfaces } from "./icesim-stubs.mjs";
import { icesimStats } from "./icesim-stats.mjs";
import { icesimTimeline } from "./icesim-timeline.mjs";

/**
 * Build the icesim kit of one realm: { natives, VirtualClock, installIcesim(doc, options), family }.
 * familyName picks how native functions print ("firefox" or not); null: as the realm's own do.
 */
export function icesimRealm(global, familyName) {
  const style = familyName || (/\n {4}\[native code\]\n/.test(
    global.Function.prototype.toString.call(global.Object)) ? "firefox" : "chrome");
  const natives = icesimNatives(global, style);
  const VirtualClock = icesimClock(global, natives);

  function installIcesim(doc, options) {
    const opts = options || {};
    if (typeof opts.reportError === "function") natives.setErrorReporter(opts.reportError);
    const familyKey = doc.family || String(doc.browser || "chrome").split("@")[0];
    const family = icesimFamily(familyKey);
    const types = icesimRtcTypes(global, natives, family, doc);
    const validate = icesimConfiguration(global, family.name, natives.domException);
    const peer = icesimPeerConnection(global, natives, types, family, doc, opts,
      { validateConfiguration: validate, icesimStats, icesimTimeline });
    const exposed = {
      RTCPeerConnection: peer.RTCPeerConnection,
      RTCIceCandidate: types.RTCIceCandidate,
      RTCPeerConnectionIceEvent: types.RTCPeerConnectionIceEvent,
      RTCPeerConnectionIceErrorEvent: types.RTCPeerConnectionIceErrorEvent,
      RTCSessionDescription: types.RTCSessionDescription,
      RTCDataChannel: types.RTCDataChannel,
      RTCStatsReport: types.RTCStatsReport,
    };
    for (const name of Object.keys(exposed)) natives.defineGlobal(name, exposed[name]);
    if (family.webkitAlias) natives.defineGlobal("webkitRTCPeerConnection", peer.RTCPeerConnection);
    if (typeof global.RTCRtpSender !== "function") icesimStubInterfaces(global, natives, family.name);

    if (doc.webrtc === "missing_api") {
      // What a naive bot does: `window.RTCPeerConnection = undefined` (the name still exists).
      global.RTCPeerConnection = undefined;
      if (family.webkitAlias) global.webkitRTCPeerConnection = undefined;
    } else if (doc.webrtc === "stubbed_callback") {
      // A tampering bot's setter: assignments are swallowed; its source shows it is not native.
      const assigned = new WeakMap();
      Object.defineProperty(peer.RTCPeerConnection.prototype, "onicecandidate", {
        get: function () { return assigned.has(this) ? assigned.get(this) : null; },
        set: function (handler) { assigned.set(this, handler); },
        enumerable: true,
        configurable: true,
      });
    }
    return peer.controller;
  }
  return { natives, VirtualClock, installIcesim, family: icesimFamily };
}

/** Source text of a function `(global, familyName) => kit` to evaluate inside another realm. */
export function icesimRealmSource() {
  const parts = [icesimNatives, icesimClock, icesimFamily, icesimRtcTypes, icesimConfiguration, icesimStubInterfaces,
    icesimStats, icesimTimeline, icesimPeerConnection, icesimRealm];
  return "(function (global, familyName) {\n\"use strict\";\n"
    + parts.map((fn) => Function.prototype.toString.call(fn)).join("\n")
    + "\nreturn icesimRealm(global, familyName);\n})";
}

const realms = new WeakMap();
function realmOf(global) {
  let realm = realms.get(global);
  if (!realm) {
    realm = icesimRealm(global, null);
    realms.set(global, realm);
  }
  return realm;
}

/** Define the WebRTC interfaces of `doc`'s browser on `global`; returns { done, stop() }. */
export function installIcesim(global, doc, options) {
  return realmOf(global).installIcesim(doc, options);
}

/** The virtual clock of this module's realm (see README "The module"). */
export function VirtualClock(options) {
  const Clock = realmOf(globalThis).VirtualClock;
  return new Clock(options);
}
