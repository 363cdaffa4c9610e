// Rollout safety: how much of each pool a rollout may take down at once, a failure
// budget that halts a rollout before it has broken every node, drains that respect
// PodDisruptionBudgets (and never force without a fair timeout), and pools large enough
// to lose a node. Read from the rollout resources and the pools they select.

import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { parseDuration } from "../controller/api/duration";
import { resolveMaxUnavailable } from "../controller/rollout/plan";
import { describe, describePool, type Pool, pools, ROLLOUT_TYPE, rollouts, selectedPools, specField } from "./model";
import { isUnknown, plural, resourcePolicy, type StackResource, stackPolicy, type Violation } from "./pack";

const PERCENT = /^(100|[1-9][0-9]?)%$/;

/** Config of {@link checkMaxUnavailable}. */
export interface MaxUnavailableConfig {
  /** The largest share of any pool that may be unavailable at once, above 0 and at most 1. Default 0.25. */
  maxUnavailableShare: number;
}

/** The defaults of {@link MaxUnavailableConfig}. */
export const MAX_UNAVAILABLE_DEFAULTS: MaxUnavailableConfig = { maxUnavailableShare: 0.25 };

/** How many nodes of a pool of `size` may be down at once under `share`: the share rounded down, but at least 1 (else no pool of fewer than 1/share nodes could ever upgrade). */
export function allowedUnavailable(size: number, share: number): number {
  return Math.max(1, Math.floor(size * share + 1e-9));
}

const percentText = (share: number) => `${Math.round(share * 1000) / 10}%`;

/** Each rollout leaves at most `maxUnavailableShare` of every pool it selects unavailable, even when its whole budget falls in one pool. */
export function checkMaxUnavailable(resources: StackResource[], config: MaxUnavailableConfig): Violation[] {
  const share = config.maxUnavailableShare;
  const all = pools(resources);
  const out: Violation[] = [];
  for (const r of rollouts(resources)) {
    const raw = specField(r, "maxUnavailable");
    if (isUnknown(raw)) continue;
    const m = raw ?? 1;
    const at = `${describe(r.resource)}: spec.maxUnavailable ${JSON.stringify(m)}`;
    const fix = "Fix: lower UpgradePolicy maxUnavailable (programs: policy.maxUnavailable)";
    if (!(typeof m === "number" && Number.isSafeInteger(m) && m >= 1) && !(typeof m === "string" && PERCENT.test(m))) {
      out.push({
        urn: r.resource.urn,
        message: `${at} is neither a count of at least 1 nor a percent from 1% to 100%. ${fix} to a count such as 1 or a percent such as "25%".`,
      });
      continue;
    }
    if (typeof m === "string" && Number.parseInt(m, 10) / 100 > share + 1e-9) {
      out.push({
        urn: r.resource.urn,
        message: `${at} is above this stack's share of ${percentText(share)} of each pool (maxUnavailableShare). ${fix} to at most "${percentText(share)}".`,
      });
      continue;
    }
    const selected = selectedPools(r, all).filter((p) => p.size > 0);
    const total = selected.reduce((n, p) => n + p.size, 0);
    if (!total) continue;
    const budget = resolveMaxUnavailable(m, total);
    const over = selected.filter((p) => Math.min(budget, p.size) > allowedUnavailable(p.size, share));
    if (!over.length) continue;
    const most = Math.min(...selected.map((p) => allowedUnavailable(p.size, share)));
    const overText = over.map((p: Pool) => `${describePool(p)} of ${plural(p.size, "node")} allows ${allowedUnavailable(p.size, share)}`).join("; ");
    out.push({
      urn: r.resource.urn,
      message:
        `${at} lets ${plural(budget, "node")} of the ${total} selected be unavailable at once, and all of them may be in one pool, ` +
        `more than this stack's share of ${percentText(share)} (maxUnavailableShare, at least 1 node): ${overText}. ${fix} to at most ${most}, or make the pools larger.`,
    });
  }
  return out;
}

/** Config of {@link checkFailureBudget}. */
export interface FailureBudgetConfig {
  /** The largest failure budget allowed; unset allows any below the selected nodes. */
  maxFailedNodes?: number;
}

