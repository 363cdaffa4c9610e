// Structural OpenAPI v3 schemas of the twinroot.dev/v1alpha1 resources, in wire format
// (the keys the API server reads, `x-kubernetes-*` included). The CEL rules carry
// messages that name the field, so `kubectl apply` of a bad object says what is wrong.

/** A CEL validation rule (`x-kubernetes-validations` item). */
export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
}

/** The subset of `JSONSchemaProps` these schemas use, keyed as on the wire. */
export interface JSONSchema {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  description?: string;
  properties?: Record<string, JSONSchema>;
  required?: string[];
  items?: JSONSchema;
  additionalProperties?: JSONSchema;
  enum?: string[];
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  default?: unknown;
  nullable?: boolean;
  "x-kubernetes-int-or-string"?: true;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-map-type"?: "atomic" | "granular";
  "x-kubernetes-preserve-unknown-fields"?: true;
  "x-kubernetes-validations"?: ValidationRule[];
}

const str = (description: string, extra: Partial<JSONSchema> = {}): JSONSchema => ({ type: "string", description, ...extra });
const obj = (description: string, properties: Record<string, JSONSchema>, extra: Partial<JSONSchema> = {}): JSONSchema => ({
  type: "object",
  description,
  properties,
  ...extra,
});

/** A Go-style duration of hours, minutes and seconds (`90s`, `10m`, `1h30m`). */
const DURATION_PATTERN = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";

const duration = (description: string, max = "168h"): JSONSchema =>
  str(description, {
    maxLength: 16,
    "x-kubernetes-validations": [
      {
        rule: `self.matches('${DURATION_PATTERN}') && self != '' && duration(self) > duration('0s') && duration(self) <= duration('${max}')`,
        message: `must be a duration such as 90s, 10m or 1h30m, greater than 0 and at most ${max}`,
      },
    ],
  });

/** `metav1.LabelSelector`. */
export const labelSelectorSchema = (description: string): JSONSchema =>
  obj(
    description,
    {
      matchLabels: { type: "object", additionalProperties: { type: "string", maxLength: 63 } },
      matchExpressions: {
        type: "array",
        maxItems: 32,
        "x-kubernetes-list-type": "atomic",
        items: obj(
          "A label requirement.",
          {
            key: str("The label key.", { maxLength: 317 }),
            operator: str("How the key relates to the values.", { enum: ["In", "NotIn", "Exists", "DoesNotExist"] }),
            values: { type: "array", maxItems: 64, "x-kubernetes-list-type": "atomic", items: { type: "string", maxLength: 63 } },
          },
          {
            required: ["key", "operator"],
            "x-kubernetes-validations": [
              {
                rule: "(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)",
                message: "values must be non-empty for In and NotIn and absent for Exists and DoesNotExist",
              },
            ],
          },
        ),
      },
    },
    { "x-kubernetes-map-type": "atomic" },
  );

/** `metav1.Condition`, as a list-map keyed by type. */
export const conditionsSchema: JSONSchema = {
  type: "array",
  description: "Observations of the object's state; one per type.",
  "x-kubernetes-list-type": "map",
  "x-kubernetes-list-map-keys": ["type"],
  maxItems: 16,
  items: obj(
    "A condition.",
    {
      type: str("Condition type, e.g. Progressing.", { maxLength: 316 }),
      status: str("True, False or Unknown.", { enum: ["True", "False", "Unknown"] }),
      reason: str("CamelCase reason.", { maxLength: 1024 }),
      message: str("Human-readable detail.", { maxLength: 32768 }),
      lastTransitionTime: str("When status last changed.", { format: "date-time" }),
      observedGeneration: { type: "integer", minimum: 0 },
    },
    { required: ["type", "status", "reason", "message", "lastTransitionTime"] },
  ),
};

/** The image of a release (`ImageSpec`). */
export const imageSchema: JSONSchema = obj(
  "The OS image to install.",
  {
    version: str("The version the image carries, compared with the booted slot's version.", { minLength: 1, maxLength: 128 }),
    url: str("https:// URL of the image; http:// only together with a digest.", {
      maxLength: 2048,
      "x-kubernetes-validations": [{ rule: "self.startsWith('https://') || self.startsWith('http://')", message: "url must be an http:// or https:// URL" }],
    }),
    digest: str("SHA-256 of the uncompressed image, 64 lower-case hex characters.", {
      maxLength: 64,
      "x-kubernetes-validations": [{ rule: "self.matches('^[0-9a-f]{64}$')", message: "digest must be 64 lower-case hex characters (a SHA-256)" }],
    }),
    signature: str("Base64 Ed25519 signature over the raw digest.", { maxLength: 256 }),
    publicKey: str("Base64 Ed25519 public key that must have made the signature.", { maxLength: 256 }),
    sizeBytes: { type: "integer", minimum: 1, description: "Size of the uncompressed image in bytes." },
  },
  {
    required: ["version", "url"],
    "x-kubernetes-validations": [
      {
        rule: "!self.url.startsWith('http://') || has(self.digest)",
        message: "an http:// url needs a digest",
        fieldPath: ".digest",
        reason: "FieldValueRequired",
      },
      { rule: "!has(self.signature) || has(self.digest)", message: "a signature needs a digest", fieldPath: ".digest", reason: "FieldValueRequired" },
      { rule: "!has(self.publicKey) || has(self.signature)", message: "a publicKey needs a signature", fieldPath: ".signature", reason: "FieldValueRequired" },
    ],
  },
);

