// The CustomResourceDefinitions of twinroot.dev, as plain wire-format objects: the
// controller's tests apply them to a real API server, and the Pulumi components deploy
// the same objects (`new k8s.apiextensions.CustomResourceDefinition(name, crd)`).

import { type JSONSchema, osNodeSpecSchema, osNodeStatusSchema, rolloutSpecSchema, rolloutStatusSchema } from "./schema";
import { GROUP, OSNODE, ROLLOUT, VERSION } from "./types";

/** A printer column (`additionalPrinterColumns` item). */
export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description?: string;
  priority?: number;
}

/** The wire shape of an `apiextensions.k8s.io/v1` CustomResourceDefinition, as built here. */
export interface CustomResourceDefinition {
  apiVersion: "apiextensions.k8s.io/v1";
  kind: "CustomResourceDefinition";
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    group: string;
    scope: "Cluster" | "Namespaced";
    names: { kind: string; plural: string; singular: string; listKind: string; shortNames: string[]; categories?: string[] };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: JSONSchema };
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
    }[];
  };
}

function crd(
  names: { kind: string; plural: string; singular: string; listKind: string; shortNames: readonly string[] },
  description: string,
  spec: JSONSchema,
  status: JSONSchema,
  columns: PrinterColumn[],
  rootRules: JSONSchema["x-kubernetes-validations"] = [],
): CustomResourceDefinition {
  const root: JSONSchema = {
    type: "object",
    description,
    properties: {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: { type: "object" },
      spec,
      status,
    },
    required: ["spec"],
  };
  if (rootRules.length) root["x-kubernetes-validations"] = rootRules;
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${names.plural}.${GROUP}`, labels: { "app.kubernetes.io/part-of": "twinroot" } },
    spec: {
      group: GROUP,
      scope: "Cluster",
      names: { ...names, shortNames: [...names.shortNames], categories: ["twinroot"] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: root },
          subresources: { status: {} },
          additionalPrinterColumns: columns,
        },
      ],
    },
  };
}

const condition = (type: string) => `.status.conditions[?(@.type=="${type}")].status`;

/** The `OsRollout` CRD: a rolling OS upgrade of the nodes a selector picks. */
export const osRolloutCrd: CustomResourceDefinition = crd(
  ROLLOUT,
  "OsRollout rolls the OS image of the selected nodes to spec.image.version, within an unavailability budget.",
  rolloutSpecSchema,
  rolloutStatusSchema,
  [
    { name: "Version", type: "string", jsonPath: ".spec.image.version" },
    { name: "Total", type: "integer", jsonPath: ".status.total" },
    { name: "Updated", type: "integer", jsonPath: ".status.updated" },
    { name: "In-Progress", type: "integer", jsonPath: ".status.inProgress" },
    { name: "Failed", type: "integer", jsonPath: ".status.failed" },
    { name: "Complete", type: "string", jsonPath: condition("Complete") },
    { name: "Degraded", type: "string", jsonPath: condition("Degraded") },
    { name: "Paused", type: "boolean", jsonPath: ".spec.paused", priority: 1 },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
);

/** The `OsNode` CRD: one per Node, its slots and the progress of its upgrade. */
export const osNodeCrd: CustomResourceDefinition = crd(
  OSNODE,
  "OsNode mirrors one Node's A/B root slots and the progress of its OS upgrade. Its name is the Node's name.",
  osNodeSpecSchema,
  osNodeStatusSchema,
  [
    { name: "Phase", type: "string", jsonPath: ".status.phase" },
    { name: "Booted", type: "string", jsonPath: ".status.bootedVersion" },
    { name: "Slot", type: "string", jsonPath: ".status.bootedSlot" },
    { name: "Target", type: "string", jsonPath: ".spec.target.image.version" },
    { name: "Rollout", type: "string", jsonPath: ".spec.target.rollout", priority: 1 },
    { name: "Error", type: "string", jsonPath: ".status.lastError", priority: 1 },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
  [{ rule: "self.metadata.name == self.spec.nodeName", message: "spec.nodeName must equal metadata.name", fieldPath: ".spec.nodeName" }],
);

/** Every CRD of twinroot, in the order to apply them. */
export const crds: readonly CustomResourceDefinition[] = [osRolloutCrd, osNodeCrd];
