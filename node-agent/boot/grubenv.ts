// GRUB's environment block (`grubenv`): a 1024-byte file that starts with
// "# GRUB Environment Block\n", holds `name=value\n` lines (backslash and newline in a
// value escaped with a backslash) and is padded with '#'. This mirrors GRUB's
// lib/envblk.c: setting an existing variable replaces it in place, a new one is appended,
// unsetting removes the line. So for the same edits the bytes equal what grub-editenv and
// GRUB's own save_env produce, which the tests check against grub-editenv.

import fs from "node:fs";
import { writeFileAtomic } from "../atomic";
import { AgentError } from "../errors";

/** The block's first line. */
export const GRUBENV_SIGNATURE = "# GRUB Environment Block\n";

/** The size GRUB creates and expects; `save_env` rewrites the block in place, so it must not change. */
export const GRUBENV_SIZE = 1024;

/** One line of the used part of a block: a variable, or a comment kept verbatim. */
export type GrubEnvLine = { name: string; value: string } | { comment: string };

/**
 * An environment block as GRUB sees it: its lines in file order. Comment lines (Debian's
 * grub-editenv writes a warning line) are kept so that a rewrite changes only what was
 * edited.
 */
export interface GrubEnv {
  lines: GrubEnvLine[];
}

function unescapeValue(raw: string): string {
  return raw.replace(/\\(.)/gs, "$1");
}

function escapeValue(value: string): string {
  return value.replace(/[\\\n]/g, (c) => `\\${c}`);
}

/** An empty block. */
export function emptyGrubEnv(): GrubEnv {
  return { lines: [] };
}

/** The variables of a block, in file order. */
export function grubEnvVars(env: GrubEnv): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of env.lines) if ("name" in l) out.set(l.name, l.value);
  return out;
}

/** Parses an environment block. Lines starting with '#' are comments (the padding is one), as in GRUB. */
export function parseGrubEnv(block: Buffer): GrubEnv {
  const text = block.toString("latin1");
  if (!text.startsWith(GRUBENV_SIGNATURE)) throw new AgentError("grubenv", "grubenv: no environment block signature");
  const lines: GrubEnvLine[] = [];
  let p = GRUBENV_SIGNATURE.length;
  while (p < text.length) {
    // A line ends at the first newline that is not escaped.
    let end = p;
    while (end < text.length && text[end] !== "\n") end += text[end] === "\\" ? 2 : 1;
    const line = text.slice(p, Math.min(end, text.length));
    const terminated = end < text.length;
    p = end + 1;
    if (line.startsWith("#")) {
      // The unterminated run of '#' at the end is the padding, not a line.
      if (terminated) lines.push({ comment: line });
      continue;
    }
    const eq = line.indexOf("=");
    if (eq <= 0 || !terminated) continue;
    lines.push({ name: line.slice(0, eq), value: unescapeValue(line.slice(eq + 1)) });
  }
  return { lines };
}

/** Serializes a block into exactly {@link GRUBENV_SIZE} bytes. */
export function formatGrubEnv(env: GrubEnv): Buffer {
  let body = GRUBENV_SIGNATURE;
  for (const l of env.lines) {
    if ("comment" in l) {
      body += `${l.comment}\n`;
      continue;
    }
    if (!/^[^=\n#\\][^=\n\\]*$/.test(l.name)) throw new AgentError("grubenv", `grubenv: invalid variable name ${JSON.stringify(l.name)}`);
    body += `${l.name}=${escapeValue(l.value)}\n`;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the block is 8-bit text
  if (/[^\x00-\xff]/.test(body)) throw new AgentError("grubenv", "grubenv: values must be 8-bit text");
  const bytes = Buffer.from(body, "latin1");
  if (bytes.length > GRUBENV_SIZE) throw new AgentError("grubenv", `grubenv: ${bytes.length} bytes of variables do not fit in ${GRUBENV_SIZE}`);
  return Buffer.concat([bytes, Buffer.alloc(GRUBENV_SIZE - bytes.length, "#")]);
}

/**
 * Applies edits the way GRUB does: setting a variable replaces its line in place or
 * appends one, `undefined` removes its line. Returns a new block.
 */
export function editGrubEnv(env: GrubEnv, edits: Record<string, string | undefined>): GrubEnv {
  let lines = [...env.lines];
  for (const [name, value] of Object.entries(edits)) {
    const i = lines.findIndex((l) => "name" in l && l.name === name);
    if (value === undefined) {
      if (i !== -1) lines = lines.filter((_, j) => j !== i);
    } else if (i === -1) lines.push({ name, value });
    else lines[i] = { name, value };
  }
  return { lines };
}

/** Reads a grubenv file; a missing file reads as empty. */
export function readGrubEnvFile(file: string): GrubEnv {
  let block: Buffer;
  try {
    block = fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return emptyGrubEnv();
    throw new AgentError("grubenv", `grubenv: read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return parseGrubEnv(block);
  } catch (err) {
    throw new AgentError("grubenv", `${(err as Error).message} (${file})`, { cause: err });
  }
}

/** Writes a grubenv file atomically (old or new block after any crash, never a mix). */
export function writeGrubEnvFile(file: string, env: GrubEnv): void {
  const block = formatGrubEnv(env);
  try {
    writeFileAtomic(file, block, "grubenv");
  } catch (err) {
    throw new AgentError("grubenv", `grubenv: write ${file}: ${(err as Error).message}`, { cause: err });
  }
}
