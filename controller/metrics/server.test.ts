import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Metrics } from "./metrics";
import { startHealthServer } from "./server";

describe("the health and metrics server", () => {
  it("answers liveness always, readiness only when ready, and serves the metrics", async () => {
    const m = new Metrics({ defaultMetrics: false });
    let ready: boolean | string = "caches not synced";
    const s = await startHealthServer(m, () => ready);
    try {
      m.reconciles.inc({ kind: "OsRollout", result: "ok" });
      assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
      const r = await fetch(`${s.url}/readyz`);
      assert.equal(r.status, 503);
      assert.equal(await r.text(), "caches not synced");
      ready = true;
      assert.equal((await fetch(`${s.url}/readyz`)).status, 200);
      const text = await (await fetch(`${s.url}/metrics`)).text();
      assert.match(text, /twinroot_reconcile_total\{kind="OsRollout",result="ok"\} 1/);
    } finally {
      await s.close();
    }
  });
});
