// The page side of `icesim replay --serve` (icesim/replay/serve.py): installs the icesim module in
// this real page before any detector code runs, loads the detector (a classic script through a
// script element, an ES module through import()), calls it as the Node runner does
// (`fn(callback, page)`, icesim/js/README.md), shows the verdict, exposes the result as
// `window.icesimResult` (a promise, for Playwright/Puppeteer `page.evaluate`) and POSTs it back.
// Without a detector it installs the module and offers `window.icesim.run(fn)` for a team's own.
//
// The server writes the settings into <script type="application/json" id="icesim-config">:
// {sessionId, documentUrl, moduleUrl, clock: "virtual"|"real", maxMs, consoleLines,
//  detectorUrl|null, detectorKind: "classic"|"module"|null, exportName|null, commonJS, resultUrl}.

const config = JSON.parse(document.getElementById("icesim-config").textContent);
const realSetTimeout = window.setTimeout.bind(window);
const realClearTimeout = window.clearTimeout.bind(window);
const realNow = performance.now.bind(performance);  // taken before a virtual clock replaces it
const startedReal = realNow();

/** Lets the page's own tasks (fetch, rendering) run between virtual timer firings: the clock's
 *  `yieldToHost(resume)` (icesim-clock.mjs), a browser task through a MessageChannel. */
function yieldToHost(resume) {
  const channel = new MessageChannel();
  channel.port1.onmessage = () => { channel.port1.close(); resume(); };
  channel.port2.postMessage(null);
}

const nextTask = () => new Promise((resolve) => yieldToHost(resolve));
const realSleep = (ms) => new Promise((resolve) => realSetTimeout(resolve, ms));

/** What the runner reports for a value, as icesim/js/replay-values.mjs makes it (that module
 *  needs node:util): Set -> array, Map -> object, Error/DOMException -> {name, message}, Date ->
 *  ISO text, a top-level function -> "[Function name]", nested ones dropped, cycles marked. */
function jsonSafe(value, path = [], topLevel = true) {
  switch (typeof value) {
    case "undefined": return null;
    case "boolean": case "string": return value;
    case "number": return Number.isFinite(value) ? value : null;
    case "bigint": case "symbol": return value.toString();
    case "function": return topLevel ? `[Function ${value.name || "anonymous"}]` : undefined;
    default: break;
  }
  if (value === null) return null;
  if (path.includes(value)) return "[Circular]";
  if (path.length >= 32) return "[Too deep]";
  path.push(value);
  const inner = (v) => jsonSafe(v, path, false);
  const kept = (v) => (v === undefined ? null : v);
  try {
    const tag = Object.prototype.toString.call(value);
    if (value instanceof Error || tag === "[object DOMException]") return { name: String(value.name), message: String(value.message) };
    if (value instanceof Set) return Array.from(value, (v) => kept(inner(v)));
    if (value instanceof Map) {
      const out = {};
      for (const [k, v] of value) {
        const converted = inner(v);
        if (converted !== undefined) out[typeof k === "string" ? k : describeError(k)] = converted;
      }
      return out;
    }
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
    if (value instanceof Promise) return "[Promise]";
    if (ArrayBuffer.isView(value)) return value instanceof DataView ? null : Array.from(value, (v) => inner(v));
    if (Array.isArray(value)) return value.map((v) => kept(inner(v)));
    if (typeof value.toJSON === "function") return inner(value.toJSON());
    const out = {};
    for (const key of Object.keys(value)) {
      const converted = inner(value[key]);
      if (converted !== undefined) out[key] = converted;
    }
    return out;
  } catch (error) {
    return `[Unreadable: ${describeError(error)}]`;
  } finally {
    path.pop();
  }
}

function describeError(err) {
  if (err && typeof err === "object" && "message" in err) return `${err.name || "Error"}: ${err.message}`;
  return typeof err === "string" ? err : String(err);
}

