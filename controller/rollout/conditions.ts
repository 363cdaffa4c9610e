// The rollout's status from a plan: counts and the four conditions, each with a reason
// and a message. A condition keeps its lastTransitionTime while its status stays.

import type { Condition, OsRollout, OsRolloutStatus } from "../api/types";
import type { Plan } from "./plan";

/** Sets `next` in `conditions`, keeping the old transition time when the status did not change. */
export function setCondition(conditions: Condition[] | undefined, next: Omit<Condition, "lastTransitionTime">, now: Date): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const old = i >= 0 ? list[i] : undefined;
  const cond: Condition = { ...next, lastTransitionTime: old && old.status === next.status ? old.lastTransitionTime : now.toISOString() };
  if (i >= 0) list[i] = cond;
  else list.push(cond);
  return list;
}

/** The condition of `type`, if set. */
export function getCondition(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** How many failed nodes a Degraded message names, and how much of each error it keeps. */
const NAMED_FAILURES = 3;
const ERROR_CHARS = 200;

/** `: node: error; node: error; and N more`, so whoever reads the condition (or a failed `pulumi up`) sees why. */
function failureList(p: Plan): string {
  if (!p.failures.length) return "";
  const cut = (e: string) => (e.length > ERROR_CHARS ? `${e.slice(0, ERROR_CHARS - 1)}…` : e);
  const named = p.failures.slice(0, NAMED_FAILURES).map((f) => `${f.node}: ${cut(f.error)}`);
  const more = p.failures.length - named.length;
  return `: ${named.join("; ")}${more > 0 ? `; and ${more} more` : ""}`;
}

/** The status the rollout should have after `p`. */
export function rolloutStatus(rollout: OsRollout, p: Plan, now: Date): OsRolloutStatus {
  const prev = rollout.status ?? {};
  const gen = rollout.metadata.generation ?? 0;
  const version = rollout.spec.image.version;
  const c = p.counts;
  const hold = p.hold;
  const maxFailed = rollout.spec.failure?.maxFailedNodes ?? 0;
  let conditions = prev.conditions;
  const set = (type: string, status: Condition["status"], reason: string, message: string) => {
    conditions = setCondition(conditions, { type, status, reason, message, observedGeneration: gen }, now);
  };
  const summary = `${c.updated} of ${c.total} nodes updated to ${version}, ${c.inProgress} in progress, ${c.failed} failed, ${c.unavailable} unavailable (max ${c.budget})`;

  if (p.complete) set("Progressing", "False", "Finished", summary);
  else if (hold && ["InvalidSpec", "SelectorOverlap", "NoNodesSelected", "FailureBudgetExceeded"].includes(hold.reason)) {
    set("Progressing", "False", hold.reason, hold.message);
  } else if (hold && c.inProgress === 0) set("Progressing", "False", hold.reason, hold.message);
  else set("Progressing", "True", hold ? hold.reason : "NodesStarted", hold ? `${summary}; ${hold.message}` : summary);

  if (p.complete) set("Complete", "True", c.failed ? "CompletedWithFailures" : "AllNodesUpdated", summary);
  else set("Complete", "False", hold?.reason ?? "InProgress", summary);

  if (c.failed > maxFailed)
    set("Degraded", "True", "FailureBudgetExceeded", `${c.failed} nodes failed, the failure budget is ${maxFailed}; the rollout is halted${failureList(p)}`);
  else if (hold?.reason === "InvalidSpec" || hold?.reason === "SelectorOverlap") set("Degraded", "True", hold.reason, hold.message);
  else set("Degraded", "False", c.failed ? "WithinFailureBudget" : "NoFailures", `${c.failed} of at most ${maxFailed} nodes failed`);

  if (rollout.spec.paused) set("Paused", "True", "Paused", "spec.paused is set: no new node starts, nodes in flight finish");
  else set("Paused", "False", "NotPaused", "the rollout is not paused");

  const newTarget = prev.targetVersion !== version;
  const status: OsRolloutStatus = {
    observedGeneration: gen,
    conditions,
    targetVersion: version,
    total: c.total,
    updated: c.updated,
    inProgress: c.inProgress,
    failed: c.failed,
    pending: c.pending,
    unavailable: c.unavailable,
    startTime: newTarget || !prev.startTime ? now.toISOString() : prev.startTime,
  };
  const completion = p.complete ? (!newTarget && prev.completionTime ? prev.completionTime : now.toISOString()) : undefined;
  if (completion) status.completionTime = completion;
  return status;
}
