// The `stage` operation: RAUC's install order. Check what can be checked without
// touching the disk (parameters, scheme, signature), mark the target slot bad in one
// atomic grubenv write, record it as being written, stream-download-decompress-hash-write
// (each written buffer read back from the device and compared while the rest downloads),
// fsync, compare the digest, and only then record the slot as staged. Activating it
// is a separate, later step. A crash anywhere leaves the target unbootable and the
// booted slot untouched.

import fs from "node:fs";
import type { BootChooser } from "../boot/chooser";
import { markBad, stageTarget } from "../boot/machine";
import { AgentError, wrap } from "../errors";
import { failpoint } from "../failpoint";
import type { StageParams, StageResult } from "../rpc/protocol";
import type { DiskLayout } from "../slots/disk";
import type { SlotName } from "../slots/layout";
import { readAgentState, type StageCheckpoint, updateSlotRecord } from "../slots/state";
import { type Decompressor, decompressor, type Format } from "./decompress";
import type { Sink } from "./flow";
import { DIGEST_RE, verifyDigestSignature } from "./signature";
import { checkUrl, openSource } from "./source";
import { ALIGN, SlotWriter } from "./writer";
import { ZstdFrames } from "./zstdframes";

/** What `stage` needs from the agent. */
export interface StageContext {
  layout: DiskLayout;
  chooser: BootChooser;
  stateFile: string;
  booted: SlotName;
  allowHttp: boolean;
  publicKeyPem?: string;
  caPem?: string;
  checkpointBytes: number;
  retries: number;
  onProgress?: (bytes: number) => void;
}

/** Checks the request's shape; throws `invalid-params`, `http-refused` or `signature-invalid`. */
export function validateStage(p: StageParams, ctx: Pick<StageContext, "allowHttp" | "publicKeyPem">): void {
  if (typeof p?.url !== "string") throw new AgentError("invalid-params", "stage: url is required");
  if (p.digest !== undefined && !DIGEST_RE.test(p.digest)) throw new AgentError("invalid-params", "stage: digest must be 64 lower-case hex digits");
  if (p.size !== undefined && (!Number.isSafeInteger(p.size) || p.size <= 0)) throw new AgentError("invalid-params", "stage: size must be a positive integer");
  if (p.compression !== undefined && !["auto", "none", "gzip", "zstd", "xz"].includes(p.compression))
    throw new AgentError("invalid-params", "stage: compression must be auto, none, gzip, zstd or xz");
  const url = checkUrl(p.url, ctx.allowHttp);
  if (url.protocol === "http:" && !p.digest) throw new AgentError("http-refused", "stage: plain HTTP needs a digest");
  if (ctx.publicKeyPem) {
    if (!p.digest || !p.signature) throw new AgentError("signature-invalid", "stage: a public key is configured, so a digest and its signature are required");
    verifyDigestSignature(p.digest, p.signature, ctx.publicKeyPem);
  }
}

