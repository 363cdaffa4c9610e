// Least privilege for the two in-cluster parts, as plain wire-format objects: the lab
// applies them to a real API server, and the Pulumi components deploy the same objects.
//
// RBAC gives each part only the verbs its code uses. RBAC cannot say "your own node
// only", so a ValidatingAdmissionPolicy adds that for the proxy: a proxy's bound
// service-account token carries the name of the node its pod runs on (the API server
// puts it in `authentication.kubernetes.io/node-name` of the user's extra info), and the
// policy refuses any write by a proxy to a Node or OsNode of another name.

import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1Role,
  V1RoleBinding,
  V1ValidatingAdmissionPolicy,
  V1ValidatingAdmissionPolicyBinding,
} from "@kubernetes/client-node";
import { GROUP, OSNODE, ROLLOUT } from "../api/types";
import { CLUSTER_EVENTS_NAMESPACE } from "../kube/events";

/** Where the parts run and under which service accounts. */
export interface AccessOptions {
  /** Namespace of the controller Deployment and proxy DaemonSet (their Lease, Events and service accounts). */
  namespace: string;
  /** Service account of the controller. Default `twinroot-controller`. */
  controllerServiceAccount?: string;
  /** Service account of the proxies. Default `twinroot-proxy`. */
  proxyServiceAccount?: string;
  /** Name of the controller's leader-election Lease. Default `twinroot-controller`. */
  leaseName?: string;
}

/** The user's extra key under which a bound token names the node of its pod. */
export const NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name";

/** Names of the access objects (they are cluster-wide, so one set per cluster). */
export const ACCESS_NAMES = {
  controller: "twinroot-controller",
  proxy: "twinroot-proxy",
  /** Suffix of the Roles that allow Events in {@link CLUSTER_EVENTS_NAMESPACE}. */
  events: "-events",
  proxyPolicy: "twinroot-proxy-own-node",
} as const;

const LABELS = { "app.kubernetes.io/part-of": "twinroot" };

/** One of the objects built here. */
export type AccessObject = V1ClusterRole | V1ClusterRoleBinding | V1Role | V1RoleBinding | V1ValidatingAdmissionPolicy | V1ValidatingAdmissionPolicyBinding;

function names(o: AccessOptions) {
  return {
    controllerSa: o.controllerServiceAccount ?? "twinroot-controller",
    proxySa: o.proxyServiceAccount ?? "twinroot-proxy",
    lease: o.leaseName ?? "twinroot-controller",
  };
}

/** The username the API server gives a service account's tokens. */
export function serviceAccountUser(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

function clusterBinding(name: string, namespace: string, sa: string): V1ClusterRoleBinding {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name, labels: LABELS },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
    subjects: [{ kind: "ServiceAccount", name: sa, namespace }],
  };
}

/** A Role in `roleNamespace` and its binding to the service account `sa` of `namespace`. */
function role(name: string, roleNamespace: string, namespace: string, sa: string, rules: V1Role["rules"]): [V1Role, V1RoleBinding] {
  return [
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name, namespace: roleNamespace, labels: LABELS }, rules },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, namespace: roleNamespace, labels: LABELS },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name: sa, namespace }],
    },
  ];
}

/**
 * Events about twinroot's objects, all cluster-scoped, can only be recorded in the
 * `default` namespace; this Role allows that and nothing else there.
 */
function eventsRole(part: string, namespace: string, sa: string): [V1Role, V1RoleBinding] {
  return role(`${part}${ACCESS_NAMES.events}`, CLUSTER_EVENTS_NAMESPACE, namespace, sa, [
    { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
  ]);
}

/** The RBAC objects of one part. */
export type PartRbac = [V1ClusterRole, V1ClusterRoleBinding, ...(V1Role | V1RoleBinding)[]];

/**
 * The controller's RBAC: it reads rollouts, nodes, per-node objects, pods and budgets
 * (all through watches), writes rollout status and per-node targets, reads the
 * Deployments of health checks, holds its Lease in its own namespace and records
 * Events. It never writes a Node or a Pod.
 */
export function controllerRbac(o: AccessOptions): PartRbac {
  const n = names(o);
  const name = ACCESS_NAMES.controller;
  const watch = ["get", "list", "watch"];
  return [
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name, labels: LABELS },
      rules: [
        { apiGroups: [GROUP], resources: [ROLLOUT.plural], verbs: watch },
        { apiGroups: [GROUP], resources: [`${ROLLOUT.plural}/status`], verbs: ["update", "patch"] },
        // Targets are written with a conditional patch; an OsNode its proxy has not yet created is created here.
        { apiGroups: [GROUP], resources: [OSNODE.plural], verbs: [...watch, "create", "patch"] },
        { apiGroups: [""], resources: ["nodes"], verbs: ["list", "watch"] },
        { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
        { apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: ["list", "watch"] },
        { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get"] },
      ],
    },
    clusterBinding(name, o.namespace, n.controllerSa),
    ...role(name, o.namespace, o.namespace, n.controllerSa, [
      // A create cannot be limited by name (the authorizer does not know it yet); everything after it is.
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: [n.lease], verbs: ["get", "update"] },
    ]),
    ...eventsRole(name, o.namespace, n.controllerSa),
  ];
}

