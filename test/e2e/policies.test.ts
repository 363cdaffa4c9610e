// The policy pack through the real engine: `pulumi preview --policy-pack policies` on
// programs/local and programs/openstack-cluster, passing for compliant stack config and
// failing, with the expected messages, for stack config that breaks each mandatory
// policy the programs' config can reach; a fixture program breaks the rest (Ignition
// hardening, pool/rollout consistency, a raw rollout without a digest).
//
// What is real: the engine, the language host, the kubernetes provider and the OpenStack
// SDK (@pulumi/openstack, a dev dependency of the repository, so the programs register
// exactly the resources and inputs a real stack does). What is not: the OpenStack provider
// plugin, whose Go module is not served here, so it cannot be built; a stand-in
// pulumi-resource-openstack on PATH that only previews (fixtures/policies/
// openstack-provider.js) takes its place, and the engine, with automatic plugin
// acquisition off, uses it for the SDK's version. programs/local gets a loopback lab
// endpoint nothing listens on: a preview never calls the lab.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import YAML from "yaml";
import { ControlPlane } from "../../lab/harness/control-plane";
import { type EngineEvent, type PulumiResult, PulumiStack } from "../../lab/harness/pulumi";
import { pathWithTools, repoRoot } from "../../lab/harness/tools";
import { sshPublicKey } from "../../policies/test-fixtures";

const PACK = path.join(repoRoot, "policies");
const FIXTURES = path.join(repoRoot, "test", "e2e", "fixtures", "policies");
const ALL_POLICIES = 17;

type PolicyEvent = NonNullable<EngineEvent["policyEvent"]>;

