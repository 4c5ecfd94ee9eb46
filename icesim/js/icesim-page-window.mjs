// icesim page window: location, history, screen, storage and the cookie jar of the Node runner's
// page (never installed in a real page). Assumptions (no session records them): the page was
// opened directly in a fresh tab (referrer "", history.length 1); the screen follows the
// user agent's form factor: desktop 1920x1080, Android 412x915 (DPR 2.625), iPhone 390x844
// (DPR 3).
//
// Self-contained like the other icesim-*.mjs parts.

export function icesimPageWindow(global, natives, host) {
  const { Object, Map, WeakMap, String, Number, TypeError, Proxy, Reflect, Math } = global;
  const N = natives;
  const URLClass = global.URL;
  const slots = N.slotStore();
  const { slotOf, illegal } = slots;
  const make = (Ctor, slot) => { const o = Object.create(Ctor.prototype); slots.set(o, slot); return o; };
  let current = new URLClass(host.pageUrl);
  const href = () => current.href;

  // --- location: reads the page URL; a navigation (assign, replace, reload, setting href...)
  // is recorded as a request and otherwise ignored (the page stays, as if it were refused).
  const navigate = (api, url) => {
    let target;
    try {
      target = new URLClass(String(url), current.href);
    } catch {
      throw N.domException("SyntaxError", `Failed to execute '${api.split(".")[1] || "assign"}' on 'Location': '${url}' is not a valid URL.`);
    }
    if (target.href.split("#")[0] === current.href.split("#")[0] && target.hash && api !== "location.reload") {
      current = target; // a fragment change stays in the document
      return;
    }
    host.request({ api, method: "GET", url: target.href, body: null });
  };
  class Location {
    constructor() { illegal(); }
    assign(url) { navigate("location.assign", url); }
    replace(url) { navigate("location.replace", url); }
    reload() { navigate("location.reload", current.href); }
    toString() { return current.href; }
  }
  for (const part of ["href", "origin", "protocol", "host", "hostname", "port", "pathname", "search", "hash"]) {
    const desc = Object.getOwnPropertyDescriptor({
      get [part]() { return current[part]; },
      set [part](value) {
        if (part === "href") { navigate("location.href", value); return; }
        const next = new URLClass(current.href);
        next[part] = value;
        navigate("location." + part, next.href);
      },
    }, part);
    if (part === "origin") delete desc.set;
    Object.defineProperty(Location.prototype, part, { ...desc, enumerable: true, configurable: true });
  }
  N.finishInterface(Location, "Location", 0);
  const location = make(Location, {});

  class History {
    constructor() { illegal(); }
    get length() { return slotOf(this).length; }
    get state() { return slotOf(this).state; }
    get scrollRestoration() { return "auto"; }
    back() {}
    forward() {}
    go() {}
    pushState(state, unused, url) { const s = slotOf(this); s.length += 1; s.state = state; if (url != null) current = new URLClass(String(url), current.href); }
    replaceState(state, unused, url) { slotOf(this).state = state; if (url != null) current = new URLClass(String(url), current.href); }
  }
  N.finishInterface(History, "History", 0);
  const history = make(History, { length: 1, state: null });

  const ua = host.userAgent || "";
  const form = /iPhone|iPod/.test(ua) ? { w: 390, h: 844, availH: 844, innerH: 664, dpr: 3 }
    : /Android/.test(ua) ? { w: 412, h: 915, availH: 915, innerH: 797, dpr: 2.625 }
      : { w: 1920, h: 1080, availH: 1040, innerH: 945, dpr: 1 };
  class Screen extends N.EventTarget {
    constructor() { super(); illegal(); }
    get width() { return form.w; }
    get height() { return form.h; }
    get availWidth() { return form.w; }
    get availHeight() { return form.availH; }
    get availLeft() { return 0; }
    get availTop() { return 0; }
    get colorDepth() { return 24; }
    get pixelDepth() { return 24; }
  }
  N.finishInterface(Screen, "Screen", 0);
  const screen = make(Screen, {});
  N.adoptEventTarget(screen);

  // --- Storage: in memory, per page; items are also named properties (storage.key = "v").
  class Storage {
    constructor() { illegal(); }
    get length() { return slotOf(this).size; }
    key(index) { const k = [...slotOf(this).keys()][Number(index) >>> 0]; return k === undefined ? null : k; }
    getItem(key) { const v = slotOf(this).get(String(key)); return v === undefined ? null : v; }
    setItem(key, value) {
      if (arguments.length < 2) {
        throw new TypeError("Failed to execute 'setItem' on 'Storage': 2 arguments required, but only "
          + arguments.length + " present.");
      }
      slotOf(this).set(String(key), String(value));
    }
    removeItem(key) { slotOf(this).delete(String(key)); }
    clear() { slotOf(this).clear(); }
  }
  N.finishInterface(Storage, "Storage", 0);
  const newStorage = () => {
    const items = new Map();
    const target = make(Storage, items);
    const own = (key) => typeof key === "string" && !(key in target) && items.has(key);
    const proxy = new Proxy(target, {
      get: (t, key, receiver) => (own(key) ? items.get(key) : Reflect.get(t, key, receiver)),
      set: (t, key, value) => {
        if (typeof key === "symbol" || key in Storage.prototype) return Reflect.set(t, key, value);
        items.set(key, String(value));
        return true;
      },
      has: (t, key) => own(key) || Reflect.has(t, key),
      deleteProperty: (t, key) => { if (own(key)) items.delete(key); return true; },
      ownKeys: () => [...items.keys()],
      getOwnPropertyDescriptor: (t, key) => (own(key)
        ? { value: items.get(key), writable: true, enumerable: true, configurable: true } : undefined),
      defineProperty: (t, key, desc) => { if ("value" in desc) items.set(String(key), String(desc.value)); return true; },
    });
    slots.set(proxy, items);
    return proxy;
  };

  // --- cookies (document.cookie): name=value pairs with their path and expiry; attributes a
  // script may not set (HttpOnly), a Secure cookie on http and a foreign Domain are refused.
  const jar = [];
  const defaultPath = () => { const p = current.pathname; const at = p.lastIndexOf("/"); return at > 0 ? p.slice(0, at) : "/"; };
  const cookies = {
    read() {
      const now = global.Date.now();
      const path = current.pathname;
      return jar.filter((c) => c.expires > now && (path === c.path || path.startsWith(c.path.endsWith("/") ? c.path : c.path + "/")))
        .sort((a, b) => b.path.length - a.path.length || a.order - b.order)
        .map((c) => (c.name === "" ? c.value : c.name + "=" + c.value)).join("; ");
    },
    write(text) {
      const [pair, ...attributes] = text.split(";");
      const at = pair.indexOf("=");
      const name = at < 0 ? "" : pair.slice(0, at).trim();
      const value = (at < 0 ? pair : pair.slice(at + 1)).trim();
      if (!name && !value) return;
      let expires = Infinity;
      let path = defaultPath();
      for (const attribute of attributes) {
        const eq = attribute.indexOf("=");
        const key = (eq < 0 ? attribute : attribute.slice(0, eq)).trim().toLowerCase();
        const arg = eq < 0 ? "" : attribute.slice(eq + 1).trim();
        if (key === "httponly") return;
        if (key === "secure" && current.protocol !== "https:") return;
        if (key === "domain" && arg && !("." + current.hostname).endsWith("." + arg.replace(/^\./, "").toLowerCase())) return;
        if (key === "path" && arg.startsWith("/")) path = arg;
        if (key === "expires" && expires === Infinity) {
          const when = global.Date.parse(arg);
          if (!Number.isNaN(when)) expires = when;
        }
        if (key === "max-age" && /^-?\d+$/.test(arg)) expires = global.Date.now() + Number(arg) * 1000;
      }
      const old = jar.findIndex((c) => c.name === name && c.path === path);
      const order = old >= 0 ? jar[old].order : jar.length ? Math.max(...jar.map((c) => c.order)) + 1 : 0;
      if (old >= 0) jar.splice(old, 1);
      if (expires > global.Date.now()) jar.push({ name, value, path, expires, order });
    },
  };

  // matchMedia: the media features a fingerprinting script asks about, for this form factor
  // (light scheme, no reduced motion; touch on mobile); an unknown feature does not match.
  const mobile = form.dpr > 1;
  const FEATURES = {
    "prefers-color-scheme": "light", "prefers-reduced-motion": "no-preference", "prefers-contrast": "no-preference",
    "forced-colors": "none", "inverted-colors": "none", "display-mode": "browser", "color-gamut": "srgb",
    "dynamic-range": "standard", pointer: mobile ? "coarse" : "fine", "any-pointer": mobile ? "coarse" : "fine",
    hover: mobile ? "none" : "hover", "any-hover": mobile ? "none" : "hover",
    orientation: mobile ? "portrait" : "landscape", scan: "progressive", grid: "0", monochrome: "0", color: "8",
  };
  const SIZES = { width: () => form.w, height: () => form.innerH, "device-width": () => form.w, "device-height": () => form.h,
    resolution: () => form.dpr * 96, "-webkit-device-pixel-ratio": () => form.dpr };
  const px = (text) => { const m = /^([\d.]+)(px|dppx|dpi|x)?$/.exec(text); if (!m) return NaN; const v = Number(m[1]);
    return m[2] === "dppx" || m[2] === "x" ? v * 96 : v; };
  const matchesFeature = (feature) => {
    const m = /^\(\s*([\w-]+)\s*(?::\s*([^)]+?))?\s*\)$/.exec(feature.trim());
    if (!m) return feature.trim() === "all" || feature.trim() === "screen";
    const name = m[1].replace(/^-webkit-(min-|max-)/, "$1-webkit-");
    const value = m[2];
    if (name in FEATURES) return value === undefined ? FEATURES[name] !== "none" && FEATURES[name] !== "0" : FEATURES[name] === value.trim();
    const range = /^(min-|max-)?(.*)$/.exec(name);
    const size = SIZES[range[2]];
    if (!size || value === undefined) return false;
    const wanted = range[2].endsWith("ratio") ? Number(value.trim()) : px(value.trim());
    const have = size();
    return range[1] === "min-" ? have >= wanted : range[1] === "max-" ? have <= wanted : have === wanted;
  };
  const evaluateMedia = (query) => query.split(",").some((part) => {
    const negated = /^\s*not\s+/.test(part);
    const matched = part.replace(/^\s*(not|only)\s+/, "").split(/\s+and\s+/).every(matchesFeature);
    return negated ? !matched : matched;
  });
  class MediaQueryList extends N.EventTarget {
    constructor() { super(); illegal(); }
    get media() { return slotOf(this).media; }
    get matches() { return slotOf(this).matches; }
    addListener() {}
    removeListener() {}
  }
  N.defineHandlers(MediaQueryList.prototype, ["change"]);
  N.finishInterface(MediaQueryList, "MediaQueryList", 0);
  function matchMedia(query) {
    if (arguments.length < 1) {
      throw new TypeError("Failed to execute 'matchMedia' on 'Window': 1 argument required, but only 0 present.");
    }
    const media = String(query).trim().replace(/\s+/g, " ").toLowerCase();
    const list = make(MediaQueryList, { media, matches: media === "" || evaluateMedia(media) });
    N.adoptEventTarget(list);
    return list;
  }
  N.markNative(matchMedia, "matchMedia");

  return {
    location, history, screen, cookies, href, form, matchMedia,
    localStorage: newStorage(), sessionStorage: newStorage(),
    resolve(url) { try { return new URLClass(String(url), current.href).href; } catch { return null; } },
    interfaces: { Location, History, Screen, Storage, MediaQueryList },
  };
}