/**
 * The proxy's RBAC: its own Node (watch, cordon), its own OsNode (watch, create, status),
 * the pods on its node (list, evict, delete after a drain timeout when the policy says
 * so) and Events. "Its own" is the admission policy's part ({@link proxyAdmissionPolicy}):
 * RBAC alone grants these on every node.
 */
export function proxyRbac(o: AccessOptions): PartRbac {
  const n = names(o);
  const name = ACCESS_NAMES.proxy;
  return [
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name, labels: LABELS },
      rules: [
        // No update of the OsNode itself: its spec (the target) is the controller's to write.
        { apiGroups: [GROUP], resources: [OSNODE.plural], verbs: ["get", "list", "watch", "create"] },
        { apiGroups: [GROUP], resources: [`${OSNODE.plural}/status`], verbs: ["update", "patch"] },
        { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch", "patch"] },
        { apiGroups: [""], resources: ["pods"], verbs: ["list", "delete"] },
        { apiGroups: [""], resources: ["pods/eviction"], verbs: ["create"] },
      ],
    },
    clusterBinding(name, o.namespace, n.proxySa),
    ...eventsRole(name, o.namespace, n.proxySa),
  ];
}

/**
 * The policy that keeps each proxy to its own node: any create, update, patch or delete
 * of a Node or an OsNode (status included) by the proxy's service account must name the
 * node its token is bound to. A token bound to no node may write neither.
 */
export function proxyAdmissionPolicy(o: AccessOptions): [V1ValidatingAdmissionPolicy, V1ValidatingAdmissionPolicyBinding] {
  const n = names(o);
  const name = ACCESS_NAMES.proxyPolicy;
  const operations = ["CREATE", "UPDATE", "DELETE"];
  return [
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name, labels: LABELS },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          resourceRules: [
            { apiGroups: [""], apiVersions: ["v1"], operations, resources: ["nodes", "nodes/status"] },
            { apiGroups: [GROUP], apiVersions: ["*"], operations, resources: [OSNODE.plural, `${OSNODE.plural}/status`] },
          ],
        },
        matchConditions: [{ name: "is-proxy", expression: `request.userInfo.username == '${serviceAccountUser(o.namespace, n.proxySa)}'` }],
        variables: [
          {
            name: "node",
            expression: `'${NODE_NAME_EXTRA}' in request.userInfo.extra && size(request.userInfo.extra['${NODE_NAME_EXTRA}']) == 1 ? request.userInfo.extra['${NODE_NAME_EXTRA}'][0] : ''`,
          },
          // A create names its object in the object (request.name may be empty there); a delete in oldObject.
          { name: "target", expression: "object != null ? object.metadata.name : oldObject.metadata.name" },
        ],
        validations: [
          {
            expression: "variables.node != '' && variables.target == variables.node",
            messageExpression:
              "variables.node == '' ? 'twinroot proxy: the token is bound to no node, so it may write no ' + request.resource.resource : " +
              "'twinroot proxy of node ' + variables.node + ' may write only its own node, not ' + request.resource.resource + ' ' + variables.target",
            reason: "Forbidden",
          },
        ],
      },
    },
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name, labels: LABELS },
      spec: { policyName: name, validationActions: ["Deny"] },
    },
  ];
}

/** Every access object of both parts, in an order that applies cleanly. */
export function accessObjects(o: AccessOptions): AccessObject[] {
  return [...controllerRbac(o), ...proxyRbac(o), ...proxyAdmissionPolicy(o)];
}
