// The thin layer between @pulumi/policy and the pure checks of this pack. A check reads
// plain `StackResource`s and returns `Violation`s; this module turns the engine's proxied
// resources into plain values (fields unknown during preview become `UNKNOWN` instead of
// throwing, so one unknown field never silences a whole policy), fills in each policy's
// config defaults and reports what the check found.

import type {
  EnforcementLevel,
  PolicyConfigSchema,
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";

/** A value the engine does not know yet (an output of a resource still to be created, during preview). */
export const UNKNOWN: unique symbol = Symbol("unknown during preview");

/** Whether `v` is {@link UNKNOWN}. */
export function isUnknown(v: unknown): v is typeof UNKNOWN {
  return v === UNKNOWN;
}

/** One resource as the checks see it: plain props, and parent and dependencies by URN. */
export interface StackResource {
  type: string;
  urn: string;
  /** The resource's name (the last part of its URN). */
  name: string;
  /** Inputs (resource policies) or outputs (stack policies), with unknown fields as {@link UNKNOWN}. */
  props: Record<string, unknown>;
  /** URN of the parent resource, if any. */
  parent?: string;
  /** URNs of the resources each property depends on, by property name. */
  propertyDependencies?: Record<string, string[]>;
}

/** A problem a check found: what is wrong, where, and the fix. */
export interface Violation {
  /** The resource in violation; for resource policies always the one checked. */
  urn: string;
  /** Names the resource, the field and the fix. */
  message: string;
}

/** A check of one resource. */
export type ResourceCheck<C> = (r: StackResource, config: C) => Violation[];
/** A check of the whole stack. */
export type StackCheck<C> = (resources: StackResource[], config: C) => Violation[];

/** What every policy of the pack declares. */
export interface PolicyInfo<C> {
  name: string;
  description: string;
  enforcementLevel: EnforcementLevel;
  /** JSON schema of the policy's config; `defaults` must agree with its `default`s. */
  configSchema?: PolicyConfigSchema;
  /** The config used for every property the stack's policy config leaves out. */
  defaults: C;
  /** How to fix a violation, in one or two sentences (shown by the Pulumi Cloud console). */
  remediationSteps: string;
}

function isUnknownValueError(err: unknown): boolean {
  // @pulumi/policy's proxy throws this (not exported from the package root) when a field is unknown.
  return err instanceof Error && err.constructor.name === "UnknownValueError";
}

function read(obj: object, key: string | number): unknown {
  try {
    return plain((obj as Record<string | number, unknown>)[key]);
  } catch (err) {
    if (isUnknownValueError(err)) return UNKNOWN;
    throw err;
  }
}

/** A deep copy of a (proxied) property value, with unknown fields as {@link UNKNOWN}. */
export function plain(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return Array.from({ length: value.length }, (_, i) => read(value, i));
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value)) out[k] = read(value, k);
  return out;
}

function plainProps(props: Record<string, unknown>): Record<string, unknown> {
  return plain(props) as Record<string, unknown>;
}

/** The plain view of a resource handed to a resource policy. */
export function fromValidationArgs(args: Pick<ResourceValidationArgs, "type" | "urn" | "name" | "props">): StackResource {
  return { type: args.type, urn: args.urn, name: args.name, props: plainProps(args.props) };
}

/** The plain view of a resource handed to a stack policy. */
export function fromPolicyResource(r: Pick<PolicyResource, "type" | "urn" | "name" | "props" | "parent" | "propertyDependencies">): StackResource {
  const deps: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(r.propertyDependencies ?? {})) deps[k] = v.map((d) => d.urn);
  const out: StackResource = { type: r.type, urn: r.urn, name: r.name, props: plainProps(r.props), propertyDependencies: deps };
  if (r.parent) out.parent = r.parent.urn;
  return out;
}

/** The policy's config: the stack's values over the defaults. */
export function withDefaults<C extends object>(defaults: C, given: Partial<C> | undefined): C {
  const out = { ...defaults };
  for (const [k, v] of Object.entries(given ?? {})) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

function report(violations: Violation[], reportViolation: ReportViolation, urnOfResource?: string): void {
  for (const v of violations) {
    // A resource policy always reports against the resource it checked; the URN is ignored there.
    if (urnOfResource) reportViolation(v.message);
    else reportViolation(v.message, v.urn);
  }
}

// The schema's defaults are what the console shows; the code's are what runs. They must agree.
function assertDefaults<C extends object>(info: PolicyInfo<C>): void {
  for (const [k, schema] of Object.entries(info.configSchema?.properties ?? {})) {
    const given = (info.defaults as Record<string, unknown>)[k];
    if (JSON.stringify(schema.default) !== JSON.stringify(given))
      throw new Error(`policy ${info.name}: the schema default of ${k} (${JSON.stringify(schema.default)}) differs from the code's (${JSON.stringify(given)})`);
  }
}

/** A resource policy running `check` on every resource. */
export function resourcePolicy<C extends object>(info: PolicyInfo<C>, check: ResourceCheck<C>): ResourceValidationPolicy {
  assertDefaults(info);
  const { defaults, ...policy } = info;
  return {
    ...policy,
    validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
      const r = fromValidationArgs(args);
      report(check(r, withDefaults(defaults, args.getConfig<Partial<C>>())), reportViolation, r.urn);
    },
  };
}

/** A stack policy running `check` once over all resources. */
export function stackPolicy<C extends object>(info: PolicyInfo<C>, check: StackCheck<C>): StackValidationPolicy {
  assertDefaults(info);
  const { defaults, ...policy } = info;
  return {
    ...policy,
    validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
      const resources = args.resources.map(fromPolicyResource);
      report(check(resources, withDefaults(defaults, args.getConfig<Partial<C>>())), reportViolation);
    },
  };
}

/** A string field, or undefined when it is absent, unknown or not a string. */
export function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** An object field, or undefined. */
export function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** An array field, or an empty array. */
export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** A string-to-string map field (labels, metadata), dropping unknown or non-string values. */
export function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(obj(v) ?? {})) if (typeof x === "string") out[k] = x;
  return out;
}

/** `s` when n is 1, else `p`: "1 node", "2 nodes". */
export function plural(n: number, s: string, p = `${s}s`): string {
  return `${n} ${n === 1 ? s : p}`;
}
