// The proxy's state machine for one node, one step per call. Every step reads where the
// node stands (its OsNode, its Node, the agent's slots), records what it is about to do
// in the OsNode status first, then does it; so a proxy restarted at any point, or a
// node that rebooted, resumes from the API and the agent alone.
//
// Idle/Done → Staging (download while the node still serves) → Draining (cordon, evict)
// → Rebooting (activate, reboot) → Verifying (Ready, agent commit) → Done;
// a failure after the drain → rollback and reboot → RolledBack; before it → Failed.

import type { V1Node } from "@kubernetes/client-node";
import type { StatusResult } from "../../node-agent/rpc/protocol";
import { durationOr } from "../api/duration";
import type { ImageSpec, OsNode, OsNodePhase, OsNodeStatus } from "../api/types";
import type { Kube } from "../kube/rest";
import { nodeReady } from "../rollout/reconciler";
import { AgentCallError, type AgentClient } from "./agent-client";
import { deletePods, drainPass, setUnschedulable } from "./drain";

/** What one step can see and touch. */
export interface StepContext {
  kube: Kube;
  agent: AgentClient;
  osNode: OsNode;
  node: V1Node;
  now: Date;
  /** Writes the status (optimistic concurrency) and returns the written object. */
  writeStatus(status: OsNodeStatus): Promise<OsNode>;
  /** Records an Event about the OsNode. */
  event(type: "Normal" | "Warning", reason: string, message: string): void;
}

/** What the caller should do after a step. */
export interface StepResult {
  /** Run again after this long (level-triggered steps that wait on something). */
  requeueAfterMs?: number;
  /** The step changed something; run again at once. */
  again?: boolean;
}

/** Agent errors that retrying the same stage cannot fix. */
const PERMANENT_STAGE_ERRORS = new Set(["digest-mismatch", "signature-invalid", "slot-too-small", "http-refused", "invalid-params"]);

function sameImage(a: { version: string; digest?: string }, b: { version: string; digest?: string }): boolean {
  return a.version === b.version && (a.digest ?? "") === (b.digest ?? "");
}

/** The OsNode status fields that mirror the agent. */
export function slotStatus(agent: StatusResult): Pick<OsNodeStatus, "bootedSlot" | "bootedVersion" | "bootedDigest" | "slots"> {
  const booted = agent.bootedSlot ? agent.slots[agent.bootedSlot] : undefined;
  const out: Pick<OsNodeStatus, "bootedSlot" | "bootedVersion" | "bootedDigest" | "slots"> = {
    slots: (["A", "B"] as const).map((name) => {
      const s = agent.slots[name];
      const slot: NonNullable<OsNodeStatus["slots"]>[number] = { name, booted: s.booted, good: s.good, triesLeft: s.triesLeft, content: s.content };
      if (s.version) slot.version = s.version;
      if (s.digest) slot.digest = s.digest;
      return slot;
    }),
  };
  if (agent.bootedSlot) out.bootedSlot = agent.bootedSlot;
  if (booted?.version) out.bootedVersion = booted.version;
  if (booted?.digest) out.bootedDigest = booted.digest;
  return out;
}

/** Runs one step for the node. */
export async function step(ctx: StepContext): Promise<StepResult> {
  const agent = await ctx.agent.status();
  const prev = ctx.osNode.status ?? {};
  const base: OsNodeStatus = { ...prev, ...slotStatus(agent), observedGeneration: ctx.osNode.metadata.generation };
  const at = ctx.now.toISOString();
  const phase = prev.phase ?? "Idle";
  const set = async (next: Partial<OsNodeStatus> & { phase: OsNodePhase }) => {
    const status: OsNodeStatus = { ...base, ...next, phaseTime: next.phase !== phase ? at : (prev.phaseTime ?? at) };
    for (const k of Object.keys(next) as (keyof OsNodeStatus)[]) if (next[k] === undefined) delete status[k];
    ctx.osNode = await ctx.writeStatus(status);
    return ctx.osNode;
  };
  const target = ctx.osNode.spec.target;
  const op = prev.operation;
  const booted = agent.bootedSlot ? agent.slots[agent.bootedSlot] : undefined;
  const boots = (img: { version: string; digest?: string }) =>
    !!booted && booted.version === img.version && (!img.digest || !booted.digest || booted.digest === img.digest);
  const rebootedSince = !!op?.bootID && op.bootID !== ctx.node.status?.nodeInfo?.bootID;

  // An operation past its drain finishes whatever the target says now.
  if (op && (phase === "Rebooting" || phase === "Verifying")) {
    const opImage = { version: op.version, digest: op.digest };
    if (op.rollingBack) {
      if (!rebootedSince) return reboot(ctx, set, prev, agent, at);
      const why = op.failure ?? "rolled back";
      ctx.event("Warning", "RolledBack", `upgrade to ${op.version} failed: ${why}; the node runs ${booted?.version ?? "?"} again`);
      return finish(ctx, set, prev, "RolledBack", why);
    }
    if (boots(opImage) && booted?.good) return finish(ctx, set, prev, "Done", `running ${op.version}`);
    if (boots(opImage)) return verify(ctx, set, prev, at);
    if (!rebootedSince) return reboot(ctx, set, prev, agent, at);
    const why = op.failure ?? `the new slot did not come up; the node booted ${booted?.version ?? "?"} again`;
    ctx.event("Warning", "RolledBack", `upgrade to ${op.version} failed: ${why}`);
    return finish(ctx, set, prev, "RolledBack", why);
  }
  if (!target) {
    if (prev.cordon && !prev.cordon.preexisting && phase === "Draining") await release(ctx);
    if (phase === "Draining" || phase === "Staging") {
      await set({ phase: "Idle", message: "no target", cordon: undefined });
      return {};
    }
    if (JSON.stringify(base) !== JSON.stringify(prev)) await set({ phase });
    return {};
  }
  const img: ImageSpec = target.image;
  const opIsTarget = !!op && sameImage(op, img);
  if (opIsTarget && (phase === "Failed" || phase === "RolledBack")) {
    if (JSON.stringify(base) !== JSON.stringify(prev)) await set({ phase });
    return {};
  }
  if (boots(img) && booted?.good) {
    if (phase !== "Done" || prev.cordon) return finish(ctx, set, prev, "Done", `running ${img.version}`);
    if (JSON.stringify(base) !== JSON.stringify(prev)) await set({ phase });
    return {};
  }
  if (phase === "Draining" && opIsTarget) return drain(ctx, set, prev, at);
  if (phase === "Draining" && prev.cordon && !prev.cordon.preexisting) await release(ctx);
  return stage(ctx, set, prev, agent, img, at);
}

