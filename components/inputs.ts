// Input checking shared by the components: problems are collected per field and thrown
// together as one `pulumi.InputPropertiesError`, one `propertyPath` per field, so
// `pulumi preview` names every bad field and its fix at once instead of the first one.

import * as pulumi from "@pulumi/pulumi";
import { parseDuration } from "../controller/api/duration";

/** Collects input problems of one component, each with the path of its field. */
export class InputProblems {
  /** The problems so far, in the order found. */
  readonly list: pulumi.InputPropertyErrorDetails[] = [];

  /** Records that the field at `propertyPath` (e.g. `drain.timeout`) is wrong and why, with the fix. */
  add(propertyPath: string, reason: string): void {
    this.list.push({ propertyPath, reason });
  }

  /** Whether any problem was recorded. */
  get any(): boolean {
    return this.list.length > 0;
  }
}

/**
 * The one error a component throws for its bad inputs. Its message lists every field,
 * so it reads well where the engine prints only the message; `errors` carries the same
 * problems structured, for the engine and for tests.
 */
export function inputError(type: string, name: string, problems: readonly pulumi.InputPropertyErrorDetails[]): pulumi.InputPropertiesError {
  const lines = problems.map((p) => `  - ${p.propertyPath}: ${p.reason}`).join("\n");
  const err = new pulumi.InputPropertiesError({
    message: `${type} "${name}" has ${problems.length} invalid input${problems.length === 1 ? "" : "s"}:\n${lines}`,
    errors: [...problems],
  });
  // The stack points into this library, not at the user's mistake: the message is the report.
  err.stack = `${err.name}: ${err.message}`;
  return err;
}

/** Whether `value` holds no `Output` or promise anywhere, so it can be checked right now. */
export function isKnown(value: unknown): boolean {
  if (value === null || typeof value !== "object") return true;
  if (pulumi.Output.isInstance(value) || value instanceof Promise) return false;
  if (pulumi.Resource.isInstance(value)) return true;
  if (Array.isArray(value)) return value.every(isKnown);
  return Object.values(value as Record<string, unknown>).every(isKnown);
}

/**
 * Builds a component's plain result from `args` with `build`, which records the input
 * problems it finds. When every input is already known (stack config, literals) this
 * runs now and throws at construction; when some are Outputs it runs once they resolve
 * (still during preview when they are known then), and the error fails every resource
 * built from the result. The result is secret whenever any input is.
 */
export function checkedBuild<T extends object, R>(
  type: string,
  name: string,
  args: T,
  build: (plain: pulumi.Unwrap<T>, problems: InputProblems) => R | undefined,
): pulumi.Output<R> {
  const run = (plain: pulumi.Unwrap<T>): R => {
    const problems = new InputProblems();
    const result = build(plain, problems);
    if (problems.any || result === undefined) throw inputError(type, name, problems.list);
    return result;
  };
  if (isKnown(args)) {
    const result = run(args as unknown as pulumi.Unwrap<T>);
    return pulumi.output(args).apply(() => result);
  }
  return pulumi.output(args).apply(run);
}

/** {@link checkedBuild} for a check that only records problems: the result is the plain inputs. */
export function checkedInputs<T extends object>(
  type: string,
  name: string,
  args: T,
  check: (plain: pulumi.Unwrap<T>, problems: InputProblems) => void,
): pulumi.Output<pulumi.Unwrap<T>> {
  return checkedBuild(type, name, args, (plain, p) => {
    check(plain, p);
    return plain;
  });
}

/** Why `text` is not a Go-style duration (`90s`, `10m`, `1h30m`) the CRDs accept (above 0, at most `maxHours`), or undefined. */
export function durationProblem(text: unknown, maxHours = 168): string | undefined {
  let ms: number;
  try {
    if (typeof text !== "string") throw new Error("not a string");
    ms = parseDuration(text);
  } catch {
    return `${JSON.stringify(text)} is not a duration: write it like 90s, 10m or 1h30m`;
  }
  if (ms <= 0) return "must be longer than 0s";
  if (ms > maxHours * 3_600_000) return `must be at most ${maxHours}h`;
  return undefined;
}

/** A Kubernetes label key (optional DNS prefix, then a name of at most 63 characters). */
export const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** A Kubernetes label value (empty, or at most 63 characters). */
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
/** A DNS-1123 label: Namespace and Service names. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A DNS-1123 subdomain: names of most objects, custom resources included. */
export const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Records a problem for every label whose key or value Kubernetes would refuse. */
export function checkLabels(labels: Record<string, string> | undefined, path: string, problems: InputProblems): void {
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (!LABEL_KEY.test(k))
      problems.add(`${path}`, `label key ${JSON.stringify(k)} is invalid: use [prefix/]name with a name of at most 63 letters, digits, - _ .`);
    if (typeof v !== "string" || !LABEL_VALUE.test(v))
      problems.add(`${path}.${k}`, `label value ${JSON.stringify(v)} is invalid: use at most 63 letters, digits, - _ . starting and ending alphanumeric`);
  }
}
