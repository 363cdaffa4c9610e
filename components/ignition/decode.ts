// Reads YAML into plain values guided by a schema, with the scalar rules of Go's
// yaml.v3 (which `butane` uses), so the same document means the same thing here:
// `0644` is octal, `1_000` is an int, `420.0` fits an int field, `yes`/`on` fit a
// bool field, a quoted "644" does not fit an int field, and a plain scalar read
// into a string field keeps its text (`mode: 0644` read as a string is "0644").
import { type Alias, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument, Scalar, type YAMLMap } from "yaml";
import { ConfigProblem, formatPath, type PathStep, type Problems } from "./errors";
import type { FieldSpec } from "./schema";

/** The fields of a struct by name; the decoder asks for each struct it enters. */
export type FieldLookup = (structName: string) => FieldSpec[];

/** A parsed YAML document, ready to decode with a schema. */
export interface YamlSource {
  /** The root node (null for an empty document). */
  root: Node | null;
  /** Resolves aliases. */
  resolve(node: Node): Node | null;
  /** 1-based line/column of a byte offset. */
  position(offset: number): { line: number; column: number };
}

/** Parses YAML text; syntax errors go to `problems`. */
export function parseYaml(text: string, problems: Problems): YamlSource | undefined {
  // yaml.v3 refuses characters outside YAML's printable set anywhere in the stream.
  // A raw NEL (U+0085) is refused too: yaml.v3 (YAML 1.1) reads it as a line break,
  // YAML 1.2 as a character, so the two would read the document differently.
  const bad = /[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u.exec(text);
  if (bad) {
    const before = text.slice(0, bad.index);
    const line = before.split("\n").length;
    const column = bad.index - before.lastIndexOf("\n");
    const cp = bad[0].codePointAt(0) ?? 0;
    const code = `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
    const what = cp === 0x85 ? "a raw NEL (U+0085) is read as a line break by YAML 1.1 parsers" : `control characters are not allowed (${code})`;
    problems.list.push(
      new ConfigProblem("yaml-syntax", "error", "", what, `write it as an escape in a double-quoted string: "\\u${cp.toString(16).padStart(4, "0")}"`, {
        line,
        column,
      }),
    );
    return undefined;
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, schema: "failsafe", uniqueKeys: true, keepSourceTokens: false, prettyErrors: false });
  const position = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  if (doc.errors.length) {
    for (const e of doc.errors) {
      const where = position(e.pos[0]);
      const message = e.message.split("\n")[0] ?? e.message;
      problems.list.push(new ConfigProblem("yaml-syntax", "error", "", message, "fix the YAML syntax at the line shown", where));
    }
    return undefined;
  }
  const resolve = (node: Node): Node | null => {
    let n: unknown = node;
    for (let i = 0; i < 64 && isAlias(n); i++) n = (n as Alias).resolve(doc);
    return (n as Node) ?? null;
  };
  return { root: (doc.contents as Node | null) ?? null, resolve, position };
}

const nullWords = new Set(["", "~", "null", "Null", "NULL"]);
const trueWords = new Set(["true", "True", "TRUE"]);
const falseWords = new Set(["false", "False", "FALSE"]);
const compatTrue = new Set(["y", "Y", "yes", "Yes", "YES", "on", "On", "ON"]);
const compatFalse = new Set(["n", "N", "no", "No", "NO", "off", "Off", "OFF"]);
const yamlStyleFloat = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

/** What a plain (unquoted) scalar resolves to under yaml.v3's rules. */
export type Resolved =
  | { tag: "null" }
  | { tag: "bool"; value: boolean }
  | { tag: "int"; value: number }
  | { tag: "float"; value: number }
  | { tag: "str"; value: string };

// Go's strconv.ParseInt(s, 0, 64): sign, then 0x / 0o / 0b / leading-0 octal / decimal.
function parseGoInt(s: string): number | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return undefined;
  const [, sign, body] = m as unknown as [string, string, string];
  let v: number;
  if (/^0[xX]/.test(body)) v = Number.parseInt(body.slice(2), 16);
  else if (/^0[oO]/.test(body)) v = Number.parseInt(body.slice(2), 8);
  else if (/^0[bB]/.test(body)) v = Number.parseInt(body.slice(2), 2);
  else if (body.length > 1 && body.startsWith("0")) v = Number.parseInt(body.slice(1), 8);
  else v = Number.parseInt(body, 10);
  if (v > 2 ** 63) return undefined;
  return sign === "-" ? -v : v;
}

/** Resolves a plain scalar's text as yaml.v3 does. */
export function resolvePlain(text: string): Resolved {
  if (nullWords.has(text)) return { tag: "null" };
  if (trueWords.has(text)) return { tag: "bool", value: true };
  if (falseWords.has(text)) return { tag: "bool", value: false };
  const first = text[0] ?? "";
  if (/[0-9+\-.]/.test(first)) {
    const plain = text.replaceAll("_", "");
    const i = parseGoInt(plain);
    if (i !== undefined) return { tag: "int", value: i };
    if (yamlStyleFloat.test(plain)) return { tag: "float", value: Number.parseFloat(plain) };
    if ([".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"].includes(text)) return { tag: "float", value: Number.POSITIVE_INFINITY };
    if (["-.inf", "-.Inf", "-.INF"].includes(text)) return { tag: "float", value: Number.NEGATIVE_INFINITY };
    if ([".nan", ".NaN", ".NAN"].includes(text)) return { tag: "float", value: Number.NaN };
  }
  return { tag: "str", value: text };
}

/** Decoding context: where values are, and where problems go. */
interface Ctx {
  src: YamlSource;
  fields: FieldLookup;
  problems: Problems;
  positions: Map<string, { line: number; column: number }>;
}

function kindName(node: Node | null): string {
  if (isMap(node)) return "!!map";
  if (isSeq(node)) return "!!seq";
  return "!!str";
}

function mismatch(ctx: Ctx, path: PathStep[], node: Node | null, want: string, text?: string): void {
  // Point at the value, as yaml.v3 does, rather than at its key.
  remember(ctx, path, node);
  const shown = text !== undefined ? ` \`${text}\`` : "";
  ctx.problems.error("type-mismatch", path, `cannot read ${kindName(node)}${shown} as ${want}`, `write ${/^[aeiou]/.test(want) ? "an" : "a"} ${want} here`);
}

function remember(ctx: Ctx, path: PathStep[], node: Node | null): void {
  const range = node?.range;
  if (range) ctx.positions.set(formatPath(path), ctx.src.position(range[0]));
}

function decodeScalar(ctx: Ctx, node: Node | null, field: FieldSpec, path: PathStep[]): unknown {
  if (node === null) return undefined;
  if (!isScalar(node)) {
    mismatch(ctx, path, node, field.type);
    return undefined;
  }
  const text = String((node as Scalar).value ?? "");
  const quoted = node.type !== Scalar.PLAIN;
  const r: Resolved = quoted ? { tag: "str", value: text } : resolvePlain(text);
  if (r.tag === "null") return field.ptr ? undefined : field.type === "string" ? "" : field.type === "int" ? 0 : false;
  switch (field.type) {
    case "string":
      return text;
    case "int":
      if (r.tag === "int") return r.value;
      if (r.tag === "float" && Number.isFinite(r.value) && Math.abs(r.value) < 2 ** 63) return Math.trunc(r.value);
      mismatch(ctx, path, node, "int", text);
      return undefined;
    case "bool":
      if (r.tag === "bool") return r.value;
      if (r.tag === "str" && compatTrue.has(r.value)) return true;
      if (r.tag === "str" && compatFalse.has(r.value)) return false;
      mismatch(ctx, path, node, "bool", text);
      return undefined;
    default:
      return undefined;
  }
}

function mapPairs(ctx: Ctx, map: YAMLMap): [string, Node | null, Node | null][] {
  const out: [string, Node | null, Node | null][] = [];
  const seen = new Set<string>();
  const merged: [string, Node | null, Node | null][] = [];
  for (const pair of map.items) {
    if (!isPair(pair)) continue;
    const keyNode = (pair.key as Node | null) ?? null;
    const key = isScalar(keyNode) ? String(keyNode.value ?? "") : String(keyNode);
    const value = pair.value === null || pair.value === undefined ? null : ctx.src.resolve(pair.value as Node);
    if (key === "<<" && isScalar(keyNode) && keyNode.type === Scalar.PLAIN) {
      // Merge keys: keys of the merged map(s) apply unless this map sets them.
      const sources = isSeq(value) ? value.items.map((n) => ctx.src.resolve(n as Node)) : [value];
      for (const s of sources) if (isMap(s)) merged.push(...mapPairs(ctx, s));
      continue;
    }
    seen.add(key);
    out.push([key, keyNode, value]);
  }
  for (const m of merged) if (!seen.has(m[0])) out.push(m);
  return out;
}

/** Decodes a node as the named struct; returns undefined for null. */
export function decodeStruct(ctx: Ctx, nodeIn: Node | null, structName: string, path: PathStep[]): Record<string, unknown> | undefined {
  const node = nodeIn === null ? null : ctx.src.resolve(nodeIn);
  if (node === null || (isScalar(node) && node.type === Scalar.PLAIN && nullWords.has(String(node.value ?? "")))) return undefined;
  if (!isMap(node)) {
    mismatch(ctx, path, node, structName, isScalar(node) ? String(node.value) : undefined);
    return undefined;
  }
  remember(ctx, path, node);
  const fields = new Map(ctx.fields(structName).map((f) => [f.key, f]));
  const out: Record<string, unknown> = {};
  for (const [key, keyNode, value] of mapPairs(ctx, node)) {
    const f = fields.get(key);
    const p = [...path, key];
    remember(ctx, p, keyNode);
    if (!f) {
      ctx.problems.warn(
        "unknown-key",
        p,
        `unused key ${key}`,
        `remove it, or check its spelling and the spec version (${structName} has: ${[...fields.keys()].join(", ")})`,
      );
      continue;
    }
    const v = decodeValue(ctx, value, f, p);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

function decodeValue(ctx: Ctx, node: Node | null, f: FieldSpec, path: PathStep[]): unknown {
  if (f.type === "struct") return decodeStruct(ctx, node, f.of as string, path);
  if (f.type === "list") {
    if (node === null || (isScalar(node) && node.type === Scalar.PLAIN && nullWords.has(String(node.value ?? "")))) return undefined;
    if (!isSeq(node)) {
      mismatch(ctx, path, node, `list of ${f.of}`);
      return undefined;
    }
    const elem: FieldSpec = { ...f, type: f.of === "string" ? "string" : "struct", ptr: false, omitempty: false };
    return node.items.map((item, i) => {
      const n = item === null ? null : ctx.src.resolve(item as Node);
      remember(ctx, [...path, i], n);
      const v = decodeValue(ctx, n, elem, [...path, i]);
      return v === undefined ? (elem.type === "string" ? "" : {}) : v;
    });
  }
  return decodeScalar(ctx, node, f, path);
}

/** Result of decoding a document. */
export interface Decoded {
  value: Record<string, unknown>;
  /** Source positions by formatted path, for error messages. */
  positions: Map<string, { line: number; column: number }>;
}

/** Decodes the whole document as `rootStruct`. */
export function decodeDocument(
  src: YamlSource,
  rootStruct: string,
  fields: FieldLookup,
  problems: Problems,
  positions = new Map<string, { line: number; column: number }>(),
): Decoded {
  const ctx: Ctx = { src, fields, problems, positions };
  const value = decodeStruct(ctx, src.root, rootStruct, []) ?? {};
  return { value, positions: ctx.positions };
}

/** Reads a top-level scalar (like `variant`) as a string without a schema. */
export function topLevelString(src: YamlSource, key: string): string | undefined {
  const root = src.root ? src.resolve(src.root) : null;
  if (!isMap(root)) return undefined;
  for (const pair of root.items) {
    if (isScalar(pair.key) && String(pair.key.value) === key) {
      const v = pair.value ? src.resolve(pair.value as Node) : null;
      if (isScalar(v)) {
        const text = String(v.value ?? "");
        return v.type === Scalar.PLAIN && nullWords.has(text) ? undefined : text;
      }
      return undefined;
    }
  }
  return undefined;
}
