// Shared helpers of the Ignition differential tests: the corpus, and runners for
// `twinroot ignition render`, `butane` and `ignition-validate`.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { runIgnition } from "../../cli/ignition";
import { repoRoot, toolPath } from "../../lab/harness/tools";

/** The corpus folder. */
export const corpusDir = path.join(repoRoot, "test", "integration", "ignition-corpus");
/** The files directory (`-d`) every corpus config is rendered with. */
export const filesDir = path.join(corpusDir, "files");

/** One corpus config. */
export interface CorpusEntry {
  name: string;
  file: string;
  /** For invalid configs: the field the error must name (`storage.files[0].mode`), or `line N`. */
  expect?: string;
  /** Render with `--strict` (warnings count as errors). */
  strict: boolean;
}

/** Lists `valid/` or `invalid/`, reading `# expect:` and `# strict` header comments. */
export function corpus(kind: "valid" | "invalid"): CorpusEntry[] {
  const dir = path.join(corpusDir, kind);
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".bu"))
    .sort()
    .map((f) => {
      const file = path.join(dir, f);
      const head = fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l.startsWith("#"));
      const expect = head.map((l) => /^# expect: (.+)$/.exec(l)?.[1]).find(Boolean);
      return { name: f, file, expect, strict: head.some((l) => l.trim() === "# strict") };
    });
}

/** Exit code and output of a process. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded by `timeoutMs`). */
export function run(cmd: string, args: string[], input?: string, timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: repoRoot, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    // A tool that exits without reading its input must not fail the test with EPIPE.
    child.stdin.on("error", () => {});
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.end(input ?? "");
  });
}

/**
 * `twinroot ignition render`, the command's own code run in this process with its
 * output captured (spawning node per config would dominate the test's time; the
 * process entry point has its own tests in ignition-cli.test.ts).
 */
export async function renderWithTwinroot(file: string, strict: boolean): Promise<RunResult> {
  const args = ["render", "-d", filesDir, file];
  if (strict) args.push("--strict");
  let stdout = "";
  let stderr = "";
  const code = await runIgnition(args, {
    stdin: () => "",
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
  });
  return { code, stdout, stderr };
}

/** The real `butane`. */
export function renderWithButane(file: string, strict: boolean): Promise<RunResult> {
  const args = ["-d", filesDir, file];
  if (strict) args.unshift("--strict");
  return run(toolPath("butane"), args);
}

/** The real `ignition-validate` on JSON text. */
export function ignitionValidate(json: string): Promise<RunResult> {
  return run(toolPath("ignition-validate"), ["-"], json);
}

/** Runs jobs with at most `limit` at once, keeping order. */
export async function pool<T, R>(items: readonly T[], limit: number, job: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await job(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** `storage.files[0].mode` → `$.storage.files.0.mode`, butane's spelling of a path. */
export function butanePath(p: string): string {
  return `$.${p.replace(/\[(\d+)\]/g, ".$1")}`;
}
