import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

const config = new pulumi.Config();
const namespaceName = config.get("namespace") ?? "twinroot-smoke";

const provider = new k8s.Provider("cluster", {
  kubeconfig: config.requireSecret("kubeconfig"),
  // ConfigMaps are replaced on change by default (for workloads that mount them); this
  // one is plain data, so it is updated in place.
  enableConfigMapMutable: true,
});

const ns = new k8s.core.v1.Namespace("smoke", { metadata: { name: namespaceName, labels: { "app.kubernetes.io/managed-by": "twinroot" } } }, { provider });

const cm = new k8s.core.v1.ConfigMap(
  "smoke",
  {
    metadata: {
      name: "twinroot-smoke",
      namespace: ns.metadata.name,
      // The stack is the owner of these fields: an edit made behind its back (kubectl
      // edit) is taken back on the next up instead of failing with an apply conflict.
      annotations: { "pulumi.com/patchForce": "true" },
    },
    data: { greeting: "hello from twinroot", version: config.get("version") ?? "1" },
  },
  { provider },
);

export const namespace = ns.metadata.name;
export const configMap = cm.metadata.name;
