import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDuration } from "./duration";
import { matchesSelector, selectorString } from "./selector";

describe("durations", () => {
  it("read hours, minutes and seconds in Go's notation", () => {
    assert.equal(parseDuration("90s"), 90_000);
    assert.equal(parseDuration("1h30m"), 5_400_000);
    assert.equal(parseDuration("10m"), 600_000);
  });
  it("refuse anything else", () => {
    for (const bad of ["", "10", "1d", "m", "1.5h", "-1m"]) assert.throws(() => parseDuration(bad), /invalid duration/, bad);
  });
});

describe("label selectors", () => {
  const labels = { pool: "workers", zone: "a" };
  it("match labels and every operator as the API server does", () => {
    assert.ok(matchesSelector(undefined, labels));
    assert.ok(matchesSelector({}, labels));
    assert.ok(matchesSelector({ matchLabels: { pool: "workers" } }, labels));
    assert.ok(!matchesSelector({ matchLabels: { pool: "infra" } }, labels));
    assert.ok(matchesSelector({ matchExpressions: [{ key: "zone", operator: "In", values: ["a", "b"] }] }, labels));
    assert.ok(!matchesSelector({ matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] }, labels));
    assert.ok(matchesSelector({ matchExpressions: [{ key: "gpu", operator: "NotIn", values: ["x"] }] }, labels));
    assert.ok(matchesSelector({ matchExpressions: [{ key: "zone", operator: "Exists" }] }, labels));
    assert.ok(!matchesSelector({ matchExpressions: [{ key: "zone", operator: "DoesNotExist" }] }, labels));
  });
  it("render as the labelSelector query parameter", () => {
    assert.equal(
      selectorString({
        matchLabels: { a: "1" },
        matchExpressions: [
          { key: "z", operator: "In", values: ["x", "y"] },
          { key: "g", operator: "DoesNotExist" },
        ],
      }),
      "a=1,z in (x,y),!g",
    );
  });
});
