// SHA-256 off the main thread. Hashing is the largest CPU cost of `stage`, and on the
// main thread it competes with TLS decryption. A hasher is a worker thread that keeps a
// few running SHA-256s and hashes views of shared memory (the writer's page-aligned
// pool), so no byte is copied to it. It also compares the bytes read back from the
// device with the ones written (a memcmp over memory that is not in the cache, a tenth
// of the main thread's CPU when it ran there). One worker: a worker costs about 8 MiB of
// memory, and one core does both jobs faster than the main thread takes the download
// in (measured: bench/agent.bench.ts, agent.stage.cpu).
//
// The worker outlives a stage (like the writer's pool): starting one costs tens of ms
// of CPU, a tenth of a small stage. It is unref'd between stages, so it never keeps the
// agent alive.

import { Worker } from "node:worker_threads";

// CommonJS source of the worker, evaluated (the single executable has no files to load).
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
let memory;
let hashes = [];
parentPort.on("message", (m) => {
  try {
    if (m.op === "start") {
      memory = m.memory;
      hashes = Array.from({ length: m.streams }, () => createHash("sha256"));
    } else if (m.op === "end") {
      memory = undefined;
      hashes = [];
    } else if (m.op === "update") hashes[m.stream].update(new Uint8Array(memory, m.offset, m.length));
    else if (m.op === "compare") {
      const a = Buffer.from(memory, m.a, m.length);
      const b = Buffer.from(memory, m.b, m.length);
      let diff = -1;
      if (a.compare(b) !== 0) for (diff = 0; a[diff] === b[diff]; diff++);
      parentPort.postMessage({ id: m.id, diff });
      return;
    } else if (m.op === "copy") hashes[m.to] = hashes[m.from].copy();
    else if (m.op === "reset") hashes[m.stream] = createHash("sha256");
    else if (m.op === "digest") {
      const hex = hashes[m.stream].digest("hex");
      hashes[m.stream] = createHash("sha256");
      parentPort.postMessage({ id: m.id, hex });
      return;
    }
    parentPort.postMessage({ id: m.id });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
});
`;

type Reply = { id: number; hex?: string; diff?: number; error?: string };
type Done = (err: Error | undefined, reply?: Reply) => void;

/** The worker kept between stages. */
let idle: Worker | undefined;

/**
 * Running SHA-256s (`streams` of them, numbered from 0) in a worker thread, over views of
 * one `SharedArrayBuffer`. Operations run in the order they are given; each callback
 * runs once the worker has done it (after an update, the memory may be reused).
 */
export class Hasher {
  private seq = 0;
  private readonly pending = new Map<number, Done>();
  private broken: Error | undefined;
  private released = false;
  private readonly onMessage = (r: Reply) => this.reply(r);
  private readonly onFailure = (e: unknown) => this.breakDown(e instanceof Error ? e : new Error(`exited with code ${e}`));
  /** For operations nobody waits on: a failure breaks the hasher, so every later operation fails too. */
  private readonly mustWork: Done = (err) => {
    if (err) this.breakDown(err);
  };

  private constructor(
    private readonly worker: Worker,
    private readonly memory: SharedArrayBuffer,
    streams: number,
  ) {
    worker.on("message", this.onMessage);
    worker.on("error", this.onFailure);
    worker.on("exit", this.onFailure);
    // Referenced while in use, so the process waits for answers it needs.
    worker.ref();
    this.send({ op: "start", memory, streams }, this.mustWork);
  }

  /** A hasher of `streams` SHA-256s over `memory`, on the kept worker or a new one. */
  static acquire(memory: SharedArrayBuffer, streams: number): Hasher {
    let worker = idle;
    idle = undefined;
    if (!worker) {
      // It allocates a few small objects per buffer: small heaps keep its memory down.
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        name: "twinroot-hash",
        resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16, stackSizeMb: 1 },
      });
      // A kept worker that ended by itself is not handed out again.
      w.once("exit", () => {
        if (idle === w) idle = undefined;
      });
      worker = w;
    }
    return new Hasher(worker, memory, streams);
  }

  /** Hashes `buf` (a view of the shared memory) into `stream` after what came before; `done` once the worker has read it. */
  update(stream: number, buf: Uint8Array, done: (err?: Error) => void): void {
    if (buf.buffer !== this.memory) throw new Error("hasher: the buffer is not in the shared memory");
    this.send({ op: "update", stream, offset: buf.byteOffset, length: buf.byteLength }, done);
  }

  /**
   * Compares `a` and `b` (views of the shared memory, of equal length) after the work given
   * before; `done` gets the index of the first byte where they differ, or -1.
   */
  compare(a: Uint8Array, b: Uint8Array, done: (err: Error | undefined, diff: number) => void): void {
    if (a.buffer !== this.memory || b.buffer !== this.memory || a.byteLength !== b.byteLength)
      throw new Error("hasher: compare takes two views of the shared memory of equal length");
    // Fails closed: an answer without an index is an error, never "equal".
    this.send({ op: "compare", a: a.byteOffset, b: b.byteOffset, length: a.byteLength }, (err, r) =>
      err || typeof r?.diff !== "number" ? done(err ?? new Error("hash worker: compare gave no answer"), -1) : done(undefined, r.diff),
    );
  }

  /** Makes `to` a copy of `from` (both continue independently). */
  copy(from: number, to: number): void {
    this.send({ op: "copy", from, to }, this.mustWork);
  }

  /** Empties `stream`. */
  reset(stream: number): void {
    this.send({ op: "reset", stream }, this.mustWork);
  }

  /** The digest (lower-case hex) of what `stream` was given; the stream starts again empty. */
  digest(stream: number): Promise<string> {
    return new Promise((resolve, reject) => this.send({ op: "digest", stream }, (err, r) => (err ? reject(err) : resolve(r?.hex as string))));
  }

  /** Hands the worker back for the next stage (or ends it, when it failed or work is still pending). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.worker.off("message", this.onMessage);
    this.worker.off("error", this.onFailure);
    this.worker.off("exit", this.onFailure);
    if (this.broken || this.pending.size > 0 || idle) {
      void this.worker.terminate();
      return;
    }
    // Lets go of the memory, which may not be the next writer's.
    this.worker.postMessage({ op: "end", id: 0 });
    this.worker.unref();
    idle = this.worker;
  }

  private send(msg: Record<string, unknown>, done: Done): void {
    if (this.broken || this.released) {
      const err = this.broken ?? new Error("hasher: released");
      queueMicrotask(() => done(err));
      return;
    }
    const id = ++this.seq;
    this.pending.set(id, done);
    this.worker.postMessage({ ...msg, id });
  }

  private reply(r: Reply): void {
    const done = this.pending.get(r.id);
    if (!done) return;
    this.pending.delete(r.id);
    done(r.error === undefined ? undefined : new Error(`hash worker: ${r.error}`), r);
  }

  private breakDown(err: Error): void {
    this.broken ??= err.message.startsWith("hash worker") ? err : new Error(`hash worker: ${err.message}`, { cause: err });
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const done of waiting) done(this.broken);
  }
}