/** Each rollout sets its failure budget (`spec.failure.maxFailedNodes`), below the number of nodes it selects (and `maxFailedNodes`). */
export function checkFailureBudget(resources: StackResource[], config: FailureBudgetConfig): Violation[] {
  const all = pools(resources);
  const out: Violation[] = [];
  for (const r of rollouts(resources)) {
    const budget = specField(r, "failure", "maxFailedNodes");
    if (isUnknown(budget)) continue;
    const at = `${describe(r.resource)}: spec.failure.maxFailedNodes`;
    const fix = "Fix: set UpgradePolicy failureBudget (programs: policy.failureBudget)";
    if (budget === undefined) {
      out.push({
        urn: r.resource.urn,
        message: `${at} is not set: say how many failed nodes halt the rollout. ${fix} to the failed nodes it may tolerate, e.g. 1.`,
      });
      continue;
    }
    if (!(typeof budget === "number" && Number.isSafeInteger(budget) && budget >= 0)) {
      out.push({ urn: r.resource.urn, message: `${at} ${JSON.stringify(budget)} is not a number of nodes. ${fix} to a whole number, 0 or more.` });
      continue;
    }
    const total = selectedPools(r, all).reduce((n, p) => n + p.size, 0);
    if (total > 0 && budget >= total)
      out.push({
        urn: r.resource.urn,
        message: `${at} ${budget} is not below the ${plural(total, "node")} the rollout selects: it could fail on every node and never halt. ${fix} to at most ${total - 1}.`,
      });
    else if (config.maxFailedNodes !== undefined && budget > config.maxFailedNodes)
      out.push({
        urn: r.resource.urn,
        message: `${at} ${budget} is above this stack's maxFailedNodes ${config.maxFailedNodes}. ${fix} to at most ${config.maxFailedNodes}.`,
      });
  }
  return out;
}

function drainOf(r: StackResource): Record<string, unknown> | undefined {
  if (r.type !== ROLLOUT_TYPE) return undefined;
  const spec = r.props.spec;
  if (isUnknown(spec) || spec === null || typeof spec !== "object") return undefined;
  const drain = (spec as Record<string, unknown>).drain;
  if (isUnknown(drain)) return undefined;
  return (drain ?? {}) as Record<string, unknown>;
}

/** Config of {@link checkDrainRespectsPdbs}: none. */
export type DrainConfig = Record<string, never>;

/** A drain that times out gives the node back rather than delete pods past their PodDisruptionBudgets. */
export function checkDrainRespectsPdbs(r: StackResource, _config: DrainConfig = {}): Violation[] {
  const drain = drainOf(r);
  if (drain?.onTimeout !== "DeletePods") return [];
  return [
    {
      urn: r.urn,
      message:
        `${describe(r)}: spec.drain.onTimeout is DeletePods: when a drain times out, the pods still left are deleted past their PodDisruptionBudgets. ` +
        `Fix: set UpgradePolicy drain.respectPodDisruptionBudgets to true (programs: policy.respectPodDisruptionBudgets), so such a node is given back instead.`,
    },
  ];
}

/** Config of {@link checkForceTimeout}. */
export interface ForceTimeoutConfig {
  /** The shortest drain timeout after which pods may be force-deleted, a duration such as `5m`. Default `5m`. */
  minForceTimeout: string;
}

/** The defaults of {@link ForceTimeoutConfig}. */
export const FORCE_TIMEOUT_DEFAULTS: ForceTimeoutConfig = { minForceTimeout: "5m" };

/** A drain that force-deletes pods (`onTimeout: DeletePods`) does so only after an explicit timeout of at least `minForceTimeout`. */
export function checkForceTimeout(r: StackResource, config: ForceTimeoutConfig): Violation[] {
  const drain = drainOf(r);
  if (drain?.onTimeout !== "DeletePods" || isUnknown(drain.timeout)) return [];
  const at = `${describe(r)}: spec.drain.onTimeout is DeletePods (force)`;
  const fix = `Fix: set UpgradePolicy drain.timeout (programs: policy.drainTimeout) to at least ${config.minForceTimeout}`;
  if (drain.timeout === undefined) return [{ urn: r.urn, message: `${at} and spec.drain.timeout is not set. ${fix}.` }];
  let ms: number;
  try {
    ms = parseDuration(String(drain.timeout));
  } catch {
    return [{ urn: r.urn, message: `${at} and spec.drain.timeout ${JSON.stringify(drain.timeout)} is not a duration. ${fix}.` }];
  }
  if (ms < parseDuration(config.minForceTimeout))
    return [
      {
        urn: r.urn,
        message: `${at} after spec.drain.timeout ${drain.timeout}, shorter than this stack's minForceTimeout ${config.minForceTimeout}: evictions get no fair chance. ${fix}.`,
      },
    ];
  return [];
}

