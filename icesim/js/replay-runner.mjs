// icesim replay runner: runs a detector once per replay document, each in a fresh vm context.
//
//   node --experimental-vm-modules --no-warnings icesim/js/replay-runner.mjs
//
// stdin: a job line, then one replay document per line; stdout: one result line per document,
// in order; stderr: diagnostics only. Contract: icesim/js/README.md ("The runner").

import readline from "node:readline";
import vm from "node:vm";
import { formatWithOptions } from "node:util";
import { webcrypto } from "node:crypto";
import { icesimRealmSource } from "./icesim-webrtc.mjs";
import { icesimPageEnvSource } from "./icesim-page-env.mjs";
import { Detector, DetectorError } from "./replay-detector.mjs";
import { describeError, toJSONSafe } from "./replay-values.mjs";

const MAX_ERRORS = 50;
const MAX_REQUESTS = 50;
const MAX_BODY = 4096;
export const DEFAULT_PAGE_URL = "https://www.icesim.test/";

// Stack traces as a page sees them: a browser shows no frame of its own WebRTC, timers or event
// dispatch, so frames of icesim's module, this runner and Node are left out of every stack made
// in a page (`new Error().stack` in a handler, a thrown TypeError). Node consults the main
// realm's Error.prepareStackTrace for errors of every context, so pages cannot see this hook.
const HOST_FRAME = /(^|\/)(icesim-[\w-]+\.mjs|replay-[\w-]+\.mjs)$|^node:/;
const hostDefaultStack = (error, trace) => {
  let header;
  try { header = Error.prototype.toString.call(error); } catch { header = "Error"; }
  return header + trace.map((frame) => `\n    at ${frame}`).join("");
};
Error.prepareStackTrace = (error, trace) => {
  if (error instanceof Error) return hostDefaultStack(error, trace); // the runner's own errors
  return hostDefaultStack(error, trace.filter((frame) => !HOST_FRAME.test(frame.getFileName() || "")));
};
const realmScript = new vm.Script(icesimRealmSource(), { filename: "icesim-webrtc.mjs" });
const pageEnvScript = new vm.Script(icesimPageEnvSource(), { filename: "icesim-page-env.mjs" });

// The page's own globals, built inside its realm so that they are the page's objects.
const pageScript = new vm.Script(`(function installPage(host) {
  "use strict";
  const g = globalThis;
  const N = host.natives;
  const def = (name, value, enumerable) => Object.defineProperty(g, name,
    { value, writable: true, enumerable: enumerable !== false, configurable: true });
  for (const name of ["window", "self", "frames", "parent", "top"]) def(name, g);
  // window is an EventTarget ([object Window]): addEventListener & co. work on it.
  class Window extends N.EventTarget { constructor() { throw new TypeError("Illegal constructor"); } }
  N.finishInterface(Window, "Window", 0);
  N.defineGlobal("Window", Window);
  N.adoptEventTarget(g);
  Object.setPrototypeOf(g, Window.prototype);
  class Navigator {
    constructor() { throw new TypeError("Illegal constructor"); }
    get userAgent() { return host.userAgent; }
    get appVersion() { return host.userAgent.replace(/^Mozilla\\//, ""); }
    get platform() { return host.platform; }
    get vendor() { return host.vendor; }
    get language() { return "en-US"; }
    get languages() { return ["en-US", "en"]; }
    get webdriver() { return false; }
    get onLine() { return true; }
    get cookieEnabled() { return true; }
    get hardwareConcurrency() { return 8; }
  }
  N.finishInterface(Navigator, "Navigator", 0);
  N.defineGlobal("Navigator", Navigator);
  def("navigator", Object.create(Navigator.prototype));
  const console = {};
  for (const level of ["log", "info", "warn", "error", "debug", "trace", "dir", "table"]) {
    console[level] = N.markNative({ [level](...args) { host.log(level, args); } }[level]);
  }
  def("console", console, false);
  def("queueMicrotask", N.markNative({ queueMicrotask(callback) {
    if (typeof callback !== "function") {
      throw new TypeError("Failed to execute 'queueMicrotask' on 'Window': The callback provided as parameter 1 is not a function.");
    }
    Promise.resolve().then(() => { try { callback(); } catch (error) { host.report(error); } });
  } }.queueMicrotask));
  def("reportError", N.markNative({ reportError(error) { host.report(error); } }.reportError));
  def("onerror", null);
  // Node's own URL, TextEncoder & co.: they print as native code to the page's toString.
  for (const name of Object.keys(host.shared)) def(name, N.markNative(host.shared[name], name), false);
  const crypto = {};
  for (const name of ["getRandomValues", "randomUUID"]) {
    crypto[name] = N.markNative({ [name](...args) { return host.crypto[name](...args); } }[name]);
  }
  def("crypto", crypto, false);
  def("icesimPage", Object.assign({}, host.page), false);
  return {
    callback: function callback(value) { host.settle("callback", value); },
    page: g.icesimPage,
  };
})`, { filename: "icesim-page.mjs" });