/** Runs `stage`. */
export async function stage(p: StageParams, ctx: StageContext): Promise<StageResult> {
  validateStage(p, ctx);
  failpoint("stage:start");
  const target = stageTarget(ctx.chooser.read(), ctx.booted);
  const part = ctx.layout.slots[target];
  const before = readAgentState(ctx.stateFile).slots[target];
  if (!p.force && p.digest && before.content === "staged" && before.digest === p.digest) {
    return { slot: target, digest: p.digest, bytes: before.bytes ?? 0, written: false, resumedFrom: 0 };
  }

  // From here on the target is unbootable until a later `activate`.
  ctx.chooser.update((s) => markBad(s, target));
  failpoint("stage:marked-bad");

  // A checkpoint is only good for the same URL and digest, and the same kind of image
  // (raw, or zstd in several frames).
  const cp = before.checkpoint;
  const compression = p.compression ?? "auto";
  const sameKind = cp?.zstdOffset !== undefined ? compression === "auto" || compression === "zstd" : compression === "auto" || compression === "none";
  const resume = cp && p.digest && cp.url === p.url && cp.digest === p.digest && sameKind ? cp : undefined;
  const base = { ...(p.version ? { version: p.version } : {}), ...(p.digest ? { digest: p.digest } : {}), url: p.url };
  updateSlotRecord(ctx.stateFile, target, { content: "writing", ...base, ...(resume ? { checkpoint: resume } : {}) });
  failpoint("stage:recorded-writing");

  try {
    if (p.size !== undefined && p.size > part.sizeBytes)
      throw new AgentError("slot-too-small", `the image (${p.size} bytes) is larger than slot ${target} (${part.sizeBytes} bytes)`);
    // Raw: O_DIRECT writes start on a block boundary, so the few bytes before it come again.
    // zstd: at the start of the frame.
    const resumeAt = !resume ? 0 : (resume.zstdOffset ?? Math.floor(resume.bytes / ALIGN) * ALIGN);
    const source = await openSource({
      url: p.url,
      allowHttp: ctx.allowHttp,
      retries: ctx.retries,
      ...(ctx.caPem ? { ca: ctx.caPem } : {}),
      ...(resume && resumeAt > 0 ? { startAt: resumeAt, ...(resume.etag ? { etag: resume.etag } : {}) } : {}),
    });
    // Whether the server continued where asked (it may have sent the whole file instead).
    const continued = source.info.offset > 0;
    const zstdResume = continued && resume?.zstdOffset !== undefined;
    const resumedFrom = !continued ? 0 : zstdResume ? (resume as StageCheckpoint).bytes : source.info.offset;
    // Frame boundaries of a zstd image, for its checkpoints; a raw image stops it at once.
    const frames = new ZstdFrames(zstdResume ? { source: source.info.offset, bytes: resumedFrom } : undefined);
    const started = Date.now();
    let format: Format | undefined;
    let writer: SlotWriter | undefined;
    let sink: Decompressor | undefined;
    try {
      writer = await SlotWriter.open({
        device: part.device,
        capacity: part.sizeBytes,
        startAt: resumedFrom,
        flushEvery: ctx.checkpointBytes,
        onCheckpoint: (bytes) => {
          // Resuming needs a digest (the bytes before the checkpoint are not downloaded
          // again), and a raw image or a zstd frame that starts at or before `bytes`.
          if (!p.digest) return;
          const etag = source.info.etag ? { etag: source.info.etag } : {};
          let checkpoint: StageCheckpoint | undefined;
          if (format === "none") checkpoint = { url: p.url, digest: p.digest, bytes, ...etag };
          else if (format === "zstd") {
            const frame = frames.boundaries.filter((b) => b.bytes <= bytes && b.bytes > 0 && b.bytes % ALIGN === 0).at(-1);
            frames.boundaries = frames.boundaries.filter((b) => b.bytes > bytes);
            if (frame) checkpoint = { url: p.url, digest: p.digest, bytes: frame.bytes, zstdOffset: frame.source, ...etag };
          }
          if (checkpoint) updateSlotRecord(ctx.stateFile, target, { content: "writing", ...base, checkpoint });
        },
        ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
        onError: (e) => {
          source.destroy(e);
          sink?.destroy(e);
        },
      });
      // Mid-file bytes have no magic number: a resumed transfer is the raw image, or zstd
      // frames (none at all when the checkpoint was at the end).
      const nothingLeft = continued && source.info.totalBytes === source.info.offset;
      const dec = decompressor(zstdResume && !nothingLeft ? "zstd" : continued ? "none" : compression, writer, {
        onFormat: (f) => {
          format = f;
          const total = source.info.totalBytes;
          if (f === "none" && !zstdResume && total !== undefined && total > part.sizeBytes)
            throw new AgentError("slot-too-small", `the image (${total} bytes) is larger than slot ${target} (${part.sizeBytes} bytes)`);
        },
        onError: (e) => source.destroy(e),
      });
      sink = dec;
      // The compressed bytes pass the frame walker on their way in.
      const tap: Sink = {
        onDrain: () => {},
        write: (chunk) => {
          if (frames.following) frames.feed(chunk);
          return dec.write(chunk);
        },
      };
      dec.onDrain = () => tap.onDrain();
      await source.pipeTo(tap);
      await sink.end();
      const written = await writer.finish();
      const timings = { writeMs: Date.now() - started - written.syncMs - written.verifyMs, syncMs: written.syncMs, verifyMs: written.verifyMs };
      if (p.size !== undefined && written.bytes !== p.size) throw new AgentError("download-failed", `got ${written.bytes} bytes, expected ${p.size}`);
      if (p.digest && written.digest !== p.digest) throw new AgentError("digest-mismatch", `the image's SHA-256 is ${written.digest}, expected ${p.digest}`);
      if (written.readBack !== written.digest)
        throw new AgentError("verify-failed", `read back from ${part.device}: SHA-256 ${written.readBack}, written ${written.digest}`);
      failpoint("stage:verified");
      updateSlotRecord(ctx.stateFile, target, { content: "staged", ...base, digest: written.digest, bytes: written.bytes, stagedAt: new Date().toISOString() });
      failpoint("stage:recorded-staged");
      return { slot: target, digest: written.digest, bytes: written.bytes, written: true, resumedFrom, timings };
    } finally {
      const stop = new AgentError("internal", "stage ended");
      source.destroy(stop);
      sink?.destroy(stop);
      await writer?.close();
    }
  } catch (err) {
    const e = wrap(err, `stage: slot ${target}`, "internal");
    // Keep a checkpoint that is still valid, so the next stage of this image resumes.
    const now = readAgentState(ctx.stateFile).slots[target];
    const keep = e.code === "download-failed" || e.code === "internal" ? now.checkpoint : undefined;
    try {
      updateSlotRecord(ctx.stateFile, target, { content: "bad", ...base, lastError: e.message, ...(keep ? { checkpoint: keep } : {}) });
    } catch {
      // The state file is unwritable too; the slot is unbootable in grubenv all the same.
    }
    throw e;
  }
}

/** Reads an optional PEM file named in the config. */
export function readPem(file: string | undefined): string | undefined {
  return file ? fs.readFileSync(file, "utf8") : undefined;
}