/** The page's console, passed through and its first N lines kept (as the runner does). */
function captureConsole(limit) {
  const lines = [];
  for (const level of ["log", "info", "warn", "error", "debug"]) {
    const original = console[level].bind(console);
    console[level] = (...args) => {
      if (lines.length < limit) lines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(jsonSafe(a)))).join(" "));
      original(...args);
    };
  }
  return lines;
}

async function loadDetector() {
  const { detectorUrl, detectorKind, exportName } = config;
  if (detectorKind === "module") {
    const namespace = await import(detectorUrl);
    const fn = exportName ? namespace[exportName] : namespace.default;
    if (typeof fn !== "function") throw new TypeError(`the detector module has no ${exportName ? `export ${exportName}` : "default export"} function`);
    return fn;
  }
  // A classic script: its top-level functions become window properties; CommonJS module.exports
  // works too (module/exports exist while it loads, when its source uses them). The function
  // is picked as the runner picks it (icesim/js/replay-detector.mjs).
  const commonjs = config.commonJS ? { exports: {} } : null;
  if (commonjs) {
    window.module = commonjs;
    window.exports = commonjs.exports;
  }
  const before = new Set(Object.getOwnPropertyNames(window));
  let scriptError = null;
  const onError = (event) => { scriptError = event.error || new Error(event.message); };
  window.addEventListener("error", onError);
  try {
    await new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = detectorUrl;
      script.onload = resolve;
      script.onerror = () => reject(new Error(`cannot load ${detectorUrl}`));
      document.head.append(script);
    });
  } finally {
    window.removeEventListener("error", onError);
    if (commonjs) {
      delete window.module;
      delete window.exports;
    }
  }
  if (scriptError) throw scriptError;
  const declared = Object.getOwnPropertyNames(window)
    .filter((name) => !before.has(name) && name !== "module" && name !== "exports")
    .filter((name) => { try { return typeof window[name] === "function"; } catch { return false; } });
  const exported = commonjs ? commonjs.exports : undefined;
  const exportedNames = exported && typeof exported === "object"
    ? Object.keys(exported).filter((k) => typeof exported[k] === "function") : [];
  let fn;
  if (exportName) {
    fn = exported && typeof exported === "object" && typeof exported[exportName] === "function"
      ? exported[exportName] : window[exportName];
  } else if (typeof exported === "function") {
    fn = exported;
  } else if (exported && typeof exported.default === "function") {
    fn = exported.default;
  } else if (exportedNames.length === 1) {
    fn = exported[exportedNames[0]];
  } else if (declared.length === 1) {
    fn = window[declared[0]];
  }
  if (typeof fn !== "function") {
    throw new TypeError(exportName ? `the detector defines no function ${exportName}`
      : "the detector has no default export (or module.exports function): pass --export NAME");
  }
  return fn;
}

/** Calls fn(callback, page) and settles as the runner does: resolved/rejected (its promise),
 *  callback, returned, threw; `unsettled` comes from the clock or the real-time limit. `at`:
 *  when it settled, in ms of the page's clock. */
function callDetector(fn, page, now) {
  return new Promise((resolve) => {
    const settle = (outcome) => resolve({ ...outcome, at: now() });
    const callback = (value) => settle({ status: "callback", value });
    let returned;
    try {
      returned = fn(callback, page);
    } catch (err) {
      settle({ status: "threw", value: err });
      return;
    }
    if (returned && typeof returned.then === "function") {
      returned.then((value) => settle({ status: "resolved", value }), (value) => settle({ status: "rejected", value }));
    } else if (returned !== undefined) {
      settle({ status: "returned", value: returned });
    }
  });
}

async function setUp() {
  const [module, doc] = await Promise.all([
    import(config.moduleUrl),
    fetch(config.documentUrl).then((r) => { if (!r.ok) throw new Error(`${config.documentUrl}: HTTP ${r.status}`); return r.json(); }),
  ]);
  const clock = config.clock === "virtual" ? new module.VirtualClock() : null;
  if (clock) clock.install(window);
  const replay = module.installIcesim(window, doc, clock ? { clock } : {});
  if (doc.user_agent) Object.defineProperty(navigator, "userAgent", { get: () => doc.user_agent, configurable: true });
  const page = { sessionId: doc.session_id, webAddress: doc.web_address, userAgent: doc.user_agent ?? navigator.userAgent };
  window.icesimPage = page;
  return { doc, clock, replay, page };
}

