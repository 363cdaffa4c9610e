// The TypeScript side of the twinroot.dev/v1alpha1 API. The OpenAPI schemas in
// ./schema.ts describe the same shapes for the API server; crds.test.ts and the
// integration test keep the two in step (a fully populated object survives a round trip
// through the real API server with no field pruned).

/** The API group of every twinroot resource. */
export const GROUP = "twinroot.dev";
/** The served and stored version. */
export const VERSION = "v1alpha1";
/** `apiVersion` of every twinroot object. */
export const API_VERSION = `${GROUP}/${VERSION}` as const;

/** Names of the rollout resource. */
export const ROLLOUT = { kind: "OsRollout", plural: "osrollouts", singular: "osrollout", listKind: "OsRolloutList", shortNames: ["osr"] } as const;
/** Names of the per-node resource. */
export const OSNODE = { kind: "OsNode", plural: "osnodes", singular: "osnode", listKind: "OsNodeList", shortNames: ["osn"] } as const;

/** The metadata fields twinroot reads and writes (a subset of `metav1.ObjectMeta`). */
export interface ObjectMeta {
  name?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
  finalizers?: string[];
}

/** A label selector (`metav1.LabelSelector`). */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[];
}

/** A standard condition (`metav1.Condition`). */
export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** One OS release to install. */
export interface ImageSpec {
  /** The version the image carries, e.g. `1.1.0`; compared with the booted slot's version. */
  version: string;
  /** `https://` URL of the image; `http://` only with a digest. */
  url: string;
  /** SHA-256 of the uncompressed image, 64 lower-case hex characters. */
  digest?: string;
  /** Base64 Ed25519 signature over the raw digest. */
  signature?: string;
  /** Base64 Ed25519 public key that must have made `signature`. */
  publicKey?: string;
  /** Size of the uncompressed image in bytes. */
  sizeBytes?: number;
}

/** The days of a maintenance window. */
export const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] as const;
/** A day of the week. */
export type Weekday = (typeof WEEKDAYS)[number];

/** A recurring period in which new nodes may start upgrading. */
export interface MaintenanceWindow {
  /** Days on which the window opens. */
  days: Weekday[];
  /** Local opening time, `HH:MM` (24 h). */
  start: string;
  /** How long the window stays open, a Go-style duration such as `4h` or `90m` (at most 7 days). */
  duration: string;
  /** IANA time zone of `start`, e.g. `Europe/Berlin`. Default `UTC`. */
  timeZone?: string;
}

/** What the proxy does when a drain has not finished within its timeout. */
export type DrainTimeoutAction = "GiveBack" | "DeletePods";

/** How nodes are drained before their reboot. */
export interface DrainSpec {
  /** Longest time evictions may take, a Go-style duration. Default `10m`. */
  timeout?: string;
  /** Evict pods that use `emptyDir` volumes (their data is lost). Default false: such pods block the drain. */
  deleteEmptyDirData?: boolean;
  /**
   * When the timeout passes: `GiveBack` uncordons the node and counts it failed (never a
   * silent reboot); `DeletePods` deletes the remaining pods, ignoring their disruption
   * budgets, and goes on. Default `GiveBack`.
   */
  onTimeout?: DrainTimeoutAction;
  /** Pods matching this selector are left on the node. */
  skipPodSelector?: LabelSelector;
  /** Grace period given to evicted pods; default: each pod's own. */
  gracePeriodSeconds?: number;
}

/** A Deployment that must be fully available before the next batch starts. */
export interface DeploymentCheck {
  namespace: string;
  name: string;
  /** Available replicas required; default all of `spec.replicas`. */
  minAvailable?: number;
}

/** What must hold after a node's reboot and before the next batch. */
export interface HealthCheckSpec {
  /** How long a rebooted node has to turn Ready and pass the agent's checks. Default `10m`. */
  timeout?: string;
  /** Cluster objects that must be healthy before more nodes start. */
  deployments?: DeploymentCheck[];
}

/** What happens to a node that failed its upgrade. */
export type FailedNodePolicy = "LeaveRolledBack" | "KeepCordoned";

/** The failure budget of a rollout. */
export interface FailureSpec {
  /** Failed nodes tolerated; one more halts the rollout (`Degraded`). Default 0. */
  maxFailedNodes?: number;
  /** `LeaveRolledBack` (default) uncordons a rolled-back node; `KeepCordoned` leaves it for a human. */
  failedNodePolicy?: FailedNodePolicy;
}

