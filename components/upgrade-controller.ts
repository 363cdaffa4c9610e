// UpgradeController: the twinroot control plane in a cluster (CRDs, namespace, RBAC,
// controller Deployment, proxy DaemonSet, metrics Service) and the OsRollout resource
// binding an OsImage to an UpgradePolicy and a node selector. With `waitForRollout`,
// `pulumi up` ends only when the rollout is Complete, and fails with the controller's
// reason when it is Degraded (see ./rollout-wait.ts for why not `pulumi.com/waitFor`).

import util from "node:util";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { parseDuration } from "../controller/api/duration";
import type { ImageSpec, LabelSelector, OsRolloutSpec } from "../controller/api/types";
import { API_VERSION, ROLLOUT } from "../controller/api/types";
import type { AccessObject } from "../controller/rbac/access";
import { accessResources, controllerDeployment, crdObjects, metricsService, PART_OF, proxyDaemonSet, type WorkloadOptions } from "./controller-manifests";
import { checkedBuild, DNS_LABEL, DNS_SUBDOMAIN, durationProblem, InputProblems, inputError, isKnown } from "./inputs";
import { OsImage } from "./os-image";
import { kubeFor, RolloutFailedError, waitForRollout } from "./rollout-wait";
import { checkSelector, type PolicySpec, UpgradePolicy } from "./upgrade-policy";

/** The component's type token. */
export const UPGRADE_CONTROLLER_TYPE = "twinroot:upgrade:UpgradeController";

/** The default controller image; the proxy default is {@link DEFAULT_PROXY_IMAGE}. Both run the package's build output. */
export const DEFAULT_CONTROLLER_IMAGE = "twinroot/controller:0.1.0";
/** The default proxy image. */
export const DEFAULT_PROXY_IMAGE = "twinroot/proxy:0.1.0";

/** The rollout resource: which image the selected nodes should run, under which policy. */
export interface RolloutBindingArgs {
  /** Name of the cluster-scoped `OsRollout`. Default: the component's name. */
  name?: string;
  /** The OS release to roll out: an {@link OsImage}, or its `imageSpec`. */
  image: OsImage | pulumi.Input<ImageSpec>;
  /** How the rollout may proceed: an {@link UpgradePolicy}, or its `spec`. Default: a new `UpgradePolicy` with its safe defaults. */
  policy?: UpgradePolicy | pulumi.Input<PolicySpec>;
  /** Nodes this rollout owns, e.g. `{ matchLabels: { "twinroot.dev/pool": "workers" } }`. Default: every node. */
  nodeSelector?: pulumi.Input<LabelSelector>;
}

/** Arguments of {@link UpgradeController}. */
export interface UpgradeControllerArgs {
  /**
   * Kubeconfig (YAML) of the cluster. Used for a provider of this component's own (unless
   * `opts.provider` is given) and to watch the rollout when `waitForRollout` is on.
   * Pass it as a secret. Default: none (the ambient kubernetes provider; then
   * `waitForRollout` must be false).
   */
  kubeconfig?: pulumi.Input<string>;
  /** Namespace of the controller, the proxies, their Lease, Events and Service. Default `twinroot-system`. */
  namespace?: string;
  /** Controller container image. Default {@link DEFAULT_CONTROLLER_IMAGE}. */
  controllerImage?: pulumi.Input<string>;
  /** Proxy container image. Default {@link DEFAULT_PROXY_IMAGE}. */
  proxyImage?: pulumi.Input<string>;
  /** `Always`, `IfNotPresent` or `Never`. Default `IfNotPresent`. */
  imagePullPolicy?: pulumi.Input<"Always" | "IfNotPresent" | "Never">;
  /** Controller replicas; one leads through a Lease, the others stand by. Default 2. */
  replicas?: pulumi.Input<number>;
  /**
   * Wait for the controller Deployment and proxy DaemonSet to become ready, the metrics
   * Service to get endpoints, and the pods to be gone on delete (pulumi-kubernetes'
   * await logic). Set false where no kubelet runs containers and no
   * kube-controller-manager runs, as in the local lab: the workloads are then applied
   * without waiting, every child is deleted with background propagation (nothing would
   * clear a foreground deletion's finalizer) and the namespace is not awaited on delete.
   * Default true.
   */
  awaitWorkloads?: boolean;
  /** The rollout to create. Default: none (only the control plane is deployed). */
  rollout?: RolloutBindingArgs;
  /**
   * Make `pulumi up` wait until the rollout is `Complete` for the applied spec, and fail
   * with the controller's reason when it turns `Degraded`. Needs `kubeconfig`. Preview
   * never waits. Default true.
   */
  waitForRollout?: boolean;
  /** Longest wait for the rollout, a duration such as `45m` or `2h` (at most `168h`). Default `1h`. */
  rolloutTimeout?: string;
}

