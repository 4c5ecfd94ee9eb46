// Console lines of a served page in the form the Node runner keeps them (replay-runner.mjs:
// util.formatWithOptions({depth: 3, breakLength: Infinity}), "warn: "/"error: " prefixed), so a
// page's `console` list reads like `icesim replay --format jsonl`'s. Covers what detectors log:
// %s %d %i %f %j %o %O %c %%, primitives, arrays, plain and class objects, Set, Map, Date,
// functions, Errors (as "Name: message": a browser's stack differs from Node's anyway); an
// object nested deeper than 3 levels stays on one line where Node breaks it.

const DEPTH = 3;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function quote(text) {
  return text.includes("'") && !text.includes('"') ? `"${text}"` : `'${text.replace(/'/g, "\\'")}'`;
}

function inspect(value, depth = 0, seen = []) {
  switch (typeof value) {
    case "string": return depth === 0 ? value : quote(value);
    case "number": return Object.is(value, -0) ? "-0" : String(value);
    case "bigint": return `${value}n`;
    case "symbol": case "boolean": case "undefined": return String(value);
    case "function": {
      const source = Function.prototype.toString.call(value);
      if (source.startsWith("class")) return `[class ${value.name || "(anonymous)"}]`;
      return value.name ? `[Function: ${value.name}]` : "[Function (anonymous)]";
    }
    default: break;
  }
  if (value === null) return "null";
  if (seen.includes(value)) return "[Circular *1]";
  if (value instanceof Error || Object.prototype.toString.call(value) === "[object DOMException]") {
    return `${value.name}: ${value.message}`;
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
  const inner = (v) => inspect(v, depth + 1, [...seen, value]);
  const deep = depth > DEPTH;
  if (Array.isArray(value)) {
    if (deep) return "[Array]";
    return value.length ? `[ ${value.map(inner).join(", ")} ]` : "[]";
  }
  if (value instanceof Set) {
    if (deep) return "[Set]";
    return value.size ? `Set(${value.size}) { ${[...value].map(inner).join(", ")} }` : "Set(0) {}";
  }
  if (value instanceof Map) {
    if (deep) return "[Map]";
    const entries = [...value].map(([k, v]) => `${inner(k)} => ${inner(v)}`);
    return value.size ? `Map(${value.size}) { ${entries.join(", ")} }` : "Map(0) {}";
  }
  const proto = Object.getPrototypeOf(value);
  const name = proto === null ? "[Object: null prototype]" : proto.constructor && proto.constructor.name;
  const prefix = name && name !== "Object" ? `${name} ` : "";
  if (deep) return `[${name || "Object"}]`;
  const keys = Object.keys(value);
  if (!keys.length) return `${prefix}{}`;
  const body = keys.map((k) => `${IDENTIFIER.test(k) ? k : quote(k)}: ${inner(value[k])}`).join(", ");
  return `${prefix}{ ${body} }`;
}

/** One console call's text, as Node's util.format prints it. */
export function formatConsole(args) {
  const rest = [...args];
  let head = "";
  if (typeof rest[0] === "string" && rest.length > 1 && rest[0].includes("%")) {
    const format = rest.shift();
    head = format.replace(/%([sdifjoOc%])/g, (match, spec) => {
      if (spec === "%") return "%";
      if (!rest.length) return match;
      const arg = rest.shift();
      switch (spec) {
        case "s": return typeof arg === "string" ? arg : inspect(arg, 1);
        case "d": case "i": return String(spec === "i" ? parseInt(arg, 10) : Number(arg));
        case "f": return String(parseFloat(arg));
        case "j": try { return JSON.stringify(arg); } catch { return "[Circular]"; }
        case "c": return "";
        default: return inspect(arg, 0 + (typeof arg === "string" ? 1 : 0));
      }
    });
    return [head, ...rest.map((a) => inspect(a))].join(" ");
  }
  return rest.map((a) => inspect(a)).join(" ");
}
