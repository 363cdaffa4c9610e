// The lab's image server: HTTPS on 127.0.0.1 with a certificate from a lab CA, serving
// OS image files with Range and ETag support (what the agent's resumed downloads need),
// and fault injection for the agent's tests (dropped connections, short files, Range
// ignored). With `memory`, files are served from a copy in memory: the benchmark's
// server shares the cores with the agent it measures, and reading the file for each
// request costs it about 1.7x the CPU.

import { createHash } from "node:crypto";
import fs from "node:fs";
import type http from "node:http";
import https from "node:https";
import type net from "node:net";
import path from "node:path";
import { createPki, type Pki } from "../harness/pki";

/** What the image server does wrong on purpose, per path. */
export interface Fault {
  /** Close the connection after this many body bytes... */
  dropAfter?: number;
  /** ...for this many requests (default: all). */
  dropTimes?: number;
  /** Stop every response at this absolute byte of the file (a file cut short behind a full Content-Length). */
  cutAt?: number;
  /** Answer Range requests with the whole file (200). */
  ignoreRange?: boolean;
  /** Answer only after this many ms (a server that hangs, for calls that must be in flight). */
  stallMs?: number;
}

/** A request the server saw. */
export interface SeenRequest {
  path: string;
  range?: string;
  status: number;
}

/** An HTTPS server for image files on 127.0.0.1. */
export interface ImageServer {
  url(p: string): string;
  caFile: string;
  files: Map<string, string>;
  faults: Map<string, Fault>;
  seen: SeenRequest[];
  /** Body bytes sent, by path. */
  sent: Map<string, number>;
  close(): Promise<void>;
}

/** How {@link startImageServer} serves. */
export interface ImageServerOptions {
  /** Port on 127.0.0.1 (default: any free one). */
  port?: number;
  /** Serve each file from a copy in memory, read again when its size or mtime changes (default: read the file per request). */
  memory?: boolean;
}

/** Bytes per write when serving from memory: large writes cost the TLS layer less per byte. */
const MEMORY_CHUNK = 1 << 20;

/** Starts the image server; its certificate comes from a throwaway CA written under `dir`. */
export async function startImageServer(dir: string, pki?: Pki, opts: ImageServerOptions = {}): Promise<ImageServer> {
  const p = pki ?? createPki(path.join(dir, "pki"));
  const files = new Map<string, string>();
  const faults = new Map<string, Fault>();
  const seen: SeenRequest[] = [];
  const drops = new Map<string, number>();
  const sentByPath = new Map<string, number>();
  const copies = new Map<string, { key: string; data: Buffer }>();
  const inMemory = (file: string, stat: fs.Stats): Buffer => {
    const key = `${stat.size}:${stat.mtimeMs}`;
    let c = copies.get(file);
    if (c?.key !== key) {
      c = { key, data: fs.readFileSync(file) };
      copies.set(file, c);
    }
    return c.data;
  };
  const respond = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const urlPath = (req.url ?? "/").split("?")[0] as string;
    const file = files.get(urlPath);
    if (!file) {
      seen.push({ path: urlPath, status: 404 });
      res.writeHead(404).end();
      return;
    }
    const stat = fs.statSync(file);
    const size = stat.size;
    const etag = `"${createHash("sha256").update(`${file}:${size}:${stat.mtimeMs}`).digest("hex").slice(0, 16)}"`;
    const fault = faults.get(urlPath) ?? {};
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ""));
    const ifRange = req.headers["if-range"];
    let start = 0;
    let status = 200;
    if (range && !fault.ignoreRange && (!ifRange || ifRange === etag)) {
      start = Number(range[1]);
      status = 206;
    }
    if (status === 206 && start >= size) {
      // Like a real server: nothing from there on.
      seen.push({ path: urlPath, range: String(req.headers.range), status: 416 });
      res.writeHead(416, { "content-range": `bytes */${size}`, etag }).end();
      return;
    }
    seen.push({ path: urlPath, ...(req.headers.range ? { range: String(req.headers.range) } : {}), status });
    const headers: Record<string, string | number> = { "content-length": size - start, etag, "accept-ranges": "bytes" };
    if (status === 206) headers["content-range"] = `bytes ${start}-${size - 1}/${size}`;
    res.writeHead(status, headers);
    const n = drops.get(urlPath) ?? 0;
    const drop = fault.dropAfter !== undefined && (fault.dropTimes === undefined || n < fault.dropTimes);
    if (drop) drops.set(urlPath, n + 1);
    let limit = drop ? (fault.dropAfter as number) : Number.POSITIVE_INFINITY;
    if (fault.cutAt !== undefined) limit = Math.min(limit, Math.max(0, fault.cutAt - start));
    const count = (n: number) => sentByPath.set(urlPath, (sentByPath.get(urlPath) ?? 0) + n);
    if (opts.memory) {
      const cut = limit < size - start;
      const body = inMemory(file, stat).subarray(start, start + Math.min(size - start, limit));
      let off = 0;
      const pump = () => {
        while (off < body.length || (cut && off === 0)) {
          const c = body.subarray(off, off + MEMORY_CHUNK);
          off += c.length;
          count(c.length);
          if (cut && off >= body.length) {
            // Cut the connection mid-body once what was written has left the process.
            res.write(c, () => res.socket?.destroy());
            return;
          }
          if (!res.write(c)) {
            res.once("drain", pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    let sent = 0;
    const stream = fs.createReadStream(file, { start, highWaterMark: 1 << 20 });
    stream.on("data", (chunk) => {
      const c = chunk as Buffer;
      const take = Math.min(c.length, limit - sent);
      sent += take;
      count(take);
      if (sent >= limit) {
        stream.destroy();
        // Cut the connection mid-body once what was written has left the process.
        res.write(c.subarray(0, take), () => res.socket?.destroy());
        return;
      }
      if (!res.write(c)) {
        stream.pause();
        res.once("drain", () => stream.resume());
      }
    });
    stream.on("end", () => res.end());
  };
  const server = https.createServer({ cert: fs.readFileSync(p.serverCert), key: fs.readFileSync(p.serverKey) }, (req, res) => {
    const stallMs = faults.get((req.url ?? "/").split("?")[0] as string)?.stallMs;
    if (!stallMs) return respond(req, res);
    const timer = setTimeout(() => respond(req, res), stallMs);
    res.once("close", () => clearTimeout(timer));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: (q) => `https://127.0.0.1:${port}${q}`,
    caFile: p.caCert,
    files,
    faults,
    seen,
    sent: sentByPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