type Setter = (next: Partial<OsNodeStatus> & { phase: OsNodePhase }) => Promise<OsNode>;

async function release(ctx: StepContext): Promise<void> {
  ctx.node = await setUnschedulable(ctx.kube, ctx.node.metadata?.name ?? "", false, ctx.node);
}

/** Ends an operation: gives the node back unless someone else had cordoned it (or the policy keeps failed nodes cordoned). */
async function finish(ctx: StepContext, set: Setter, prev: OsNodeStatus, phase: OsNodePhase, message: string): Promise<StepResult> {
  const failed = phase !== "Done";
  const keep = failed && ctx.osNode.spec.target?.failedNodePolicy === "KeepCordoned";
  if (prev.cordon && !prev.cordon.preexisting && !keep) await release(ctx);
  const at = ctx.now.toISOString();
  await set({
    phase,
    message,
    cordon: keep && prev.cordon ? { ...prev.cordon, reason: `kept cordoned after a failed upgrade: ${message}` } : undefined,
    completionTime: at,
    ...(failed ? { lastError: message, lastErrorTime: at } : {}),
  });
  if (!failed) ctx.event("Normal", "Upgraded", message);
  return {};
}

async function stage(ctx: StepContext, set: Setter, prev: OsNodeStatus, agent: StatusResult, img: ImageSpec, at: string): Promise<StepResult> {
  const target = ctx.osNode.spec.target;
  const fresh = !(prev.phase === "Staging" && prev.operation && sameImage(prev.operation, img));
  if (fresh) {
    await set({
      phase: "Staging",
      message: `staging ${img.version}`,
      cordon: undefined,
      operation: {
        rollout: target?.rollout ?? "",
        version: img.version,
        ...(img.digest ? { digest: img.digest } : {}),
        startedAt: at,
        ...(agent.bootedSlot ? { fromSlot: agent.bootedSlot } : {}),
        ...(prev.bootedVersion ? { fromVersion: prev.bootedVersion } : {}),
      },
    });
  }
  try {
    await ctx.agent.stage({
      url: img.url,
      digest: img.digest,
      signature: img.signature,
      version: img.version,
      size: img.sizeBytes,
    });
  } catch (err) {
    if (err instanceof AgentCallError && PERMANENT_STAGE_ERRORS.has(err.code)) {
      ctx.event("Warning", "StageFailed", err.message);
      await set({ phase: "Failed", message: "staging failed", lastError: err.message, lastErrorTime: at, completionTime: at });
      return {};
    }
    throw new Error(`stage ${img.version}: ${(err as Error).message}`, { cause: err });
  }
  // Record the cordon before making it, so a crash in between still knows whose it is.
  const preexisting = ctx.node.spec?.unschedulable === true;
  const op = ctx.osNode.status?.operation;
  await set({
    phase: "Draining",
    message: `draining for ${img.version}`,
    cordon: { preexisting, reason: `upgrading to ${img.version}`, at },
    ...(op ? { operation: op } : {}),
  });
  ctx.node = await setUnschedulable(ctx.kube, ctx.node.metadata?.name ?? "", true, ctx.node);
  ctx.event("Normal", "Draining", `staged ${img.version}; cordoned${preexisting ? " (already cordoned by someone else)" : ""} and draining`);
  return { again: true };
}