interface Settings {
  namespace: string;
  rolloutName: string;
  wait: boolean;
  timeoutMs: number;
  awaitWorkloads: boolean;
}

/** Checks the plain arguments that shape the component; records problems in `p`. */
export function controllerSettings(
  name: string,
  a: Omit<UpgradeControllerArgs, "rollout" | "kubeconfig"> & { hasKubeconfig: boolean; rolloutName?: string; hasRollout: boolean },
  p: InputProblems,
): Settings | undefined {
  const namespace = a.namespace ?? "twinroot-system";
  if (!DNS_LABEL.test(namespace)) p.add("namespace", `${JSON.stringify(namespace)} is not a namespace name: use at most 63 lower-case letters, digits and -`);
  const rolloutName = a.rolloutName ?? name;
  if (a.hasRollout && !DNS_SUBDOMAIN.test(rolloutName))
    p.add(
      "rollout.name",
      `${JSON.stringify(rolloutName)} is not an object name: use lower-case letters, digits, - and . (set rollout.name when the component's name is not one)`,
    );
  const wait = a.hasRollout && (a.waitForRollout ?? true);
  if (wait && !a.hasKubeconfig) p.add("kubeconfig", "waitForRollout needs the kubeconfig to watch the rollout: set kubeconfig, or set waitForRollout: false");
  const timeout = a.rolloutTimeout ?? "1h";
  const t = durationProblem(timeout);
  if (t) p.add("rolloutTimeout", t);
  if (p.any) return undefined;
  return { namespace, rolloutName, wait, timeoutMs: parseDuration(timeout), awaitWorkloads: a.awaitWorkloads ?? true };
}

/** Checks the workload inputs once known. */
export function checkWorkloads(w: { controllerImage: string; proxyImage: string; imagePullPolicy: string; replicas: number }, p: InputProblems): void {
  for (const k of ["controllerImage", "proxyImage"] as const)
    if (!w[k] || /\s/.test(w[k])) p.add(k, `${JSON.stringify(w[k])} is not an image reference: write repository[:tag][@digest]`);
  if (!["Always", "IfNotPresent", "Never"].includes(w.imagePullPolicy)) p.add("imagePullPolicy", "must be Always, IfNotPresent or Never");
  if (!(Number.isSafeInteger(w.replicas) && w.replicas >= 1)) p.add("replicas", `${w.replicas} is not allowed: give a whole number of at least 1`);
}

/** The rollout resource's spec from its parts; records problems in `p`. */
export function rolloutSpec(image: ImageSpec, policy: PolicySpec, nodeSelector: LabelSelector | undefined, p: InputProblems): OsRolloutSpec | undefined {
  checkSelector(nodeSelector, "rollout.nodeSelector", p);
  if (p.any) return undefined;
  return { image, ...(nodeSelector ? { nodeSelector } : {}), ...policy };
}

/**
 * The twinroot control plane and, optionally, one rollout. Children are named
 * `<name>-<role>`: `crd-osrollouts`, `crd-osnodes`, `namespace`, `controller-sa`,
 * `proxy-sa`, one per access object of controller/rbac (`cluster-role-twinroot-controller`,
 * `role-binding-default-twinroot-proxy-events`, `validating-admission-policy-…`, …),
 * `controller`, `proxy`, `metrics`, `rollout`. Cluster-wide objects have fixed names,
 * so deploy one UpgradeController per cluster.
 */
