// On-the-fly decompression of an image stream. The format is taken from the first bytes
// (magic numbers), not from the URL. gzip uses Node's zlib; zstd and xz use the `zstd`
// and `xz` programs, which image-based OSes ship, since Node 20 has neither built in.

import { spawn } from "node:child_process";
import { Readable } from "node:stream";
import zlib from "node:zlib";
import { AgentError } from "../errors";
import type { Compression } from "../rpc/protocol";

/** The concrete formats. */
export type Format = Exclude<Compression, "auto">;

/** Detects the format from the first bytes (at least 6). */
export function sniffFormat(head: Buffer): Format {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.readUInt32LE(0) === 0xfd2fb528) return "zstd";
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return "xz";
  return "none";
}

async function* prepend(head: Buffer[], rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield* head;
  for (;;) {
    const n = await rest.next();
    if (n.done) return;
    yield n.value;
  }
}

function failed(format: Format, err: unknown): AgentError {
  if (err instanceof AgentError) return err;
  return new AgentError("decompress-failed", `decompress ${format}: ${(err as Error).message}`, { cause: err });
}

async function* viaProgram(format: "zstd" | "xz", input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const child = spawn(format, ["-dc"], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code));
  });
  let inputError: unknown;
  const src = Readable.from(input);
  src.on("error", (err) => {
    inputError = err;
    child.kill("SIGKILL");
  });
  // The program may exit early on corrupt input; its stdin then breaks, which is not the error to report.
  child.stdin.on("error", () => {});
  src.pipe(child.stdin);
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) yield chunk;
    const code = await exited;
    if (inputError) throw inputError;
    if (code !== 0) throw new Error(`${format} exited with ${code}: ${stderr.trim()}`);
  } catch (err) {
    throw failed(format, inputError ?? err);
  } finally {
    src.destroy();
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

async function* viaZlib(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const src = Readable.from(input);
  const gunzip = zlib.createGunzip({ chunkSize: 1 << 20 });
  let inputError: unknown;
  src.on("error", (err) => {
    inputError = err;
    gunzip.destroy(err);
  });
  src.pipe(gunzip);
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) yield chunk;
  } catch (err) {
    throw failed("gzip", inputError ?? err);
  } finally {
    src.destroy();
  }
}

/**
 * Decompresses `input` (format `auto` sniffs it). Returns the detected format with the
 * stream of decompressed chunks.
 */
export async function decompress(input: AsyncIterable<Buffer>, compression: Compression = "auto"): Promise<{ format: Format; chunks: AsyncIterable<Buffer> }> {
  const it = input[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let len = 0;
  while (len < 6) {
    const n = await it.next();
    if (n.done) break;
    head.push(n.value);
    len += n.value.length;
  }
  const format = compression === "auto" ? (len >= 6 ? sniffFormat(Buffer.concat(head)) : "none") : compression;
  const all = prepend(head, it);
  if (format === "none") return { format, chunks: all };
  if (format === "gzip") return { format, chunks: viaZlib(all) };
  return { format, chunks: viaProgram(format, all) };
}
