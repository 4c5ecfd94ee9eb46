// What a detector settles with, made JSON-safe for the runner's result line (README "The runner").
//
// Values come from another realm (a vm context), so nothing here relies on instanceof.

import { types, inspect } from "node:util";

const MAX_DEPTH = 32;

function isErrorLike(value) {
  if (types.isNativeError(value)) return true;
  const tag = Object.prototype.toString.call(value);
  return tag === "[object DOMException]" || tag === "[object Error]";
}

/** `Name: message` for an error, `Uncaught <value>` style text for anything else thrown. */
export function describeError(value) {
  try {
    if (value !== null && typeof value === "object" && isErrorLike(value)) {
      return `${value.name}: ${value.message}`;
    }
    return typeof value === "string" ? value : inspect(value, { depth: 2, breakLength: Infinity });
  } catch {
    return "(unprintable error)";
  }
}

/** A Set becomes an array, a Map an object, an Error {name, message}; cycles, BigInt, functions guarded. */
export function toJSONSafe(value) {
  return convert(value, [], 0, true);
}

function convert(value, path, depth, topLevel) {
  switch (typeof value) {
    case "undefined": return topLevel ? null : undefined;
    case "boolean": case "string": return value;
    case "number": return Number.isFinite(value) ? value : null;
    case "bigint": return value.toString();
    case "symbol": return value.toString();
    case "function": return topLevel ? `[Function ${value.name || "anonymous"}]` : undefined;
    default: break;
  }
  if (value === null) return null;
  if (path.includes(value)) return "[Circular]";
  if (depth >= MAX_DEPTH) return "[Too deep]";
  path.push(value);
  try {
    return convertObject(value, path, depth);
  } catch (error) {
    return `[Unreadable: ${describeError(error)}]`;
  } finally {
    path.pop();
  }
}

function convertObject(value, path, depth) {
  const inner = (v) => convert(v, path, depth + 1, false);
  if (isErrorLike(value)) return { name: String(value.name), message: String(value.message) };
  if (types.isSet(value)) return Array.from(value, (v) => nullIfDropped(inner(v)));
  if (types.isMap(value)) {
    const out = {};
    for (const [key, v] of value) {
      const converted = inner(v);
      if (converted !== undefined) out[typeof key === "string" ? key : describeError(key)] = converted;
    }
    return out;
  }
  if (types.isDate(value)) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (types.isBoxedPrimitive(value)) return inner(value.valueOf());
  if (types.isPromise(value)) return "[Promise]";
  if (ArrayBuffer.isView(value)) return types.isDataView(value) ? null : Array.from(value, (v) => inner(v));
  if (Array.isArray(value)) return value.map((v) => nullIfDropped(inner(v)));
  if (typeof value.toJSON === "function") return inner(value.toJSON());
  const out = {};
  for (const key of Object.keys(value)) {
    const converted = inner(value[key]);
    if (converted !== undefined) out[key] = converted;
  }
  return out;
}

function nullIfDropped(value) {
  return value === undefined ? null : value;
}
