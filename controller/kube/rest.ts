// A small JSON client for the Kubernetes REST API on top of the kubeconfig that
// client-node loads. Objects travel as plain JSON (no model classes), so custom
// resources, `x-kubernetes-*` keys and the /status subresource need no special casing,
// and every request is counted (the benchmark's "API requests per node").

import https from "node:https";
import readline from "node:readline";
import type { KubeConfig } from "@kubernetes/client-node";
import type { ResourceRef } from "./resources";

/** A failed API request, with the HTTP status as `code` and the `Status` object's reason. */
export class KubeError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly body?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "KubeError";
  }
}

/** Whether `err` is an API error with one of `codes`. */
export function isStatus(err: unknown, ...codes: number[]): boolean {
  return err instanceof KubeError && codes.includes(err.code);
}

/**
 * Whether `err` is a 409 Conflict on an object of `resource`: the API server's Status
 * names the resource (plural and group) in its details, whichever request failed.
 */
export function isConflictOn(err: unknown, resource: ResourceRef): boolean {
  if (!isStatus(err, 409)) return false;
  const details = ((err as KubeError).body as { details?: { kind?: string; group?: string } } | undefined)?.details;
  return details?.kind === resource.plural && (details.group ?? "") === resource.group;
}

/** Options of one request. */
export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Default `application/json`; patches pass their patch type. */
  contentType?: string;
  /** Default `application/json`; e.g. the Table form (`application/json;as=Table;v=v1;g=meta.k8s.io`) that kubectl prints. */
  accept?: string;
  /** Abort the request (and a watch) with this signal. */
  signal?: AbortSignal;
}

/** A watch event as the API server sends it. */
export interface WatchEvent<T = unknown> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

/** Counts requests by verb; read by metrics and benchmarks. */
export type RequestCounter = (verb: string, path: string, code: number) => void;

/** A JSON client for one API server and identity. */
export class Kube {
  private agent?: https.Agent;
  private headers: Record<string, string> = {};
  private ready?: Promise<void>;
  /** Total requests made, by `VERB` (watch counts as `WATCH`). */
  readonly requests = new Map<string, number>();

  constructor(
    readonly kc: KubeConfig,
    private readonly onRequest?: RequestCounter,
    private readonly userAgent = "twinroot",
  ) {}

  private async setup(): Promise<void> {
    this.ready ??= (async () => {
      const opts: https.RequestOptions = {};
      await this.kc.applyToHTTPSOptions(opts);
      this.agent = new https.Agent({ keepAlive: true, maxSockets: 32, ca: opts.ca, cert: opts.cert, key: opts.key });
      for (const [k, v] of Object.entries(opts.headers ?? {})) this.headers[k] = String(v);
    })();
    await this.ready;
  }

  private url(path: string, query?: RequestOptions["query"]): URL {
    const server = this.kc.getCurrentCluster()?.server;
    if (!server) throw new Error("kube: the kubeconfig has no current cluster");
    const u = new URL(server.replace(/\/$/, "") + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u;
  }

  private count(verb: string, path: string, code: number): void {
    this.requests.set(verb, (this.requests.get(verb) ?? 0) + 1);
    this.onRequest?.(verb, path, code);
  }

  /** Sends one request and parses the JSON answer; throws {@link KubeError} on a non-2xx status. */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    await this.setup();
    const url = this.url(path, opts.query);
    const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string> = { ...this.headers, Accept: opts.accept ?? "application/json", "User-Agent": this.userAgent };
    if (body) {
      headers["Content-Type"] = opts.contentType ?? "application/json";
      headers["Content-Length"] = String(body.length);
    }
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request(url, { method, headers, agent: this.agent, signal: opts.signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      });
      req.on("error", (err) => reject(new Error(`kube: ${method} ${path}: ${err.message}`, { cause: err })));
      req.end(body);
    });
    this.count(method, path, status);
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch (err) {
      throw new KubeError(status, "InvalidResponse", `kube: ${method} ${path}: ${status}: not JSON: ${text.slice(0, 200)}`, text, { cause: err });
    }
    if (status < 200 || status >= 300) {
      const s = parsed as { reason?: string; message?: string } | undefined;
      throw new KubeError(status, s?.reason ?? "Unknown", `kube: ${method} ${path}: ${status} ${s?.reason ?? ""}: ${s?.message ?? text}`, parsed);
    }
    return parsed as T;
  }

  /**
   * Opens a watch and calls `onEvent` per event until the server ends it, `signal`
   * aborts, or an error occurs. Resolves when the stream ends (normally or aborted);
   * rejects with {@link KubeError} when the server refuses the watch.
   */
  async watch<T>(path: string, query: RequestOptions["query"], onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    await this.setup();
    const url = this.url(path, { ...query, watch: true });
    await new Promise<void>((resolve, reject) => {
      const req = https.request(url, { method: "GET", headers: { ...this.headers, Accept: "application/json" }, agent: this.agent, signal }, (res) => {
        this.count("WATCH", path, res.statusCode ?? 0);
        // The stream ends with an error when the watch is aborted or the server goes away.
        res.on("error", (err) => (signal.aborted ? resolve() : reject(new Error(`kube: watch ${path}: ${err.message}`, { cause: err }))));
        if (res.statusCode !== 200) {
          let text = "";
          res.on("data", (c) => {
            text += c;
          });
          res.on("end", () => reject(new KubeError(res.statusCode ?? 0, "WatchRefused", `kube: watch ${path}: ${res.statusCode}: ${text.slice(0, 300)}`)));
          return;
        }
        const lines = readline.createInterface({ input: res });
        lines.on("line", (line) => {
          if (!line) return;
          let ev: WatchEvent<T>;
          try {
            ev = JSON.parse(line) as WatchEvent<T>;
          } catch {
            return;
          }
          onEvent(ev);
        });
        lines.on("close", () => resolve());
        // readline re-emits the stream's errors; the listener on res above handles them.
        lines.on("error", () => {});
      });
      req.on("error", (err) => (signal.aborted ? resolve() : reject(new Error(`kube: watch ${path}: ${err.message}`, { cause: err }))));
      req.end();
    });
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent?.destroy();
  }
}