export class UpgradeController extends pulumi.ComponentResource {
  /** The controller's namespace. */
  readonly namespace: pulumi.Output<string>;
  /** The CRDs, in apply order. */
  readonly crds: k8s.apiextensions.v1.CustomResourceDefinition[];
  /** RBAC of both parts and the proxy's own-node admission policy (controller/rbac). */
  readonly access: pulumi.CustomResource[];
  /** The controller Deployment. */
  readonly deployment: k8s.apps.v1.Deployment;
  /** The proxy DaemonSet. */
  readonly daemonSet: k8s.apps.v1.DaemonSet;
  /** The metrics Service. */
  readonly metricsService: k8s.core.v1.Service;
  /** The `OsRollout` custom resource, when `rollout` was given. */
  readonly rollout?: k8s.apiextensions.CustomResource;
  /** The rollout's name, when `rollout` was given. */
  readonly rolloutName: pulumi.Output<string | undefined>;
  /**
   * The rollout's status once `pulumi up` has waited for it (`Complete`); during preview,
   * without a rollout or with `waitForRollout: false`, undefined.
   */
  readonly rolloutStatus: pulumi.Output<Record<string, unknown> | undefined>;

  constructor(name: string, args: UpgradeControllerArgs = {}, opts: pulumi.ComponentResourceOptions = {}) {
    super(UPGRADE_CONTROLLER_TYPE, name, {}, opts);
    const settings = checkNow(name, args);
    const provider =
      opts.provider || opts.providers || !args.kubeconfig ? undefined : new k8s.Provider(`${name}-provider`, { kubeconfig: args.kubeconfig }, { parent: this });
    // Where no kube-controller-manager runs (the lab), nothing would clear the finalizer
    // of a foreground deletion or finalize a namespace: delete in the background instead.
    const noControllers: pulumi.ResourceTransformation[] = settings.awaitWorkloads ? [] : [withoutControllerManager];
    const child = (extra: pulumi.CustomResourceOptions = {}): pulumi.CustomResourceOptions => ({
      parent: this,
      ...(provider ? { provider } : {}),
      transformations: noControllers,
      ...extra,
    });
    const labels = { ...PART_OF };

    this.crds = crdObjects().map((c) => new k8s.apiextensions.v1.CustomResourceDefinition(`${name}-${c.role}`, c.args, child()));
    const ns = new k8s.core.v1.Namespace(`${name}-namespace`, { metadata: { name: settings.namespace, labels } }, child());
    this.namespace = ns.metadata.name;
    const meta = (n: string) => ({ name: n, namespace: this.namespace, labels });

    const controllerSa = new k8s.core.v1.ServiceAccount(`${name}-controller-sa`, { metadata: meta(SERVICE_ACCOUNTS.controller) }, child());
    const proxySa = new k8s.core.v1.ServiceAccount(`${name}-proxy-sa`, { metadata: meta(SERVICE_ACCOUNTS.proxy) }, child());
    this.access = accessResources(settings.namespace).map(({ role, object }) => accessResource(`${name}-${role}`, object, child({ dependsOn: [ns] })));

    const workloads = checkedBuild(
      UPGRADE_CONTROLLER_TYPE,
      name,
      {
        controllerImage: args.controllerImage ?? DEFAULT_CONTROLLER_IMAGE,
        proxyImage: args.proxyImage ?? DEFAULT_PROXY_IMAGE,
        imagePullPolicy: args.imagePullPolicy ?? "IfNotPresent",
        replicas: args.replicas ?? 2,
      },
      (w, problems): WorkloadOptions | undefined => {
        checkWorkloads(w, problems);
        return problems.any
          ? undefined
          : { ...w, namespace: settings.namespace, controllerServiceAccount: SERVICE_ACCOUNTS.controller, proxyServiceAccount: SERVICE_ACCOUNTS.proxy };
      },
    );
    // Where no kubelet runs containers (the lab), do not wait for pods or endpoints.
    const workloadAnnotations: Record<string, string> = settings.awaitWorkloads ? {} : { "pulumi.com/skipAwait": "true" };
    const workloadMeta = (n: string) => ({ ...meta(n), annotations: workloadAnnotations });
    const after = { dependsOn: [controllerSa, proxySa, ...this.crds] };
    this.deployment = new k8s.apps.v1.Deployment(
      `${name}-controller`,
      { metadata: workloadMeta("twinroot-controller"), spec: workloads.apply(controllerDeployment) },
      child(after),
    );
    this.daemonSet = new k8s.apps.v1.DaemonSet(
      `${name}-proxy`,
      { metadata: workloadMeta("twinroot-proxy"), spec: workloads.apply(proxyDaemonSet) },
      child(after),
    );
    // Without pods a Service never gets endpoints; the same annotations skip that wait.
    this.metricsService = new k8s.core.v1.Service(
      `${name}-metrics`,
      { metadata: workloadMeta("twinroot-controller-metrics"), spec: metricsService() },
      child(),
    );

    let status: pulumi.Output<Record<string, unknown> | undefined> = pulumi.output(undefined);
    if (args.rollout) {
      const r = args.rollout;
      const image = r.image instanceof OsImage ? r.image.imageSpec : pulumi.output(r.image);
      const policy =
        r.policy instanceof UpgradePolicy ? r.policy.spec : r.policy ? pulumi.output(r.policy) : new UpgradePolicy(`${name}-policy`, {}, { parent: this }).spec;
      const spec = pulumi
        .all([image, policy, pulumi.output(r.nodeSelector)])
        .apply(([i, pol, sel]) => checkedBuild(UPGRADE_CONTROLLER_TYPE, name, { i, pol, sel }, (x, problems) => rolloutSpec(x.i, x.pol, x.sel, problems)));
      this.rollout = new k8s.apiextensions.CustomResource(
        `${name}-rollout`,
        { apiVersion: API_VERSION, kind: ROLLOUT.kind, metadata: { name: settings.rolloutName, labels }, spec },
        child({ dependsOn: this.crds }),
      );
      if (settings.wait && args.kubeconfig) status = this.waitFor(this.rollout, args.kubeconfig, settings);
    }
    this.rolloutName = pulumi.output(args.rollout ? settings.rolloutName : undefined);
    this.rolloutStatus = status;
    this.registerOutputs({ namespace: this.namespace, rolloutName: this.rolloutName, rolloutStatus: this.rolloutStatus });
  }

