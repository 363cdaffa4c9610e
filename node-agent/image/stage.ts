// The `stage` operation: RAUC's install order. Check what can be checked without
// touching the disk (parameters, scheme, signature), mark the target slot bad in one
// atomic grubenv write, record it as being written, stream-download-decompress-hash-write,
// fsync, read back and compare, and only then record the slot as staged. Activating it
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
import { decompress } from "./decompress";
import { DIGEST_RE, verifyDigestSignature } from "./signature";
import { checkUrl, openSource } from "./source";
import { readBack, writeImage } from "./writer";

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

  // A checkpoint is only good for the same URL and digest (an uncompressed image).
  const cp = before.checkpoint;
  const resume = cp && p.digest && cp.url === p.url && cp.digest === p.digest && (p.compression ?? "auto") !== "gzip" ? cp : undefined;
  const base = { ...(p.version ? { version: p.version } : {}), ...(p.digest ? { digest: p.digest } : {}), url: p.url };
  updateSlotRecord(ctx.stateFile, target, { content: "writing", ...base, ...(resume ? { checkpoint: resume } : {}) });
  failpoint("stage:recorded-writing");

  try {
    if (p.size !== undefined && p.size > part.sizeBytes)
      throw new AgentError("slot-too-small", `the image (${p.size} bytes) is larger than slot ${target} (${part.sizeBytes} bytes)`);
    const source = await openSource({
      url: p.url,
      allowHttp: ctx.allowHttp,
      retries: ctx.retries,
      ...(ctx.caPem ? { ca: ctx.caPem } : {}),
      ...(resume ? { startAt: resume.bytes, ...(resume.etag ? { etag: resume.etag } : {}) } : {}),
    });
    const resumedFrom = source.info.offset;
    // Mid-file bytes have no magic number: a resumed transfer is the raw image.
    const { format, chunks } = await decompress(source.chunks, resumedFrom > 0 ? "none" : (p.compression ?? "auto"));
    if (format === "none" && source.info.totalBytes !== undefined && source.info.totalBytes > part.sizeBytes)
      throw new AgentError("slot-too-small", `the image (${source.info.totalBytes} bytes) is larger than slot ${target} (${part.sizeBytes} bytes)`);
    const started = Date.now();
    const canResume = format === "none" && !!p.digest && ctx.checkpointBytes > 0;
    const written = await writeImage(chunks, {
      device: part.device,
      capacity: part.sizeBytes,
      startAt: resumedFrom,
      checkpointEvery: canResume ? ctx.checkpointBytes : 0,
      onCheckpoint: (bytes) => {
        const checkpoint: StageCheckpoint = { url: p.url, digest: p.digest as string, bytes, ...(source.info.etag ? { etag: source.info.etag } : {}) };
        updateSlotRecord(ctx.stateFile, target, { content: "writing", ...base, checkpoint });
      },
      ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
    });
    if (p.size !== undefined && written.bytes !== p.size) throw new AgentError("download-failed", `got ${written.bytes} bytes, expected ${p.size}`);
    if (p.digest && written.digest !== p.digest) throw new AgentError("digest-mismatch", `the image's SHA-256 is ${written.digest}, expected ${p.digest}`);
    const writtenAt = Date.now();
    const onDisk = await readBack(part.device, written.bytes);
    const timings = { writeMs: writtenAt - started, verifyMs: Date.now() - writtenAt };
    if (onDisk !== written.digest) throw new AgentError("verify-failed", `read back from ${part.device}: SHA-256 ${onDisk}, written ${written.digest}`);
    failpoint("stage:verified");
    updateSlotRecord(ctx.stateFile, target, { content: "staged", ...base, digest: written.digest, bytes: written.bytes, stagedAt: new Date().toISOString() });
    failpoint("stage:recorded-staged");
    return { slot: target, digest: written.digest, bytes: written.bytes, written: true, resumedFrom, timings };
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
