// Reads Ignition JSON text into a typed config, checking every value's type against
// the schema of its spec version and warning about keys Ignition would not use.
import { type PathStep, Problems } from "./errors";
import type { IgnitionConfig } from "./model";
import { type FieldSpec, ignitionFields, SPEC_VERSIONS, type SpecVersion, specMinor } from "./schema";

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

function check(value: unknown, f: FieldSpec, at: PathStep[], p: Problems, minor: number): unknown {
  if (value === null) return undefined;
  const bad = (want: string) => {
    p.error("type-mismatch", at, `cannot unmarshal ${typeName(value)} into ${want}`, `write a ${want} here`);
    return undefined;
  };
  switch (f.type) {
    case "string":
      return typeof value === "string" ? value : bad("string");
    case "int":
      return typeof value === "number" && Number.isInteger(value) ? value : bad("integer");
    case "bool":
      return typeof value === "boolean" ? value : bad("boolean");
    case "list": {
      if (!Array.isArray(value)) return bad("array");
      const elem: FieldSpec = { ...f, type: f.of === "string" ? "string" : "struct", ptr: false, omitempty: false };
      return value.map((x, i) => check(x, elem, [...at, i], p, minor) ?? (elem.type === "string" ? "" : {}));
    }
    case "struct":
      return checkStruct(value, f.of as string, at, p, minor);
  }
}

function checkStruct(value: unknown, name: string, at: PathStep[], p: Problems, minor: number): Record<string, unknown> | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) {
    p.error("type-mismatch", at, `cannot unmarshal ${typeName(value)} into ${name}`, "write an object here");
    return undefined;
  }
  const fields = new Map(ignitionFields(name, minor).map((f) => [f.key, f]));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const f = fields.get(k);
    if (!f) {
      p.warn("unknown-key", [...at, k], `unused key ${k}`, `remove it, or check its spelling and the spec version (3.${minor}.0)`);
      continue;
    }
    const x = check(v, f, [...at, k], p, minor);
    if (x !== undefined) out[k] = x;
  }
  return out;
}

/** A parsed Ignition config and what was found while reading it. */
export interface ParsedIgnition {
  /** Undefined when the text is not JSON or has no usable version. */
  config?: IgnitionConfig;
  /** The spec version the config declares, when supported. */
  spec?: SpecVersion;
  problems: Problems;
}

/** Parses Ignition JSON; the declared `ignition.version` picks the schema. */
export function parseIgnitionJson(text: string): ParsedIgnition {
  const problems = new Problems();
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    problems.error("json-syntax", [], `not valid JSON: ${(e as Error).message}`, "check brackets, commas and quotes");
    return { problems };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    problems.error("type-mismatch", [], "config is not a JSON object", "an Ignition config is an object with an `ignition` key");
    return { problems };
  }
  const version = ((raw as Record<string, unknown>).ignition as Record<string, unknown> | undefined)?.version;
  const spec = SPEC_VERSIONS.find((v) => v === version);
  if (!spec) {
    const parsed = typeof version === "string" && /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version);
    problems.error(
      parsed ? "unsupported-version" : "invalid-version",
      ["ignition", "version"],
      parsed ? "unsupported config version" : "invalid config version (couldn't parse)",
      `set ignition.version to one of ${SPEC_VERSIONS.join(", ")}`,
    );
    return { problems };
  }
  const config = checkStruct(raw, "Config", [], problems, specMinor(spec)) as unknown as IgnitionConfig;
  return { config, spec, problems };
}
