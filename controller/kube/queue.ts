// A work queue keyed by object: one key is never worked on twice at once, a key added
// while it is being worked on runs again afterwards, different keys run in parallel,
// and a failed key is retried with per-key exponential backoff.

import { Backoff } from "./backoff";
import type { Logger } from "./log";

/** Options of a {@link WorkQueue}. */
export interface WorkQueueOptions {
  /** Keys worked on at once. Default 4. */
  concurrency?: number;
  log: Logger;
  /** Called after each attempt, for metrics. */
  onResult?: (key: string, ok: boolean, ms: number) => void;
}

/** What the worker is told about the key it works on. */
export interface WorkInfo {
  /**
   * When (ms since the epoch) the earliest add not yet worked on arrived: the change
   * this work answers, for measuring how long the controller takes to act on one.
   */
  queuedAt: number;
}

/** What a worker may ask for besides success: run the key again after a delay. */
export interface WorkResult {
  requeueAfterMs?: number;
}

/** A keyed, deduplicating work queue. */
export class WorkQueue {
  private readonly pending: string[] = [];
  private readonly queued = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  /** For waiting and dirty keys: when their earliest pending add arrived. */
  private readonly queuedAt = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly backoffs = new Map<string, Backoff>();
  private running = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly work: (key: string, info: WorkInfo) => Promise<WorkResult | undefined>,
    private readonly opts: WorkQueueOptions,
  ) {}

  /** Adds a key now (a no-op when it is already waiting). */
  add(key: string): void {
    if (this.stopped) return;
    if (!this.queuedAt.has(key)) this.queuedAt.set(key, Date.now());
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.pending.push(key);
    this.pump();
  }

  /** Adds a key after `ms`; an earlier pending delay for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const existing = this.timers.get(key) as (NodeJS.Timeout & { due?: number }) | undefined;
    const due = Date.now() + ms;
    if (existing?.due !== undefined && existing.due <= due) return;
    if (existing) clearTimeout(existing);
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms) as NodeJS.Timeout & { due?: number };
    t.unref();
    t.due = due;
    this.timers.set(key, t);
  }

  /** Number of keys waiting or in work. */
  get length(): number {
    return this.pending.length + this.active.size;
  }

  /** Resolves when nothing is waiting or in work (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Stops taking work; keys in work finish. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.pending.length = 0;
    this.queued.clear();
    this.queuedAt.clear();
  }

  private pump(): void {
    const limit = this.opts.concurrency ?? 4;
    while (!this.stopped && this.running < limit && this.pending.length) {
      const key = this.pending.shift() as string;
      this.queued.delete(key);
      this.active.add(key);
      this.running++;
      const queuedAt = this.queuedAt.get(key) ?? Date.now();
      this.queuedAt.delete(key);
      void this.run(key, queuedAt);
    }
  }

  private async run(key: string, queuedAt: number): Promise<void> {
    const t0 = Date.now();
    let ok = true;
    let result: WorkResult | undefined;
    try {
      result = await this.work(key, { queuedAt });
      this.backoffs.delete(key);
    } catch (err) {
      ok = false;
      let b = this.backoffs.get(key);
      if (!b) {
        b = new Backoff(200, 60_000);
        this.backoffs.set(key, b);
      }
      const delay = b.next();
      this.opts.log.warn("reconcile failed; retrying", { key, err, retryInMs: delay });
      this.addAfter(key, delay);
    }
    this.opts.onResult?.(key, ok, Date.now() - t0);
    this.active.delete(key);
    this.running--;
    if (this.dirty.delete(key)) this.add(key);
    else if (ok && result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
    this.pump();
    if (this.length === 0) for (const r of this.idleWaiters.splice(0)) r();
  }
}
