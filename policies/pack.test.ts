import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { policies } from "./catalog";
import { fromPolicyResource, plain, resourcePolicy, stackPolicy, UNKNOWN } from "./pack";
import { rollout } from "./test-fixtures";

// The proxy @pulumi/policy wraps every resource's props in: reading an unknown field throws.
const { unknownCheckingProxy, unknownStringValue } = require("@pulumi/policy/proxy") as {
  unknownCheckingProxy: <T>(v: T) => T;
  unknownStringValue: string;
};

const byName = (name: string) => {
  const p = policies.find((x) => x.name === name);
  assert.ok(p, `no policy ${name}`);
  return p;
};

function validateResource(p: ResourceValidationPolicy, props: Record<string, unknown>, type: string, config: object) {
  const reported: { message: string; urn?: string }[] = [];
  const args = {
    type,
    props: unknownCheckingProxy(props),
    urn: "urn:pulumi:s::p::t::r",
    name: "r",
    getConfig: () => config,
  } as unknown as ResourceValidationArgs;
  void (p.validateResource as (a: ResourceValidationArgs, r: (m: string, u?: string) => void) => void)(args, (message, urn) => reported.push({ message, urn }));
  return reported;
}

describe("the policy pack", () => {
  it("lists every policy once, each with a description, a fix and an enforcement level", () => {
    const names = policies.map((p) => p.name);
    assert.equal(new Set(names).size, names.length);
    assert.equal(names.length, 17);
    for (const p of policies) {
      assert.match(p.name, /^twinroot-[a-z-]+$/);
      assert.ok(p.description && p.remediationSteps, p.name);
      assert.equal(p.enforcementLevel, "mandatory", p.name);
    }
  });

  it("refuses a policy whose schema default differs from the code's", () => {
    const info = {
      name: "twinroot-x",
      description: "x",
      enforcementLevel: "advisory" as const,
      remediationSteps: "x",
      configSchema: { properties: { n: { type: "integer" as const, default: 2 } } },
      defaults: { n: 3 },
    };
    assert.throws(() => resourcePolicy(info, () => []), /schema default of n \(2\) differs from the code's \(3\)/);
    assert.throws(() => stackPolicy(info, () => []), /differs/);
  });
});

describe("reading resources from the engine", () => {
  it("turns fields unknown during preview into UNKNOWN instead of failing the policy", () => {
    const props = unknownCheckingProxy({ spec: { image: { digest: unknownStringValue, url: "https://x" } }, list: [1, unknownStringValue] });
    assert.deepEqual(plain(props), { spec: { image: { digest: UNKNOWN, url: "https://x" } }, list: [1, UNKNOWN] });
  });

  it("gives stack policies parents and property dependencies by URN", () => {
    const group = { urn: "urn:g", type: "t", name: "g", props: {} } as unknown as PolicyResource;
    const r = fromPolicyResource({
      urn: "urn:i",
      type: "t",
      name: "i",
      props: unknownCheckingProxy({ a: 1 }),
      parent: group,
      propertyDependencies: { schedulerHints: [group] },
    });
    assert.deepEqual(r, { urn: "urn:i", type: "t", name: "i", props: { a: 1 }, parent: "urn:g", propertyDependencies: { schedulerHints: ["urn:g"] } });
  });

  it("runs a resource policy with the stack's config over the defaults", () => {
    const p = byName("twinroot-rollout-force-needs-timeout") as ResourceValidationPolicy;
    const r = rollout("lab", { drain: { timeout: "1m", onTimeout: "DeletePods" } });
    const [d] = validateResource(p, r.props, r.type, {});
    assert.match(d?.message ?? "", /shorter than this stack's minForceTimeout 5m/);
    assert.deepEqual(validateResource(p, r.props, r.type, { minForceTimeout: "1m" }), []);
  });

  it("runs a stack policy and reports each violation against its resource", async () => {
    const p = byName("twinroot-rollout-failure-budget") as StackValidationPolicy;
    const r = rollout("lab", { failure: {} });
    const res = { urn: r.urn, type: r.type, name: r.name, props: unknownCheckingProxy(r.props), propertyDependencies: {}, dependencies: [] };
    const reported: { message: string; urn?: string }[] = [];
    const args = { resources: [res], getConfig: () => ({}) } as unknown as StackValidationArgs;
    await p.validateStack(args, (message, urn) => reported.push({ message, urn }));
    assert.equal(reported.length, 1);
    assert.equal(reported[0]?.urn, r.urn);
    assert.match(reported[0]?.message ?? "", /spec\.failure\.maxFailedNodes is not set/);
  });
});