/** Config of {@link checkMinNodes}. */
export interface MinNodesConfig {
  /** The fewest machines a pool may have (a pool of 0 is a pool scaled away and allowed). Default 2. */
  minNodesPerPool: number;
}

/** The defaults of {@link MinNodesConfig}. */
export const MIN_NODES_DEFAULTS: MinNodesConfig = { minNodesPerPool: 2 };

/** Every pool has at least `minNodesPerPool` machines, so an upgrade or a failure never takes a whole pool down. */
export function checkMinNodes(resources: StackResource[], config: MinNodesConfig): Violation[] {
  const min = config.minNodesPerPool;
  return pools(resources)
    .filter((p) => p.size > 0 && p.size < min)
    .map((p) => ({
      urn: p.resource.urn,
      message:
        `${describePool(p)}: size ${p.size} is below this stack's minNodesPerPool ${min}: upgrading or losing one node takes the pool's capacity down with it. ` +
        `Fix: set the NodePool size to at least ${min} (programs: pool.${p.name}.size or lab.nodes).`,
    }));
}

/** The rollout safety policies. */
export const rolloutPolicies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  stackPolicy<MaxUnavailableConfig>(
    {
      name: "twinroot-rollout-max-unavailable",
      description: "A rollout never takes more than a configured share (default 25%, at least one node) of any pool it selects down at once.",
      enforcementLevel: "mandatory",
      configSchema: {
        properties: {
          maxUnavailableShare: {
            type: "number",
            exclusiveMinimum: 0,
            maximum: 1,
            default: 0.25,
            description: "The largest share of a pool that may be unavailable at once.",
          },
        },
      },
      defaults: MAX_UNAVAILABLE_DEFAULTS,
      remediationSteps: "Lower the UpgradePolicy maxUnavailable, or make the pools larger.",
    },
    checkMaxUnavailable,
  ),
  stackPolicy<FailureBudgetConfig>(
    {
      name: "twinroot-rollout-failure-budget",
      description: "Every rollout sets a failure budget below the number of nodes it selects, so it halts before breaking them all.",
      enforcementLevel: "mandatory",
      configSchema: { properties: { maxFailedNodes: { type: "integer", minimum: 0, description: "The largest failure budget allowed." } } },
      defaults: {},
      remediationSteps: "Set the UpgradePolicy failureBudget to the failed nodes the rollout may tolerate.",
    },
    checkFailureBudget,
  ),
  resourcePolicy<DrainConfig>(
    {
      name: "twinroot-rollout-drain-respects-pdbs",
      description: "Drains respect PodDisruptionBudgets: a node whose drain times out is given back, its pods are never deleted past their budgets.",
      enforcementLevel: "mandatory",
      defaults: {},
      remediationSteps: "Set UpgradePolicy drain.respectPodDisruptionBudgets to true.",
    },
    checkDrainRespectsPdbs,
  ),
  resourcePolicy<ForceTimeoutConfig>(
    {
      name: "twinroot-rollout-force-needs-timeout",
      description: "A drain that force-deletes pods does so only after an explicit timeout of at least minForceTimeout.",
      enforcementLevel: "mandatory",
      configSchema: {
        properties: {
          minForceTimeout: {
            type: "string",
            pattern: "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$",
            default: "5m",
            description: "Shortest timeout before pods are force-deleted.",
          },
        },
      },
      defaults: FORCE_TIMEOUT_DEFAULTS,
      remediationSteps: "Set UpgradePolicy drain.timeout to at least minForceTimeout, or stop forcing (drain.respectPodDisruptionBudgets: true).",
    },
    checkForceTimeout,
  ),
  stackPolicy<MinNodesConfig>(
    {
      name: "twinroot-pool-min-nodes",
      description: "Every pool has at least a configured number of machines (default 2).",
      enforcementLevel: "mandatory",
      configSchema: { properties: { minNodesPerPool: { type: "integer", minimum: 1, default: 2, description: "The fewest machines a pool may have." } } },
      defaults: MIN_NODES_DEFAULTS,
      remediationSteps: "Set the NodePool size to at least minNodesPerPool.",
    },
    checkMinNodes,
  ),
];
