// Runs the API capture page (tools/capture_api_page.html) against the replay module instead of
// a browser, so its output can be compared field by field with the browser's capture.
//
//   node tests/replay/api_probe.mjs MODULE.mjs JOB.json   (prints the page's result JSON)
//
// JOB: {"doc": <replay document>, "query": "?cfg=...", "page": "<path of the page>"}.
// The page runs in a fresh vm context (as icesim's runner runs detectors) on the module's
// VirtualClock; its fetch('/result') is the end. Why the page itself: the same probes that
// read the browser read the module, so every difference is the module's.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import vm from "node:vm";

const [modulePath, jobPath] = process.argv.slice(2);
const job = JSON.parse(readFileSync(jobPath, "utf8"));
const html = readFileSync(job.page, "utf8");
const script = html.slice(html.indexOf("<script>") + 8, html.lastIndexOf("</script>"));
const mod = await import(pathToFileURL(modulePath).href);

const hostImmediate = setImmediate;
const sandbox = { console, URL, URLSearchParams, TextEncoder, queueMicrotask };
const context = vm.createContext(sandbox);
const g = vm.runInContext("globalThis", context);
g.window = g;
g.self = g;
g.location = { search: job.query, href: "http://127.0.0.1:8000/page.html" + job.query };
g.navigator = { userAgent: job.doc.user_agent };
let result = null;
g.fetch = async (url, init) => { result = JSON.parse(init.body); return { ok: true, status: 204 }; };

// The module's kit for this realm: the realm-local build when the module offers one (classes
// belong to the context, as in a page), else the contract's installIcesim on the context.
let kit;
if (typeof mod.icesimRealmSource === "function") {
  kit = vm.runInContext(mod.icesimRealmSource(), context)(g, job.doc.family);
} else {
  kit = { VirtualClock: mod.VirtualClock, installIcesim: (doc, opts) => mod.installIcesim(g, doc, opts) };
}
const clock = new kit.VirtualClock();
clock.install(g);
const errors = [];
kit.installIcesim(job.doc, { clock, reportError: (e) => errors.push(String(e && e.stack || e)) });
try {
  vm.runInContext(script, context, { filename: "capture_api_page.html" });
} catch (e) {
  errors.push(String(e && e.stack || e));
}
const how = await clock.run({ until: () => result !== null, maxMs: 600000, yieldToHost: hostImmediate });
process.stdout.write(JSON.stringify({ result, how, errors }) + "\n");
