// Butane-style YAML (variants `fcos` and `flatcar`) → Ignition, the pipeline of
// `butane`: read the YAML with its scalar rules, warn about unused keys, check the
// source, translate, add generated units and trees, desugar the variant's sections,
// then validate the Ignition result and report problems at YAML paths.

import { validateButaneSource } from "./butane-validate";
import { decodeDocument, parseYaml, topLevelString } from "./decode";
import { type ConfigProblem, formatPath, type PathStep, Problems } from "./errors";
import { translateFcos, validateFcos } from "./fcos";
import type { IgnitionConfig } from "./model";
import { parseIgnitionJson } from "./parse";
import { butaneFields, type SpecVersion, snake, specMinor } from "./schema";
import { addMountUnits, processTrees, type TranslateCtx, type TranslateOptions, translateStruct } from "./translate";
import { validateConfig } from "./validate";

/** Butane variants this package reads. */
export type Variant = "fcos" | "flatcar";

/** `variant` + `version` of a Butane document → the Ignition spec it produces. */
export const BUTANE_VERSIONS: Readonly<Record<Variant, Readonly<Record<string, SpecVersion>>>> = {
  fcos: { "1.4.0": "3.3.0", "1.5.0": "3.4.0", "1.6.0": "3.5.0" },
  flatcar: { "1.0.0": "3.3.0", "1.1.0": "3.4.0" },
};

/** Options for {@link butaneToIgnition}. */
export interface ButaneOptions extends TranslateOptions {
  /** Treat warnings as errors, like `butane --strict`. */
  strict?: boolean;
}

/** What a translation produced. */
export interface ButaneResult {
  /** The Ignition config; undefined when there were errors (or warnings, when strict). */
  config?: IgnitionConfig;
  /** The spec version the config is for. */
  spec?: SpecVersion;
  variant?: Variant;
  /** Every problem found, errors and warnings, with YAML paths. */
  problems: ConfigProblem[];
}

const semver = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

// JSON paths of the translated config back to YAML keys (the structure is the same).
const toYamlPath = (steps: PathStep[]): PathStep[] => steps.map((s) => (typeof s === "string" ? snake(s) : s));

/** Translates a Butane YAML document to an Ignition config. */
export function butaneToIgnition(text: string, options: ButaneOptions = {}): ButaneResult {
  const p = new Problems();
  const done = (extra: Partial<ButaneResult> = {}): ButaneResult => ({ ...extra, problems: p.list });
  const src = parseYaml(text, p);
  if (!src) return done();
  const variant = topLevelString(src, "variant");
  if (!variant) {
    p.error("missing-variant", ["variant"], "error parsing variant; must be specified", "add `variant: fcos` or `variant: flatcar`");
    return done();
  }
  const version = topLevelString(src, "version") ?? "";
  if (!semver.test(version)) {
    p.error("invalid-version", ["version"], "error parsing version; must be a valid semver", "write the version as x.y.z, e.g. 1.5.0");
    return done();
  }
  const spec = (BUTANE_VERSIONS as Record<string, Record<string, SpecVersion>>)[variant]?.[version];
  if (!spec) {
    const known = Object.entries(BUTANE_VERSIONS)
      .map(([v, vs]) => `${v} ${Object.keys(vs).join("/")}`)
      .join("; ");
    p.error("unsupported-version", ["version"], `No translator exists for variant ${variant} with version ${version}`, `supported here: ${known}`);
    return done();
  }
  const v = variant as Variant;
  const minor = specMinor(spec);
  const positions = new Map<string, { line: number; column: number }>();
  p.locate = (path) => positions.get(formatPath(path));
  const decoded = decodeDocument(src, "Config", (name) => butaneFields(name, minor, v), p, positions);
  if (p.list.some((x) => x.severity === "error")) return done({ spec, variant: v });
  const y = decoded.value;

  const checkEmbedded = (inner: string, at: PathStep[]) => checkEmbeddedConfig(inner, at, spec, p);
  validateButaneSource(y, p, checkEmbedded);
  if (v === "fcos") validateFcos(y, minor, p);
  if (p.fatal()) return done({ spec, variant: v });

  const ctx: TranslateCtx = { minor, options, problems: p, checkEmbeddedConfig: checkEmbedded };
  let config = translateStruct(ctx, "Config", y, []) as unknown as IgnitionConfig;
  config.ignition = { ...(config.ignition ?? {}), version: spec };
  config = addMountUnits(config, y);
  processTrees(ctx, config, y);
  if (p.fatal()) return done({ spec, variant: v });
  if (v === "fcos") config = translateFcos(y, config, minor, p, options.noResourceAutoCompression === true);
  if (v === "flatcar") {
    (config.storage?.luks ?? []).forEach((l, i) => {
      const c = l.clevis;
      if (
        c &&
        (c.custom?.pin || c.custom?.config || c.custom?.needsNetwork !== undefined || c.tang?.length || c.threshold !== undefined || c.tpm2 !== undefined)
      )
        p.error("unsupported-field", ["storage", "luks", i, "clevis"], "clevis is not supported in this spec version", "Flatcar has no Clevis; use a key_file");
    });
    if (p.fatal()) return done({ spec, variant: v });
  }
  const report = validateConfig(config, { spec, mapPath: toYamlPath });
  for (const x of report.list) {
    const at = toYamlPathSteps(x.path);
    if (x.severity === "error") p.error(x.code, at, x.message, x.hint);
    else p.warn(x.code, at, x.message, x.hint);
  }
  if (p.fatal(options.strict)) return done({ spec, variant: v });
  return done({ config, spec, variant: v });
}

function toYamlPathSteps(path: string): PathStep[] {
  const steps: PathStep[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) steps.push(m[2] !== undefined ? Number(m[2]) : (m[1] as string));
  return steps;
}

// Butane parses inline `ignition.config` resources and validates them when they are
// for the same spec; a config for another version is only warned about.
function checkEmbeddedConfig(text: string, at: PathStep[], spec: SpecVersion, p: Problems): void {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    p.error("json-syntax", at, `embedded config is not valid JSON: ${(e as Error).message}`, "give a complete Ignition JSON config");
    return;
  }
  const version = ((raw as Record<string, unknown> | null)?.ignition as Record<string, unknown> | undefined)?.version;
  if (typeof version === "string" && semver.test(version) && version !== spec) {
    p.warn(
      "unsupported-version",
      [...at, "version"],
      "skipping validation for the merge/replace ignition config due to an unkown version",
      `embed a ${spec} config to have it checked`,
    );
    return;
  }
  const parsed = parseIgnitionJson(text);
  const report = parsed.config ? validateConfig(parsed.config, { spec }) : parsed.problems;
  const all = parsed.config ? [...parsed.problems.list, ...report.list] : report.list;
  for (const x of all) {
    const inner = toYamlPathSteps(x.path);
    if (x.severity === "error") p.error(x.code, [...at, ...inner], x.message, x.hint);
    else p.warn(x.code, [...at, ...inner], x.message, x.hint);
  }
}
