// A list-watch cache that never gives up: it lists (paged), watches from the list's
// resourceVersion with bookmarks, relists on 410 Gone and periodically, and restarts
// after any error with backoff. Handlers get add/update/delete; readers use the cache.

import { Backoff, sleep } from "./backoff";
import type { Logger } from "./log";
import { type KList, type KObject, keyOf, type ResourceRef, resourcePath } from "./resources";
import { type Kube, KubeError } from "./rest";

/** What changed. */
export type InformerEvent = "add" | "update" | "delete";

/** Options of an {@link Informer}. */
export interface InformerOptions<T> {
  labelSelector?: string;
  fieldSelector?: string;
  /** Relist from scratch this often, to heal a cache that missed something. Default 10 min. */
  relistEveryMs?: number;
  /** Page size of lists. Default 500. */
  pageSize?: number;
  /** Trims each object before it is cached (drop managedFields, images, …) to save memory. */
  transform?: (obj: T) => T;
  log: Logger;
}

/** A cache of one resource kept current by list and watch. */
export class Informer<T extends KObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: ((ev: InformerEvent, obj: T, old?: T) => void)[] = [];
  private abort = new AbortController();
  private rv = "";
  private lastList = 0;
  private running?: Promise<void>;
  private restartWatch?: AbortController;
  private syncedResolve?: () => void;
  private readonly syncedPromise = new Promise<void>((r) => {
    this.syncedResolve = r;
  });
  /** Relists done (initial one included), for tests and metrics. */
  lists = 0;
  /** Watch or list failures recovered from. */
  restarts = 0;
  /** True once the first list is in the cache. */
  synced = false;

  constructor(
    private readonly kube: Kube,
    readonly resource: ResourceRef,
    private readonly opts: InformerOptions<T>,
  ) {}

  /** Registers a handler; it runs synchronously on each change, so it should only enqueue. */
  on(handler: (ev: InformerEvent, obj: T, old?: T) => void): void {
    this.handlers.push(handler);
  }

  /** The cached object by key (`name` or `namespace/name`). */
  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  /** Every cached object. */
  list(): T[] {
    return [...this.cache.values()];
  }

  /** Starts the loop; resolves once the cache holds the first list. */
  async start(): Promise<void> {
    if (!this.running) {
      this.abort = new AbortController();
      this.running = this.loop(this.abort.signal);
    }
    await Promise.race([this.syncedPromise, this.running]);
  }

  /** Stops watching; the cache stays readable. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    this.running = undefined;
  }

  /** Forces a relist at the next opportunity (the current watch ends now). */
  relist(): void {
    this.rv = "";
    this.restartWatch?.abort();
  }

  private emit(ev: InformerEvent, obj: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        h(ev, obj, old);
      } catch (err) {
        this.opts.log.error("informer handler failed", { resource: this.resource.plural, err });
      }
    }
  }

  /**
   * Puts an object this process just wrote into the cache at once (write-through), so
   * the next reconcile sees its own write even before the watch delivers it.
   */
  update(obj: T): void {
    this.put(obj);
  }

  /**
   * Removes the object cached under `key` when `when` holds for it (a write-through of this
   * process's that turned out not to happen, say); a newer object the watch brought stays.
   */
  drop(key: string, when: (cached: T) => boolean): void {
    const cached = this.cache.get(key);
    if (!cached || !when(cached)) return;
    this.cache.delete(key);
    this.emit("delete", cached);
  }

  private put(obj: T): void {
    const o = this.opts.transform ? this.opts.transform(obj) : obj;
    const key = keyOf(o);
    const old = this.cache.get(key);
    // Never step back: an event older than a written-through object must not hide it.
    if (old && olderThan(o, old)) return;
    this.cache.set(key, o);
    this.emit(old ? "update" : "add", o, old);
  }

  private async listAll(): Promise<void> {
    const path = resourcePath(this.resource);
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv = "";
    do {
      const page = await this.kube.request<KList<T>>("GET", path, {
        query: { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector, limit: this.opts.pageSize ?? 500, continue: cont },
        signal: this.abort.signal,
      });
      for (const o of page.items) fresh.set(keyOf(o), o);
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? "";
    } while (cont);
    for (const [key, old] of this.cache) {
      if (!fresh.has(key)) {
        this.cache.delete(key);
        this.emit("delete", old);
      }
    }
    for (const o of fresh.values()) {
      const prev = this.cache.get(keyOf(o));
      // An unchanged object is not news; a periodic relist must not flood the queue.
      if (prev?.metadata?.resourceVersion === o.metadata?.resourceVersion) continue;
      this.put(o);
    }
    this.rv = rv;
    this.lastList = Date.now();
    this.lists++;
    if (!this.synced) {
      this.synced = true;
      this.syncedResolve?.();
    }
  }

  private async loop(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(200, 30_000);
    const relistEvery = this.opts.relistEveryMs ?? 600_000;
    while (!signal.aborted) {
      try {
        if (!this.rv || Date.now() - this.lastList >= relistEvery) await this.listAll();
        this.restartWatch = new AbortController();
        const watchSignal = AbortSignal.any([signal, this.restartWatch.signal]);
        const timeoutSeconds = Math.max(1, Math.min(300, Math.floor((relistEvery - (Date.now() - this.lastList)) / 1000)));
        await this.kube.watch<T | { code?: number; message?: string }>(
          resourcePath(this.resource),
          {
            resourceVersion: this.rv,
            allowWatchBookmarks: true,
            timeoutSeconds,
            labelSelector: this.opts.labelSelector,
            fieldSelector: this.opts.fieldSelector,
          },
          (ev) => {
            if (ev.type === "ERROR") {
              const status = ev.object as { code?: number; message?: string };
              // 410 Gone: our resourceVersion is too old; relist. Anything else: restart.
              if (status.code === 410) this.rv = "";
              else this.opts.log.warn("watch error event", { resource: this.resource.plural, code: status.code, message: status.message });
              this.restartWatch?.abort();
              return;
            }
            const obj = ev.object as T;
            this.rv = obj.metadata?.resourceVersion ?? this.rv;
            if (ev.type === "BOOKMARK") return;
            if (ev.type === "DELETED") {
              const key = keyOf(obj);
              const old = this.cache.get(key);
              this.cache.delete(key);
              this.emit("delete", old ?? obj);
            } else this.put(obj);
          },
          watchSignal,
        );
        backoff.reset();
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof KubeError && err.code === 410) this.rv = "";
        this.restarts++;
        const delay = backoff.next();
        this.opts.log.warn("list/watch failed; retrying", { resource: this.resource.plural, err, retryInMs: delay });
        await sleep(delay, signal);
      }
    }
  }
}

/** Whether `a` is an older version of the same object than `b` (etcd resourceVersions are increasing integers). */
function olderThan(a: KObject, b: KObject): boolean {
  const ra = a.metadata?.resourceVersion;
  const rb = b.metadata?.resourceVersion;
  if (!ra || !rb || !/^\d+$/.test(ra) || !/^\d+$/.test(rb)) return false;
  return BigInt(ra) < BigInt(rb);
}