const SHARED = {
  URL, URLSearchParams, TextEncoder, TextDecoder, atob, btoa,
};
const CRYPTO = { getRandomValues: (a) => webcrypto.getRandomValues(a), randomUUID: () => webcrypto.randomUUID() };

function platformOf(userAgent) {
  if (/Windows/.test(userAgent)) return "Win32";
  if (/Android/.test(userAgent)) return "Linux armv8l";
  if (/iPhone|iPad/.test(userAgent)) return /iPad/.test(userAgent) ? "iPad" : "iPhone";
  if (/Mac OS X|Macintosh/.test(userAgent)) return "MacIntel";
  return "Linux x86_64";
}

let current = null; // the session whose code is running: late errors are attributed to it
function record(result, line) {
  if (result.errors.length < MAX_ERRORS) result.errors.push(line);
  else result.droppedErrors = (result.droppedErrors || 0) + 1;
}
process.on("uncaughtException", (error) => {
  if (current) record(current, describeError(error));
  else process.stderr.write(`runner: uncaught ${describeError(error)}\n`);
});
process.on("unhandledRejection", (reason) => {
  if (current) record(current, `Uncaught (in promise) ${describeError(reason)}`);
});

const yieldToHost = (resolve) => setImmediate(resolve);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function runSession(job, detector, doc) {
  const family = doc.family || String(doc.browser || "chrome").split("@")[0];
  const result = {
    session_id: doc.session_id === undefined ? null : doc.session_id,
    status: "unsettled", value: null, settled_ms: null, errors: [], console: [], requests: [],
  };
  current = result;
  const context = vm.createContext({});
  const global = vm.runInContext("globalThis", context);
  const kit = realmScript.runInContext(context)(global, family);
  const report = (error) => {
    record(result, describeError(error));
    const handler = global.onerror;
    if (typeof handler === "function") {
      try { handler.call(global, describeError(error), "", 0, 0, error); } catch { /* as a browser: ignored */ }
    }
  };
  kit.natives.setErrorReporter(report);
  // The page has been loading for page_ms when the detector runs; settled_ms and max_ms count
  // from the detector's start.
  const startMs = Number.isFinite(doc.page_ms) ? doc.page_ms : 0;
  const epochMs = Number.isFinite(doc.epoch_ms) ? doc.epoch_ms : undefined;  // performance.timeOrigin
  const clock = new kit.VirtualClock({ quantumMs: kit.family(family).performanceQuantumMs, onError: report, startMs, epochMs });
  const sinceStart = () => Math.round((clock.performanceNow() - startMs) * 1000) / 1000;
  clock.install(global);

  let settled = false;
  const settle = (status, value) => {
    if (settled) return;
    settled = true;
    result.status = status;
    result.value = toJSONSafe(value);
    result.settled_ms = sinceStart();
  };
  let consoleLines = 0;
  const userAgent = doc.user_agent || "";
  const page = pageScript.runInContext(context)({
    natives: kit.natives, userAgent, platform: platformOf(userAgent),
    vendor: family === "chrome" ? "Google Inc." : family === "safari" ? "Apple Computer, Inc." : "",
    page: { sessionId: result.session_id, webAddress: doc.web_address ?? null, userAgent: doc.user_agent ?? null },
    shared: SHARED,
    crypto: CRYPTO,
    report,
    settle,
    log(level, args) {
      consoleLines += 1;
      if (consoleLines > job.console) return;
      const text = formatWithOptions({ depth: 3, breakLength: Infinity }, ...args);
      result.console.push(level === "warn" || level === "error" ? `${level}: ${text}` : text);
    },
  });
  // What the page sends (fetch, beacon, XHR, images, navigations): recorded, never sent.
  pageEnvScript.runInContext(context)(global, kit.natives, { pageUrl: job.page_url, userAgent, request(entry) {
    if (result.requests.length >= MAX_REQUESTS) return;
    const body = entry.body === null || entry.body === undefined ? null : String(entry.body);
    result.requests.push({ t: sinceStart(), api: entry.api, method: entry.method, url: entry.url,
      body: body !== null && body.length > MAX_BODY ? body.slice(0, MAX_BODY) : body });
  } });
  const replay = kit.installIcesim(doc, { clock, reportError: report });

  const runOptions = { maxMs: startMs + job.max_ms, yieldToHost, wait: job.clock === "real" ? sleep : undefined };
  const drive = async (promise) => {
    let over = false;
    promise.then(() => { over = true; }, () => { over = true; });
    await clock.run({ ...runOptions, until: () => over || settled });
    return promise;
  };
  const loaded = await detector.load(context, global, drive);
  if (loaded.thrown) {
    settle("threw", loaded.thrown.error);
  } else if (!loaded.fn) {
    settle("threw", { name: "TypeError", message: detector.missingExportMessage(loaded.functions) });
  } else if (!settled) {
    try {
      const returned = Reflect.apply(loaded.fn, global, [page.callback, page.page]);
      if (returned !== null && (typeof returned === "object" || typeof returned === "function")
        && typeof returned.then === "function") {
        Promise.resolve(returned).then((v) => settle("resolved", v), (e) => settle("rejected", e));
      } else if (returned !== undefined) {
        settle("returned", returned);
      }
    } catch (error) {
      settle("threw", error);
    }
  }
  if (!settled) await clock.run({ ...runOptions, until: () => settled });
  if (!settled) result.settled_ms = sinceStart();
  replay.stop();
  await new Promise(yieldToHost); // late errors of this page still count as its own
  if (result.droppedErrors) result.errors.push(`... and ${result.droppedErrors} more errors`);
  delete result.droppedErrors;
  current = null;
  return result;
}