  // Runs after the rollout resource was applied, during `up` only: the engine has then
  // stored the new spec, so a failure here reports the rollout's state, not a failed apply.
  private waitFor(
    rollout: k8s.apiextensions.CustomResource,
    kubeconfig: pulumi.Input<string>,
    s: Settings,
  ): pulumi.Output<Record<string, unknown> | undefined> {
    const generation = rollout.metadata.apply((m) => m?.generation as number | undefined);
    return pulumi.all([pulumi.output(kubeconfig), generation]).apply(async ([kc, gen]) => {
      if (pulumi.runtime.isDryRun() || gen === undefined) return undefined;
      const kube = await kubeFor(kc);
      try {
        const done = await waitForRollout(kube, {
          name: s.rolloutName,
          generation: gen,
          timeoutMs: s.timeoutMs,
          onProgress: (m) => void pulumi.log.info(`rollout ${s.rolloutName}: ${m}`, this, undefined, true),
        });
        pulumi.log.info(`rollout ${s.rolloutName}: Complete: ${done.status?.updated ?? 0}/${done.status?.total ?? 0} nodes updated`, this);
        return done.status as Record<string, unknown> | undefined;
      } catch (err) {
        if (err instanceof RolloutFailedError) throw reportAsIs(new pulumi.ResourceError(err.message, this, true));
        throw err;
      } finally {
        kube.close();
      }
    });
  }
}

