import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { checkedInputs, durationProblem, InputProblems, inputError, isKnown } from "./inputs";
import { checkOsImage } from "./os-image";
import { failureOf, outputValue } from "./test-mocks";

const good = { version: "1.0.0", url: "https://images.test/a.img", digest: "c".repeat(64) };

describe("component input checks", () => {
  it("tells plain values from Outputs and promises at any depth", () => {
    assert.equal(isKnown({ a: [1, { b: "x" }] }), true);
    assert.equal(isKnown({ a: [1, { b: pulumi.output("x") }] }), false);
    assert.equal(isKnown({ a: Promise.resolve(1) }), false);
  });

  it("throws one InputPropertiesError listing every field at construction when the inputs are known", () => {
    assert.throws(
      () => checkedInputs("t:m:C", "c1", { ...good, version: "x", digest: "y" }, checkOsImage),
      (err: unknown) =>
        pulumi.InputPropertiesError.isInstance(err) &&
        err.errors.map((e) => e.propertyPath).join() === "version,digest" &&
        err.message.startsWith('t:m:C "c1" has 2 invalid inputs:\n  - version:') &&
        !err.stack?.includes("    at "),
    );
  });

  it("checks Outputs once they resolve and fails the result with the same error", async () => {
    const out = checkedInputs("t:m:C", "c2", { ...good, digest: pulumi.output("nope") }, checkOsImage);
    const err = await failureOf(out);
    assert.ok(pulumi.InputPropertiesError.isInstance(err) && err.errors[0]?.propertyPath === "digest", String(err));
    const ok = checkedInputs("t:m:C", "c3", { ...good, digest: pulumi.output("d".repeat(64)) }, checkOsImage);
    assert.equal((await outputValue(ok)).digest, "d".repeat(64));
  });

  it("keeps the inputs' secretness in the result", async () => {
    const out = checkedInputs("t:m:C", "c4", { ...good, url: pulumi.secret(good.url) }, checkOsImage);
    assert.equal(await pulumi.isSecret(out), true);
  });

  it("reads durations as the CRDs do", () => {
    assert.equal(durationProblem("1h30m"), undefined);
    assert.match(durationProblem("10 minutes") ?? "", /not a duration/);
    assert.match(durationProblem("0s") ?? "", /longer than 0s/);
    assert.match(durationProblem("169h") ?? "", /at most 168h/);
  });

  it("formats a single problem in the singular", () => {
    const p = new InputProblems();
    p.add("a.b", "is wrong: fix it");
    assert.equal(inputError("t:m:C", "n", p.list).message, 't:m:C "n" has 1 invalid input:\n  - a.b: is wrong: fix it');
  });
});
