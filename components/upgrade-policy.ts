// UpgradePolicy: how a rollout may proceed, as the policy fields of the OsRollout
// resource (controller/api/types.ts), typed and checked, with every default written
// out so the rollout resource in the cluster says exactly what it does.

import * as pulumi from "@pulumi/pulumi";
import type { DeploymentCheck, FailedNodePolicy, LabelSelector, OsRolloutSpec, Weekday } from "../controller/api/types";
import { WEEKDAYS } from "../controller/api/types";
import { checkedBuild, checkLabels, durationProblem, type InputProblems } from "./inputs";

/** The component's type token. */
export const UPGRADE_POLICY_TYPE = "twinroot:upgrade:UpgradePolicy";

/** The policy part of an `OsRollout` spec: everything but the image and the node selector. */
export type PolicySpec = Omit<OsRolloutSpec, "image" | "nodeSelector">;

/** A recurring period in which nodes may start upgrading. */
export interface MaintenanceWindowArgs {
  /** Days the window opens, e.g. `["Sat", "Sun"]`. */
  days: Weekday[];
  /** Local opening time, `HH:MM` (24 h). */
  start: string;
  /** How long it stays open: a duration such as `4h` or `90m`, at most `168h`. */
  duration: string;
  /** IANA time zone of `start`, e.g. `Europe/Berlin`. Default `UTC`. */
  timeZone?: string;
}

/** How nodes are drained before their reboot. */
export interface DrainArgs {
  /** Longest time evictions may take: a duration such as `10m`. Default `10m`. */
  timeout?: string;
  /**
   * Respect PodDisruptionBudgets: evict through the Eviction API only and, when the
   * timeout passes, give the node back (uncordon, count it failed) rather than delete
   * pods. `false` deletes the pods still left after the timeout, ignoring their budgets.
   * Default true.
   */
  respectPodDisruptionBudgets?: boolean;
  /** Evict pods that use `emptyDir` volumes (their data is lost). Default false: such pods block the drain. */
  deleteEmptyDirData?: boolean;
  /** Pods matching this selector stay on the node (e.g. node-local daemons). Default: none. */
  skipPodSelector?: LabelSelector;
  /** Grace period given to evicted pods, 0–86400 s. Default: each pod's own. */
  gracePeriodSeconds?: number;
}

/** What must hold after a node's reboot before the next batch starts. */
export interface HealthCheckArgs {
  /** How long a rebooted node has to turn Ready and pass the agent's checks. Default `10m`. */
  timeout?: string;
  /** Deployments that must be available before more nodes start. Default: none. */
  deployments?: DeploymentCheck[];
}

/** Arguments of {@link UpgradePolicy}. */
export interface UpgradePolicyArgs {
  /**
   * Nodes that may be unavailable at once, counting nodes that are NotReady for other
   * reasons: a count of at least 1 or a percent such as `"25%"` of the selected nodes.
   * Default 1.
   */
  maxUnavailable?: pulumi.Input<number | string>;
  /**
   * Failed nodes the rollout tolerates; the next failure halts it (`Degraded`) and makes
   * `pulumi up` fail with the reason. A failed node has rolled back to its old slot by
   * itself. Default 1.
   */
  failureBudget?: pulumi.Input<number>;
  /** `LeaveRolledBack` uncordons a node that rolled back; `KeepCordoned` leaves it for a human. Default `LeaveRolledBack`. */
  failedNodePolicy?: pulumi.Input<FailedNodePolicy>;
  /** When new nodes may start; none means always. Default: none. */
  maintenanceWindows?: pulumi.Input<pulumi.Input<MaintenanceWindowArgs>[]>;
  /** Drain options. Default: 10m timeout, PodDisruptionBudgets respected, emptyDir pods block. */
  drain?: pulumi.Input<DrainArgs>;
  /** Health checks after each reboot. Default: 10m for the node to turn Ready and pass the agent's checks. */
  healthCheck?: pulumi.Input<HealthCheckArgs>;
  /** Start no new node; nodes in flight finish. Default false. */
  paused?: pulumi.Input<boolean>;
}