/** Desired state of an {@link OsRollout}. */
export interface OsRolloutSpec {
  image: ImageSpec;
  /** Nodes this rollout owns; empty selects every node. */
  nodeSelector?: LabelSelector;
  /** Nodes that may be unavailable at once, a count (≥ 1) or a percent (`"25%"`) of the selected nodes. Default 1. */
  maxUnavailable?: number | string;
  /** Start no new node; nodes in flight finish. */
  paused?: boolean;
  /** New nodes start only inside one of these windows; none means always. */
  maintenanceWindows?: MaintenanceWindow[];
  drain?: DrainSpec;
  healthCheck?: HealthCheckSpec;
  failure?: FailureSpec;
}

/** The condition types of an {@link OsRollout}. */
export type RolloutConditionType = "Progressing" | "Complete" | "Degraded" | "Paused";

/** Observed state of an {@link OsRollout}. */
export interface OsRolloutStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  /** The version the counts are about. */
  targetVersion?: string;
  total?: number;
  updated?: number;
  inProgress?: number;
  failed?: number;
  pending?: number;
  /** Nodes unavailable for any reason when last reconciled. */
  unavailable?: number;
  startTime?: string;
  completionTime?: string;
}

/** A rolling OS upgrade of the nodes a selector picks. Cluster-scoped. */
export interface OsRollout {
  apiVersion?: typeof API_VERSION;
  kind?: "OsRollout";
  metadata: ObjectMeta;
  spec: OsRolloutSpec;
  status?: OsRolloutStatus;
}

/** What the controller asks a node to run, copied from its rollout so the proxy needs nothing else. */
export interface OsNodeTarget {
  /** Name of the rollout that set this target. */
  rollout: string;
  image: ImageSpec;
  drain?: DrainSpec;
  healthCheck?: HealthCheckSpec;
  failedNodePolicy?: FailedNodePolicy;
}

/** Desired state of an {@link OsNode}: written by the controller. */
export interface OsNodeSpec {
  /** The Node this object mirrors (also its name). */
  nodeName: string;
  /** The image to install; absent means leave the node alone. */
  target?: OsNodeTarget;
}

/** The phase of a node's current or last operation. */
export const OSNODE_PHASES = ["Idle", "Staging", "Draining", "Rebooting", "Verifying", "Done", "Failed", "RolledBack"] as const;
/** A node's phase. */
export type OsNodePhase = (typeof OSNODE_PHASES)[number];

/** One root slot as the agent reports it. */
export interface SlotInfo {
  name: "A" | "B";
  version?: string;
  digest?: string;
  booted: boolean;
  good: boolean;
  triesLeft?: number;
  content?: "unknown" | "writing" | "staged" | "bad";
}

/** The operation a node is running, as recorded by its proxy. */
export interface OsNodeOperation {
  rollout: string;
  version: string;
  digest?: string;
  startedAt: string;
  /** The slot booted before the operation, where a rollback returns to. */
  fromSlot?: "A" | "B";
  fromVersion?: string;
  /** The Node's bootID when the new slot was activated; a different one means the node rebooted since. */
  bootID?: string;
  /** The new slot failed its checks and the proxy asked the agent to roll back. */
  rollingBack?: boolean;
  /** Why the operation failed, kept across the rollback reboot. */
  failure?: string;
}

/**
 * The cordon record, like kured's lock annotation: whether the node was already
 * unschedulable before the proxy cordoned it, so it never uncordons someone else's cordon.
 */
export interface CordonRecord {
  /** The node was unschedulable before the operation began. */
  preexisting: boolean;
  /** Why the proxy holds the node cordoned. */
  reason?: string;
  at: string;
}

/** Observed state of an {@link OsNode}: written by the node's proxy. */
export interface OsNodeStatus {
  observedGeneration?: number;
  phase?: OsNodePhase;
  /** Human-readable detail of the phase (why it waits, what it does). */
  message?: string;
  bootedSlot?: "A" | "B";
  bootedVersion?: string;
  bootedDigest?: string;
  slots?: SlotInfo[];
  operation?: OsNodeOperation;
  cordon?: CordonRecord;
  lastError?: string;
  lastErrorTime?: string;
  phaseTime?: string;
  completionTime?: string;
  conditions?: Condition[];
}

/** One node's OS slots and upgrade progress. Cluster-scoped, named after its Node. */
export interface OsNode {
  apiVersion?: typeof API_VERSION;
  kind?: "OsNode";
  metadata: ObjectMeta;
  spec: OsNodeSpec;
  status?: OsNodeStatus;
}
