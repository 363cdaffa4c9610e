// The health and metrics endpoints: /healthz (the process answers), /readyz (its caches
// are synced) and /metrics (Prometheus text format).

import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Metrics } from "./metrics";

/** A running health and metrics server. */
export interface HealthServer {
  /** `http://host:port`. */
  url: string;
  close(): Promise<void>;
}

/** Serves health and metrics on `host:port` (port 0 picks a free one). */
export async function startHealthServer(metrics: Metrics, ready: () => boolean | string, port = 0, host = "127.0.0.1"): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    void (async () => {
      if (req.url === "/healthz" || req.url === "/livez") {
        res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
      } else if (req.url === "/readyz") {
        const r = ready();
        if (r === true) res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
        else res.writeHead(503, { "Content-Type": "text/plain" }).end(typeof r === "string" ? r : "not ready");
      } else if (req.url === "/metrics") {
        const body = await metrics.registry.metrics();
        res.writeHead(200, { "Content-Type": metrics.registry.contentType }).end(body);
      } else res.writeHead(404).end();
    })().catch((err) => res.writeHead(500).end(String(err)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${host}:${addr.port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
