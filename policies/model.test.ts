// The contract between the components and the policies: the type tokens and the
// component outputs the policies read are the ones the components register.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { Fleet } from "../components/fleet";
import { NODE_POOL_TYPE, type NodePool } from "../components/node-pool";
import { outputValue, registered } from "../components/test-mocks";
import { LAB_MACHINE_TYPE, pools, ROLLOUT_TYPE, rollouts, selects } from "./model";
import type { StackResource } from "./pack";
import { V1 } from "./test-fixtures";

// Component outputs, as the engine stores them for stack policies (the mocks record only inputs).
const outputs = new Map<pulumi.Resource, pulumi.Inputs>();
const register = pulumi.ComponentResource.prototype["registerOutputs"];
pulumi.ComponentResource.prototype["registerOutputs"] = function (
  this: pulumi.ComponentResource,
  o?: pulumi.Inputs | Promise<pulumi.Inputs> | pulumi.Output<pulumi.Inputs>,
) {
  // The SDK calls it once more, with nothing, after the constructor; the first call counts.
  if (!outputs.has(this)) outputs.set(this, o as pulumi.Inputs);
  return register.call(this, o);
};

describe("what the components register", () => {
  it("is what the policies read: the rollout resource, lab machines and the NodePool's size, labels and image", async () => {
    const fleet = new Fleet("pol", {
      kubeconfig: "k",
      image: V1,
      pools: { lab: { backend: { kind: "lab", endpoint: "http://127.0.0.1:7001" }, size: 2, labels: { tier: "batch" } } },
      controller: { awaitWorkloads: false, waitForRollout: false },
    });
    const pool = fleet.pools.lab as NodePool;
    // The machines register once the CRDs they depend on have.
    await outputValue(pool.machineIds);
    const poolUrn = await outputValue(pool.urn);
    const props = (await outputValue(pulumi.output(outputs.get(pool) ?? {}))) as Record<string, unknown>;
    const resources: StackResource[] = [
      { type: NODE_POOL_TYPE, urn: poolUrn, name: "pol-pool-lab", props },
      ...registered
        .filter((r) => r.name.startsWith("pol-"))
        .map((r) => ({ type: r.type, urn: `urn:${r.name}`, name: r.name, props: r.inputs, ...(r.type === LAB_MACHINE_TYPE ? { parent: poolUrn } : {}) })),
    ];
    assert.equal(resources.filter((r) => r.type === LAB_MACHINE_TYPE).length, 2);
    const [p] = pools(resources);
    assert.ok(p);
    assert.deepEqual(
      { name: p.name, size: p.size, backend: p.backend, labels: p.labels, image: p.image, machines: p.machines.length },
      {
        name: "lab",
        size: 2,
        backend: "lab",
        labels: { tier: "batch", "twinroot.dev/pool": "lab" },
        image: { version: V1.version, digest: V1.digest, from: 'NodePool "pol-pool-lab" image' },
        machines: 2,
      },
    );
    const [r] = rollouts(resources);
    assert.ok(r);
    assert.equal(r.resource.type, ROLLOUT_TYPE);
    assert.equal(r.name, "pol");
    assert.equal(selects(r, p), true);
  });
});
