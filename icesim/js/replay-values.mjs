// What a detector settles with, made JSON-safe for the runner's result line (README "The runner"):
// the shared rules (replay-rules.mjs) with Node's inspect for values that are not errors.

import { inspect } from "node:util";

import { describeError as describe, toJSONSafe as toSafe } from "./replay-rules.mjs";

const show = (value) => inspect(value, { depth: 2, breakLength: Infinity });

/** `Name: message` for an error, `Uncaught <value>` style text for anything else thrown. */
export function describeError(value) {
  return describe(value, show);
}

/** A Set becomes an array, a Map an object, an Error {name, message}; cycles, BigInt, functions guarded. */
export function toJSONSafe(value) {
  return toSafe(value, show);
}
