import fs from "node:fs";
import path from "node:path";

/** The repository root (where package.json lives). */
export const repoRoot = path.resolve(__dirname, "..", "..");

/** Folder holding the Go-built toolchain, linked there by `npm run tools`. */
export const toolsBin = path.join(repoRoot, ".tools", "bin");

/** Thrown when a tool the harness needs was not built; names the tool and the fix. */
export class MissingToolError extends Error {
  constructor(readonly tool: string) {
    super(`tool ${tool} is missing from ${path.relative(repoRoot, toolsBin)}/: run \`npm run tools\` (it builds every pinned tool from tools/*/go.mod)`);
    this.name = "MissingToolError";
  }
}

/** Absolute path of a built tool; throws {@link MissingToolError} when it is absent. */
export function toolPath(name: string): string {
  const p = path.join(toolsBin, name);
  try {
    fs.accessSync(p, fs.constants.X_OK);
  } catch {
    throw new MissingToolError(name);
  }
  return p;
}

/** `PATH` with the toolchain first, so the Pulumi CLI finds its plugins there. */
export function pathWithTools(base = process.env.PATH ?? ""): string {
  return [toolsBin, base].filter(Boolean).join(path.delimiter);
}
