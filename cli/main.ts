#!/usr/bin/env node
import fs from "node:fs";
import path from "node:path";

/** A `twinroot <name> ...` subcommand. */
export interface Command {
  /** One line for `twinroot --help`. */
  summary: string;
  /** Runs with the arguments after the command name; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}

// Loaded lazily so `twinroot --version` does not pay for every module.
const commands: Record<string, () => Promise<Command>> = {
  ignition: async () => (await import("./ignition.js")).ignitionCommand,
  status: async () => (await import("./status.js")).statusCommand,
};

// Walks up because this file runs both from cli/ (sources) and dist/cli/ (built).
function version(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (!fs.existsSync(file)) continue;
    const pkg = JSON.parse(fs.readFileSync(file, "utf8")) as { name?: string; version: string };
    if (pkg.name === "twinroot") return pkg.version;
  }
  return "unknown";
}

function usage(): string {
  const lines = ["Usage: twinroot <command> [options]", "", "Commands:"];
  for (const name of Object.keys(commands).sort()) lines.push(`  ${name}`);
  lines.push("", "Options:", "  --version   print the version", "  --help      print this help");
  return lines.join("\n");
}

/** Entry point; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--version" || first === "-v") {
    console.log(version());
    return 0;
  }
  if (!first || first === "--help" || first === "-h" || first === "help") {
    console.log(usage());
    return first ? 0 : 2;
  }
  const load = commands[first];
  if (!load) {
    console.error(`twinroot: unknown command "${first}"\n\n${usage()}`);
    return 2;
  }
  return (await load()).run(rest);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(`twinroot: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    },
  );
}
