// Deterministic JSON for Ignition configs: keys in the order of Ignition's Go structs,
// empty values left out by the same rules as Go's `omitempty`, and strings escaped as
// Go's encoder escapes them (`<`, `>`, `&`, U+2028/9 as \u escapes). Same input, same
// bytes — and for configs translated from Butane, the same bytes `butane` prints.
import type { IgnitionConfig } from "./model";
import { type FieldSpec, IGNITION_SCHEMA } from "./schema";

/** Rendering options. */
export interface RenderOptions {
  /** Indent with two spaces, like `butane --pretty`; default compact. */
  pretty?: boolean;
}

const hex = "0123456789abcdef";

/** A JSON string literal escaped the way Go's `encoding/json` does with HTML escaping on. */
export function goJsonString(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | undefined;
    if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x3c || c === 0x3e || c === 0x26) {
      if (c === 0x22 || c === 0x5c) esc = `\\${s[i]}`;
      else if (c === 0x0a) esc = "\\n";
      else if (c === 0x0d) esc = "\\r";
      else if (c === 0x09) esc = "\\t";
      else esc = `\\u00${hex[c >> 4]}${hex[c & 0xf]}`;
    } else if (c === 0x2028 || c === 0x2029) esc = `\\u202${hex[c & 0xf]}`;
    else if (c >= 0xd800 && c <= 0xdfff) {
      // A lone surrogate is not valid UTF-8; Go writes U+FFFD for it.
      const pair = c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      if (pair) {
        i++;
        continue;
      }
      esc = "\\ufffd";
    }
    if (esc !== undefined) {
      out += s.slice(start, i) + esc;
      start = i + 1;
    }
  }
  return `${out + s.slice(start)}"`;
}

/** True when Go's `omitempty` would leave the value out. */
function isEmpty(value: unknown, field: FieldSpec): boolean {
  if (value === undefined || value === null) return true;
  if (field.ptr) return false;
  switch (field.type) {
    case "string":
      return value === "";
    case "int":
      return value === 0;
    case "bool":
      return value === false;
    case "list":
      return (value as unknown[]).length === 0;
    case "struct":
      return isEmptyStruct(value as Record<string, unknown>, field.of as string);
  }
}

function isEmptyStruct(value: Record<string, unknown>, name: string): boolean {
  for (const f of IGNITION_SCHEMA[name] ?? []) if (!isEmpty(value[f.key], f)) return false;
  return true;
}

type Writer = (value: unknown, field: FieldSpec, indent: string) => string;

function scalar(value: unknown, field: FieldSpec): string {
  if (field.type === "string") return goJsonString(value === undefined || value === null ? "" : String(value));
  if (field.type === "int") return String(value === undefined || value === null ? 0 : Math.trunc(value as number));
  return value ? "true" : "false";
}

function makeWriter(pretty: boolean): { struct: (v: Record<string, unknown>, name: string, indent: string) => string } {
  const nl = (indent: string) => (pretty ? `\n${indent}` : "");
  const colon = pretty ? ": " : ":";
  const step = pretty ? "  " : "";
  const value: Writer = (v, field, indent) => {
    if (field.type === "struct") return struct((v ?? {}) as Record<string, unknown>, field.of as string, indent);
    if (field.type === "list") {
      const items = (v ?? []) as unknown[];
      if (!items.length) return "[]";
      const elem: FieldSpec = { ...field, type: field.of === "string" ? "string" : "struct", ptr: false, omitempty: false };
      const inner = indent + step;
      return `[${items.map((it) => nl(inner) + value(it, elem, inner)).join(",")}${nl(indent)}]`;
    }
    return scalar(v, field);
  };
  const struct = (v: Record<string, unknown>, name: string, indent: string): string => {
    const inner = indent + step;
    const parts: string[] = [];
    for (const f of IGNITION_SCHEMA[name] ?? []) {
      const x = v[f.key];
      if (f.omitempty ? isEmpty(x, f) : false) continue;
      if (!f.omitempty && (x === undefined || x === null) && f.type === "struct") {
        parts.push(`${nl(inner)}${goJsonString(f.key)}${colon}${struct({}, f.of as string, inner)}`);
        continue;
      }
      parts.push(`${nl(inner)}${goJsonString(f.key)}${colon}${value(x, f, inner)}`);
    }
    if (!parts.length) return "{}";
    return `{${parts.join(",")}${nl(indent)}}`;
  };
  return { struct };
}

const compactWriter = makeWriter(false);
const prettyWriter = makeWriter(true);

/**
 * Renders a config as JSON. Keys not in the Ignition schema are left out (validate
 * first to be told about them).
 */
export function renderConfig(config: IgnitionConfig, options: RenderOptions = {}): string {
  const w = options.pretty ? prettyWriter : compactWriter;
  return w.struct(config as unknown as Record<string, unknown>, "Config", "");
}

/** Renders any struct of the schema by name (e.g. `Resource`), for fragments and tests. */
export function renderStruct(value: object, structName: string, options: RenderOptions = {}): string {
  const w = options.pretty ? prettyWriter : compactWriter;
  return w.struct(value as Record<string, unknown>, structName, "");
}
