// Fully populated example objects: every field of the TypeScript types set once. Tests
// use them to prove the schemas cover the types (nothing pruned by the API server).

import type { OsNode, OsRollout } from "./types";
import { API_VERSION } from "./types";

/** A rollout with every spec field set. */
export function fullRollout(name = "full"): OsRollout {
  return {
    apiVersion: API_VERSION,
    kind: "OsRollout",
    metadata: { name },
    spec: {
      image: {
        version: "1.1.0",
        url: "https://127.0.0.1:8443/images/os-1.1.0.img.zst",
        digest: "a".repeat(64),
        signature: "c2lnbmF0dXJl",
        publicKey: "cHVibGljLWtleQ==",
        sizeBytes: 1048576,
      },
      nodeSelector: { matchLabels: { pool: "workers" }, matchExpressions: [{ key: "zone", operator: "In", values: ["a", "b"] }] },
      maxUnavailable: "25%",
      paused: false,
      maintenanceWindows: [{ days: ["Mon", "Tue"], start: "22:00", duration: "4h", timeZone: "Europe/Berlin" }],
      drain: {
        timeout: "10m",
        deleteEmptyDirData: true,
        onTimeout: "DeletePods",
        skipPodSelector: { matchLabels: { "twinroot.dev/skip-drain": "true" } },
        gracePeriodSeconds: 30,
      },
      healthCheck: { timeout: "5m", deployments: [{ namespace: "default", name: "web", minAvailable: 2 }] },
      failure: { maxFailedNodes: 1, failedNodePolicy: "KeepCordoned" },
    },
  };
}

/** A per-node object with every spec field set. */
export function fullOsNode(name = "node-1"): OsNode {
  const r = fullRollout();
  return {
    apiVersion: API_VERSION,
    kind: "OsNode",
    metadata: { name },
    spec: {
      nodeName: name,
      target: {
        rollout: "full",
        image: r.spec.image,
        drain: r.spec.drain,
        healthCheck: r.spec.healthCheck,
        failedNodePolicy: "LeaveRolledBack",
      },
    },
  };
}

/** A status with every field set, for the per-node object. */
export function fullOsNodeStatus(): NonNullable<OsNode["status"]> {
  const t = "2025-01-01T00:00:00Z";
  return {
    observedGeneration: 1,
    phase: "Verifying",
    message: "waiting for the node to turn Ready",
    bootedSlot: "B",
    bootedVersion: "1.1.0",
    bootedDigest: "a".repeat(64),
    slots: [
      { name: "A", version: "1.0.0", digest: "b".repeat(64), booted: false, good: true, triesLeft: 0, content: "staged" },
      { name: "B", version: "1.1.0", digest: "a".repeat(64), booted: true, good: false, triesLeft: 2, content: "staged" },
    ],
    operation: {
      rollout: "full",
      version: "1.1.0",
      digest: "a".repeat(64),
      startedAt: t,
      fromSlot: "A",
      fromVersion: "1.0.0",
      bootID: "b00t",
      rollingBack: false,
      failure: "none",
    },
    cordon: { preexisting: false, reason: "upgrading to 1.1.0", at: t },
    lastError: "none",
    lastErrorTime: t,
    phaseTime: t,
    completionTime: t,
    conditions: [{ type: "Ready", status: "True", reason: "Booted", message: "ok", lastTransitionTime: t, observedGeneration: 1 }],
  };
}

/** A rollout status with every field set. */
export function fullRolloutStatus(): NonNullable<OsRollout["status"]> {
  const t = "2025-01-01T00:00:00Z";
  return {
    observedGeneration: 1,
    conditions: [{ type: "Progressing", status: "True", reason: "Rolling", message: "1 of 3 updated", lastTransitionTime: t, observedGeneration: 1 }],
    targetVersion: "1.1.0",
    total: 3,
    updated: 1,
    inProgress: 1,
    failed: 0,
    pending: 1,
    unavailable: 1,
    startTime: t,
    completionTime: t,
  };
}