/** The stack config a committed stack file holds (`Pulumi.<stack>.yaml`). */
function stackFile(program: string, stack: string): Record<string, string> {
  const doc = YAML.parse(fs.readFileSync(path.join(repoRoot, "programs", program, `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, unknown> };
  return Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k, String(v)]));
}

function projectName(dir: string): string {
  return (YAML.parse(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")) as { name: string }).name;
}

const violations = (r: PulumiResult): PolicyEvent[] => r.events.flatMap((e) => (e.policyEvent ? [e.policyEvent] : []));
const mandatory = (r: PulumiResult) =>
  new Set(
    violations(r)
      .filter((v) => v.enforcementLevel === "mandatory")
      .map((v) => v.policyName),
  );
// The engine prefixes each violation's message with the policy's description line.
const messagesOf = (r: PulumiResult, policy: string) =>
  violations(r)
    .filter((v) => v.policyName === policy)
    .map((v) => v.message.slice(v.message.indexOf("\n") + 1));

/** The policies the engine says ran and passed (resource policies per resource, stack policies once). */
function passed(r: PulumiResult): Set<string> {
  const out = new Set<string>();
  for (const e of r.events) {
    const s = (e.policyAnalyzeSummaryEvent ?? e.policyAnalyzeStackSummaryEvent) as { passed?: string[] } | undefined;
    for (const p of s?.passed ?? []) out.add(p);
  }
  return out;
}

/** The violations as the CLI lists them, one per line, for the test's log. */
function report(r: PulumiResult): string {
  return violations(r)
    .map((v) => `[${v.enforcementLevel}] ${v.policyName}: ${v.message.slice(v.message.indexOf("\n") + 1)}`)
    .join("\n");
}

function explain(r: PulumiResult): string {
  const errors = r.diagnostics.filter((d) => d.severity === "error").map((d) => d.message.trim());
  return JSON.stringify(
    { exitCode: r.exitCode, violations: violations(r).map((v) => `${v.policyName}: ${v.message}`), errors, stderr: r.stderr.slice(-3000) },
    null,
    1,
  );
}

describe("the policy pack through the real engine", { timeout: 1_800_000 }, () => {
  let cp: ControlPlane;
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  let launcher: string;
  const stacks: PulumiStack[] = [];
  const prodKey = crypto.generateKeyPairSync("ed25519");
  const prodPublicKey = Buffer.from(prodKey.publicKey.export({ format: "jwk" }).x as string, "base64url").toString("base64");
  const EXTERNAL_NET = "0d7a2f5e-ext0-4c1a-9c1e-5a1f000000ff";

  /** A stack of `dir` with `plain` config written into its config file and `secrets` set through the CLI. */
  async function stackOf(dir: string, stack: string, plain: Record<string, unknown>, secrets: Record<string, string>): Promise<PulumiStack> {
    const s = await PulumiStack.create({ projectDir: dir, stack, secrets, env });
    stacks.push(s);
    // Plain values go straight into the stack's config file: one `pulumi config set` per
    // key would take longer than the previews themselves.
    const ns = projectName(dir);
    const doc = (YAML.parse(fs.readFileSync(s.configFile, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    doc.config = { ...(doc.config ?? {}), ...Object.fromEntries(Object.entries(plain).map(([k, v]) => [k.includes(":") ? k : `${ns}:${k}`, v])) };
    fs.writeFileSync(s.configFile, YAML.stringify(doc));
    return s;
  }

  function policyConfig(name: string, config: Record<string, unknown>): string {
    const file = path.join(tmp, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify(config, null, 2));
    return file;
  }

  const preview = (s: PulumiStack, configFile: string) =>
    s.engine("preview", ["--policy-pack", PACK, "--policy-pack-config", configFile], { allowFailure: true });

  before(async () => {
    cp = await ControlPlane.start();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-policies-"));
    // The stand-in OpenStack provider where the engine looks for a plugin it does not have installed.
    fs.mkdirSync(path.join(tmp, "bin"));
    launcher = path.join(tmp, "bin", "pulumi-resource-openstack");
    fs.writeFileSync(launcher, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(FIXTURES, "openstack-provider.js"))} "$@"\n`, {
      mode: 0o755,
    });
    env = { PATH: `${path.join(tmp, "bin")}:${pathWithTools()}` };
  });

  after(async () => {
    for (const s of stacks) await s.remove().catch(() => undefined);
    await cp?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe("programs/local", () => {
    const dir = path.join(repoRoot, "programs", "local");
    const base = () => ({ ...stackFile("local", "local"), "twinroot-local:lab.endpoint": "http://127.0.0.1:9" });

    it("passes every policy for the lab's own stack config", async () => {
      const s = await stackOf(dir, "policy-ok", base(), { kubeconfig: cp.kubeconfig() });
      const r = await preview(s, policyConfig("lab", {}));
      assert.equal(r.exitCode, 0, explain(r));
      assert.deepEqual(violations(r), [], explain(r));
      assert.equal(passed(r).size, ALL_POLICIES, [...passed(r)].join(", "));
    });

    it("fails for stack config that breaks the rollout and image policies, naming resource, field and fix", async (t) => {
      const s = await stackOf(
        dir,
        "policy-bad",
        {
          ...base(),
          "twinroot-local:lab.nodes": "1",
          "twinroot-local:policy.maxUnavailable": "50%",
          "twinroot-local:policy.failureBudget": "1",
          "twinroot-local:policy.respectPodDisruptionBudgets": "false",
          "twinroot-local:policy.drainTimeout": "30s",
          "twinroot-local:osImage.url": "http://127.0.0.1:8080/images/twinroot-1.0.0.img",
        },
        { kubeconfig: cp.kubeconfig() },
      );
      const r = await preview(s, path.join(PACK, "config", "production.json"));
      t.diagnostic(report(r));
      assert.notEqual(r.exitCode, 0, explain(r));
      assert.deepEqual(
        [...mandatory(r)].sort(),
        [
          "twinroot-image-https",
          "twinroot-image-signature",
          "twinroot-pool-min-nodes",
          "twinroot-rollout-drain-respects-pdbs",
          "twinroot-rollout-failure-budget",
          "twinroot-rollout-force-needs-timeout",
          "twinroot-rollout-max-unavailable",
        ],
        explain(r),
      );
      const one = (policy: string) => messagesOf(r, policy).join("\n");
      assert.match(
        one("twinroot-image-https"),
        /^OsRollout "lab": spec\.image\.url "http:\/\/127\.0\.0\.1:8080\/images\/twinroot-1\.0\.0\.img" is plain http:\/\/.*Fix: serve the image over https:\/\//,
      );
      assert.match(one("twinroot-image-signature"), /^OsRollout "lab": spec\.image\.signature is missing.*Fix: set signature of the OsImage/);
      assert.match(
        one("twinroot-pool-min-nodes"),
        /^NodePool "lab-pool-lab" \(pool lab\): size 1 is below this stack's minNodesPerPool 3.*Fix: set the NodePool size to at least 3/,
      );
      assert.match(
        one("twinroot-rollout-drain-respects-pdbs"),
        /^OsRollout "lab": spec\.drain\.onTimeout is DeletePods.*Fix: set UpgradePolicy drain\.respectPodDisruptionBudgets to true/,
      );
      assert.match(
        one("twinroot-rollout-failure-budget"),
        /^OsRollout "lab": spec\.failure\.maxFailedNodes 1 is not below the 1 node the rollout selects.*Fix: set UpgradePolicy failureBudget .* to at most 0/,
      );
      assert.match(
        one("twinroot-rollout-force-needs-timeout"),
        /^OsRollout "lab": spec\.drain\.onTimeout is DeletePods \(force\) after spec\.drain\.timeout 30s, shorter than this stack's minForceTimeout 5m/,
      );
      assert.match(
        one("twinroot-rollout-max-unavailable"),
        /^OsRollout "lab": spec\.maxUnavailable "50%" is above this stack's share of 25% of each pool.*Fix: lower UpgradePolicy maxUnavailable/,
      );
      // Resource policies report on the resource itself, stack policies on the resource they name.
      const urns = new Set(violations(r).map((v) => v.resourceUrn));
      assert.ok(
        [...urns].every((u) => /::lab-controller-rollout$|::lab-pool-lab$/.test(u ?? "")),
        [...urns].join("\n"),
      );
    });
  });

  describe("programs/openstack-cluster", () => {
    const dir = path.join(repoRoot, "programs", "openstack-cluster");
    const TOKEN = "abcdef.0123456789abcdef";
    const secrets = () => ({ kubeconfig: cp.kubeconfig(), "cluster.bootstrapToken": TOKEN });
    const devPolicies = () => policyConfig("dev", { "twinroot-openstack-no-public-ips": { publicNetworks: [EXTERNAL_NET] } });

    it("passes the production policy config for the prod stack config with a signed image", async () => {
      const prod = stackFile("openstack-cluster", "prod");
      const digest = prod["twinroot-openstack:osImage.digest"] as string;
      const signature = crypto.sign(null, Buffer.from(digest, "hex"), prodKey.privateKey).toString("base64");
      const s = await stackOf(
        dir,
        "policy-prod",
        {
          ...prod,
          "twinroot-openstack:osImage.signature": signature,
          "twinroot-openstack:osImage.publicKey": prodPublicKey,
          "twinroot-openstack:cluster.sshAuthorizedKeys": sshPublicKey("ed25519"),
        },
        secrets(),
      );
      const production = JSON.parse(fs.readFileSync(path.join(PACK, "config", "production.json"), "utf8")) as Record<string, Record<string, unknown>>;
      const config = policyConfig("prod", {
        ...production,
        "twinroot-image-signature": { ...production["twinroot-image-signature"], requirePublicKey: true, trustedPublicKeys: [prodPublicKey] },
        "twinroot-openstack-no-public-ips": { publicNetworks: [EXTERNAL_NET] },
      });
      const r = await preview(s, config);
      assert.equal(r.exitCode, 0, explain(r));
      assert.deepEqual(violations(r), [], explain(r));
      assert.equal(passed(r).size, ALL_POLICIES, [...passed(r)].join(", "));
      assert.ok((r.changes.create ?? 0) >= 15, `12 + 3 machines and more: ${JSON.stringify(r.changes)}`);
      // The real SDK asks for its own provider version; the engine takes the stand-in from PATH for it, without a version warning.
      const warnings = r.diagnostics.filter((d) => d.severity === "warning").map((d) => d.message.trim());
      assert.ok(warnings.includes(`using pulumi-resource-openstack from $PATH at ${launcher}`), warnings.join("\n"));
      assert.ok(!warnings.some((w) => /plugin openstack is expected to have version/.test(w)), warnings.join("\n"));
    });

    it("fails for dev stack config without anti-affinity, on a public network, with a weak key and too much unavailable", async (t) => {
      const s = await stackOf(
        dir,
        "policy-dev-bad",
        {
          ...stackFile("openstack-cluster", "dev"),
          "twinroot-openstack:pool.workers.antiAffinity": "none",
          "twinroot-openstack:network.id": EXTERNAL_NET,
          "twinroot-openstack:cluster.sshAuthorizedKeys": sshPublicKey("rsa-1024"),
          "twinroot-openstack:policy.maxUnavailable": "2",
        },
        secrets(),
      );
      const r = await preview(s, devPolicies());
      t.diagnostic(report(r));
      assert.notEqual(r.exitCode, 0, explain(r));
      assert.deepEqual(
        [...mandatory(r)].sort(),
        ["twinroot-ignition-ssh-keys-only", "twinroot-openstack-anti-affinity", "twinroot-openstack-no-public-ips", "twinroot-rollout-max-unavailable"],
        explain(r),
      );
      const one = (policy: string) => messagesOf(r, policy).join("\n");
      assert.match(
        one("twinroot-openstack-anti-affinity"),
        /^NodePool "policy-dev-bad-pool-workers" \(pool workers\): 2 of its 2 machines .* have no server group.*\(programs: pool\.workers\.antiAffinity\)/,
      );
      assert.match(
        one("twinroot-openstack-no-public-ips"),
        new RegExp(
          `^Instance "policy-dev-bad-pool-workers-machine-0" \\(pool workers\\): networks\\[0\\]\\.uuid ${EXTERNAL_NET} is one of this stack's publicNetworks`,
          "m",
        ),
      );
      assert.equal(messagesOf(r, "twinroot-ignition-ssh-keys-only").length, 2, "one per machine");
      assert.match(
        one("twinroot-ignition-ssh-keys-only"),
        /^Instance "policy-dev-bad-pool-workers-machine-\d": userData passwd\.users\[0\] \(core\)\.sshAuthorizedKeys\[0\] is a 1024-bit RSA key, below this stack's minRsaBits 3072/,
      );
      assert.match(
        one("twinroot-rollout-max-unavailable"),
        /^OsRollout "policy-dev-bad": spec.maxUnavailable 2 lets 2 nodes of the 2 selected be unavailable at once.*NodePool "policy-dev-bad-pool-workers" \(pool workers\) of 2 nodes allows 1/,
      );
    });
  });

  describe("a fleet that breaks what stack config cannot", () => {
    it("fails the hardening, consistency and digest policies, once per machine where the machine is at fault", async (t) => {
      const dir = path.join(FIXTURES, "unsafe-fleet");
      const s = await stackOf(dir, "policy-unsafe", { sshAuthorizedKeys: sshPublicKey("rsa-1024") }, { kubeconfig: cp.kubeconfig() });
      const r = await preview(s, policyConfig("unsafe", {}));
      t.diagnostic(report(r));
      assert.notEqual(r.exitCode, 0, explain(r));
      assert.deepEqual(
        [...mandatory(r)].sort(),
        [
          "twinroot-ignition-no-password-logins",
          "twinroot-ignition-no-plaintext-secrets",
          "twinroot-ignition-no-root-units",
          "twinroot-ignition-no-world-writable",
          "twinroot-ignition-ssh-keys-only",
          "twinroot-image-digest",
          "twinroot-pool-image-matches-rollout",
          "twinroot-rollout-selectors-disjoint",
        ],
        explain(r),
      );
      const one = (policy: string) => messagesOf(r, policy).join("\n");
      assert.match(one("twinroot-ignition-no-password-logins"), /^Instance "workers-machine-0": userData passwd\.users\[\d\] \(ops\)\.passwordHash is set/m);
      assert.match(one("twinroot-ignition-no-password-logins"), /\(\/etc\/ssh\/sshd_config\.d\/50-ops\.conf\) sets PasswordAuthentication yes/);
      assert.match(one("twinroot-ignition-no-world-writable"), /\(\/etc\/app\/app\.conf\)\.mode 0666 lets every user write the file/);
      assert.match(one("twinroot-ignition-no-root-units"), /\(app\.service\) runs as root \(no User= in \[Service\]\)/);
      assert.doesNotMatch(one("twinroot-ignition-no-root-units"), /twinroot-agent|kubelet/);
      assert.match(one("twinroot-ignition-no-plaintext-secrets"), /\(\/etc\/app\/tls\.key\) holds a private key in plain text/);
      assert.doesNotMatch(one("twinroot-ignition-no-plaintext-secrets"), /bootstrap-kubelet|MIIEnotreal/);
      assert.equal(messagesOf(r, "twinroot-ignition-no-world-writable").length, 2, "one per machine");
      assert.match(one("twinroot-image-digest"), /^OsRollout "everything": spec\.image\.digest is missing/);
      assert.match(
        one("twinroot-pool-image-matches-rollout"),
        /^NodePool "workers" \(pool workers\): new machines boot 1\.0\.0 \(sha256 eff77103687b…, from NodePool "workers" image\), but OsRollout "workers" that selects the pool targets 1\.1\.0/m,
      );
      assert.match(
        one("twinroot-rollout-selectors-disjoint"),
        /OsRollout "(everything|workers)" and OsRollout "(everything|workers)": .* overlap \(both select NodePool "workers" \(pool workers\)\)/,
      );
    });
  });
});
