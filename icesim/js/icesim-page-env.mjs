// icesim page environment: the document, location, storage and network APIs of a loaded page,
// for the Node runner's vm contexts only (a real page keeps its own document, fetch & co.).
//
//   const install = vm.runInContext(icesimPageEnvSource(), context);
//   install(global, natives, { pageUrl, userAgent, request(entry) { ... } });
//
// Fingerprinting scripts read `document`, `location`, `localStorage`, cookies and the screen,
// and send what they found with fetch, navigator.sendBeacon, XMLHttpRequest or an image pixel.
// Here every send is handed to `host.request({api, method, url, body})` and never leaves the
// process. Parts: icesim-page-dom.mjs (document, elements), icesim-page-window.mjs (location,
// history, screen, storage, cookies), icesim-page-net.mjs (fetch, beacon, XHR, images).

import { icesimPageDom } from "./icesim-page-dom.mjs";
import { icesimPageWindow } from "./icesim-page-window.mjs";
import { icesimPageNet } from "./icesim-page-net.mjs";

/** Install the page environment on `global` (a realm whose icesim natives are `natives`). */
export function icesimPageEnv(global, natives, host) {
  const { Object } = global;
  const N = natives;
  const win = icesimPageWindow(global, N, host);
  let net = null;
  const dom = icesimPageDom(global, N, {
    href: win.href, location: win.location, cookies: win.cookies, resolve: win.resolve,
    lastModified() {
      const d = new global.Date();
      const two = (n) => String(n).padStart(2, "0");
      return `${two(d.getMonth() + 1)}/${two(d.getDate())}/${d.getFullYear()} `
        + `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
    },
    load: (api, element, src, done) => net.load(api, element, src, done),
  });
  net = icesimPageNet(global, N, host, win.resolve);

  // [LegacyUnforgeable] document and location: own, non-configurable accessors of window.
  const accessor = (name, get, set, configurable) => Object.defineProperty(global, name, {
    get: N.markNative(get, "get " + name), set: set ? N.markNative(set, "set " + name) : undefined,
    enumerable: true, configurable,
  });
  accessor("document", () => dom.document, null, false);
  accessor("location", () => win.location, (url) => { win.location.href = url; }, false);
  const values = {
    history: win.history, screen: win.screen, localStorage: win.localStorage, sessionStorage: win.sessionStorage,
    innerWidth: win.form.w, innerHeight: win.form.innerH, outerWidth: win.form.w, outerHeight: win.form.availH,
    devicePixelRatio: win.form.dpr, screenX: 0, screenY: 0, screenLeft: 0, screenTop: 0,
    scrollX: 0, scrollY: 0, pageXOffset: 0, pageYOffset: 0,
  };
  for (const name of Object.keys(values)) {
    let value = values[name];
    // [Replaceable] where the browser's is (window.innerWidth = 5 replaces it).
    const replaceable = typeof value === "number" || name === "screen";
    accessor(name, () => value, replaceable ? (v) => { value = v; } : null, true);
  }
  accessor("origin", () => new global.URL(win.href()).origin, null, true);
  accessor("isSecureContext", () => new global.URL(win.href()).protocol === "https:", null, true);
  const methods = {
    fetch: net.fetch,
    matchMedia: win.matchMedia,
    getComputedStyle: N.markNative({ getComputedStyle(element) { return dom.computedStyle(element); } }.getComputedStyle),
  };
  for (const name of Object.keys(methods)) {
    Object.defineProperty(global, name, { value: methods[name], writable: true, enumerable: true, configurable: true });
  }
  N.defineHandlers(global, ["load", "beforeunload", "unload", "pagehide", "pageshow", "message", "storage", "focus",
    "blur", "resize", "scroll"]);

  const navigatorProto = Object.getPrototypeOf(global.navigator);
  if (navigatorProto && !("sendBeacon" in navigatorProto)) {
    Object.defineProperty(navigatorProto, "sendBeacon",
      { value: net.sendBeacon, writable: true, enumerable: true, configurable: true });
  }
  const interfaces = { ...dom.interfaces, ...win.interfaces, ...net.interfaces };
  for (const name of Object.keys(interfaces)) {
    if (typeof global[name] !== "function") N.defineGlobal(name, interfaces[name]);
  }
  return { document: dom.document, location: win.location, href: win.href };
}

/** Source text of `(global, natives, host) => env` to evaluate inside another realm. */
export function icesimPageEnvSource() {
  const parts = [icesimPageDom, icesimPageWindow, icesimPageNet, icesimPageEnv];
  return "(function (global, natives, host) {\n\"use strict\";\n"
    + parts.map((fn) => Function.prototype.toString.call(fn)).join("\n")
    + "\nreturn icesimPageEnv(global, natives, host);\n})";
}
