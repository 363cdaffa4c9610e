// The Kubernetes objects of the twinroot control plane as plain values: the CRDs (from
// controller/api, converted to the SDK's key spelling), the RBAC and admission policy of
// controller/rbac, the controller Deployment, the proxy DaemonSet and the metrics
// Service. Pure functions of their options, so tests read them without an engine.

import type * as k8s from "@pulumi/kubernetes";
import { type CustomResourceDefinition, crds } from "../controller/api/crds";
import { type AccessObject, accessObjects } from "../controller/rbac/access";
import { DEFAULT_SOCKET_PATH } from "../node-agent/rpc/protocol";

/** Labels on every object twinroot deploys. */
export const PART_OF = { "app.kubernetes.io/part-of": "twinroot", "app.kubernetes.io/managed-by": "pulumi" } as const;

/** The controller's entry point in its image: the bundle `npm run build:images` puts there (controller/build-images.ts). */
export const CONTROLLER_ENTRYPOINT = "/app/dist/controller/main.js";
/** The proxy's entry point in the image. */
export const PROXY_ENTRYPOINT = "/app/dist/controller/proxy/main.js";

/** The port of the controller's /healthz, /readyz and /metrics. */
export const HEALTH_PORT = 8080;

/**
 * The CRD with `x-kubernetes-*` keys spelled `x_kubernetes_*`, as the SDK's types name
 * them: the provider maps them back to the wire names and stores them that way, so
 * inputs and state compare equal and a second `up` shows no diff.
 */
export function sdkCrd(crd: CustomResourceDefinition): k8s.apiextensions.v1.CustomResourceDefinitionArgs {
  const convert = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(convert);
    if (v && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.startsWith("x-kubernetes-") ? k.replaceAll("-", "_") : k, convert(x)]));
    return v;
  };
  return convert(crd) as k8s.apiextensions.v1.CustomResourceDefinitionArgs;
}

/** The CRDs to deploy, by the role name of their child resource. */
export function crdObjects(): { role: string; args: k8s.apiextensions.v1.CustomResourceDefinitionArgs }[] {
  return crds.map((c) => ({ role: `crd-${c.spec.names.plural}`, args: sdkCrd(c) }));
}

/**
 * The access objects of controller/rbac (RBAC of both parts, the proxy's own-node
 * admission policy), each with the role name of its child resource.
 */
export function accessResources(namespace: string): { role: string; object: AccessObject }[] {
  return accessObjects({ namespace }).map((object) => {
    const ns = object.metadata?.namespace;
    const kind = (object.kind ?? "").replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase();
    return { role: `${kind}-${ns && ns !== namespace ? `${ns}-` : ""}${object.metadata?.name}`, object };
  });
}

/** Options of the workloads. */
export interface WorkloadOptions {
  namespace: string;
  controllerImage: string;
  proxyImage: string;
  imagePullPolicy: string;
  replicas: number;
  controllerServiceAccount: string;
  proxyServiceAccount: string;
}

const restricted: k8s.types.input.core.v1.SecurityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};

const fieldEnv = (name: string, fieldPath: string): k8s.types.input.core.v1.EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath } } });

/** The controller Deployment: leader-elected replicas, health and metrics on {@link HEALTH_PORT}. */
export function controllerDeployment(o: WorkloadOptions): k8s.types.input.apps.v1.DeploymentSpec {
  const labels = { "app.kubernetes.io/name": "twinroot-controller", ...PART_OF };
  const probe = (path: string) => ({ httpGet: { path, port: "health" }, periodSeconds: 10, timeoutSeconds: 3 });
  return {
    replicas: o.replicas,
    selector: { matchLabels: { "app.kubernetes.io/name": "twinroot-controller" } },
    template: {
      metadata: { labels },
      spec: {
        serviceAccountName: o.controllerServiceAccount,
        securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532 },
        containers: [
          {
            name: "controller",
            image: o.controllerImage,
            imagePullPolicy: o.imagePullPolicy,
            command: ["node", CONTROLLER_ENTRYPOINT],
            env: [fieldEnv("POD_NAMESPACE", "metadata.namespace"), fieldEnv("POD_NAME", "metadata.name"), { name: "HEALTH_PORT", value: String(HEALTH_PORT) }],
            ports: [{ name: "health", containerPort: HEALTH_PORT }],
            livenessProbe: probe("/healthz"),
            readinessProbe: probe("/readyz"),
            resources: { requests: { cpu: "50m", memory: "96Mi" }, limits: { memory: "256Mi" } },
            securityContext: restricted,
          },
        ],
      },
    },
  };
}

/**
 * The proxy DaemonSet: one per node, next to the host agent's socket. It runs as root
 * because the agent's socket is root-owned with mode 0600; it drops every capability.
 */
export function proxyDaemonSet(o: WorkloadOptions): k8s.types.input.apps.v1.DaemonSetSpec {
  const socketDir = DEFAULT_SOCKET_PATH.slice(0, DEFAULT_SOCKET_PATH.lastIndexOf("/"));
  return {
    selector: { matchLabels: { "app.kubernetes.io/name": "twinroot-proxy" } },
    updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "10%" } },
    template: {
      metadata: { labels: { "app.kubernetes.io/name": "twinroot-proxy", ...PART_OF } },
      spec: {
        serviceAccountName: o.proxyServiceAccount,
        nodeSelector: { "kubernetes.io/os": "linux" },
        // Every node needs its proxy, cordoned and tainted ones most of all.
        tolerations: [{ operator: "Exists" }],
        containers: [
          {
            name: "proxy",
            image: o.proxyImage,
            imagePullPolicy: o.imagePullPolicy,
            command: ["node", PROXY_ENTRYPOINT],
            env: [
              fieldEnv("NODE_NAME", "spec.nodeName"),
              fieldEnv("POD_NAMESPACE", "metadata.namespace"),
              { name: "AGENT_SOCKET", value: DEFAULT_SOCKET_PATH },
            ],
            volumeMounts: [{ name: "agent-socket", mountPath: socketDir }],
            resources: { requests: { cpu: "10m", memory: "48Mi" }, limits: { memory: "128Mi" } },
            securityContext: { ...restricted, runAsUser: 0 },
          },
        ],
        volumes: [{ name: "agent-socket", hostPath: { path: socketDir, type: "Directory" } }],
      },
    },
  };
}

/** The metrics Service in front of the controller's health port. */
export function metricsService(): k8s.types.input.core.v1.ServiceSpec {
  return {
    selector: { "app.kubernetes.io/name": "twinroot-controller" },
    ports: [{ name: "metrics", port: HEALTH_PORT, targetPort: "health" }],
  };
}
