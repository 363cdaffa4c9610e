import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Fleet, fleetSelector } from "./fleet";
import { outputValue, registered, urnOf } from "./test-mocks";

const image = { version: "2.0.0", url: "https://images.test/os-2.img", digest: "9".repeat(64) };

describe("Fleet", () => {
  it("composes image, policy, pools and controller, the rollout selecting the fleet's pools", async () => {
    const fleet = new Fleet("fl", {
      kubeconfig: "k",
      image,
      policy: { maxUnavailable: "50%" },
      pools: {
        b: { backend: { kind: "lab", endpoint: "http://127.0.0.1:7001" }, size: 1 },
        a: { backend: { kind: "lab", endpoint: "http://127.0.0.1:7001" }, size: 2 },
      },
      controller: { awaitWorkloads: false, waitForRollout: false, rolloutName: "os" },
    });
    assert.deepEqual((await outputValue(fleet.nodeNames)).sort(), ["a-0", "a-1", "b-0"]);
    assert.equal(await outputValue(fleet.version), "2.0.0");
    assert.ok(fleet.controller.rollout);
    await outputValue(fleet.controller.rollout.id);
    const rollout = registered.find((r) => r.name === "fl-controller-rollout");
    const spec = rollout?.inputs.spec as { image: unknown; maxUnavailable: unknown; nodeSelector: unknown };
    assert.deepEqual(spec.image, image);
    assert.equal(spec.maxUnavailable, "50%");
    assert.deepEqual(spec.nodeSelector, { matchExpressions: [{ key: "twinroot.dev/pool", operator: "In", values: ["a", "b"] }] });
    assert.equal((rollout?.inputs.metadata as { name?: string } | undefined)?.name, "os");
    assert.match(await urnOf(fleet.pools.a as never), /twinroot:index:Fleet\$twinroot:nodes:NodePool::fl-pool-a$/);
    assert.match(await urnOf(fleet.image), /Fleet\$twinroot:image:OsImage::fl-image$/);
  });

  it("selects every node without pools, and the given selector when there is one", () => {
    assert.equal(fleetSelector([], undefined), undefined);
    assert.deepEqual(fleetSelector(["x"], { matchLabels: { a: "b" } }), { matchLabels: { a: "b" } });
  });
});
