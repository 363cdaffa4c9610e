import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkImageMatchesRollout, checkSelectorsDisjoint, IMAGE_MATCH_DEFAULTS, overlapWitness } from "./consistency";
import { UNKNOWN } from "./pack";
import { labMachines, nodePool, openstackPool, poolSelector, resource, rollout, V1, V2 } from "./test-fixtures";

const messages = (vs: { message: string }[]) => vs.map((v) => v.message);
const labPool = (name: string, n: number, image = V1) => {
  const p = nodePool(name, { size: n, image });
  return [p, ...labMachines(name, n, image, p)];
};

describe("twinroot-pool-image-matches-rollout", () => {
  it("accepts pools booting the image of the rollout that selects them", () => {
    assert.deepEqual(checkImageMatchesRollout([rollout("fleet", poolSelector("lab")), ...labPool("lab", 3)], IMAGE_MATCH_DEFAULTS), []);
    assert.deepEqual(checkImageMatchesRollout([rollout("fleet", poolSelector("workers")), ...openstackPool("workers", { size: 2 })], IMAGE_MATCH_DEFAULTS), []);
  });

  it("reads the pool's image from the NodePool, not from machines that keep what they booted", () => {
    // After a bump the existing machines' inputs keep 1.0.0 (ignoreChanges); the pool says 1.1.0.
    const p = nodePool("lab", { size: 2, image: V2 });
    const resources = [rollout("fleet", poolSelector("lab"), V2), p, ...labMachines("lab", 2, V1, p)];
    assert.deepEqual(checkImageMatchesRollout(resources, IMAGE_MATCH_DEFAULTS), []);
  });

  it("refuses a pool that boots another image than its rollout, naming both", () => {
    const [m] = messages(checkImageMatchesRollout([rollout("fleet", poolSelector("lab"), V2), ...labPool("lab", 3, V1)], IMAGE_MATCH_DEFAULTS));
    assert.match(
      m ?? "",
      /^NodePool "lab" \(pool lab\): new machines boot 1\.0\.0 \(sha256 eff77103687b…, from NodePool "lab" image\), but OsRollout "fleet" that selects the pool targets 1\.1\.0/,
    );
    assert.match(m ?? "", /Fix: give the NodePool the same OsImage as the rollout/);
  });

  it("compares OpenStack machines without a NodePool through their Glance image", () => {
    const raw = openstackPool("workers", { size: 2, image: V1 }).filter((r) => r.type !== "twinroot:nodes:NodePool");
    for (const r of raw) delete r.parent;
    const [m] = messages(checkImageMatchesRollout([rollout("fleet", poolSelector("workers"), V2), ...raw], IMAGE_MATCH_DEFAULTS));
    assert.match(
      m ?? "",
      /^pool "workers" \(machines labelled twinroot\.dev\/pool=workers, no NodePool\): new machines boot 1\.0\.0 .*from Image "workers-image-glance" properties/,
    );
  });

  it("refuses a pool no rollout selects (when the stack has rollouts) unless requireRollout is off", () => {
    const resources = [rollout("fleet", poolSelector("lab")), ...labPool("lab", 2), ...labPool("batch", 2)];
    const [m] = messages(checkImageMatchesRollout(resources, IMAGE_MATCH_DEFAULTS));
    assert.match(m ?? "", /^NodePool "batch" \(pool batch\): no OsRollout of this stack selects its nodes/);
    assert.deepEqual(checkImageMatchesRollout(resources, { requireRollout: false }), []);
    assert.deepEqual(checkImageMatchesRollout(labPool("lab", 2), IMAGE_MATCH_DEFAULTS), [], "no rollout in the stack: nothing to compare");
  });

  it("says nothing while the pool's image or labels are unknown during preview", () => {
    const p = nodePool("lab", { size: 2 });
    p.props.image = { version: "1.0.0", digest: UNKNOWN };
    assert.deepEqual(checkImageMatchesRollout([rollout("fleet", poolSelector("lab"), V2), p], IMAGE_MATCH_DEFAULTS), []);
    const q = nodePool("lab", { size: 2 });
    q.props.labels = UNKNOWN;
    assert.deepEqual(checkImageMatchesRollout([rollout("fleet", poolSelector("other")), q], IMAGE_MATCH_DEFAULTS), []);
  });

  it("says nothing while the rollout's selector is unknown", () => {
    const r = rollout("fleet");
    (r.props.spec as Record<string, unknown>).nodeSelector = UNKNOWN;
    assert.deepEqual(checkImageMatchesRollout([r, ...labPool("lab", 2, V2)], IMAGE_MATCH_DEFAULTS), []);
  });
});

describe("twinroot-rollout-selectors-disjoint", () => {
  it("finds a label set two selectors share, or none", () => {
    const pool = (v: string[]) => ({ matchExpressions: [{ key: "twinroot.dev/pool", operator: "In" as const, values: v }] });
    assert.deepEqual(overlapWitness(pool(["a", "b"]), pool(["b", "c"])), { "twinroot.dev/pool": "b" });
    assert.equal(overlapWitness(pool(["a"]), pool(["b"])), undefined);
    assert.equal(overlapWitness({ matchLabels: { tier: "x" } }, { matchExpressions: [{ key: "tier", operator: "DoesNotExist" }] }), undefined);
    assert.deepEqual(overlapWitness(undefined, { matchLabels: { zone: "z1" } }), { zone: "z1" });
    assert.deepEqual(overlapWitness({ matchLabels: { a: "1" } }, { matchExpressions: [{ key: "b", operator: "Exists" }] }), { a: "1", b: "any-b" });
    assert.equal(overlapWitness({ matchLabels: { a: "1" } }, { matchExpressions: [{ key: "a", operator: "NotIn", values: ["1"] }] }), undefined);
  });

  it("accepts rollouts of disjoint pools", () => {
    assert.deepEqual(checkSelectorsDisjoint([rollout("a", poolSelector("a")), rollout("b", poolSelector("b")), ...labPool("a", 2), ...labPool("b", 2)]), []);
  });

  it("refuses overlapping selectors, naming the pools both select", () => {
    const [m] = messages(
      checkSelectorsDisjoint([rollout("a", poolSelector("a", "b")), rollout("b", poolSelector("b")), ...labPool("a", 2), ...labPool("b", 2)]),
    );
    assert.match(
      m ?? "",
      /^OsRollout "b" and OsRollout "a": spec\.nodeSelector .* overlap \(both select NodePool "b" \(pool b\)\): .*Fix: give each rollout a nodeSelector of its own pools/,
    );
  });

  it("refuses a rollout of every node beside another, with an example node", () => {
    const every = rollout("all");
    delete (every.props.spec as Record<string, unknown>).nodeSelector;
    const [m] = messages(checkSelectorsDisjoint([every, rollout("edge", { nodeSelector: { matchLabels: { zone: "edge" } } }), resource("x", "y", {})]));
    assert.match(m ?? "", /\{\} \(every node\) overlap \(both select a node labelled \{"zone":"edge"\}\)/);
  });
});
