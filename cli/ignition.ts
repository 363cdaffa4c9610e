// `twinroot ignition render <file.yaml|-> [--strict] [--pretty] [--files-dir DIR]
//  [--user-data-limit BYTES --full-config-url URL --full-config-out FILE]`
// `twinroot ignition validate <file.ign|->`
import fs from "node:fs";
import { butaneToIgnition, type ConfigProblem, fitUserData, parseIgnitionJson, renderConfig, validateConfig } from "../components/ignition";
import type { Command } from "./main";

const usage = `Usage:
  twinroot ignition render <file.yaml|-> [options]   Butane YAML (fcos, flatcar) → Ignition JSON on stdout
  twinroot ignition validate <file.ign|->            check an Ignition JSON config

Options for render:
  --strict                 fail on warnings too
  --pretty                 indent the JSON
  -d, --files-dir DIR      directory for local:, contents_local, trees
  --user-data-limit BYTES  when the JSON is larger, print a small config that merges the
                           full one from --full-config-url (written to --full-config-out)
  --full-config-url URL    where the full config will be served
  --full-config-out FILE   where to write the full config`;

interface Args {
  file?: string;
  strict: boolean;
  pretty: boolean;
  filesDir?: string;
  limit?: number;
  url?: string;
  out?: string;
}

function parseArgs(argv: string[]): Args | string {
  const a: Args = { strict: false, pretty: false };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i] as string;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${x} needs a value`);
      return v;
    };
    try {
      if (x === "--strict") a.strict = true;
      else if (x === "--pretty" || x === "-p") a.pretty = true;
      else if (x === "-d" || x === "--files-dir") a.filesDir = value();
      else if (x === "--user-data-limit") a.limit = Number(value());
      else if (x === "--full-config-url") a.url = value();
      else if (x === "--full-config-out") a.out = value();
      else if (x.startsWith("-") && x !== "-") return `unknown option ${x}`;
      else if (a.file === undefined) a.file = x;
      else return `unexpected argument ${x}`;
    } catch (e) {
      return (e as Error).message;
    }
  }
  if (a.file === undefined) return "missing input file (use - for stdin)";
  if (a.limit !== undefined && (!Number.isInteger(a.limit) || a.limit <= 0)) return "--user-data-limit needs a positive number of bytes";
  if (a.limit !== undefined && (!a.url || !a.out)) return "--user-data-limit needs --full-config-url and --full-config-out";
  return a;
}

/** Where the command reads and writes; the process's streams, or buffers in tests. */
export interface CommandIo {
  /** Reads standard input to the end. */
  stdin(): string;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** The process's own standard streams. */
export const processIo: CommandIo = {
  stdin: () => new TextDecoder("utf-8", { fatal: true }).decode(fs.readFileSync(0)),
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

function readInput(file: string, io: CommandIo): string {
  if (file === "-") return io.stdin();
  // Invalid UTF-8 is an error (as in butane), not a silent U+FFFD.
  return new TextDecoder("utf-8", { fatal: true }).decode(fs.readFileSync(file));
}

function report(problems: readonly ConfigProblem[], source: string, io: CommandIo): void {
  for (const p of problems) io.stderr(`${source}: ${p.toString()}\n`);
}

async function render(argv: string[], io: CommandIo): Promise<number> {
  const a = parseArgs(argv);
  if (typeof a === "string") {
    io.stderr(`twinroot ignition render: ${a}\n\n${usage}\n`);
    return 2;
  }
  const file = a.file as string;
  const text = readInput(file, io);
  const result = butaneToIgnition(text, { strict: a.strict, filesDir: a.filesDir });
  report(result.problems, file === "-" ? "<stdin>" : file, io);
  if (!result.config) return 1;
  let json = renderConfig(result.config, { pretty: a.pretty });
  if (a.limit !== undefined) {
    const fit = fitUserData(result.config, { limit: a.limit, fullConfigUrl: a.url as string, pretty: a.pretty });
    if (fit.split) {
      fs.writeFileSync(a.out as string, fit.full);
      io.stderr(`twinroot ignition render: ${fit.message}\n`);
    }
    json = fit.userData;
  }
  io.stdout(json.endsWith("\n") ? json : `${json}\n`);
  return 0;
}

async function validate(argv: string[], io: CommandIo): Promise<number> {
  const file = argv[0];
  if (!file || argv.length > 1) {
    io.stderr(`${usage}\n`);
    return 2;
  }
  const parsed = parseIgnitionJson(readInput(file, io));
  const problems = [...parsed.problems.list];
  if (parsed.config) problems.push(...validateConfig(parsed.config).list);
  report(problems, file === "-" ? "<stdin>" : file, io);
  return problems.some((p) => p.severity === "error") ? 1 : 0;
}

/** Runs `twinroot ignition <args>` against the given streams; resolves to the exit code. */
export async function runIgnition(args: string[], io: CommandIo = processIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "render") return render(rest, io);
  if (sub === "validate") return validate(rest, io);
  io.stderr(`${usage}\n`);
  return sub === "--help" || sub === "-h" ? 0 : 2;
}

/** The `twinroot ignition` command. */
export const ignitionCommand: Command = {
  summary: "render Butane YAML to Ignition JSON, validate Ignition configs",
  run: (args: string[]) => runIgnition(args),
};
