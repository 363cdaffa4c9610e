import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { labMachineProvider } from "./lab-machine";

// A minimal lab node API on loopback, holding nodes in memory, to drive the provider
// through real HTTP.
const nodes = new Map<string, { bootedVersion: string; labels: Record<string, string> }>();
const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => {
    body += c;
  });
  req.on("end", () => {
    const name = decodeURIComponent((req.url ?? "").replace(/^\/v1\/nodes\//, ""));
    const send = (status: number, payload?: unknown) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(payload === undefined ? "" : JSON.stringify(payload));
    };
    const n = nodes.get(name);
    if (req.method === "PUT") {
      const b = JSON.parse(body) as { version: string; labels: Record<string, string> };
      const next = { bootedVersion: n?.bootedVersion ?? b.version, labels: b.labels };
      nodes.set(name, next);
      return send(200, { name, ...next });
    }
    if (!n) return send(404, { error: "no such node" });
    if (req.method === "GET") return send(200, { name, ...n });
    nodes.delete(name);
    return send(204);
  });
});

describe("the lab machine provider", () => {
  let endpoint = "";
  before(async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const inputs = () => ({ endpoint, nodeName: "lab-0", version: "1.0.0", digest: "a".repeat(64), labels: { "twinroot.dev/pool": "lab" } });

  it("refuses a non-loopback endpoint and a bad node name", async () => {
    const r = await labMachineProvider.check?.({}, { ...inputs(), endpoint: "http://10.0.0.1:80", nodeName: "Lab_0" });
    assert.deepEqual(
      r?.failures?.map((f) => f.property),
      ["endpoint", "nodeName"],
    );
  });

  it("creates, reads, relabels and deletes a node over the lab's API", async () => {
    const created = await labMachineProvider.create(inputs());
    assert.equal(created.id, "lab-0");
    assert.equal(created.outs.bootedVersion, "1.0.0");
    // The controller upgraded the node: reading shows it; Pulumi never asked for it.
    (nodes.get("lab-0") as { bootedVersion: string }).bootedVersion = "1.1.0";
    const read = await labMachineProvider.read?.("lab-0", created.outs);
    assert.equal(read?.props?.bootedVersion, "1.1.0");
    const updated = await labMachineProvider.update?.("lab-0", created.outs, { ...inputs(), version: "1.1.0", labels: { "twinroot.dev/pool": "lab", x: "y" } });
    assert.deepEqual(nodes.get("lab-0")?.labels, { "twinroot.dev/pool": "lab", x: "y" });
    assert.equal(updated?.outs.version, "1.0.0", "an existing node keeps the version it was created with");
    await labMachineProvider.delete?.("lab-0", created.outs);
    assert.equal(nodes.has("lab-0"), false);
    const gone = await labMachineProvider.read?.("lab-0", created.outs);
    assert.equal(gone?.id, "");
    await labMachineProvider.delete?.("lab-0", created.outs);
  });

  it("diffs a version bump as no change and a new node name as a replacement", async () => {
    const same = await labMachineProvider.diff?.("lab-0", inputs(), { ...inputs(), version: "2.0.0", digest: "b".repeat(64) });
    assert.equal(same?.changes, false);
    const relabel = await labMachineProvider.diff?.("lab-0", inputs(), { ...inputs(), labels: { a: "b" } });
    assert.deepEqual([relabel?.changes, relabel?.replaces], [true, []]);
    const renamed = await labMachineProvider.diff?.("lab-0", inputs(), { ...inputs(), nodeName: "lab-9" });
    assert.deepEqual(renamed?.replaces, ["nodeName"]);
  });

  it("says the lab is not running when nothing listens", async () => {
    await assert.rejects(labMachineProvider.create({ ...inputs(), endpoint: "http://127.0.0.1:1" }), /is the lab running\?/);
  });
});
