import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { crds, osNodeCrd, osRolloutCrd } from "./crds";
import { fullOsNode, fullOsNodeStatus, fullRollout, fullRolloutStatus } from "./examples";
import type { JSONSchema } from "./schema";

/** Paths in `value` that `schema` does not declare (what the API server would prune). */
function undeclared(schema: JSONSchema, value: unknown, at = ""): string[] {
  if (schema["x-kubernetes-int-or-string"] || schema["x-kubernetes-preserve-unknown-fields"]) return [];
  if (Array.isArray(value)) return schema.items ? value.flatMap((v, i) => undeclared(schema.items as JSONSchema, v, `${at}[${i}]`)) : [`${at}[]`];
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => {
      const sub = schema.properties?.[k] ?? schema.additionalProperties;
      return sub ? undeclared(sub, v, `${at}.${k}`) : [`${at}.${k}`];
    });
  }
  return [];
}

/** Every node of a schema, with its path. */
function* walk(schema: JSONSchema, at = ""): Generator<[string, JSONSchema]> {
  yield [at, schema];
  for (const [k, v] of Object.entries(schema.properties ?? {})) yield* walk(v, `${at}.${k}`);
  if (schema.items) yield* walk(schema.items, `${at}[]`);
  if (schema.additionalProperties) yield* walk(schema.additionalProperties, `${at}{}`);
}

describe("the twinroot CRDs", () => {
  it("declare every field the TypeScript types can carry, so nothing is pruned", () => {
    const root = (c: typeof osRolloutCrd) => c.spec.versions[0]?.schema.openAPIV3Schema as JSONSchema;
    assert.deepEqual(undeclared(root(osRolloutCrd), { ...fullRollout(), metadata: {}, status: fullRolloutStatus() }), []);
    assert.deepEqual(undeclared(root(osNodeCrd), { ...fullOsNode(), metadata: {}, status: fullOsNodeStatus() }), []);
  });

  it("are structural: every node has a type, unless it is int-or-string", () => {
    for (const c of crds) {
      for (const [at, s] of walk(c.spec.versions[0]?.schema.openAPIV3Schema as JSONSchema)) {
        assert.ok(s.type || s["x-kubernetes-int-or-string"], `${c.metadata.name} ${at || "(root)"} has no type`);
      }
    }
  });

  it("bound every string a CEL rule reads, so the API server can estimate the rule's cost", () => {
    for (const c of crds) {
      for (const [at, s] of walk(c.spec.versions[0]?.schema.openAPIV3Schema as JSONSchema)) {
        if (s.type === "string" && s["x-kubernetes-validations"]) assert.ok(s.maxLength, `${at} has a CEL rule but no maxLength`);
      }
    }
  });

  it("are cluster-scoped, in twinroot.dev/v1alpha1, with a status subresource and printer columns", () => {
    for (const c of crds) {
      assert.equal(c.spec.scope, "Cluster");
      assert.equal(c.spec.group, "twinroot.dev");
      assert.equal(c.metadata.name, `${c.spec.names.plural}.twinroot.dev`);
      const v = c.spec.versions[0];
      assert.equal(v?.name, "v1alpha1");
      assert.deepEqual(v?.subresources, { status: {} });
      assert.ok((v?.additionalPrinterColumns.length ?? 0) >= 4);
    }
  });
});
