// Problems found in an Ignition or Butane config. Each one carries the path of the
// field it is about, in the config the user wrote (YAML keys for Butane input, JSON
// keys for Ignition input), a stable code and a hint; they are collected and reported
// together rather than thrown one by one.

/** What kind of problem a {@link ConfigProblem} is; stable, for programs to branch on. */
export type ProblemCode =
  | "yaml-syntax"
  | "json-syntax"
  | "type-mismatch"
  | "unknown-key"
  | "duplicate-key"
  | "missing-variant"
  | "unsupported-version"
  | "invalid-version"
  | "duplicate-entry"
  | "path-relative"
  | "path-not-clean"
  | "path-missing"
  | "path-conflict"
  | "path-through-link"
  | "bad-mode"
  | "decimal-mode"
  | "special-mode-bits"
  | "bad-url"
  | "bad-hash"
  | "missing-hash"
  | "bad-compression"
  | "bad-http-header"
  | "bad-unit-name"
  | "bad-unit-contents"
  | "no-install-section"
  | "bad-dropin-name"
  | "bad-link"
  | "bad-partition"
  | "bad-filesystem"
  | "bad-raid"
  | "bad-luks"
  | "bad-proxy"
  | "bad-kernel-argument"
  | "both-id-and-name"
  | "too-many-sources"
  | "local-file"
  | "bad-tree"
  | "bad-mount-unit"
  | "bad-boot-device"
  | "bad-grub-user"
  | "unsupported-field"
  | "source-required"
  | "overwrite-without-source"
  | "merge-conflict"
  | "size-limit"
  | "bad-preset";

/** How bad a problem is: errors stop rendering, warnings do too under `--strict`. */
export type Severity = "error" | "warning";

/** One problem in a config, with where it is and how to fix it. */
export class ConfigProblem {
  constructor(
    /** Stable machine-readable kind. */
    readonly code: ProblemCode,
    /** Whether it stops rendering. */
    readonly severity: Severity,
    /** Where, as `storage.files[3].mode` (empty for the whole document). */
    readonly path: string,
    /** What is wrong, in one sentence. */
    readonly message: string,
    /** How to fix it. */
    readonly hint: string,
    /** 1-based line and column in the source text, when known. */
    readonly position?: { line: number; column: number },
  ) {}

  /** `error at storage.files[3].mode (line 12:13): … (hint: …)` */
  toString(): string {
    const where = this.path ? ` at ${this.path}` : "";
    const pos = this.position ? ` (line ${this.position.line}:${this.position.column})` : "";
    return `${this.severity}${where}${pos}: ${this.message}${this.hint ? `\n  hint: ${this.hint}` : ""}`;
  }
}

/** Thrown when a config has errors (or warnings under strict mode); lists all of them. */
export class IgnitionConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    const shown = problems.filter((p) => p.severity === "error");
    const list = (shown.length ? shown : problems).map((p) => p.toString()).join("\n");
    super(`invalid config: ${problems.length} problem(s)\n${list}`);
    this.name = "IgnitionConfigError";
  }
}

/** One step of a path into a config: an object key or a list index. */
export type PathStep = string | number;

/** Formats `["storage","files",3,"mode"]` as `storage.files[3].mode`. */
export function formatPath(steps: readonly PathStep[]): string {
  let out = "";
  for (const s of steps) {
    if (typeof s === "number") out += `[${s}]`;
    else out += out ? `.${s}` : s;
  }
  return out;
}

/** Collects problems while a config is read, translated or validated. */
export class Problems {
  readonly list: ConfigProblem[] = [];

  /** Resolves a path to a source position, when the reader knows one. */
  locate: (path: readonly PathStep[]) => { line: number; column: number } | undefined = () => undefined;

  /** Adds an error. */
  error(code: ProblemCode, path: readonly PathStep[], message: string, hint = ""): void {
    this.list.push(new ConfigProblem(code, "error", formatPath(path), message, hint, this.locate(path)));
  }

  /** Adds a warning. */
  warn(code: ProblemCode, path: readonly PathStep[], message: string, hint = ""): void {
    this.list.push(new ConfigProblem(code, "warning", formatPath(path), message, hint, this.locate(path)));
  }

  /** True when any error was collected (or any warning, when strict). */
  fatal(strict = false): boolean {
    return this.list.some((p) => p.severity === "error" || strict);
  }
}
