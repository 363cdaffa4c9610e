// Consistency of pools and rollouts: the image a pool's new machines boot is the image
// its rollout targets (else every new machine boots one version and is upgraded to
// another right away, or the fleet drifts silently), and no node can be selected by two
// rollouts (the controller would hold both, not knowing which image the node should run).

import type { StackValidationPolicy } from "@pulumi/policy";
import type { LabelSelector } from "../controller/api/types";
import { describe, describePool, pools, type Rollout, rollouts, selects, specField } from "./model";
import { isUnknown, obj, type StackResource, stackPolicy, str, type Violation } from "./pack";

/** Config of {@link checkImageMatchesRollout}. */
export interface ImageMatchConfig {
  /** Whether a pool that no rollout of the stack selects is a violation (when the stack has rollouts). Default true. */
  requireRollout: boolean;
}

/** The defaults of {@link ImageMatchConfig}. */
export const IMAGE_MATCH_DEFAULTS: ImageMatchConfig = { requireRollout: true };

const short = (digest: string | undefined) => (digest ? `sha256 ${digest.slice(0, 12)}…` : "no digest");

/** Every pool boots the image of the rollout that selects it; with `requireRollout`, every pool is selected by one. */
export function checkImageMatchesRollout(resources: StackResource[], config: ImageMatchConfig): Violation[] {
  const all = rollouts(resources);
  if (!all.length) return [];
  const out: Violation[] = [];
  for (const p of pools(resources)) {
    const verdicts = all.map((r) => [r, selects(r, p)] as const);
    const selecting = verdicts.filter(([, v]) => v === true).map(([r]) => r);
    if (!selecting.length) {
      if (config.requireRollout && verdicts.every(([, v]) => v === false))
        out.push({
          urn: p.resource.urn,
          message:
            `${describePool(p)}: no OsRollout of this stack selects its nodes (labels ${JSON.stringify(p.labels)}), so they keep their image forever. ` +
            `Fix: bind the pool to a rollout (Fleet does this), or add it to a rollout's nodeSelector (twinroot.dev/pool In [..., ${p.name}]).`,
        });
      continue;
    }
    if (!p.image || p.image.unknown) continue;
    for (const r of selecting) {
      const image = specField(r, "image");
      const spec = obj(image);
      if (!spec || isUnknown(spec.version) || isUnknown(spec.digest)) continue;
      const want = { version: str(spec.version), digest: str(spec.digest) };
      const have = p.image;
      if (have.version === undefined && have.digest === undefined) continue;
      if (want.version === have.version && want.digest === have.digest) continue;
      out.push({
        urn: p.resource.urn,
        message:
          `${describePool(p)}: new machines boot ${have.version ?? "an unknown version"} (${short(have.digest)}, from ${have.from}), ` +
          `but ${describe(r.resource)} that selects the pool targets ${want.version} (${short(want.digest)}, spec.image): ` +
          `every new machine would boot one image and be upgraded to the other. Fix: give the NodePool the same OsImage as the rollout (Fleet does this).`,
      });
    }
  }
  return out;
}

type Requirement = { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values: string[] };

function requirements(s: LabelSelector | undefined): Requirement[] {
  const out: Requirement[] = Object.entries(s?.matchLabels ?? {}).map(([key, v]) => ({ key, operator: "In", values: [v] }));
  for (const e of s?.matchExpressions ?? []) out.push({ key: e.key, operator: e.operator, values: e.values ?? [] });
  return out;
}

/**
 * A label set that both selectors select, or undefined when none exists. Keys are
 * independent: each must allow being absent, or some value all its requirements accept.
 * The labels absent from the result must be absent from the node.
 */
export function overlapWitness(a: LabelSelector | undefined, b: LabelSelector | undefined): Record<string, string> | undefined {
  const reqs = [...requirements(a), ...requirements(b)];
  const witness: Record<string, string> = {};
  for (const key of new Set(reqs.map((r) => r.key))) {
    const on = reqs.filter((r) => r.key === key);
    if (on.every((r) => r.operator === "NotIn" || r.operator === "DoesNotExist")) continue;
    if (on.some((r) => r.operator === "DoesNotExist")) return undefined;
    const excluded = new Set(on.filter((r) => r.operator === "NotIn").flatMap((r) => r.values));
    const ins = on.filter((r) => r.operator === "In").map((r) => r.values);
    const candidates = ins.length ? (ins[0] ?? []).filter((v) => ins.every((s) => s.includes(v))) : [`any-${key.replace(/\W/g, "")}`];
    const value = candidates.find((v) => !excluded.has(v)) ?? (ins.length ? undefined : `${candidates[0]}-${excluded.size}`);
    if (value === undefined) return undefined;
    witness[key] = value;
  }
  return witness;
}

const selectorText = (s: LabelSelector | undefined) =>
  s && (Object.keys(s.matchLabels ?? {}).length || s.matchExpressions?.length) ? JSON.stringify(s) : "{} (every node)";

/** Config of {@link checkSelectorsDisjoint}: none. */
export type DisjointConfig = Record<string, never>;

/** No two rollouts can select the same node. */
export function checkSelectorsDisjoint(resources: StackResource[], _config: DisjointConfig = {}): Violation[] {
  const all = rollouts(resources).filter((r): r is Rollout & { selector: LabelSelector | undefined } => !isUnknown(r.selector));
  const poolList = pools(resources);
  const out: Violation[] = [];
  all.forEach((a, i) => {
    for (const b of all.slice(i + 1)) {
      const witness = overlapWitness(a.selector, b.selector);
      if (!witness) continue;
      const shared = poolList.filter((p) => selects(a, p) === true && selects(b, p) === true).map(describePool);
      const example = shared.length ? `both select ${shared.join(", ")}` : `both select a node labelled ${JSON.stringify(witness)}`;
      out.push({
        urn: b.resource.urn,
        message:
          `${describe(b.resource)} and ${describe(a.resource)}: spec.nodeSelector ${selectorText(b.selector)} and ${selectorText(a.selector)} overlap (${example}): ` +
          `the controller holds a node two rollouts select rather than guess its image. Fix: give each rollout a nodeSelector of its own pools (twinroot.dev/pool In [...]).`,
      });
    }
  });
  return out;
}

/** The consistency policies. */
export const consistencyPolicies: StackValidationPolicy[] = [
  stackPolicy<ImageMatchConfig>(
    {
      name: "twinroot-pool-image-matches-rollout",
      description: "Every pool's new machines boot the image its rollout targets, and (requireRollout) a rollout of the stack selects every pool.",
      enforcementLevel: "mandatory",
      configSchema: {
        properties: { requireRollout: { type: "boolean", default: true, description: "A pool no rollout of the stack selects is a violation." } },
      },
      defaults: IMAGE_MATCH_DEFAULTS,
      remediationSteps: "Give the NodePool the same OsImage as its rollout (Fleet does this), and select every pool by a rollout.",
    },
    checkImageMatchesRollout,
  ),
  stackPolicy<DisjointConfig>(
    {
      name: "twinroot-rollout-selectors-disjoint",
      description: "No two rollouts' node selectors can select the same node.",
      enforcementLevel: "mandatory",
      defaults: {},
      remediationSteps: "Give each rollout a nodeSelector of its own pools.",
    },
    checkSelectorsDisjoint,
  ),
];
