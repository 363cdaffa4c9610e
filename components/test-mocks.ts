// Pulumi mocks for the components' unit tests: every registered resource is recorded
// with its type, name and inputs, and its outputs echo its inputs.

import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";

/** One resource the program registered. */
export interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

/** Every resource registered so far, in order. */
export const registered: Registered[] = [];

pulumi.runtime.setMocks(
  {
    newResource: (a) => {
      registered.push({ type: a.type, name: a.name, inputs: a.inputs });
      return { id: `${a.name}-id`, state: a.inputs };
    },
    call: (a) => a.inputs,
  },
  "twinroot",
  "unit",
  false,
);

/** The value of an Output; rejects when the Output failed. */
export function outputValue<T>(o: pulumi.Output<T>): Promise<T> {
  return (o as unknown as { promise(): Promise<T> }).promise();
}

/** The resources registered with `type` whose name starts with `prefix`. */
export function byType(type: string, prefix = ""): Registered[] {
  return registered.filter((r) => r.type === type && r.name.startsWith(prefix));
}

/** The URN of a resource (its parent chain shows in the type part). */
export function urnOf(r: pulumi.Resource): Promise<string> {
  return outputValue(r.urn);
}

/**
 * The error an Output failed with. An Output keeps several promises (its value, whether
 * it is known, whether it is secret); all are observed so none is left unhandled.
 */
export async function failureOf(o: pulumi.Output<unknown>): Promise<unknown> {
  const internal = o as unknown as { isKnown: Promise<boolean>; isSecret: Promise<boolean>; allResources?: () => Promise<unknown> };
  for (const p of [internal.isKnown, internal.isSecret, internal.allResources?.()]) p?.catch(() => undefined);
  try {
    await outputValue(o);
  } catch (err) {
    return err;
  }
  throw new Error("the Output did not fail");
}

/** The property paths of the `InputPropertiesError` that `fn` throws; fails when it throws none. */
export function inputProblems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(pulumi.InputPropertiesError.isInstance(err), String(err));
    return err.errors.map((e) => e.propertyPath);
  }
  return assert.fail("no error");
}