// Every problem that can be known at construction, thrown as one error; inputs that are
// still Outputs are checked again when they resolve.
/** Background deletion for every child, and no wait for the namespace's finalization. */
function withoutControllerManager(a: pulumi.ResourceTransformationArgs): pulumi.ResourceTransformationResult {
  const meta = (a.props.metadata ?? {}) as { annotations?: Record<string, string> };
  const annotations: Record<string, string> = { ...(meta.annotations ?? {}), "pulumi.com/deletionPropagationPolicy": "background" };
  if (a.type === "kubernetes:core/v1:Namespace") annotations["pulumi.com/skipAwait"] = "true";
  return { props: { ...a.props, metadata: { ...meta, annotations } }, opts: a.opts };
}

/**
 * The error as the user should read it, and cheap to print. The runtime prefixes the path
 * of the output being serialized to an error's message (`error serializing property
 * "outputs": …`, once per level); for the rollout's verdict that path says nothing, so the
 * message is kept as is. And the runtime's unhandled-rejection handler formats every error
 * with `util.inspect` for its trace, even one it reports by message only: a ResourceError's
 * `resource` is the component with all its children and outputs, and inspecting that took
 * a minute of garbage collection before `pulumi up` could say the rollout was Degraded.
 */
export function reportAsIs<E extends Error>(err: E): E {
  const message = err.message;
  Object.defineProperty(err, "message", { get: () => message, set: () => {}, enumerable: false, configurable: true });
  Object.defineProperty(err, util.inspect.custom, { value: () => err.stack ?? `${err.name}: ${message}`, enumerable: false });
  return err;
}

/** The service accounts the access objects of controller/rbac bind (their defaults). */
const SERVICE_ACCOUNTS = { controller: "twinroot-controller", proxy: "twinroot-proxy" } as const;

/** One access object as its typed resource. */
function accessResource(name: string, o: AccessObject, opts: pulumi.CustomResourceOptions): pulumi.CustomResource {
  // The wire objects and the SDK's argument types describe the same JSON.
  const args = o as never;
  switch (o.kind) {
    case "ClusterRole":
      return new k8s.rbac.v1.ClusterRole(name, args, opts);
    case "ClusterRoleBinding":
      return new k8s.rbac.v1.ClusterRoleBinding(name, args, opts);
    case "Role":
      return new k8s.rbac.v1.Role(name, args, opts);
    case "RoleBinding":
      return new k8s.rbac.v1.RoleBinding(name, args, opts);
    case "ValidatingAdmissionPolicy":
      return new k8s.admissionregistration.v1.ValidatingAdmissionPolicy(name, args, opts);
    case "ValidatingAdmissionPolicyBinding":
      return new k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(name, args, opts);
    default:
      throw new Error(`UpgradeController: no resource for access object kind ${o.kind}`);
  }
}

function checkNow(name: string, args: UpgradeControllerArgs): Settings {
  const p = new InputProblems();
  const settings = controllerSettings(
    name,
    { ...args, hasKubeconfig: args.kubeconfig !== undefined, rolloutName: args.rollout?.name, hasRollout: args.rollout !== undefined },
    p,
  );
  const w = {
    controllerImage: args.controllerImage ?? DEFAULT_CONTROLLER_IMAGE,
    proxyImage: args.proxyImage ?? DEFAULT_PROXY_IMAGE,
    imagePullPolicy: args.imagePullPolicy ?? "IfNotPresent",
    replicas: args.replicas ?? 2,
  };
  if (isKnown(w)) checkWorkloads(w as pulumi.Unwrap<typeof w>, p);
  if (args.rollout && isKnown(args.rollout.nodeSelector)) checkSelector(args.rollout.nodeSelector as LabelSelector | undefined, "rollout.nodeSelector", p);
  if (p.any || !settings) throw inputError(UPGRADE_CONTROLLER_TYPE, name, p.list);
  return settings;
}