/** Drain options (`DrainSpec`). */
export const drainSchema: JSONSchema = obj("How nodes are drained before their reboot.", {
  timeout: duration("Longest time evictions may take. Default 10m."),
  deleteEmptyDirData: { type: "boolean", description: "Evict pods with emptyDir volumes (their data is lost). Default false." },
  onTimeout: str("GiveBack uncordons the node and counts it failed; DeletePods deletes the remaining pods. Default GiveBack.", {
    enum: ["GiveBack", "DeletePods"],
  }),
  skipPodSelector: labelSelectorSchema("Pods matching this selector are left on the node."),
  gracePeriodSeconds: { type: "integer", minimum: 0, maximum: 86400, description: "Grace period of evicted pods; default each pod's own." },
});

/** Health checks (`HealthCheckSpec`). */
export const healthCheckSchema: JSONSchema = obj("What must hold after a reboot and before the next batch.", {
  timeout: duration("How long a rebooted node has to turn Ready and pass the agent's checks. Default 10m."),
  deployments: {
    type: "array",
    maxItems: 32,
    "x-kubernetes-list-type": "atomic",
    items: obj(
      "A Deployment that must be available.",
      {
        namespace: str("Namespace.", { minLength: 1, maxLength: 63 }),
        name: str("Name.", { minLength: 1, maxLength: 253 }),
        minAvailable: { type: "integer", minimum: 0, description: "Available replicas required; default all." },
      },
      { required: ["namespace", "name"] },
    ),
  },
});

const failedNodePolicySchema = str("LeaveRolledBack uncordons a rolled-back node; KeepCordoned leaves it cordoned for a human.", {
  enum: ["LeaveRolledBack", "KeepCordoned"],
});

/** A maintenance window (`MaintenanceWindow`). */
export const maintenanceWindowSchema: JSONSchema = obj(
  "A recurring period in which new nodes may start upgrading.",
  {
    days: {
      type: "array",
      minItems: 1,
      maxItems: 7,
      "x-kubernetes-list-type": "set",
      items: str("A day of the week.", { enum: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] }),
    },
    start: str("Local opening time, HH:MM (24 h).", {
      maxLength: 5,
      "x-kubernetes-validations": [{ rule: "self.matches('^([01][0-9]|2[0-3]):[0-5][0-9]$')", message: "start must be HH:MM between 00:00 and 23:59" }],
    }),
    duration: duration("How long the window stays open, e.g. 4h (at most 168h)."),
    timeZone: str("IANA time zone of start, e.g. Europe/Berlin. Default UTC.", {
      maxLength: 64,
      "x-kubernetes-validations": [
        { rule: "self.matches('^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$')", message: "timeZone must be an IANA time zone name such as Europe/Berlin" },
      ],
    }),
  },
  { required: ["days", "start", "duration"] },
);

/** `OsRollout.spec`. */
export const rolloutSpecSchema: JSONSchema = obj(
  "Desired state of the rollout.",
  {
    image: imageSchema,
    nodeSelector: labelSelectorSchema("Nodes this rollout owns; empty selects every node."),
    maxUnavailable: {
      "x-kubernetes-int-or-string": true,
      description: "Nodes that may be unavailable at once: a count of at least 1, or a percent such as 25% of the selected nodes. Default 1.",
      "x-kubernetes-validations": [
        {
          rule: "type(self) == int ? self > 0 : self.matches('^(100|[1-9][0-9]?)%$')",
          message: "maxUnavailable must be an integer greater than 0 or a percent between 1% and 100%",
        },
      ],
    },
    paused: { type: "boolean", description: "Start no new node; nodes in flight finish." },
    maintenanceWindows: { type: "array", maxItems: 32, "x-kubernetes-list-type": "atomic", items: maintenanceWindowSchema },
    drain: drainSchema,
    healthCheck: healthCheckSchema,
    failure: obj("The failure budget.", {
      maxFailedNodes: { type: "integer", minimum: 0, description: "Failed nodes tolerated; one more halts the rollout. Default 0." },
      failedNodePolicy: failedNodePolicySchema,
    }),
  },
  { required: ["image"] },
);