/** Runs fn to a result line (the runner's shape) on this page's clock. */
async function run(fn, env, consoleLines) {
  const errors = [];
  const onError = (event) => errors.push(describeError(event.error ?? event.message));
  const onRejection = (event) => errors.push(describeError(event.reason));
  window.addEventListener("error", onError);
  window.addEventListener("unhandledrejection", onRejection);
  let outcome = null;
  const now = env.clock ? () => env.clock.now() : () => realNow() - startedReal;
  const settled = callDetector(fn, env.page, now).then((o) => { outcome ??= o; });
  try {
    if (env.clock) {
      await env.clock.run({ until: () => outcome !== null, maxMs: config.maxMs, yieldToHost });
    } else {
      let timer;
      await Promise.race([settled, new Promise((r) => { timer = realSetTimeout(r, config.maxMs); })]);
      realClearTimeout(timer);
    }
    await nextTask();  // handler errors of the last task
  } finally {
    window.removeEventListener("error", onError);
    window.removeEventListener("unhandledrejection", onRejection);
  }
  return {
    session_id: env.doc.session_id,
    status: outcome ? outcome.status : "unsettled",
    value: outcome ? jsonSafe(outcome.value) : null,
    settled_ms: Math.round((outcome ? outcome.at : now()) * 10) / 10,
    errors,
    console: consoleLines.slice(),
  };
}

async function report(result) {
  const response = await fetch(config.resultUrl, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(result),
  });
  return response.ok ? response.json() : { ...result, post_error: `HTTP ${response.status}` };
}

function show(line) {
  const out = document.getElementById("icesim-verdict");
  out.textContent = JSON.stringify(line, null, 1);
  out.dataset.status = line.status;
  document.title = `${line.status} - ${line.session_id}`;
}

/** Without a detector, a virtual clock still fires timers for a team's own free-form script
 *  (events in order, at once) until window.icesim.run(fn) takes the clock over. */
function driveInBackground(clock) {
  let driving = true;
  const finished = (async () => {
    while (driving) {
      await clock.run({ until: () => !driving, maxMs: config.maxMs, yieldToHost });
      if (driving) await realSleep(10);
    }
  })();
  return async () => { driving = false; await finished; };
}

async function main(installed) {
  const consoleLines = captureConsole(config.consoleLines);
  const env = await setUp();
  const stopDriving = env.clock && !config.detectorUrl ? driveInBackground(env.clock) : async () => {};
  window.icesim = {
    document: env.doc, replay: env.replay, clock: env.clock, page: env.page,
    run: async (fn) => {
      await stopDriving();
      const line = await report(await run(fn, env, consoleLines));
      show(line);
      return line;
    },
  };
  installed(true);
  if (!config.detectorUrl) return null;
  let fn;
  try {
    fn = await loadDetector();
  } catch (err) {
    const line = await report({
      session_id: env.doc.session_id, status: "threw", value: jsonSafe(err), settled_ms: 0,
      errors: [describeError(err)], console: consoleLines.slice(),
    });
    show(line);
    return line;
  }
  return window.icesim.run(fn);
}

// icesimReady: true once the module is installed (then window.icesim is there); icesimResult: the
// detector's result line as the server printed it (null without --detector). Both are promises
// that page.evaluate awaits.
let installed;
window.icesimReady = new Promise((resolve) => { installed = resolve; });
const ready = main(installed);
window.icesimResult = ready;
ready.catch((err) => {
  installed(Promise.reject(err));
  const out = document.getElementById("icesim-verdict");
  out.textContent = `icesim page failed: ${describeError(err)}`;
  out.dataset.status = "error";
});
