// icesim page network: fetch, navigator.sendBeacon, XMLHttpRequest and image loads of the Node
// runner's page. Nothing leaves the process: each send is handed to `host.request({api, method,
// url, body})` (the runner records it in the session's result) and answered by a server that
// accepts everything: fetch and XHR get `204 No Content`, an image a 1x1 GIF, a script or an
// iframe an empty document (their load event fires), a beacon is queued (true). Responses
// arrive one task later on the page's clock.
//
// Self-contained like the other icesim-*.mjs parts.

export function icesimPageNet(global, natives, host, resolveUrl) {
  const { Object, Map, WeakMap, String, TypeError, Promise, Symbol, ArrayBuffer, JSON } = global;
  const N = natives;
  const later = (fn) => global.setTimeout(fn, 0);
  const slots = new WeakMap();
  const slotOf = (object) => {
    const slot = slots.get(object);
    if (slot === undefined) throw new TypeError("Illegal invocation");
    return slot;
  };
  const decode = (bytes) => new global.TextDecoder().decode(bytes);
  const isBinary = (x) => ArrayBuffer.isView(x) || Object.prototype.toString.call(x) === "[object ArrayBuffer]";

  // Blob and FormData (a bare vm context has neither), so that `sendBeacon(url, new Blob([json]))`
  // works and its body can be recorded as it is sent.
  class Blob {
    constructor(parts, options) {
      const list = parts === undefined ? [] : [...parts];
      const text = list.map((part) => (slots.has(part) && "blobText" in slots.get(part) ? slots.get(part).blobText
        : isBinary(part) ? decode(part) : String(part))).join("");
      const type = options && options.type !== undefined ? String(options.type).toLowerCase() : "";
      slots.set(this, { blobText: text, type: /^[\x20-\x7e]*$/.test(type) ? type : "" });
    }
    get size() { return new global.TextEncoder().encode(slotOf(this).blobText).length; }
    get type() { return slotOf(this).type; }
    text() { return Promise.resolve(slotOf(this).blobText); }
    arrayBuffer() { return Promise.resolve(new global.TextEncoder().encode(slotOf(this).blobText).buffer); }
    slice(start, end, type) {
      const bytes = new global.TextEncoder().encode(slotOf(this).blobText).slice(start, end);
      return new Blob([bytes], { type: type === undefined ? "" : type });
    }
  }
  N.finishInterface(Blob, "Blob", 0);
  class FormData {
    constructor() { slots.set(this, { fields: [] }); }
    append(name, value) { slotOf(this).fields.push([String(name), fieldValue(value)]); }
    set(name, value) {
      const key = String(name);
      const entry = [key, fieldValue(value)];
      const fields = slotOf(this).fields;
      const at = fields.findIndex((f) => f[0] === key);
      if (at < 0) fields.push(entry);
      else slotOf(this).fields = fields.filter((f, i) => f[0] !== key || i === at).map((f) => (f[0] === key ? entry : f));
    }
    get(name) { const f = slotOf(this).fields.find((x) => x[0] === String(name)); return f ? f[1] : null; }
    getAll(name) { return slotOf(this).fields.filter((x) => x[0] === String(name)).map((x) => x[1]); }
    has(name) { return slotOf(this).fields.some((x) => x[0] === String(name)); }
    delete(name) { slotOf(this).fields = slotOf(this).fields.filter((x) => x[0] !== String(name)); }
    forEach(callback, thisArg) { for (const [k, v] of slotOf(this).fields) callback.call(thisArg, v, k, this); }
    entries() { return slotOf(this).fields.map((f) => [f[0], f[1]]).values(); }
    keys() { return slotOf(this).fields.map((f) => f[0]).values(); }
    values() { return slotOf(this).fields.map((f) => f[1]).values(); }
    [Symbol.iterator]() { return this.entries(); }
  }
  const fieldValue = (value) => (slots.has(value) && "blobText" in slots.get(value) ? value : String(value));
  N.finishInterface(FormData, "FormData", 0);

  // What a body sends, as text (binary as UTF-8 with replacement characters; a FormData as its
  // fields URL-encoded: the multipart boundary says nothing about the page).
  const bodyText = (body) => {
    if (body === undefined || body === null) return null;
    if (typeof body === "string") return body;
    if (isBinary(body)) return decode(body);
    const slot = slots.get(body);
    if (slot && "blobText" in slot) return slot.blobText;
    if (slot && "fields" in slot) {
      return slot.fields.map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(typeof v === "string" ? v
        : slots.get(v).blobText)).join("&");
    }
    return String(body); // URLSearchParams serializes; other objects as the browser does: String(x)
  };
  const { encodeURIComponent } = global;

  class Headers {
    constructor(init) {
      const map = new Map();
      slots.set(this, map);
      const pairs = init == null ? [] : typeof init[Symbol.iterator] === "function" ? [...init] : Object.entries(init);
      for (const [name, value] of pairs) this.append(name, value);
    }
    append(name, value) {
      const key = String(name).toLowerCase();
      const map = slotOf(this);
      map.set(key, map.has(key) ? map.get(key) + ", " + String(value) : String(value));
    }
    delete(name) { slotOf(this).delete(String(name).toLowerCase()); }
    get(name) { const v = slotOf(this).get(String(name).toLowerCase()); return v === undefined ? null : v; }
    has(name) { return slotOf(this).has(String(name).toLowerCase()); }
    set(name, value) { slotOf(this).set(String(name).toLowerCase(), String(value)); }
    forEach(callback, thisArg) { for (const [k, v] of this.entries()) callback.call(thisArg, v, k, this); }
    entries() { return [...slotOf(this)].sort((a, b) => (a[0] < b[0] ? -1 : 1)).values(); }
    keys() { return [...this.entries()].map((e) => e[0]).values(); }
    values() { return [...this.entries()].map((e) => e[1]).values(); }
    [Symbol.iterator]() { return this.entries(); }
  }
  N.finishInterface(Headers, "Headers", 0);

  class Response {
    constructor(body, init) {
      const options = init == null ? {} : init;
      slots.set(this, { body: bodyText(body) || "", status: options.status === undefined ? 200 : options.status | 0,
        statusText: options.statusText === undefined ? "" : String(options.statusText),
        headers: new Headers(options.headers), url: "", used: false, type: "default" });
    }
    get type() { return slotOf(this).type; }
    get url() { return slotOf(this).url; }
    get redirected() { return false; }
    get status() { return slotOf(this).status; }
    get ok() { const s = slotOf(this).status; return s >= 200 && s < 300; }
    get statusText() { return slotOf(this).statusText; }
    get headers() { return slotOf(this).headers; }
    get body() { return null; }
    get bodyUsed() { return slotOf(this).used; }
    text() { return consume(this).then((text) => text); }
    json() { return consume(this).then((text) => JSON.parse(text)); }
    arrayBuffer() { return consume(this).then((text) => new global.TextEncoder().encode(text).buffer); }
    clone() {
      const s = slotOf(this);
      const copy = new Response(s.body, { status: s.status, statusText: s.statusText, headers: s.headers });
      Object.assign(slotOf(copy), { url: s.url, type: s.type });
      return copy;
    }
  }
  function consume(response) {
    const s = slotOf(response);
    if (s.used) return Promise.reject(new TypeError("Failed to execute 'text' on 'Response': body stream already read"));
    s.used = true;
    return Promise.resolve(s.body);
  }
  N.finishInterface(Response, "Response", 0);
  const noContent = (url) => {
    const response = new Response(null, { status: 204, statusText: "No Content" });
    Object.assign(slotOf(response), { url, type: new global.URL(url).origin === new global.URL(resolveUrl(".")).origin ? "basic" : "cors" });
    return response;
  };

  function fetch(input, init) {
    const options = init == null ? {} : init;
    const request = input !== null && typeof input === "object" && typeof input.url === "string" && !(input instanceof global.URL)
      ? input : null;
    const raw = request ? request.url : String(input);
    const url = resolveUrl(raw);
    if (url === null) {
      return Promise.reject(new TypeError(`Failed to execute 'fetch' on 'Window': Failed to parse URL from ${raw}`));
    }
    const method = String(options.method || (request && request.method) || "GET").toUpperCase();
    const body = options.body !== undefined ? options.body : request ? request.body : undefined;
    if ((method === "GET" || method === "HEAD") && body != null) {
      return Promise.reject(new TypeError("Failed to execute 'fetch' on 'Window': Request with GET/HEAD method cannot have body."));
    }
    host.request({ api: "fetch", method, url, body: bodyText(body) });
    return new Promise((resolve) => later(() => resolve(noContent(url))));
  }
  N.markNative(fetch, "fetch");

  function sendBeacon(url, data) {
    if (arguments.length < 1) {
      throw new TypeError("Failed to execute 'sendBeacon' on 'Navigator': 1 argument required, but only 0 present.");
    }
    const resolved = resolveUrl(url);
    if (resolved === null) throw new TypeError("Failed to execute 'sendBeacon' on 'Navigator': Invalid URL");
    if (!/^https?:$/.test(new global.URL(resolved).protocol)) {
      throw new TypeError("Failed to execute 'sendBeacon' on 'Navigator': Beacons are only supported over HTTP(S).");
    }
    host.request({ api: "beacon", method: "POST", url: resolved, body: bodyText(data) });
    return true;
  }
  N.markNative(sendBeacon, "sendBeacon");

  // --- XMLHttpRequest --------------------------------------------------------------------------
  class ProgressEvent extends N.Event {
    constructor(type, init) {
      super(type, init);
      const options = init == null ? {} : init;
      slots.set(this, { lengthComputable: !!options.lengthComputable, loaded: +options.loaded || 0, total: +options.total || 0 });
    }
    get lengthComputable() { return slotOf(this).lengthComputable; }
    get loaded() { return slotOf(this).loaded; }
    get total() { return slotOf(this).total; }
  }
  N.finishInterface(ProgressEvent, "ProgressEvent", 1);
  class XMLHttpRequestEventTarget extends N.EventTarget {
    constructor() { super(); if (new.target === XMLHttpRequestEventTarget) throw new TypeError("Illegal constructor"); }
  }
  N.defineHandlers(XMLHttpRequestEventTarget.prototype, ["loadstart", "progress", "abort", "error", "load", "timeout", "loadend"]);
  N.finishInterface(XMLHttpRequestEventTarget, "XMLHttpRequestEventTarget", 0);
  const STATES = { UNSENT: 0, OPENED: 1, HEADERS_RECEIVED: 2, LOADING: 3, DONE: 4 };
  const fail = (method, name, message) => N.domException(name, `Failed to execute '${method}' on 'XMLHttpRequest': ${message}`);
  const fire = (target, type, Ctor) => N.fire(target, new (Ctor || N.Event)(type));
  class XMLHttpRequest extends XMLHttpRequestEventTarget {
    constructor() {
      super();
      slots.set(this, { state: 0, sent: false, url: "", method: "GET", async: true, status: 0, timeout: 0, credentials: false, run: 0 });
    }
    get readyState() { return slotOf(this).state; }
    get status() { return slotOf(this).status; }
    get statusText() { return slotOf(this).status ? "No Content" : ""; }
    get responseURL() { return slotOf(this).state === 4 ? slotOf(this).url : ""; }
    get responseText() { return ""; }
    get response() { return ""; }
    get responseType() { return ""; }
    set responseType(value) {}
    get responseXML() { return null; }
    get timeout() { return slotOf(this).timeout; }
    set timeout(value) { slotOf(this).timeout = value >>> 0; }
    get withCredentials() { return slotOf(this).credentials; }
    set withCredentials(value) { slotOf(this).credentials = !!value; }
    open(method, url, async) {
      if (arguments.length < 2) {
        throw new TypeError("Failed to execute 'open' on 'XMLHttpRequest': 2 arguments required, but only "
          + arguments.length + " present.");
      }
      const resolved = resolveUrl(url);
      if (resolved === null) throw fail("open", "SyntaxError", `Invalid URL`);
      Object.assign(slotOf(this), { state: 1, sent: false, status: 0, url: resolved, method: String(method).toUpperCase(),
        async: arguments.length < 3 || !!async, run: slotOf(this).run + 1 });
      fire(this, "readystatechange");
    }
    setRequestHeader(name, value) {
      const s = slotOf(this);
      if (s.state !== 1 || s.sent) throw fail("setRequestHeader", "InvalidStateError", "The object's state must be OPENED.");
    }
    send(body) {
      const s = slotOf(this);
      if (s.state !== 1 || s.sent) throw fail("send", "InvalidStateError", "The object's state must be OPENED.");
      s.sent = true;
      host.request({ api: "xhr", method: s.method, url: s.url,
        body: s.method === "GET" || s.method === "HEAD" ? null : bodyText(body) });
      const run = s.run;
      const finish = () => {
        if (s.run !== run) return; // aborted or re-opened meanwhile
        s.status = 204;
        for (const state of [2, 3, 4]) { s.state = state; fire(this, "readystatechange"); }
        fire(this, "load", ProgressEvent);
        fire(this, "loadend", ProgressEvent);
      };
      if (!s.async) { finish(); return; }
      fire(this, "loadstart", ProgressEvent);
      later(finish);
    }
    abort() {
      const s = slotOf(this);
      const active = s.sent && s.state !== 4;
      s.run += 1;
      if (active) { s.state = 4; fire(this, "readystatechange"); fire(this, "abort", ProgressEvent); fire(this, "loadend", ProgressEvent); }
      s.state = 0;
      s.sent = false;
    }
    getResponseHeader() { return null; }
    getAllResponseHeaders() { return ""; }
    overrideMimeType() {}
  }
  N.defineHandlers(XMLHttpRequest.prototype, ["readystatechange"]);
  for (const [key, value] of Object.entries(STATES)) {
    const desc = { value, writable: false, enumerable: true, configurable: false };
    Object.defineProperty(XMLHttpRequest, key, desc);
    Object.defineProperty(XMLHttpRequest.prototype, key, desc);
  }
  N.finishInterface(XMLHttpRequest, "XMLHttpRequest", 0);

  // An <img>, <script> or <iframe> with a src: the request, then load (a 1x1 GIF, an empty
  // script or page) or error (an empty or bad URL).
  function load(api, element, src, done) {
    const url = src === "" ? null : resolveUrl(src);
    if (url !== null) host.request({ api, method: "GET", url, body: null });
    later(() => { done(); fire(element, url === null ? "error" : "load"); });
  }

  return { fetch, sendBeacon, load, interfaces: { Blob, FormData, Headers, Response, ProgressEvent, XMLHttpRequestEventTarget, XMLHttpRequest } };
}
