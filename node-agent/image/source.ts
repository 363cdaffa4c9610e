// Streams an image over HTTPS (or HTTP when allowed) as a sequence of byte chunks. A
// connection that breaks or ends early is resumed where it stopped with a Range request
// (If-Range on the ETag, so a file changed in between is never spliced); a server that
// ignores Range is read from the start and the bytes already had are skipped.

import http from "node:http";
import https from "node:https";
import { AgentError } from "../errors";

/** How to fetch. */
export interface SourceOptions {
  url: string;
  /** Extra CA certificates (PEM) trusted for HTTPS. */
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
  /** Where the returned chunks start: `startAt` when the server resumed, else 0. */
  offset: number;
  etag?: string;
  /** Total size of the file when the server said it. */
  totalBytes?: number;
}

/** An open download. */
export interface Source {
  info: SourceInfo;
  chunks: AsyncIterable<Buffer>;
}

function fail(message: string, cause?: unknown): AgentError {
  return new AgentError("download-failed", `download: ${message}`, { cause });
}

function get(url: URL, opts: SourceOptions, offset: number, etag: string | undefined): Promise<http.IncomingMessage> {
  const headers: Record<string, string> = { "user-agent": "twinroot-agent" };
  if (offset > 0) {
    headers.range = `bytes=${offset}-`;
    if (etag) headers["if-range"] = etag;
  }
  return new Promise((resolve, reject) => {
    const onRes = (res: http.IncomingMessage) => resolve(res);
    const req =
      url.protocol === "https:"
        ? https.get(url, { headers, ...(opts.ca ? { ca: opts.ca } : {}), agent: false }, onRes)
        : http.get(url, { headers, agent: false }, onRes);
    req.setTimeout(opts.idleTimeoutMs ?? 30_000, () => req.destroy(new Error("connection idle too long")));
    req.on("error", reject);
  });
}

/**
 * Reads a response in batches of whatever has arrived (up to `max` bytes). Iterating a
 * response directly costs a promise per 16 KiB TLS record, which on a small machine caps
 * a download far below disk speed; batching pays that cost per MiB. At most `highWater`
 * bytes wait in memory before the socket is paused.
 */
export async function* batches(res: NodeJS.ReadableStream & { isPaused(): boolean }, max = 1 << 20, highWater = 8 << 20): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let error: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (c: Buffer) => {
    queue.push(c);
    queued += c.length;
    if (queued >= highWater) res.pause();
    notify();
  };
  const onEnd = () => {
    ended = true;
    notify();
  };
  const onError = (e: Error) => {
    error = e;
    notify();
  };
  const onClose = () => {
    if (!ended) error ??= new Error("connection closed before the end of the body");
    notify();
  };
  res.on("data", onData);
  res.on("end", onEnd);
  res.on("error", onError);
  res.on("close", onClose);
  try {
    for (;;) {
      if (queue.length) {
        const take: Buffer[] = [];
        let n = 0;
        while (n < max) {
          const c = queue.shift();
          if (!c) break;
          take.push(c);
          n += c.length;
        }
        queued -= n;
        if (res.isPaused() && queued < highWater / 2) res.resume();
        yield take.length === 1 ? (take[0] as Buffer) : Buffer.concat(take, n);
        continue;
      }
      if (error) throw error;
      if (ended) return;
      await new Promise<void>((r) => {
        wake = r;
      });
    }
  } finally {
    res.off("data", onData);
    res.off("end", onEnd);
    res.off("error", onError);
    res.off("close", onClose);
  }
}

function totalOf(res: http.IncomingMessage): number | undefined {
  const range = /\/(\d+)$/.exec(String(res.headers["content-range"] ?? ""));
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

/**
 * Opens `opts.url` at `opts.startAt`. The returned chunks continue across reconnects;
 * they throw `download-failed` when the retries are used up.
 */
export async function openSource(opts: SourceOptions): Promise<Source> {
  const url = checkUrl(opts.url, opts.allowHttp ?? false);
  const retries = opts.retries ?? 5;
  const startAt = opts.startAt ?? 0;

  const open = async (offset: number, etag: string | undefined): Promise<{ res: http.IncomingMessage; from: number }> => {
    let res: http.IncomingMessage;
    try {
      res = await get(url, opts, offset, etag);
    } catch (err) {
      throw fail(`${url.origin}${url.pathname}: ${(err as Error).message}`, err);
    }
    if (res.statusCode === 206) {
      const start = Number(/^bytes (\d+)-/.exec(String(res.headers["content-range"] ?? ""))?.[1]);
      if (start !== offset) {
        res.destroy();
        throw fail(`asked for byte ${offset}, server sent from ${start}`);
      }
      return { res, from: offset };
    }
    if (res.statusCode === 200) return { res, from: 0 };
    res.resume();
    throw fail(`${url.origin}${url.pathname}: HTTP ${res.statusCode}`);
  };

  const first = await open(startAt, opts.etag);
  const etag = typeof first.res.headers.etag === "string" ? first.res.headers.etag : undefined;
  const info: SourceInfo = { offset: first.from, ...(etag ? { etag } : {}) };
  const total = totalOf(first.res);
  if (total !== undefined) info.totalBytes = first.from === 0 ? total : total;

  async function* chunks(): AsyncGenerator<Buffer> {
    let cur = first;
    let pos = first.from;
    let attempt = 0;
    for (;;) {
      // Bytes of this response before `pos` were already delivered (a server that
      // answered a Range request with the whole file).
      let skip = pos - cur.from;
      try {
        for await (const chunk of batches(cur.res)) {
          let c = chunk;
          if (skip > 0) {
            if (c.length <= skip) {
              skip -= c.length;
              continue;
            }
            c = c.subarray(skip);
            skip = 0;
          }
          pos += c.length;
          attempt = 0;
          yield c;
        }
        if (info.totalBytes !== undefined && pos < info.totalBytes) throw new Error(`connection closed at byte ${pos} of ${info.totalBytes}`);
        return;
      } catch (err) {
        cur.res.destroy();
        if (err instanceof AgentError) throw err;
        attempt++;
        if (attempt > retries) throw fail(`gave up after ${retries} retries at byte ${pos}: ${(err as Error).message}`, err);
        opts.onRetry?.(pos, err as Error);
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2000)));
        for (;;) {
          try {
            cur = await open(pos, etag);
            break;
          } catch (e) {
            attempt++;
            if (attempt > retries) throw e;
            await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2000)));
          }
        }
        const newEtag = typeof cur.res.headers.etag === "string" ? cur.res.headers.etag : undefined;
        if (etag && newEtag && newEtag !== etag) {
          cur.res.destroy();
          throw fail(`the file changed during the download (ETag ${etag} -> ${newEtag})`);
        }
      }
    }
  }
  return { info, chunks: chunks() };
}
