import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parseIgnitionJson } from "./ignition";
import { IgnitionConfig } from "./ignition-config";
import { outputValue, inputProblems as problems } from "./test-mocks";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const kubelet = { apiServer: "https://10.0.0.1:6443", caCert: CA, bootstrapToken: "abcdef.0123456789abcdef" };

describe("IgnitionConfig", () => {
  it("renders the node preset, a typed config and Butane YAML into one valid config", async () => {
    const c = new IgnitionConfig("ign-all", {
      node: { hostname: "n1" },
      config: { storage: { files: [{ path: "/etc/motd", contents: { source: "data:,hello" } }] } },
      butane: "variant: fcos\nversion: 1.5.0\nstorage:\n  files:\n    - path: /etc/issue\n      contents:\n        inline: hi\n",
    });
    const rendered = await outputValue(c.rendered);
    const parsed = parseIgnitionJson(rendered);
    assert.equal(parsed.spec, "3.4.0");
    const paths = parsed.config?.storage?.files?.map((f) => f.path) ?? [];
    for (const p of ["/etc/motd", "/etc/issue", "/etc/hostname", "/etc/twinroot/agent.json"]) assert.ok(paths.includes(p), `${p} in ${paths}`);
    assert.equal(await outputValue(c.strategy), "as-is");
    assert.equal(await outputValue(c.userData), rendered);
    assert.match(await outputValue(c.hash), /^sha512-[0-9a-f]{128}$/);
    assert.equal(await pulumi.isSecret(c.rendered), false);
  });

  it("makes the rendered config secret when it carries a bootstrap token, but not its hash", async () => {
    const c = new IgnitionConfig("ign-token", { node: { kubelet } });
    assert.equal(await pulumi.isSecret(c.rendered), true);
    assert.equal(await pulumi.isSecret(c.userData), true);
    assert.equal(await pulumi.isSecret(c.hash), false);
    assert.match(await outputValue(c.rendered), /\/etc\/kubernetes\/bootstrap-kubelet\.conf/);
  });

  it("makes the rendered config secret when any input is secret", async () => {
    const c = new IgnitionConfig("ign-secret-in", { config: pulumi.secret({ storage: { files: [{ path: "/etc/k", contents: { source: "data:,s" } }] } }) });
    assert.equal(await pulumi.isSecret(c.rendered), true);
  });

  it("reports Butane problems at their YAML path and a spec mismatch on butane", () => {
    assert.deepEqual(
      problems(() => new IgnitionConfig("ign-butane", { butane: "variant: fcos\nversion: 1.5.0\nstorage:\n  files:\n    - path: relative/x\n" })),
      ["butane.storage.files[0].path"],
    );
    assert.deepEqual(
      problems(() => new IgnitionConfig("ign-spec", { spec: "3.3.0", butane: "variant: fcos\nversion: 1.5.0\n" })),
      ["butane"],
    );
    assert.deepEqual(
      problems(() => new IgnitionConfig("ign-spec2", { spec: "9.9.9" as never })),
      ["spec"],
    );
  });

  it("reports preset options under node and conflicts with the preset under config", () => {
    assert.deepEqual(
      problems(() => new IgnitionConfig("ign-host", { node: { hostname: "Not_A_Label" } })),
      ["node.hostname"],
    );
    const conflict = problems(
      () => new IgnitionConfig("ign-conflict", { node: { hostname: "n1" }, config: { storage: { files: [{ path: "/etc/hostname", mode: 0o600 }] } } }),
    );
    assert.ok(conflict.length > 0 && conflict.every((p) => p.startsWith("config.storage.files[0]")), JSON.stringify(conflict));
  });

  it("compresses a config over the user-data limit and asks for fullConfigUrl when even that is too large", async () => {
    const big = { storage: { files: [{ path: "/etc/big", contents: { source: `data:,${"a".repeat(4000)}` } }] } };
    const c = new IgnitionConfig("ign-big", { config: big, userDataLimit: 2000 });
    assert.equal(await outputValue(c.strategy), "compressed");
    assert.ok((await outputValue(c.userData)).length < 2000);
    // Random text does not compress: only splitting it off helps.
    const noise = { storage: { files: [{ path: "/etc/noise", contents: { source: `data:;base64,${randomBytes(3000).toString("base64")}` } }] } };
    assert.deepEqual(
      problems(() => new IgnitionConfig("ign-huge", { config: noise, userDataLimit: 2000 })),
      ["fullConfigUrl"],
    );
    const split = new IgnitionConfig("ign-split", { config: noise, userDataLimit: 2000, fullConfigUrl: "https://configs.test/n.ign" });
    assert.equal(await outputValue(split.strategy), "split");
    assert.deepEqual(
      problems(() => new IgnitionConfig("ign-limit", { userDataLimit: 0 })),
      ["userDataLimit"],
    );
  });
});