/** `OsRollout.status`. */
export const rolloutStatusSchema: JSONSchema = obj("Observed state of the rollout.", {
  observedGeneration: { type: "integer", minimum: 0 },
  conditions: conditionsSchema,
  targetVersion: str("The version the counts are about.", { maxLength: 128 }),
  total: { type: "integer", minimum: 0 },
  updated: { type: "integer", minimum: 0 },
  inProgress: { type: "integer", minimum: 0 },
  failed: { type: "integer", minimum: 0 },
  pending: { type: "integer", minimum: 0 },
  unavailable: { type: "integer", minimum: 0 },
  startTime: str("When the rollout of targetVersion started.", { format: "date-time" }),
  completionTime: str("When every selected node ran targetVersion.", { format: "date-time" }),
});

const slotName = str("A or B.", { enum: ["A", "B"] });

/** `OsNode.spec`. */
export const osNodeSpecSchema: JSONSchema = obj(
  "Desired state of the node's OS; written by the controller.",
  {
    nodeName: str("The Node this object mirrors; equal to metadata.name.", {
      minLength: 1,
      maxLength: 253,
      "x-kubernetes-validations": [{ rule: "self == oldSelf", message: "nodeName is immutable" }],
    }),
    target: obj(
      "The image to install; absent means leave the node alone.",
      {
        rollout: str("The rollout that set this target.", { minLength: 1, maxLength: 253 }),
        image: imageSchema,
        drain: drainSchema,
        healthCheck: healthCheckSchema,
        failedNodePolicy: failedNodePolicySchema,
      },
      { required: ["rollout", "image"] },
    ),
  },
  { required: ["nodeName"] },
);

/** `OsNode.status`. */
export const osNodeStatusSchema: JSONSchema = obj("Observed state of the node's OS; written by the node's proxy.", {
  observedGeneration: { type: "integer", minimum: 0 },
  phase: str("Phase of the current or last operation.", {
    enum: ["Idle", "Staging", "Draining", "Rebooting", "Verifying", "Done", "Failed", "RolledBack"],
  }),
  message: str("Detail of the phase.", { maxLength: 4096 }),
  bootedSlot: slotName,
  bootedVersion: str("Version of the booted slot.", { maxLength: 128 }),
  bootedDigest: str("Digest of the booted slot.", { maxLength: 64 }),
  slots: {
    type: "array",
    maxItems: 2,
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["name"],
    items: obj(
      "A root slot.",
      {
        name: slotName,
        version: str("Version the slot holds.", { maxLength: 128 }),
        digest: str("Digest of the slot's content.", { maxLength: 64 }),
        booted: { type: "boolean" },
        good: { type: "boolean" },
        triesLeft: { type: "integer", minimum: 0 },
        content: str("What the agent knows of the content.", { enum: ["unknown", "writing", "staged", "bad"] }),
      },
      { required: ["name", "booted", "good"] },
    ),
  },
  operation: obj(
    "The operation the proxy runs or last ran.",
    {
      rollout: str("Rollout that asked for it.", { maxLength: 253 }),
      version: str("Target version.", { maxLength: 128 }),
      digest: str("Target digest.", { maxLength: 64 }),
      startedAt: str("When it began.", { format: "date-time" }),
      fromSlot: slotName,
      fromVersion: str("Version booted before the operation.", { maxLength: 128 }),
      bootID: str("The Node's bootID when the new slot was activated.", { maxLength: 128 }),
      rollingBack: { type: "boolean", description: "The new slot failed and the proxy asked for a rollback." },
      failure: str("Why the operation failed.", { maxLength: 4096 }),
    },
    { required: ["rollout", "version", "startedAt"] },
  ),
  cordon: obj(
    "Whether the proxy holds the node cordoned, and whether it was cordoned before (then it is never uncordoned by the proxy).",
    {
      preexisting: { type: "boolean" },
      reason: str("Why the node is held cordoned.", { maxLength: 1024 }),
      at: str("When the proxy recorded it.", { format: "date-time" }),
    },
    { required: ["preexisting", "at"] },
  ),
  lastError: str("The last error of an operation.", { maxLength: 4096 }),
  lastErrorTime: str("When lastError happened.", { format: "date-time" }),
  phaseTime: str("When the phase last changed.", { format: "date-time" }),
  completionTime: str("When the last operation ended.", { format: "date-time" }),
  conditions: conditionsSchema,
});
