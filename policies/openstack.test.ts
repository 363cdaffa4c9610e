import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FLOATING_IP_TYPES } from "./model";
import { ANTI_AFFINITY_DEFAULTS, checkAntiAffinity, checkNoPublicIps, PUBLIC_IP_DEFAULTS } from "./openstack";
import { labMachines, openstackPool, resource } from "./test-fixtures";

const messages = (vs: { message: string }[]) => vs.map((v) => v.message);

describe("twinroot-openstack-anti-affinity", () => {
  it("accepts pools in an anti-affinity group, single machines, and lab pools", () => {
    assert.deepEqual(checkAntiAffinity(openstackPool("workers", { size: 3 }), ANTI_AFFINITY_DEFAULTS), []);
    assert.deepEqual(checkAntiAffinity(openstackPool("solo", { size: 1, antiAffinity: "none" }), ANTI_AFFINITY_DEFAULTS), []);
    assert.deepEqual(checkAntiAffinity(labMachines("lab", 3), ANTI_AFFINITY_DEFAULTS), []);
  });

  it("refuses a pool of several machines without a server group, naming the machines and the fix", () => {
    const [m] = messages(checkAntiAffinity(openstackPool("workers", { size: 2, antiAffinity: "none" }), ANTI_AFFINITY_DEFAULTS));
    assert.match(
      m ?? "",
      /^NodePool "workers" \(pool workers\): 2 of its 2 machines \(workers-machine-0, workers-machine-1\) have no server group in schedulerHints, .*Fix: set the NodePool backend\.antiAffinity to anti-affinity or soft-anti-affinity \(programs: pool\.workers\.antiAffinity\)/,
    );
  });

  it("accepts soft anti-affinity unless the stack sets allowSoftAntiAffinity false", () => {
    const soft = openstackPool("workers", { size: 2, antiAffinity: "soft-anti-affinity" });
    assert.deepEqual(checkAntiAffinity(soft, ANTI_AFFINITY_DEFAULTS), []);
    const [m] = messages(checkAntiAffinity(soft, { allowSoftAntiAffinity: false }));
    assert.match(
      m ?? "",
      /ServerGroup "workers-group" policies \["soft-anti-affinity"\] do not keep its 2 machines on different hypervisors \(this stack does not accept soft-anti-affinity/,
    );
  });

  it("refuses a group with affinity, found beside the machines when the engine gives no property dependencies", () => {
    const pool = openstackPool("workers", { size: 2, antiAffinity: "affinity" });
    for (const r of pool) delete r.propertyDependencies;
    assert.match(messages(checkAntiAffinity(pool, ANTI_AFFINITY_DEFAULTS))[0] ?? "", /policies \["affinity"\] do not keep/);
  });
});

describe("twinroot-openstack-no-public-ips", () => {
  const config = { ...PUBLIC_IP_DEFAULTS, publicNetworks: ["ext-net"] };

  it("accepts workers on private networks", () => {
    assert.deepEqual(checkNoPublicIps(openstackPool("workers", { size: 2 }), config), []);
  });

  it("refuses workers on a public network unless the stack allows public IPs", () => {
    const pool = openstackPool("workers", { size: 2, networkId: "ext-net" });
    const m = messages(checkNoPublicIps(pool, config));
    assert.equal(m.length, 2);
    assert.match(
      m[0] ?? "",
      /^Instance "workers-machine-0" \(pool workers\): networks\[0\]\.uuid ext-net is one of this stack's publicNetworks: .*Fix: attach workers to a private network/,
    );
    assert.deepEqual(checkNoPublicIps(pool, { ...config, allowPublicIps: true }), []);
  });

  it("refuses a floating IP given to a worker", () => {
    const pool = openstackPool("workers", { size: 1 });
    const instance = pool.find((r) => r.name === "workers-machine-0");
    assert.ok(instance);
    const fip = resource(
      FLOATING_IP_TYPES[0] as string,
      "workers-fip",
      { floatingIp: "203.0.113.7" },
      { propertyDependencies: { instanceId: [instance.urn] } },
    );
    const [m] = messages(checkNoPublicIps([...pool, fip], PUBLIC_IP_DEFAULTS));
    assert.match(m ?? "", /^FloatingIpAssociate "workers-fip" gives Instance "workers-machine-0" \(pool workers\) a floating IP/);
  });
});
