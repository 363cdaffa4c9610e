// The proxy ⇄ agent protocol: JSON-RPC 2.0 over a Unix socket, one JSON text per line.
// This file is the one home of the message types; the proxy imports it. It holds types
// and constants only, so importing it pulls in no agent code.

import type { SlotName } from "../slots/layout";

export type { SlotName } from "../slots/layout";

/**
 * The protocol version. A client may send it as `params.protocol`; the agent refuses a
 * request for another version with {@link RPC_ERRORS.protocolMismatch}. Bumped on any
 * incompatible change of a method or a type below.
 */
export const PROTOCOL_VERSION = 1;

/** The default socket path on a node (root-owned, mode 0600). */
export const DEFAULT_SOCKET_PATH = "/run/twinroot/agent.sock";

/** The methods the agent serves. */
export const METHODS = ["status", "stage", "activate", "commit", "rollback", "reboot"] as const;

/** A method name. */
export type Method = (typeof METHODS)[number];

/** Compression of a staged image; `auto` detects it from the first bytes. */
export type Compression = "auto" | "none" | "gzip" | "zstd" | "xz";

/** Parameters common to every request. */
export interface BaseParams {
  /** The protocol version the client speaks; omitted means "whatever the agent speaks". */
  protocol?: number;
}

/** `stage`: download an image into the inactive slot and verify it. */
export interface StageParams extends BaseParams {
  /** `https://` URL of the image; `http://` only when the agent allows it and `digest` is given. */
  url: string;
  /** SHA-256 of the uncompressed image, lower-case hex. Required for HTTP and when a public key is configured. */
  digest?: string;
  /** Base64 Ed25519 signature over the 32 raw bytes of `digest`. */
  signature?: string;
  /** The version the image carries, recorded with the slot. */
  version?: string;
  /** Size of the uncompressed image in bytes, checked against the slot before writing. */
  size?: number;
  /** Default `auto`. */
  compression?: Compression;
  /** Rewrite the slot even when it already holds this digest. */
  force?: boolean;
}

/** `activate`: boot the staged slot next, with a limited number of tries. */
export interface ActivateParams extends BaseParams {
  /** Default: the staged inactive slot. Activating the booted good slot cancels a pending activation. */
  slot?: SlotName;
  /** Boot attempts before GRUB falls back by itself (1-9). Default from the agent's config. */
  tries?: number;
}

/** `commit`: mark the booted slot good after health checks pass. */
export interface CommitParams extends BaseParams {
  /** Skip the configured health checks (an operator who checked by hand). */
  skipHealthChecks?: boolean;
}

/** `rollback`: make the other good slot boot next. */
export type RollbackParams = BaseParams;

/** `reboot`: reboot the node (after the response is sent). */
export type RebootParams = BaseParams;

/** `status`: the slots and the boot selection. */
export type StatusParams = BaseParams;

/** What the agent knows about a slot's content. */
export type SlotContentState = "unknown" | "writing" | "staged" | "bad";

/** One slot in `status`. */
export interface SlotStatus {
  name: SlotName;
  /** Device node, e.g. `/dev/vda3`. */
  device: string;
  sizeBytes: number;
  /** Whether this is the running slot. */
  booted: boolean;
  /** Committed: GRUB boots it without counting. */
  good: boolean;
  /** Boot attempts left for an uncommitted slot. */
  triesLeft: number;
  /** Content as recorded by the agent (`unknown` for a slot it never wrote). */
  content: SlotContentState;
  version?: string;
  digest?: string;
  /** Why the last stage into this slot failed. */
  lastError?: string;
}

/** The operation the agent is running, if any. */
export interface OperationStatus {
  method: Method;
  startedAt: string;
  /** For `stage`: uncompressed bytes written so far. */
  bytesWritten?: number;
}

/** Result of `status`. */
export interface StatusResult {
  protocol: number;
  agentVersion: string;
  disk: string;
  /** The running slot, or null when the agent cannot tell (not booted from this disk). */
  bootedSlot: SlotName | null;
  /** The first slot in the boot order. */
  primary: SlotName;
  /** The slot GRUB will pick at the next boot, by the same rules as `grub.cfg`. */
  nextBoot: SlotName;
  slots: Record<SlotName, SlotStatus>;
  operation: OperationStatus | null;
}

/** Result of `stage`. */
export interface StageResult {
  slot: SlotName;
  digest: string;
  bytes: number;
  /** False when the slot already held the digest and nothing was written. */
  written: boolean;
  /** Bytes taken from a checkpoint of an interrupted stage instead of downloaded again. */
  resumedFrom: number;
  /**
   * Milliseconds spent downloading, writing and reading back (each written part is read
   * back during the download), in the final fsync, and reading back after it (only on a
   * device that refused O_DIRECT).
   */
  timings?: { writeMs: number; syncMs: number; verifyMs: number };
}

/** Result of `activate`. */
export interface ActivateResult {
  slot: SlotName;
  tries: number;
  changed: boolean;
}

/** Result of `commit`. */
export interface CommitResult {
  slot: SlotName;
  changed: boolean;
  checks: HealthCheckResult[];
}

/** Result of `rollback`. */
export interface RollbackResult {
  slot: SlotName;
  changed: boolean;
}

/** Result of `reboot`. */
export interface RebootResult {
  scheduled: true;
}

/** One health check's outcome. */
export interface HealthCheckResult {
  name: string;
  ok: boolean;
  detail?: string;
}

/** Parameters and results by method, for typed clients. */
export interface MethodMap {
  status: { params: StatusParams; result: StatusResult };
  stage: { params: StageParams; result: StageResult };
  activate: { params: ActivateParams; result: ActivateResult };
  commit: { params: CommitParams; result: CommitResult };
  rollback: { params: RollbackParams; result: RollbackResult };
  reboot: { params: RebootParams; result: RebootResult };
}

/** What went wrong, as `error.data.code` of a JSON-RPC error. */
export type AgentErrorCode =
  | "invalid-params"
  | "busy"
  | "config"
  | "disk-not-found"
  | "layout"
  | "grubenv"
  | "state"
  | "unknown-booted-slot"
  | "booted-slot-not-good"
  | "not-staged"
  | "no-good-slot"
  | "http-refused"
  | "download-failed"
  | "decompress-failed"
  | "digest-mismatch"
  | "signature-invalid"
  | "slot-too-small"
  | "no-space"
  | "write-failed"
  | "verify-failed"
  | "health-check-failed"
  | "reboot-failed"
  | "internal";

/** JSON-RPC error codes: the spec's, and one server-defined code for agent errors. */
export const RPC_ERRORS = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** An operation failed; `data.code` says why. */
  agentError: -32000,
  /** `params.protocol` is not {@link PROTOCOL_VERSION}. */
  protocolMismatch: -32001,
} as const;

/** A JSON-RPC 2.0 request (a notification has no `id`). */
export interface RpcRequest {
  jsonrpc: "2.0";
  id?: string | number | null;
  method: string;
  params?: unknown;
}

/** The `data` of an agent error. */
export interface AgentErrorData {
  code: AgentErrorCode;
}

/** A JSON-RPC 2.0 error object. */
export interface RpcErrorObject {
  code: number;
  message: string;
  data?: AgentErrorData;
}

/** A JSON-RPC 2.0 response. */
export type RpcResponse =
  | { jsonrpc: "2.0"; id: string | number | null; result: unknown }
  | { jsonrpc: "2.0"; id: string | number | null; error: RpcErrorObject };
