// Where one node stands in a rollout, from its Node and OsNode alone. Pure: the
// controller calls it on objects from the informer caches.

import type { ImageSpec, OsNode, OsNodePhase } from "../api/types";

/** What the planner needs to know about one Node. */
export interface NodeView {
  name: string;
  labels: Record<string, string>;
  /** `topology.kubernetes.io/zone`, or "" when unlabelled (all such nodes form one zone). */
  zone: string;
  /** The Ready condition is True. */
  ready: boolean;
  /** `spec.unschedulable` (cordoned, by anyone). */
  unschedulable: boolean;
  /** The node's per-node object, when it exists. */
  osNode?: OsNode;
  /** Cost of moving its pods away (see cost.ts); lower goes first. */
  podCost: number;
}

/** A node's state with respect to one rollout's target image. */
export type NodeState =
  /** Boots the target and finished its operation. */
  | "updated"
  /** Failed or rolled back while upgrading to the target. */
  | "failed"
  /** Assigned to this rollout and not finished (counts against the budget). */
  | "inProgress"
  /** Assigned to an older image of this rollout that it has not begun disrupting: give it the new one. */
  | "retarget"
  /** Not started. */
  | "pending"
  /** Held by another rollout's target. */
  | "foreign";

/** Phases in which a node is being disrupted (cordoned, rebooting or checked). */
export const DISRUPTIVE_PHASES: readonly OsNodePhase[] = ["Draining", "Rebooting", "Verifying"];
const ACTIVE_PHASES: readonly OsNodePhase[] = ["Staging", ...DISRUPTIVE_PHASES];

/** Whether two images are the same release (version, and digest when both have one). */
export function sameImage(a: ImageSpec | undefined, b: ImageSpec | undefined): boolean {
  if (!a || !b) return false;
  return a.version === b.version && (a.digest ?? "") === (b.digest ?? "") && a.url === b.url;
}

function bootsImage(n: OsNode | undefined, image: ImageSpec): boolean {
  const s = n?.status;
  if (!s?.bootedVersion || s.bootedVersion !== image.version) return false;
  return !image.digest || !s.bootedDigest || s.bootedDigest === image.digest;
}

function operationIs(n: OsNode, image: ImageSpec): boolean {
  const op = n.status?.operation;
  return !!op && op.version === image.version && (op.digest ?? "") === (image.digest ?? "");
}

/** Classifies `node` for the rollout `rollout` whose current target is `image`. */
export function classify(node: NodeView, rollout: string, image: ImageSpec): NodeState {
  const n = node.osNode;
  const target = n?.spec.target;
  const phase = n?.status?.phase ?? "Idle";
  if (target && target.rollout !== rollout) {
    // A target left by a rollout that no longer selects the node still holds it while
    // the node is mid-operation; a finished one is free to take.
    return ACTIVE_PHASES.includes(phase) ? "foreign" : idle(n, image);
  }
  if (!n || !target) return idle(n, image);
  if (sameImage(target.image, image)) {
    if (operationIs(n, image) && (phase === "Failed" || phase === "RolledBack")) return "failed";
    if (bootsImage(n, image) && !ACTIVE_PHASES.includes(phase)) return "updated";
    return "inProgress";
  }
  // Superseded: the node carries an older target of this rollout.
  if (operationIs(n, target.image) && DISRUPTIVE_PHASES.includes(phase)) return "inProgress";
  // Staging the older image, or given it and not yet seen by its proxy: it already holds
  // part of the budget, so it takes the new image in the older one's place. A node whose
  // proxy saw the older target and is idle finished with it (it may never have needed an
  // operation: it already ran that version), and starts again only within the budget.
  const seen = (n.status?.observedGeneration ?? 0) >= (n.metadata.generation ?? 1);
  if (phase === "Staging" || !seen) return "retarget";
  return idle(n, image);
}

function idle(n: OsNode | undefined, image: ImageSpec): NodeState {
  return bootsImage(n, image) ? "updated" : "pending";
}

/** Whether a node counts as unavailable: NotReady, cordoned or being upgraded. */
export function isUnavailable(node: NodeView, state: NodeState): boolean {
  return !node.ready || node.unschedulable || state === "inProgress" || state === "retarget" || state === "foreign";
}
