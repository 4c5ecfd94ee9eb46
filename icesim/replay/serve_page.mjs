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

import { formatConsole } from "/serve_console.mjs";
import { declaredFunctions, describeError as describeErrorRule, pickClassicFunction, toJSONSafe } from "/js/replay-rules.mjs";

const config = JSON.parse(document.getElementById("icesim-config").textContent);
const MAX_ERRORS = 50;  // as the runner: then "... and N more errors"
const realSetTimeout = window.setTimeout.bind(window);
const realClearTimeout = window.clearTimeout.bind(window);
const realNow = performance.now.bind(performance);  // taken before a virtual clock replaces it

/** Lets the page's own tasks (fetch, rendering) run between virtual timer firings: the clock's
 *  `yieldToHost(resume)` (icesim-clock.mjs), a browser task through a MessageChannel. */
function yieldToHost(resume) {
  const channel = new MessageChannel();
  channel.port1.onmessage = () => { channel.port1.close(); resume(); };
  channel.port2.postMessage(null);
}

const nextTask = () => new Promise((resolve) => yieldToHost(resolve));
const realSleep = (ms) => new Promise((resolve) => realSetTimeout(resolve, ms));

const jsonSafe = (value) => toJSONSafe(value);
const describeError = (err) => describeErrorRule(err, (value) => {
  if (value && typeof value === "object" && "message" in value) return `${value.name || "Error"}: ${value.message}`;
  return String(value);
});

/** The page's console, passed through and its first N lines kept as the runner keeps them. */
function captureConsole(limit) {
  const lines = [];
  for (const level of ["log", "info", "warn", "error", "debug", "trace", "dir", "table"]) {
    const original = console[level].bind(console);
    console[level] = (...args) => {
      if (lines.length < limit) lines.push((level === "warn" || level === "error" ? `${level}: ` : "") + formatConsole(args));
      original(...args);
    };
  }
  return lines;
}

/** Uncaught errors and unhandled rejections of the page (its whole life: the detector's loading
 *  included), as the runner lists them. */
function captureErrors() {
  const lines = [];
  let dropped = 0;
  const record = (line) => { if (lines.length < MAX_ERRORS) lines.push(line); else dropped += 1; };
  window.addEventListener("error", (event) => record(describeError(event.error ?? event.message)));
  window.addEventListener("unhandledrejection", (event) => record(`Uncaught (in promise) ${describeError(event.reason)}`));
  return { list: () => [...lines, ...(dropped ? [`... and ${dropped} more errors`] : [])] };
}

// What the module or a virtual timer catches is reported as the browser reports an uncaught
// error: the window's error event (and onerror), which captureErrors() lists.
const nativeReportError = typeof window.reportError === "function" ? window.reportError.bind(window) : null;
const reportToPage = (error) => (nativeReportError ? nativeReportError(error) : console.error(error));

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
  const { fn } = pickClassicFunction(window, commonjs ? commonjs.exports : undefined, declaredFunctions(window, before), exportName);
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

/** navigator's user-agent facts are the session's, as the runner's page has them
 *  (replay-runner.mjs: userAgent, appVersion, platform from the UA, vendor from the family);
 *  defined on Navigator.prototype, where the browser keeps them. */
function presentAs(userAgent, family) {
  const platform = /Windows/.test(userAgent) ? "Win32" : /Android/.test(userAgent) ? "Linux armv8l"
    : /iPad/.test(userAgent) ? "iPad" : /iPhone/.test(userAgent) ? "iPhone"
      : /Mac OS X|Macintosh/.test(userAgent) ? "MacIntel" : "Linux x86_64";
  const vendor = family === "chrome" ? "Google Inc." : family === "safari" ? "Apple Computer, Inc." : "";
  const facts = { userAgent, appVersion: userAgent.replace(/^Mozilla\//, ""), platform, vendor };
  for (const [name, value] of Object.entries(facts)) {
    Object.defineProperty(Navigator.prototype, name, { get: () => value, enumerable: true, configurable: true });
  }
}

async function setUp() {
  const [module, familyModule, doc] = await Promise.all([
    import(config.moduleUrl),
    import(config.moduleUrl.replace(/[^/]*$/, "icesim-family.mjs")),
    fetch(config.documentUrl).then((r) => { if (!r.ok) throw new Error(`${config.documentUrl}: HTTP ${r.status}`); return r.json(); }),
  ]);
  const family = doc.family || String(doc.browser || "chrome").split("@")[0];
  // As the runner: performance.now() coarsened as the family does (Chromium 0.1 ms, Gecko 1 ms).
  const quantumMs = familyModule.icesimFamily(family).performanceQuantumMs;
  // The virtual time line goes on from the page's real age, as performance.now() would.
  const clock = config.clock === "virtual"
    ? new module.VirtualClock({ quantumMs, onError: reportToPage, startMs: realNow(), epochMs: performance.timeOrigin }) : null;
  if (clock) clock.install(window);
  const replay = module.installIcesim(window, doc, { ...(clock ? { clock } : {}), reportError: reportToPage });
  if (doc.user_agent) presentAs(doc.user_agent, family);
  const page = { sessionId: doc.session_id, webAddress: doc.web_address ?? null, userAgent: doc.user_agent ?? null };
  window.icesimPage = page;
  return { doc, clock, replay, page };
}

/** Runs fn to a result line (the runner's shape) on this page's clock. */
async function run(fn, env, consoleLines, errors) {
  let outcome = null;
  const clockNow = env.clock ? () => env.clock.performanceNow() : realNow;
  const started = clockNow();
  const now = () => clockNow() - started;  // settled_ms counts from the detector's call, as in the runner
  const settled = callDetector(fn, env.page, now).then((o) => { outcome ??= o; });
  if (env.clock) {
    await env.clock.run({ until: () => outcome !== null, maxMs: env.clock.now() + config.maxMs, yieldToHost });
  } else {
    let timer;
    await Promise.race([settled, new Promise((r) => { timer = realSetTimeout(r, config.maxMs); })]);
    realClearTimeout(timer);
  }
  await nextTask();  // late errors of this run still count as its own
  return {
    session_id: env.doc.session_id,
    status: outcome ? outcome.status : "unsettled",
    value: outcome ? jsonSafe(outcome.value) : null,
    settled_ms: Math.round((outcome ? outcome.at : now()) * 1000) / 1000,
    errors: errors.list(),
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
  const errors = captureErrors();
  const env = await setUp();
  const stopDriving = env.clock && !config.detectorUrl ? driveInBackground(env.clock) : async () => {};
  window.icesim = {
    document: env.doc, replay: env.replay, clock: env.clock, page: env.page,
    run: async (fn) => {
      await stopDriving();
      const line = await report(await run(fn, env, consoleLines, errors));
      show(line);
      return line;
    },
  };
  installed(true);
  if (!config.detectorUrl) return null;
  let fn;
  try {
    fn = await loadDetector();
  } catch (err) {  // the runner: a script that fails to load settles "threw" with its error
    const line = await report({
      session_id: env.doc.session_id, status: "threw", value: jsonSafe(err), settled_ms: 0,
      errors: [], console: consoleLines.slice(),
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
