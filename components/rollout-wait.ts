// Waiting for a rollout from `pulumi up`. pulumi-kubernetes 4.25's `pulumi.com/waitFor`
// annotation waits for a condition (and honours observedGeneration), but it cannot fail
// early: a `Degraded` rollout would only end the wait at its timeout with "timed out
// waiting for the condition". So the component waits itself, in the program, after the
// rollout resource was applied: it reads the rollout until the controller has observed
// the applied generation, then succeeds on `Complete` and fails at once, with the
// controller's reason and message, on `Degraded`.

import type { Condition, OsRollout } from "../controller/api/types";
import { ROLLOUT } from "../controller/api/types";
import { ROLLOUTS, resourcePath } from "../controller/kube/resources";
import { Kube } from "../controller/kube/rest";

/** Where a rollout stands with respect to one generation of its spec. */
export type RolloutState =
  | { phase: "waiting"; message: string }
  | { phase: "complete"; message: string }
  | { phase: "degraded"; reason: string; message: string };

const cond = (conditions: Condition[] | undefined, type: string) => conditions?.find((c) => c.type === type);

/** The state of `rollout` for `generation`: conditions written for an older generation do not count. */
export function rolloutState(rollout: OsRollout, generation: number): RolloutState {
  const s = rollout.status;
  const observed = s?.observedGeneration ?? 0;
  if (observed < generation) return { phase: "waiting", message: `the controller has not observed generation ${generation} yet (observed ${observed})` };
  const current = (c: Condition | undefined) => c && (c.observedGeneration ?? observed) >= generation;
  const degraded = cond(s?.conditions, "Degraded");
  if (current(degraded) && degraded?.status === "True") return { phase: "degraded", reason: degraded.reason, message: degraded.message };
  const complete = cond(s?.conditions, "Complete");
  if (current(complete) && complete?.status === "True") return { phase: "complete", message: complete.message };
  const progressing = cond(s?.conditions, "Progressing");
  const counts = `${s?.updated ?? 0}/${s?.total ?? 0} updated, ${s?.inProgress ?? 0} in progress, ${s?.failed ?? 0} failed`;
  return { phase: "waiting", message: progressing ? `${counts}: ${progressing.reason}: ${progressing.message}` : counts };
}

/** Thrown when a rollout halts (`Degraded`) or does not complete in time. */
export class RolloutFailedError extends Error {
  constructor(
    message: string,
    /** `Degraded` or `Timeout`. */
    readonly kind: "Degraded" | "Timeout",
    /** The controller's reason, for `Degraded`. */
    readonly reason?: string,
  ) {
    super(message);
    this.name = "RolloutFailedError";
  }
}

/** Options of {@link waitForRollout}. */
export interface WaitOptions {
  /** The rollout's name. */
  name: string;
  /** The generation `pulumi up` applied. */
  generation: number;
  /** Give up after this long. */
  timeoutMs: number;
  /** Time between reads. Default 1 s. */
  pollMs?: number;
  /** Told each new state message, for progress output. */
  onProgress?: (message: string) => void;
}

/** Reads the rollout until it is `Complete` for `generation`; throws {@link RolloutFailedError} on `Degraded` or timeout. */
export async function waitForRollout(kube: Pick<Kube, "request">, o: WaitOptions): Promise<OsRollout> {
  const deadline = Date.now() + o.timeoutMs;
  let last = "";
  for (;;) {
    const rollout = await kube.request<OsRollout>("GET", resourcePath(ROLLOUTS, { name: o.name }));
    const state = rolloutState(rollout, o.generation);
    if (state.phase === "complete") return rollout;
    if (state.phase === "degraded")
      throw new RolloutFailedError(`${ROLLOUT.kind} ${o.name} is Degraded (${state.reason}): ${state.message}`, "Degraded", state.reason);
    if (state.message !== last) o.onProgress?.(state.message);
    last = state.message;
    if (Date.now() >= deadline)
      throw new RolloutFailedError(
        `${ROLLOUT.kind} ${o.name} did not complete within ${Math.round(o.timeoutMs / 1000)}s: ${state.message} (raise rolloutTimeout, or set waitForRollout: false)`,
        "Timeout",
      );
    await new Promise((r) => setTimeout(r, Math.min(o.pollMs ?? 1000, Math.max(0, deadline - Date.now()))));
  }
}

/** A {@link Kube} client for a kubeconfig document. */
export async function kubeFor(kubeconfig: string): Promise<Kube> {
  // client-node is an ES module; the program may run as CommonJS, so load it dynamically.
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfig);
  return new Kube(kc, undefined, "twinroot-pulumi");
}