function timeZoneOk(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Records the problems of a label selector at `path`, for the components that take one. */
export function checkSelector(s: LabelSelector | undefined, path: string, p: InputProblems): void {
  if (!s) return;
  checkLabels(s.matchLabels, `${path}.matchLabels`, p);
  (s.matchExpressions ?? []).forEach((e, i) => {
    const at = `${path}.matchExpressions[${i}]`;
    if (!["In", "NotIn", "Exists", "DoesNotExist"].includes(e.operator)) p.add(`${at}.operator`, "must be In, NotIn, Exists or DoesNotExist");
    const needsValues = e.operator === "In" || e.operator === "NotIn";
    if (needsValues !== (e.values !== undefined && e.values.length > 0))
      p.add(`${at}.values`, needsValues ? `${e.operator} needs at least one value` : `${e.operator} takes no values: remove them`);
  });
}

/** The policy spec for plain arguments, every default filled in; records problems in `p`. */
export function policySpec(a: pulumi.Unwrap<UpgradePolicyArgs>, p: InputProblems): PolicySpec | undefined {
  const maxUnavailable = a.maxUnavailable ?? 1;
  if (typeof maxUnavailable === "number") {
    if (!(Number.isSafeInteger(maxUnavailable) && maxUnavailable >= 1))
      p.add("maxUnavailable", `${maxUnavailable} is not allowed: give a whole number of at least 1, or a percent such as "25%"`);
  } else if (!/^(100|[1-9][0-9]?)%$/.test(String(maxUnavailable)))
    p.add("maxUnavailable", `${JSON.stringify(maxUnavailable)} is not allowed: give a percent between 1% and 100% such as "25%", or a count`);
  const budget = a.failureBudget ?? 1;
  if (!(Number.isSafeInteger(budget) && budget >= 0)) p.add("failureBudget", `${budget} is not allowed: give a whole number of failed nodes, 0 or more`);
  const failedNodePolicy = a.failedNodePolicy ?? "LeaveRolledBack";
  if (failedNodePolicy !== "LeaveRolledBack" && failedNodePolicy !== "KeepCordoned")
    p.add("failedNodePolicy", `${JSON.stringify(failedNodePolicy)} is not allowed: use LeaveRolledBack or KeepCordoned`);
  const windows = a.maintenanceWindows ?? [];
  windows.forEach((w, i) => {
    const at = `maintenanceWindows[${i}]`;
    if (!Array.isArray(w.days) || w.days.length === 0) p.add(`${at}.days`, `give at least one day of ${WEEKDAYS.join(", ")}`);
    else for (const d of w.days) if (!WEEKDAYS.includes(d)) p.add(`${at}.days`, `${JSON.stringify(d)} is not a day: use ${WEEKDAYS.join(", ")}`);
    if (!/^([01][0-9]|2[0-3]):[0-5][0-9]$/.test(String(w.start))) p.add(`${at}.start`, `${JSON.stringify(w.start)} is not a time: write HH:MM, 00:00 to 23:59`);
    const d = durationProblem(w.duration);
    if (d) p.add(`${at}.duration`, d);
    if (w.timeZone !== undefined && !timeZoneOk(w.timeZone))
      p.add(`${at}.timeZone`, `${JSON.stringify(w.timeZone)} is not a time zone: use an IANA name such as Europe/Berlin`);
  });
  const drain = a.drain ?? {};
  const drainTimeout = drain.timeout ?? "10m";
  const dt = durationProblem(drainTimeout);
  if (dt) p.add("drain.timeout", dt);
  if (
    drain.gracePeriodSeconds !== undefined &&
    !(Number.isSafeInteger(drain.gracePeriodSeconds) && drain.gracePeriodSeconds >= 0 && drain.gracePeriodSeconds <= 86400)
  )
    p.add("drain.gracePeriodSeconds", `${drain.gracePeriodSeconds} is not allowed: give whole seconds from 0 to 86400`);
  checkSelector(drain.skipPodSelector, "drain.skipPodSelector", p);
  const health = a.healthCheck ?? {};
  const healthTimeout = health.timeout ?? "10m";
  const ht = durationProblem(healthTimeout);
  if (ht) p.add("healthCheck.timeout", ht);
  (health.deployments ?? []).forEach((d, i) => {
    if (!d.namespace) p.add(`healthCheck.deployments[${i}].namespace`, "give the Deployment's namespace");
    if (!d.name) p.add(`healthCheck.deployments[${i}].name`, "give the Deployment's name");
    if (d.minAvailable !== undefined && !(Number.isSafeInteger(d.minAvailable) && d.minAvailable >= 0))
      p.add(`healthCheck.deployments[${i}].minAvailable`, "give a whole number of replicas, 0 or more");
  });
  if (p.any) return undefined;
  const spec: PolicySpec = {
    maxUnavailable,
    paused: a.paused ?? false,
    drain: {
      timeout: drainTimeout,
      deleteEmptyDirData: drain.deleteEmptyDirData ?? false,
      onTimeout: (drain.respectPodDisruptionBudgets ?? true) ? "GiveBack" : "DeletePods",
    },
    healthCheck: { timeout: healthTimeout },
    failure: { maxFailedNodes: budget, failedNodePolicy },
  };
  if (drain.skipPodSelector) spec.drain = { ...spec.drain, skipPodSelector: drain.skipPodSelector };
  if (drain.gracePeriodSeconds !== undefined) spec.drain = { ...spec.drain, gracePeriodSeconds: drain.gracePeriodSeconds };
  if (health.deployments?.length) spec.healthCheck = { ...spec.healthCheck, deployments: health.deployments };
  if (windows.length) spec.maintenanceWindows = windows.map((w) => ({ ...w, days: [...w.days], timeZone: w.timeZone ?? "UTC" }));
  return spec;
}

/**
 * A rollout policy. It creates nothing by itself: `UpgradeController` writes its
 * {@link spec} into the rollout resource. The defaults are safe for production: one
 * node at a time, one tolerated failure, drains that respect PodDisruptionBudgets and
 * give a node back rather than force it.
 */
export class UpgradePolicy extends pulumi.ComponentResource {
  /** The policy fields of the rollout resource, every default written out. */
  readonly spec: pulumi.Output<PolicySpec>;

  constructor(name: string, args: UpgradePolicyArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super(UPGRADE_POLICY_TYPE, name, {}, opts);
    this.spec = checkedBuild(UPGRADE_POLICY_TYPE, name, args, policySpec);
    this.registerOutputs({ spec: this.spec });
  }
}
