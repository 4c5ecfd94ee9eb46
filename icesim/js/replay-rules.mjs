// The detector rules the Node runner and the `--serve` page share (README "The runner"): which
// function of a detector is called, and how what it settles with becomes JSON. Portable: no Node
// or browser API, and no `instanceof` (values come from another realm, a vm context).

const MAX_DEPTH = 32;

const tagOf = (value) => Object.prototype.toString.call(value);

/** An Error of any realm (subclasses included: their tag is "[object Error]") or a DOMException. */
export function isErrorLike(value) {
  const tag = tagOf(value);
  return tag === "[object Error]" || tag === "[object DOMException]";
}

/** `Name: message` for an error; `inspect(value)` (or String) for anything else thrown. */
export function describeError(value, inspect = String) {
  try {
    if (value !== null && typeof value === "object" && isErrorLike(value)) return `${value.name}: ${value.message}`;
    return typeof value === "string" ? value : inspect(value);
  } catch {
    return "(unprintable error)";
  }
}

/** A Set becomes an array, a Map an object, an Error {name, message}, a Date ISO text; cycles,
 *  BigInt and functions guarded (a top-level function prints as "[Function name]"). */
export function toJSONSafe(value, inspect = String) {
  return convert(value, [], true, inspect);
}

function convert(value, path, topLevel, inspect) {
  switch (typeof value) {
    case "undefined": return topLevel ? null : undefined;
    case "boolean": case "string": return value;
    case "number": return Number.isFinite(value) ? value : null;
    case "bigint": case "symbol": return value.toString();
    case "function": return topLevel ? `[Function ${value.name || "anonymous"}]` : undefined;
    default: break;
  }
  if (value === null) return null;
  if (path.includes(value)) return "[Circular]";
  if (path.length >= MAX_DEPTH) return "[Too deep]";
  path.push(value);
  try {
    return convertObject(value, (v) => convert(v, path, false, inspect), inspect);
  } catch (error) {
    return `[Unreadable: ${describeError(error, inspect)}]`;
  } finally {
    path.pop();
  }
}

function convertObject(value, inner, inspect) {
  const kept = (v) => (v === undefined ? null : v);
  const tag = tagOf(value);
  if (isErrorLike(value)) return { name: String(value.name), message: String(value.message) };
  if (tag === "[object Set]") return Array.from(value, (v) => kept(inner(v)));
  if (tag === "[object Map]") {
    const out = {};
    for (const [key, v] of value) {
      const converted = inner(v);
      if (converted !== undefined) out[typeof key === "string" ? key : describeError(key, inspect)] = converted;
    }
    return out;
  }
  if (tag === "[object Date]") return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (tag === "[object Promise]") return "[Promise]";
  if (tag === "[object Number]" || tag === "[object String]" || tag === "[object Boolean]") return inner(value.valueOf());
  if (ArrayBuffer.isView(value)) return tag === "[object DataView]" ? null : Array.from(value, (v) => inner(v));
  if (Array.isArray(value)) return value.map((v) => kept(inner(v)));
  if (typeof value.toJSON === "function") return inner(value.toJSON());
  const out = {};
  for (const key of Object.keys(value)) {
    const converted = inner(value[key]);
    if (converted !== undefined) out[key] = converted;
  }
  return out;
}

/**
 * The function a classic or CommonJS detector offers: `--export NAME` (a module.exports member,
 * else a global), else module.exports itself, its `default`, its only function, or the script's
 * only new top-level function. `declared`: names of the functions the script added to the global.
 * Returns { fn (or undefined), functions: every candidate name }.
 */
export function pickClassicFunction(global, exported, declared, exportName) {
  const isObject = exported !== null && typeof exported === "object";
  const exportedNames = isObject ? Object.keys(exported).filter((k) => typeof exported[k] === "function") : [];
  let fn;
  if (exportName) {
    fn = isObject && typeof exported[exportName] === "function" ? exported[exportName] : global[exportName];
  } else if (typeof exported === "function") {
    fn = exported;
  } else if (isObject && typeof exported.default === "function") {
    fn = exported.default;
  } else if (exportedNames.length === 1) {
    fn = exported[exportedNames[0]];
  } else if (declared.length === 1) {
    fn = global[declared[0]];
  }
  return { fn: typeof fn === "function" ? fn : undefined, functions: [...new Set([...exportedNames, ...declared])] };
}

/** The functions a classic script added to `global` (names not in `before`). */
export function declaredFunctions(global, before) {
  return Object.getOwnPropertyNames(global)
    .filter((name) => !before.has(name) && name !== "module" && name !== "exports")
    .filter((name) => { try { return typeof global[name] === "function"; } catch { return false; } });
}