function parseJob(line) {
  let job;
  try {
    job = JSON.parse(line);
  } catch (error) {
    throw new DetectorError(`job line is not JSON: ${error.message}`, "runner");
  }
  if (!job || typeof job.detector !== "string") throw new DetectorError(`job: "detector" must be a path, got ${JSON.stringify(job && job.detector)}`, "runner");
  const clock = job.clock === undefined ? "virtual" : job.clock;
  if (clock !== "virtual" && clock !== "real") throw new DetectorError(`job: "clock" must be "virtual" or "real", got ${JSON.stringify(clock)}`, "runner");
  const maxMs = job.max_ms === undefined ? 120000 : Number(job.max_ms);
  if (!(maxMs > 0)) throw new DetectorError(`job: "max_ms" must be a positive number, got ${JSON.stringify(job.max_ms)}`, "runner");
  const consoleLines = job.console === undefined ? 20 : Number(job.console);
  const pageUrl = job.page_url === undefined || job.page_url === null ? DEFAULT_PAGE_URL : job.page_url;
  let parsed = null;
  try { parsed = new URL(pageUrl); } catch { /* reported below */ }
  if (typeof pageUrl !== "string" || !parsed || !/^https?:$/.test(parsed.protocol)) {
    throw new DetectorError(`job: "page_url" must be an absolute http(s) URL, got ${JSON.stringify(pageUrl)}`, "runner");
  }
  return { detector: job.detector, export: job.export || null, clock, max_ms: maxMs, page_url: parsed.href,
    console: Number.isFinite(consoleLines) && consoleLines >= 0 ? consoleLines : 20 };
}

