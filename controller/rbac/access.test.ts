import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { accessObjects, controllerRbac, proxyAdmissionPolicy, proxyRbac, serviceAccountUser } from "./access";

const opts = { namespace: "twinroot-system" };

describe("access objects", () => {
  it("bind every role built here, and only to the part's own service account", () => {
    const objects = accessObjects(opts);
    const roles = new Set(
      objects.filter((o) => o.kind === "Role" || o.kind === "ClusterRole").map((o) => `${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`),
    );
    const bindings = objects.filter((o) => o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding") as ReturnType<typeof controllerRbac>[1][];
    assert.equal(bindings.length, roles.size, "one binding per role");
    for (const b of bindings) {
      const ns = b.kind === "RoleBinding" ? (b.metadata?.namespace ?? "") : "";
      assert.ok(roles.has(`${b.roleRef.kind}/${ns}/${b.roleRef.name}`), `${b.kind} ${b.metadata?.name} binds a role built here`);
      const part = b.metadata?.name?.startsWith("twinroot-proxy") ? "twinroot-proxy" : "twinroot-controller";
      assert.deepEqual(b.subjects, [{ kind: "ServiceAccount", name: part, namespace: "twinroot-system" }]);
    }
  });

  it("never let the proxy write an OsNode's spec, nor the controller write a Node or Pod", () => {
    const grants = (rbac: ReturnType<typeof proxyRbac>) =>
      rbac.flatMap((o) => ("rules" in o ? (o.rules ?? []) : [])).flatMap((r) => (r.resources ?? []).flatMap((res) => r.verbs.map((v) => `${v} ${res}`)));
    const proxy = grants(proxyRbac(opts));
    assert.ok(!proxy.some((g) => /^(update|patch) osnodes$/.test(g)), proxy.join(", "));
    const controller = grants(controllerRbac(opts));
    assert.ok(!controller.some((g) => /^(create|update|patch|delete) (nodes|pods)$/.test(g)), controller.join(", "));
  });

  it("match only the proxy's service account in the admission policy", () => {
    const [policy, binding] = proxyAdmissionPolicy({ namespace: "ops", proxyServiceAccount: "px" });
    assert.equal(policy.spec?.matchConditions?.[0]?.expression, `request.userInfo.username == '${serviceAccountUser("ops", "px")}'`);
    assert.equal(binding.spec?.policyName, policy.metadata?.name);
    assert.deepEqual(binding.spec?.validationActions, ["Deny"]);
  });
});
