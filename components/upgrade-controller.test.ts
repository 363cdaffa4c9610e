import assert from "node:assert/strict";
import { describe, it } from "node:test";
import util from "node:util";
import * as pulumi from "@pulumi/pulumi";
import { crds } from "../controller/api/crds";
import { accessObjects } from "../controller/rbac/access";
import { sdkCrd } from "./controller-manifests";
import { OsImage } from "./os-image";
import { byType, outputValue, inputProblems as problems, registered, urnOf } from "./test-mocks";
import { reportAsIs, UpgradeController } from "./upgrade-controller";
import { UpgradePolicy } from "./upgrade-policy";

const image = { version: "1.1.0", url: "https://images.test/os.img", digest: "e".repeat(64) };

describe("UpgradeController", () => {
  it("deploys CRDs, namespace, access objects, workloads, metrics and the rollout as its children", async () => {
    const img = new OsImage("uc-image", image);
    const pol = new UpgradePolicy("uc-policy", { maxUnavailable: 2 });
    const uc = new UpgradeController("uc", {
      kubeconfig: pulumi.secret("apiVersion: v1"),
      rollout: { name: "fleet", image: img, policy: pol, nodeSelector: { matchLabels: { "twinroot.dev/pool": "w" } } },
      waitForRollout: false,
    });
    assert.equal(await outputValue(uc.namespace), "twinroot-system");
    assert.ok(uc.rollout);
    assert.match(await urnOf(uc.rollout), /twinroot:upgrade:UpgradeController\$kubernetes:twinroot\.dev\/v1alpha1:OsRollout::uc-rollout$/);
    assert.match(await urnOf(uc.deployment), /UpgradeController\$kubernetes:apps\/v1:Deployment::uc-controller$/);
    await outputValue(uc.rolloutStatus);
    const mine = registered.filter((r) => r.name.startsWith("uc-"));
    const names = mine.map((r) => r.name);
    for (const n of [
      "uc-provider",
      "uc-crd-osrollouts",
      "uc-crd-osnodes",
      "uc-namespace",
      "uc-controller-sa",
      "uc-proxy-sa",
      "uc-controller",
      "uc-proxy",
      "uc-metrics",
      "uc-rollout",
    ])
      assert.ok(names.includes(n), `${n} in ${names}`);
    // Every access object of controller/rbac, by kind and name.
    const access = accessObjects({ namespace: "twinroot-system" });
    for (const o of access) {
      const found = mine.find((r) => r.type.endsWith(`:${o.kind}`) && (r.inputs.metadata as { name?: string })?.name === o.metadata?.name);
      assert.ok(found, `no ${o.kind} ${o.metadata?.name}`);
    }
    const [rollout] = byType("kubernetes:twinroot.dev/v1alpha1:OsRollout", "uc-rollout");
    assert.deepEqual((rollout?.inputs.metadata as { name?: string } | undefined)?.name, "fleet");
    const spec = rollout?.inputs.spec as Record<string, unknown>;
    assert.deepEqual(spec.image, image);
    assert.equal(spec.maxUnavailable, 2);
    assert.deepEqual(spec.nodeSelector, { matchLabels: { "twinroot.dev/pool": "w" } });
    assert.deepEqual(spec.failure, { maxFailedNodes: 1, failedNodePolicy: "LeaveRolledBack" });
  });

  it("passes the CRDs of controller/api with x-kubernetes keys spelled as the SDK names them", () => {
    const text = JSON.stringify(sdkCrd(crds[0] as (typeof crds)[0]));
    assert.ok(!text.includes('"x-kubernetes-'));
    assert.ok(text.includes('"x_kubernetes_validations"'));
    assert.equal(
      JSON.stringify(crds[0])
        .replaceAll('"x-kubernetes-', '"x_kubernetes_')
        .replace(/x_kubernetes_[a-z-]+/g, (k) => k.replaceAll("-", "_")),
      text,
    );
  });

  it("applies workloads without waiting and deletes them in the background where no kubelet runs them", async () => {
    const uc = new UpgradeController("ucl", { kubeconfig: "x", awaitWorkloads: false, namespace: "lab-system" });
    await outputValue(uc.deployment.id);
    await outputValue(uc.daemonSet.id);
    await Promise.all([...uc.crds, ...uc.access].map((r) => outputValue(r.id)));
    await outputValue(uc.namespace);
    for (const name of ["ucl-controller", "ucl-proxy"]) {
      const r = registered.find((x) => x.name === name);
      assert.deepEqual((r?.inputs.metadata as { annotations?: unknown } | undefined)?.annotations, {
        "pulumi.com/skipAwait": "true",
        "pulumi.com/deletionPropagationPolicy": "background",
      });
    }
    for (const name of ["ucl-namespace", "ucl-crd-osrollouts", "ucl-cluster-role-twinroot-controller"]) {
      const r = registered.find((x) => x.name === name);
      const annotations = (r?.inputs.metadata as { annotations?: Record<string, string> } | undefined)?.annotations;
      assert.equal(annotations?.["pulumi.com/deletionPropagationPolicy"], "background", name);
    }
    const nsAnnotations = (registered.find((x) => x.name === "ucl-namespace")?.inputs.metadata as { annotations?: Record<string, string> } | undefined)
      ?.annotations;
    assert.equal(nsAnnotations?.["pulumi.com/skipAwait"], "true");
    const dep = registered.find((x) => x.name === "ucl-controller")?.inputs.spec as { template: { spec: { serviceAccountName: string } } };
    assert.equal(dep.template.spec.serviceAccountName, "twinroot-controller");
    assert.equal(uc.rollout, undefined);
  });

  it("names every bad input in one error", () => {
    assert.deepEqual(
      problems(
        () =>
          new UpgradeController("UC_bad", {
            namespace: "Bad_NS",
            controllerImage: "has space",
            proxyImage: "",
            imagePullPolicy: "Sometimes" as never,
            replicas: 0,
            rolloutTimeout: "soon",
            rollout: { image, nodeSelector: { matchExpressions: [{ key: "k", operator: "Exists", values: ["v"] }] } },
          }),
      ),
      [
        "namespace",
        "rollout.name",
        "kubeconfig",
        "rolloutTimeout",
        "controllerImage",
        "proxyImage",
        "imagePullPolicy",
        "replicas",
        "rollout.nodeSelector.matchExpressions[0].values",
      ],
    );
  });

  it("needs no kubeconfig when it does not wait", () => {
    assert.ok(new UpgradeController("uc-nowait", { rollout: { image }, waitForRollout: false }));
    assert.ok(new UpgradeController("uc-norollout", {}));
  });

  it("reports a halted rollout by its message alone, and prints it without the component's tree", () => {
    const uc = new UpgradeController("uc-verdict", { rollout: { image }, waitForRollout: false });
    const err = reportAsIs(new pulumi.ResourceError("OsRollout os is Degraded (FailureBudgetExceeded): 2 nodes failed", uc, true));
    err.message = `error serializing property "outputs": ${err.message}`;
    assert.equal(err.message, "OsRollout os is Degraded (FailureBudgetExceeded): 2 nodes failed");
    assert.equal(err.resource, uc, "the runtime still reports it against the component");
    // The runtime's unhandled-rejection handler inspects every error; the component behind
    // it holds every child resource and output, which took a minute to format.
    const printed = util.inspect(err, { colors: true });
    assert.ok(printed.startsWith("Error: OsRollout os is Degraded"), printed.slice(0, 200));
    assert.ok(printed.length < 2000 && !printed.includes("uc-verdict"), `printed ${printed.length} characters`);
  });
});