async function drain(ctx: StepContext, set: Setter, prev: OsNodeStatus, at: string): Promise<StepResult> {
  const name = ctx.node.metadata?.name ?? "";
  const spec = ctx.osNode.spec.target?.drain ?? {};
  ctx.node = await setUnschedulable(ctx.kube, name, true, ctx.node);
  const pass = await drainPass(ctx.kube, name, spec);
  const started = new Date(prev.phaseTime ?? at).getTime();
  const timedOut = ctx.now.getTime() - started >= durationOr(spec.timeout, "10m");
  if (pass.remaining.length === 0) return toReboot(ctx, set, prev);
  if (!timedOut) {
    const why = pass.refused.length
      ? `pods with emptyDir data block the drain: ${pass.refused.join(", ")}`
      : pass.blockedByBudget.length
        ? `disruption budgets hold ${pass.blockedByBudget.join(", ")}`
        : `waiting for ${pass.remaining.length} pods to terminate`;
    if (why !== prev.message) await set({ phase: "Draining", message: why });
    return { requeueAfterMs: 1000 };
  }
  if ((spec.onTimeout ?? "GiveBack") === "DeletePods") {
    ctx.event("Warning", "DrainTimedOut", `drain timed out; deleting the remaining pods ${pass.remaining.join(", ")} as the policy says`);
    await deletePods(ctx.kube, pass.remaining, spec.gracePeriodSeconds);
    await set({ phase: "Draining", message: `drain timed out; deleted ${pass.remaining.length} remaining pods` });
    return { requeueAfterMs: 500 };
  }
  const why = `drain timed out with ${pass.remaining.join(", ")} still on the node; the node is given back without a reboot`;
  ctx.event("Warning", "DrainTimedOut", why);
  if (prev.cordon && !prev.cordon.preexisting) await release(ctx);
  await set({ phase: "Failed", message: why, cordon: undefined, lastError: why, lastErrorTime: at, completionTime: at });
  return {};
}

async function toReboot(ctx: StepContext, set: Setter, prev: OsNodeStatus): Promise<StepResult> {
  const op = prev.operation;
  if (!op) throw new Error("drain finished without an operation in the status");
  // The bootID tells a later step whether the reboot has happened.
  await set({ phase: "Rebooting", message: `activating ${op.version} and rebooting`, operation: { ...op, bootID: ctx.node.status?.nodeInfo?.bootID ?? "" } });
  return { again: true };
}

async function reboot(ctx: StepContext, set: Setter, prev: OsNodeStatus, agent: StatusResult, at: string): Promise<StepResult> {
  const op = prev.operation;
  if (!op) return {};
  if (!op.rollingBack) {
    const inactive = agent.bootedSlot === "A" ? "B" : "A";
    const s = agent.slots[inactive];
    if (s.digest !== op.digest && s.version !== op.version) {
      const why = `slot ${inactive} no longer holds ${op.version}`;
      await set({ phase: "Rebooting", message: why, operation: { ...op, rollingBack: true, failure: why } });
    } else {
      await ctx.agent.activate({ slot: inactive });
    }
  }
  ctx.event("Normal", "Rebooting", op.rollingBack ? `rolling back: ${op.failure}` : `rebooting into ${op.version}`);
  await ctx.agent.reboot();
  if (prev.phase !== "Rebooting") await set({ phase: "Rebooting", message: `rebooting at ${at}` });
  return { requeueAfterMs: 2000 };
}

async function verify(ctx: StepContext, set: Setter, prev: OsNodeStatus, at: string): Promise<StepResult> {
  const op = prev.operation;
  if (!op) return {};
  const timeout = durationOr(ctx.osNode.spec.target?.healthCheck?.timeout, "10m");
  const since = new Date(prev.phase === "Verifying" ? (prev.phaseTime ?? at) : at).getTime();
  if (prev.phase !== "Verifying") await set({ phase: "Verifying", message: `booted ${op.version}; checking health` });
  let failure: string | undefined;
  if (!nodeReady(ctx.node)) {
    if (ctx.now.getTime() - since < timeout) return { requeueAfterMs: 1000 };
    failure = `the node did not turn Ready within ${ctx.osNode.spec.target?.healthCheck?.timeout ?? "10m"}`;
  } else {
    try {
      await ctx.agent.commit();
      return finish(ctx, set, prev, "Done", `running ${op.version}`);
    } catch (err) {
      if (!(err instanceof AgentCallError) || err.code === "transport") throw err;
      failure = err.message;
    }
  }
  ctx.event("Warning", "HealthCheckFailed", `${op.version}: ${failure}; rolling back`);
  await ctx.agent.rollback();
  await set({
    phase: "Rebooting",
    message: `rolling back: ${failure}`,
    operation: { ...op, rollingBack: true, failure, bootID: ctx.node.status?.nodeInfo?.bootID ?? "" },
  });
  return { again: true };
}
