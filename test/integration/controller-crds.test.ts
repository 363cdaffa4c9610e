// The CRDs on a real kube-apiserver: accepted as structural, a fully populated object
// round-trips with nothing pruned, and bad objects are refused with messages that name
// the field.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fullOsNode, fullOsNodeStatus, fullRollout, fullRolloutStatus } from "../../controller/api/examples";
import type { OsRollout } from "../../controller/api/types";
import { NODES, OSNODES, ROLLOUTS, resourcePath } from "../../controller/kube/resources";
import { isConflictOn, type Kube, KubeError } from "../../controller/kube/rest";
import type { ControlPlane } from "../../lab/harness/control-plane";
import { startApiServer, stopApiServer } from "./support/api-server";

describe("the twinroot CRDs on a real API server", { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let kube: Kube;
  before(async () => ({ cp, kube } = await startApiServer()));
  after(() => stopApiServer(cp, kube));

  it("keep every field of a fully populated rollout and per-node object, spec and status", async () => {
    const r = fullRollout("roundtrip");
    const created = await kube.request<OsRollout>("POST", resourcePath(ROLLOUTS), { body: r });
    assert.deepEqual(created.spec, r.spec);
    const withStatus = await kube.request<OsRollout>("PUT", resourcePath(ROLLOUTS, { name: "roundtrip", sub: "status" }), {
      body: { ...created, status: fullRolloutStatus() },
    });
    assert.deepEqual(withStatus.status, fullRolloutStatus());
    const n = fullOsNode("node-1");
    const cn = await kube.request<typeof n>("POST", resourcePath(OSNODES), { body: n });
    assert.deepEqual(cn.spec, n.spec);
    const sn = await kube.request<typeof n>("PUT", resourcePath(OSNODES, { name: "node-1", sub: "status" }), { body: { ...cn, status: fullOsNodeStatus() } });
    assert.deepEqual(sn.status, fullOsNodeStatus());
  });

  it("ignore status in a spec write and spec in a status write (status subresource)", async () => {
    const created = await kube.request<OsRollout>("POST", resourcePath(ROLLOUTS), { body: { ...fullRollout("sub"), status: fullRolloutStatus() } });
    assert.equal(created.status, undefined, "status is dropped on create");
    const s = await kube.request<OsRollout>("PUT", resourcePath(ROLLOUTS, { name: "sub", sub: "status" }), {
      body: { ...created, spec: { ...created.spec, paused: true }, status: fullRolloutStatus() },
    });
    assert.equal(s.spec.paused, false, "a status write does not change spec");
    assert.equal(s.metadata.generation, 1, "a status write does not bump generation");
  });

  it("answer a spec or status write on a stale resourceVersion with a conflict that names the per-node resource", async () => {
    const created = await kube.request<ReturnType<typeof fullOsNode>>("POST", resourcePath(OSNODES), { body: fullOsNode("stale-1") });
    const put = (sub?: string) => kube.request("PUT", resourcePath(OSNODES, { name: "stale-1", sub }), { body: { ...created, status: fullOsNodeStatus() } });
    await put("status");
    // The proxy tells this conflict (step again at once) from one on a Node (retry later).
    for (const sub of ["status", undefined]) {
      await assert.rejects(put(sub), (err: unknown) => {
        assert.ok(isConflictOn(err, OSNODES), String(err));
        assert.equal(isConflictOn(err, NODES), false);
        assert.equal(isConflictOn(err, ROLLOUTS), false);
        return true;
      });
    }
  });

  const refused = async (mutate: (r: OsRollout) => void, field: RegExp, message: RegExp) => {
    const r = fullRollout(`bad-${Math.random().toString(16).slice(2, 8)}`);
    mutate(r);
    await assert.rejects(kube.request("POST", resourcePath(ROLLOUTS), { body: r }), (err: unknown) => {
      assert.ok(err instanceof KubeError, String(err));
      assert.equal(err.code, 422);
      assert.match(err.message, field);
      assert.match(err.message, message);
      return true;
    });
  };

  it("refuse a digest of the wrong length or case", async () => {
    await refused((r) => Object.assign(r.spec.image, { digest: "abc" }), /spec\.image\.digest/, /64 lower-case hex/);
    await refused((r) => Object.assign(r.spec.image, { digest: "A".repeat(64) }), /spec\.image\.digest/, /64 lower-case hex/);
  });

  it("refuse an http:// url without a digest, naming the digest", async () => {
    await refused(
      (r) => {
        r.spec.image = { version: "1", url: "http://127.0.0.1/x.img" };
      },
      /spec\.image\.digest/,
      /http:\/\/ url needs a digest/,
    );
    await refused((r) => Object.assign(r.spec.image, { url: "ftp://x" }), /spec\.image\.url/, /http:\/\/ or https:\/\//);
  });

  it("refuse maxUnavailable 0, a negative count or a malformed percent", async () => {
    for (const v of [0, -1, "0%", "101%", "abc"]) {
      await refused((r) => Object.assign(r.spec, { maxUnavailable: v }), /spec\.maxUnavailable/, /greater than 0 or a percent/);
    }
  });

  it("refuse malformed maintenance windows", async () => {
    const w = { days: ["Mon"], start: "22:00", duration: "4h", timeZone: "Europe/Berlin" };
    await refused((r) => Object.assign(r.spec, { maintenanceWindows: [{ ...w, start: "25:00" }] }), /spec\.maintenanceWindows\[0\]\.start/, /HH:MM/);
    await refused(
      (r) => Object.assign(r.spec, { maintenanceWindows: [{ ...w, duration: "0m" }] }),
      /spec\.maintenanceWindows\[0\]\.duration/,
      /greater than 0/,
    );
    await refused(
      (r) => Object.assign(r.spec, { maintenanceWindows: [{ ...w, duration: "200h" }] }),
      /spec\.maintenanceWindows\[0\]\.duration/,
      /at most 168h/,
    );
    await refused(
      (r) => Object.assign(r.spec, { maintenanceWindows: [{ ...w, days: ["Funday"] }] }),
      /spec\.maintenanceWindows\[0\]\.days\[0\]/,
      /Unsupported value/,
    );
    await refused((r) => Object.assign(r.spec, { maintenanceWindows: [{ ...w, days: [] }] }), /spec\.maintenanceWindows\[0\]\.days/, /at least 1/);
  });

  it("refuse a per-node object whose nodeName differs from its name", async () => {
    await assert.rejects(
      kube.request("POST", resourcePath(OSNODES), { body: { ...fullOsNode("n-a"), spec: { nodeName: "n-b" } } }),
      (err: KubeError) => err.code === 422 && /spec\.nodeName/.test(err.message) && /must equal metadata\.name/.test(err.message),
    );
  });

  it("print the columns kubectl shows from the fields they name", async () => {
    const table = async (path: string) => {
      const t = await kube.request<{ columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] }>("GET", path, {
        accept: "application/json;as=Table;v=v1;g=meta.k8s.io",
      });
      const names = t.columnDefinitions.map((c) => c.name);
      return (row: number, column: string) => t.rows[row]?.cells[names.indexOf(column)];
    };
    const n = fullOsNode("columns-1");
    const created = await kube.request<typeof n>("POST", resourcePath(OSNODES), { body: n });
    await kube.request("PUT", resourcePath(OSNODES, { name: "columns-1", sub: "status" }), { body: { ...created, status: fullOsNodeStatus() } });
    const node = await table(resourcePath(OSNODES, { name: "columns-1" }));
    assert.equal(node(0, "Target"), n.spec.target?.image.version);
    assert.equal(node(0, "Phase"), fullOsNodeStatus().phase);
    assert.equal(node(0, "Booted"), fullOsNodeStatus().bootedVersion);
    assert.equal(node(0, "Slot"), fullOsNodeStatus().bootedSlot);
    await kube.request("POST", resourcePath(ROLLOUTS), { body: fullRollout("columns") });
    const rollout = await table(resourcePath(ROLLOUTS, { name: "columns" }));
    assert.equal(rollout(0, "Version"), fullRollout("columns").spec.image.version);
  });
});