// Evaluate the detector once in a throwaway page: a missing export fails the job at once.
async function checkExport(job, detector) {
  const probeDoc = { schema: "icesim.replay/1", session_id: null, family: "chrome", webrtc: "available",
    events: [], offer_sdp: "v=0\r\n", offer_ms: 0, sld_ms: 0, local_descriptions: [], stats: [] };
  const context = vm.createContext({});
  const global = vm.runInContext("globalThis", context);
  const kit = realmScript.runInContext(context)(global, "chrome");
  kit.natives.setErrorReporter(() => {});
  const clock = new kit.VirtualClock({ onError: () => {} });
  clock.install(global);
  pageScript.runInContext(context)({ natives: kit.natives, userAgent: "", platform: "", vendor: "",
    page: {}, shared: SHARED, crypto: CRYPTO, report() {}, settle() {}, log() {} });
  pageEnvScript.runInContext(context)(global, kit.natives, { pageUrl: job.page_url, userAgent: "", request() {} });
  kit.installIcesim(probeDoc, { clock });
  const loaded = await detector.load(context, global, (p) => Promise.race([p, sleep(0)]));
  if (!loaded.fn && !loaded.thrown) throw new DetectorError(detector.missingExportMessage(loaded.functions));
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  let job = null;
  let detector = null;
  let sessions = 0;
  let slowest = 0;
  const started = performance.now();
  for await (const line of lines) {
    if (!line.trim()) continue;
    if (job === null) {
      job = parseJob(line);
      detector = new Detector(job.detector, job.export);
      await checkExport(job, detector);
      continue;
    }
    let result;
    let doc;
    try {
      doc = JSON.parse(line);
      if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw new Error("not a JSON object");
    } catch (error) {
      result = { session_id: null, status: "threw", value: { name: "SyntaxError", message: `replay document: ${error.message}` },
        settled_ms: null, errors: [], console: [], requests: [] };
    }
    if (!result) {
      const sessionStart = performance.now();
      try {
        result = await runSession(job, detector, doc);
      } catch (error) { // a fault of the runner or module, not of the page: this session only
        process.stderr.write(`runner: session ${JSON.stringify(doc.session_id)}: ${error && error.stack || error}\n`);
        result = { session_id: doc.session_id === undefined ? null : doc.session_id, status: "threw",
          value: { name: "RunnerError", message: describeError(error) }, settled_ms: null, errors: [], console: [],
          requests: [] };
        current = null;
      }
      slowest = Math.max(slowest, performance.now() - sessionStart);
    }
    process.stdout.write(JSON.stringify(result) + "\n");
    sessions += 1;
  }
  if (process.env.ICESIM_RUNNER_STATS) {
    const ms = performance.now() - started;
    const rssMb = process.memoryUsage().rss / 1048576;
    process.stderr.write(`runner: ${sessions} sessions in ${ms.toFixed(1)} ms (${(sessions / (ms / 1000)).toFixed(0)} `
      + `sessions/s, slowest ${slowest.toFixed(1)} ms, ${rssMb.toFixed(0)} MB RSS)\n`);
  }
}

main().catch((error) => {
  if (error instanceof DetectorError) {
    process.stderr.write(`${error.prefix}: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`runner: ${error && error.stack || error}\n`);
  process.exit(1);
});
