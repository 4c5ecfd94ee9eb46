// A stand-in for icesim/js/replay-runner.mjs that speaks its protocol (icesim/js/README.md): the
// job line, then one replay document per line, one result line per document, in order. Real
// timers and no RTCPeerConnection: enough to test icesim/replay/pool.py on its own (ordering,
// exit 2 with one stderr line, the wall-time kill of a busy loop, a runner that dies).
import fs from "node:fs";
import readline from "node:readline";
import vm from "node:vm";

const lines = readline.createInterface({ input: process.stdin });
let job = null;
let detect = null;

function fail(message) {
  process.stderr.write(`icesim replay: ${message}\n`);
  process.exit(2);
}

for await (const line of lines) {
  if (job === null) {
    job = JSON.parse(line);
    const context = vm.createContext({ setTimeout, clearTimeout, Promise, module: { exports: {} } });
    try {
      new vm.Script(fs.readFileSync(job.detector, "utf8"), { filename: job.detector }).runInContext(context);
    } catch (error) {
      fail(`${job.detector}: ${error.name}: ${error.message}`);
    }
    detect = job.export ? context[job.export] : context.module.exports;
    if (typeof detect !== "function") fail(`${job.detector}: no function ${job.export ?? "module.exports"}`);
    continue;
  }
  const doc = JSON.parse(line);
  if (doc.session_id === "crash-the-runner") process.exit(3);
  const started = Date.now();
  const result = await new Promise((resolve) => {
    let done = false;
    const settle = (status, value) => {
      if (done) return;
      done = true;
      resolve({ session_id: doc.session_id, status, value, settled_ms: Date.now() - started, errors: [], console: [] });
    };
    const page = { sessionId: doc.session_id, webAddress: doc.web_address, userAgent: doc.user_agent };
    try {
      const value = detect((v) => settle("callback", v), page, doc);
      if (value && typeof value.then === "function") {
        value.then((v) => settle("resolved", v), (e) => settle("rejected", { name: e?.name, message: e?.message ?? String(e) }));
      } else if (value !== undefined) {
        settle("returned", value);
      }
    } catch (error) {
      settle("threw", { name: error.name, message: error.message });
    }
    setTimeout(() => settle("unsettled", null), Math.min(job.max_ms, 2000));
  });
  process.stdout.write(JSON.stringify(result) + "\n");
}
