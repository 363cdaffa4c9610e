// Streams an image over HTTPS (or HTTP when allowed) into a sink. A connection that
// breaks or ends early is resumed where it stopped with a Range request (If-Range on the
// ETag, so a file changed in between is never spliced); a server that ignores Range is
// read from the start and the bytes already had are skipped.

import { AgentError } from "../errors";
import type { Sink } from "./flow";
import { get, type Response } from "./http";

/** How to fetch. */
export interface SourceOptions {
  url: string;
  /** CA certificates (PEM) trusted for HTTPS. */
  ca?: string | Buffer;
  /** Allow `http://` URLs (the caller checks a digest is given). */
  allowHttp?: boolean;
  /** Start at this byte (resuming an interrupted stage). */
  startAt?: number;
  /** The ETag the bytes before `startAt` came from. */
  etag?: string;
  /** Reconnects after a broken or short transfer. Default 5. */
  retries?: number;
  /** Idle time before a connection counts as broken. Default 30 s. */
  idleTimeoutMs?: number;
  /** Called before each reconnect (for logs and tests). */
  onRetry?: (offset: number, err: Error) => void;
}

/** What the first response said. */
export interface SourceInfo {
  /** Where the body starts: `startAt` when the server resumed, else 0. */
  offset: number;
  etag?: string;
  /** Total size of the file when the server said it. */
  totalBytes?: number;
}

/** An open download. */
export interface Source {
  info: SourceInfo;
  /**
   * Pushes the bytes from `info.offset` on into `sink`, across reconnects, honouring its
   * pauses. Resolves after the last byte; rejects with `download-failed` when the retries
   * are used up, with the sink's error when `sink.write` throws, and with the error given
   * to `destroy`.
   */
  pipeTo(sink: Sink): Promise<void>;
  /** Stops the download (a running `pipeTo` rejects with `err`). */
  destroy(err?: Error): void;
}

function fail(message: string, cause?: unknown): AgentError {
  return new AgentError("download-failed", `download: ${message}`, { cause });
}

/** The (empty) rest of a file that was had to its end. */
function emptyBody(res: Response): Response {
  return {
    status: 206,
    headers: { ...res.headers, "content-length": "0" },
    body: () => Promise.resolve(),
    resume() {},
    destroy() {},
  };
}

function totalOf(res: Response): number | undefined {
  const range = /\/(\d+)$/.exec(res.headers["content-range"] ?? "");
  if (range) return Number(range[1]);
  const len = res.headers["content-length"];
  return len === undefined ? undefined : Number(len);
}

/** Checks the scheme: HTTPS always, HTTP only when allowed. */
export function checkUrl(raw: string, allowHttp: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (err) {
    throw new AgentError("invalid-params", `download: bad URL ${JSON.stringify(raw)}`, { cause: err });
  }
  if (url.protocol === "https:") return url;
  if (url.protocol === "http:" && allowHttp) return url;
  throw new AgentError(
    "http-refused",
    `download: ${url.protocol} URLs are refused${url.protocol === "http:" ? " (allow HTTP in the agent config and give a digest)" : ""}`,
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Opens `opts.url` at `opts.startAt`; resolves once the first response head is in. */
export async function openSource(opts: SourceOptions): Promise<Source> {
  const url = checkUrl(opts.url, opts.allowHttp ?? false);
  const retries = opts.retries ?? 5;
  const where = `${url.origin}${url.pathname}`;

  const open = async (offset: number, etag: string | undefined): Promise<{ res: Response; from: number }> => {
    const headers: Record<string, string> = {};
    if (offset > 0) {
      headers.range = `bytes=${offset}-`;
      if (etag) headers["if-range"] = etag;
    }
    let res: Response;
    try {
      res = await get(url, { headers, ...(opts.ca ? { ca: opts.ca } : {}), ...(opts.idleTimeoutMs ? { idleTimeoutMs: opts.idleTimeoutMs } : {}) });
    } catch (err) {
      throw fail(`${where}: ${(err as Error).message}`, err);
    }
    if (res.status === 206) {
      const start = Number(/^bytes (\d+)-/.exec(res.headers["content-range"] ?? "")?.[1]);
      if (start !== offset) {
        res.destroy();
        throw fail(`asked for byte ${offset}, server sent from ${start}`);
      }
      return { res, from: offset };
    }
    if (res.status === 200) return { res, from: 0 };
    if (res.status === 416 && offset > 0) {
      // Nothing after `offset`: a checkpoint that holds the whole file.
      const size = Number(/^bytes \*\/(\d+)$/.exec(res.headers["content-range"] ?? "")?.[1]);
      res.destroy();
      if (size === offset) return { res: emptyBody(res), from: offset };
      throw fail(`${where}: HTTP 416 for bytes from ${offset} of ${Number.isNaN(size) ? "a file of unknown size" : `${size}`}`);
    }
    res.destroy();
    throw fail(`${where}: HTTP ${res.status}`);
  };

  let cur = await open(opts.startAt ?? 0, opts.etag);
  const etag = cur.res.headers.etag;
  const info: SourceInfo = { offset: cur.from, ...(etag ? { etag } : {}) };
  const total = totalOf(cur.res);
  if (total !== undefined) info.totalBytes = total;

  let stopped: Error | undefined;
  let sinkPaused = false;
  let wake: (() => void) | undefined;
  const wakeUp = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  async function pipeTo(sink: Sink): Promise<void> {
    sink.onDrain = () => {
      sinkPaused = false;
      wakeUp();
      cur.res.resume();
    };
    let pos = cur.from;
    let attempt = 0;
    for (;;) {
      // A response that follows a reconnect starts only when the sink wants bytes.
      while (sinkPaused && !stopped) await new Promise<void>((r) => (wake = r));
      if (stopped) throw stopped;
      // Bytes of this response before `pos` were already delivered (a server that
      // answered a Range request with the whole file).
      let skip = pos - cur.from;
      let sinkError: unknown;
      try {
        await cur.res.body((chunk) => {
          let c = chunk;
          if (skip > 0) {
            if (c.length <= skip) {
              skip -= c.length;
              return true;
            }
            c = c.subarray(skip);
            skip = 0;
          }
          pos += c.length;
          attempt = 0;
          let more: boolean;
          try {
            more = sink.write(c);
          } catch (err) {
            sinkError = err;
            throw err;
          }
          if (!more) sinkPaused = true;
          return more;
        });
        if (info.totalBytes !== undefined && pos < info.totalBytes) throw new Error(`connection closed at byte ${pos} of ${info.totalBytes}`);
        return;
      } catch (err) {
        cur.res.destroy();
        if (sinkError !== undefined) throw sinkError;
        if (stopped) throw stopped;
        attempt++;
        if (attempt > retries) throw fail(`gave up after ${retries} retries at byte ${pos}: ${(err as Error).message}`, err);
        opts.onRetry?.(pos, err as Error);
        for (;;) {
          await sleep(Math.min(100 * 2 ** attempt, 2000));
          if (stopped) throw stopped;
          try {
            cur = await open(pos, etag);
            break;
          } catch (e) {
            attempt++;
            if (attempt > retries) throw e;
          }
        }
        if (stopped) {
          cur.res.destroy();
          throw stopped;
        }
        const newEtag = cur.res.headers.etag;
        if (etag && newEtag && newEtag !== etag) {
          cur.res.destroy();
          throw fail(`the file changed during the download (ETag ${etag} -> ${newEtag})`);
        }
      }
    }
  }

  return {
    info,
    pipeTo,
    destroy(err) {
      stopped ??= err ?? fail("stopped");
      cur.res.destroy(stopped);
      wakeUp();
    },
  };
}
