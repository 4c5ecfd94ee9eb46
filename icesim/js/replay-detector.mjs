// Loading a detector script into vm contexts: compiled once, evaluated per context.
//
// A classic script (its top-level functions become window properties; CommonJS
// `module.exports`/`exports` work too) or an ES module (`export`), picked from the extension
// (.mjs / .cjs) or, for .js, from whether it parses as a classic script.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import vm from "node:vm";

import { declaredFunctions, pickClassicFunction } from "./replay-rules.mjs";

/** A job-level problem with the detector: the runner prints `detector: ...` and exits 2. */
export class DetectorError extends Error {
  constructor(message, prefix) {
    super(message);
    this.prefix = prefix || "detector";
  }
}

function syntaxErrorLine(error, file) {
  const first = String(error && error.stack || "").split("\n")[0];
  const match = /:(\d+)$/.exec(first);
  return `${file}:${match ? match[1] : "?"}: ${error.message}`;
}

// vm.SourceTextModule's SyntaxError carries no location (Node 20): ask `node --check` once.
function moduleSyntaxErrorLine(error, file) {
  // node --check reads a .js file as CommonJS: check a .mjs copy of it instead.
  const dir = file.endsWith(".mjs") ? null : fs.mkdtempSync(path.join(os.tmpdir(), "ijs-check-"));
  const checked = dir ? path.join(dir, "detector.mjs") : file;
  try {
    if (dir) fs.copyFileSync(file, checked);
    const check = spawnSync(process.execPath, ["--check", checked], { encoding: "utf8", timeout: 10000 });
    const match = new RegExp(`^${checked.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:(\\d+)$`, "m").exec(check.stderr || "");
    return `${file}:${match ? match[1] : "?"}: ${error.message}`;
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

const MODULE_SYNTAX = /Cannot use import statement|Unexpected token 'export'|import\.meta|Cannot use 'import\.meta'/;

export class Detector {
  constructor(file, exportName) {
    this.file = path.resolve(file);
    this.exportName = exportName || null;
    let source;
    try {
      source = fs.readFileSync(this.file, "utf8");
    } catch (error) {
      throw new DetectorError(`${file}: cannot read (${error.code || error.message})`);
    }
    this.source = source;
    this.commonJS = /\bmodule\.exports\b|\bexports\.[A-Za-z_$]/.test(source);
    const ext = path.extname(this.file);
    this.kind = ext === ".mjs" ? "module" : "classic";
    if (this.kind === "classic") {
      try {
        this.script = new vm.Script(source, { filename: this.file });
      } catch (error) {
        if (ext === ".cjs" || !(error instanceof SyntaxError) || !MODULE_SYNTAX.test(error.message)) {
          throw new DetectorError(syntaxErrorLine(error, this.file));
        }
        this.kind = "module";
      }
    }
    if (this.kind === "module") {
      if (typeof vm.SourceTextModule !== "function") {
        throw new DetectorError(`${this.file}: an ES module detector needs node --experimental-vm-modules`);
      }
      // Parse once now so that a syntax error fails the job before any session runs.
      try {
        const probe = new vm.SourceTextModule(source, { identifier: this.file, context: vm.createContext({}) });
        this.cachedData = probe.createCachedData();
      } catch (error) {
        throw new DetectorError(moduleSyntaxErrorLine(error, this.file));
      }
    }
    this.sources = new Map([[this.file, source]]);
  }

  /**
   * Evaluate the detector in `context` (whose global is `global`); resolves { fn, functions }
   * where fn is the export to call (or undefined) and functions the names found. `drive(promise)`
   * lets the caller run the page's clock while a module's top-level await is pending.
   */
  async load(context, global, drive) {
    if (this.kind === "classic") return this._loadClassic(context, global);
    return this._loadModule(context, drive);
  }

  _loadClassic(context, global) {
    const before = new Set(Object.getOwnPropertyNames(global));
    let module;
    if (this.commonJS) {
      module = vm.runInContext("({ exports: {} })", context);
      Object.defineProperty(global, "module", { value: module, writable: true, configurable: true });
      Object.defineProperty(global, "exports", { value: module.exports, writable: true, configurable: true });
    }
    let thrown;
    try {
      this.script.runInContext(context);
    } catch (error) {
      thrown = { error };
    }
    const { fn, functions } = pickClassicFunction(global, module ? module.exports : undefined,
      declaredFunctions(global, before), this.exportName);
    return { fn, functions, thrown };
  }

  async _loadModule(context, drive) {
    const modules = new Map();
    const make = (file) => {
      let mod = modules.get(file);
      if (!mod) {
        let source = this.sources.get(file);
        if (source === undefined) {
          source = fs.readFileSync(file, "utf8");
          this.sources.set(file, source);
        }
        mod = new vm.SourceTextModule(source, {
          identifier: file, context,
          cachedData: file === this.file ? this.cachedData : undefined,
        });
        modules.set(file, mod);
      }
      return mod;
    };
    const root = make(this.file);
    await root.link((specifier, referencing) => {
      if (!/^\.{0,2}\//.test(specifier)) {
        throw new Error(`cannot import "${specifier}": a replayed page imports relative files only`);
      }
      return make(path.resolve(path.dirname(referencing.identifier), specifier));
    });
    let thrown;
    try {
      await drive(root.evaluate());
    } catch (error) {
      thrown = { error };
    }
    const ns = root.namespace;
    const functions = Object.keys(ns).filter((k) => { try { return typeof ns[k] === "function"; } catch { return false; } });
    let fn;
    try {
      fn = this.exportName ? ns[this.exportName] : ns.default;
    } catch {
      fn = undefined;
    }
    return { fn: typeof fn === "function" ? fn : undefined, functions, thrown };
  }

  missingExportMessage(functions) {
    const wanted = this.exportName ? `no function "${this.exportName}"` : "no default export (or module.exports function)";
    const found = functions.length ? functions.join(", ") : "none";
    const hint = this.exportName ? "" : "; pass --export NAME";
    return `${this.file}: ${wanted}; functions found: ${found}${hint}`;
  }
}
