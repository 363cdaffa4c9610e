import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Fragment, fitUserData, makeDataUrl, nodeConfig, userDataSize } from "../components/ignition";
import {
  checkNoPasswordLogins,
  checkNoPlaintextSecrets,
  checkNoRootUnits,
  checkNoWorldWritable,
  checkSshKeysOnly,
  PRESET_ROOT_UNITS,
  ROOT_UNITS_DEFAULTS,
  SECRETS_DEFAULTS,
  SSH_KEYS_DEFAULTS,
} from "./hardening";
import { userDataIgnition } from "./ignition-read";
import { INSTANCE_TYPE } from "./model";
import { UNKNOWN } from "./pack";
import { parseAuthorizedKey } from "./ssh-keys";
import { resource, sshPublicKey } from "./test-fixtures";

const CA = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
const ED25519 = sshPublicKey("ed25519");
const messages = (vs: { message: string }[]) => vs.map((v) => v.message);

const file = (path: string, text: string, mode = 0o644) => ({ path, mode, contents: { source: makeDataUrl(Buffer.from(text), undefined, false).source } });

/** The user data NodePool gives an instance: the node preset (kubelet join, SSH keys) plus snippets, gzipped when `compress`. */
function machine(snippets: Fragment[] = [], o: { keys?: string[]; compress?: boolean } = {}) {
  const { config } = nodeConfig(
    { kubelet: { apiServer: "https://10.0.0.1:6443", caCert: CA, bootstrapToken: "abcdef.0123456789abcdef" }, sshAuthorizedKeys: o.keys ?? [ED25519] },
    snippets,
  );
  // One byte under the plain size makes IgnitionConfig's fit gzip the config into a data URL.
  const limit = o.compress ? userDataSize(fitUserData(config).full) - 1 : undefined;
  const userData = fitUserData(config, { limit }).userData;
  return resource(INSTANCE_TYPE, "workers-machine-0", { name: "workers-0", userData });
}

const unsafe: Fragment = {
  name: "unsafe",
  config: {
    passwd: { users: [{ name: "ops", passwordHash: "$6$salt$hash", sshAuthorizedKeys: [sshPublicKey("dss")] }] },
    storage: {
      files: [
        file("/etc/ssh/sshd_config.d/50-ops.conf", "PasswordAuthentication yes\nAuthenticationMethods publickey,password\n"),
        file("/etc/app/app.conf", "log=debug\n", 0o666),
        file("/etc/app/tls.key", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n", 0o600),
      ],
      directories: [
        { path: "/var/shared", mode: 0o777 },
        { path: "/var/scratch", mode: 0o1777 },
      ],
    },
    systemd: {
      units: [
        { name: "app.service", enabled: true, contents: "[Unit]\nDescription=app\n[Service]\nExecStart=/opt/app\nEnvironment=API_KEY=abcd1234efgh\n" },
        { name: "metrics.service", enabled: true, contents: "[Service]\nUser=metrics\nExecStart=/opt/metrics\n" },
        { name: "backup.timer", enabled: true, contents: "[Timer]\nOnCalendar=daily\n" },
      ],
    },
  },
};

const all = (r: ReturnType<typeof machine>) => [
  ...checkNoPasswordLogins(r),
  ...checkSshKeysOnly(r, SSH_KEYS_DEFAULTS),
  ...checkNoWorldWritable(r),
  ...checkNoRootUnits(r, ROOT_UNITS_DEFAULTS),
  ...checkNoPlaintextSecrets(r, SECRETS_DEFAULTS),
];

describe("reading Ignition from user data", () => {
  it("reads plain, base64 and gzip-compressed user data, and nothing from cloud-init or unknown user data", () => {
    const plain = machine();
    assert.equal(userDataIgnition(plain)?.docs.length, 1);
    const b64 = resource(INSTANCE_TYPE, "b64", { userData: Buffer.from(String(plain.props.userData)).toString("base64") });
    assert.equal(userDataIgnition(b64)?.docs.length, 1);
    const compressed = machine([], { compress: true });
    assert.match(String(compressed.props.userData), /"compression":"gzip"/);
    assert.deepEqual(
      userDataIgnition(compressed)?.docs.map((d) => d.where),
      ["userData", "userData ignition.config.merge[0]"],
    );
    assert.equal(userDataIgnition(resource(INSTANCE_TYPE, "ci", { userData: "#cloud-config\nusers: []\n" })), undefined);
    assert.equal(userDataIgnition(resource(INSTANCE_TYPE, "u", { userData: UNKNOWN })), undefined);
  });
});

describe("node hardening on the twinroot preset", () => {
  it("finds nothing wrong with the preset's own config (kubelet join, SSH key, agent unit)", () => {
    assert.deepEqual(messages(all(machine())), []);
  });

  it("knows the preset's root services", () => {
    assert.deepEqual([...PRESET_ROOT_UNITS].sort(), ["kubelet.service", "twinroot-agent.service"]);
  });
});

describe("twinroot-ignition-no-password-logins", () => {
  it("refuses a user password and sshd password logins, and accepts locked hashes", () => {
    const m = messages(checkNoPasswordLogins(machine([unsafe])));
    assert.match(m.join("\n"), /^Instance "workers-machine-0": userData passwd\.users\[1\] \(ops\)\.passwordHash is set: .*Fix: remove passwordHash/m);
    assert.match(m.join("\n"), /storage\.files\[\d+\] \(\/etc\/ssh\/sshd_config\.d\/50-ops\.conf\) sets PasswordAuthentication yes/);
    const locked: Fragment = { name: "locked", config: { passwd: { users: [{ name: "svc", passwordHash: "!" }] } } };
    assert.deepEqual(checkNoPasswordLogins(machine([locked])), []);
  });

  it("finds them inside gzip-compressed user data too", () => {
    const m = messages(checkNoPasswordLogins(machine([unsafe], { compress: true })));
    assert.match(m.join("\n"), /userData ignition\.config\.merge\[0\] passwd\.users\[1\] \(ops\)\.passwordHash is set/);
  });
});

describe("twinroot-ignition-ssh-keys-only", () => {
  it("parses key lines with options and tells RSA strength", () => {
    assert.deepEqual(parseAuthorizedKey(`no-pty,command="echo a b" ${ED25519}`), { ok: true, type: "ssh-ed25519" });
    const rsa = parseAuthorizedKey(sshPublicKey("rsa-1024"));
    assert.ok(rsa.ok && rsa.rsaBits === 1024, JSON.stringify(rsa));
    assert.equal(parseAuthorizedKey("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 x").ok, false);
    assert.equal(parseAuthorizedKey("hunter2").ok, false);
  });

  it("refuses DSA and weak RSA keys and sshd methods other than publickey", () => {
    const m = messages(checkSshKeysOnly(machine([unsafe], { keys: [ED25519, sshPublicKey("rsa-1024")] }), SSH_KEYS_DEFAULTS)).join("\n");
    assert.match(m, /passwd\.users\[0\] \(core\)\.sshAuthorizedKeys\[1\] is a 1024-bit RSA key, below this stack's minRsaBits 3072\. Fix: give an Ed25519 key/);
    assert.match(m, /passwd\.users\[1\] \(ops\)\.sshAuthorizedKeys\[0\] is a ssh-dss key, not one of this stack's allowedKeyTypes/);
    assert.match(m, /sets AuthenticationMethods publickey,password: only publickey may be used/);
    assert.doesNotMatch(m, /sshAuthorizedKeys\[0\] is a ssh-ed25519/);
  });

  it("follows the configured key types and RSA size", () => {
    const r = machine([], { keys: [sshPublicKey("rsa-2048")] });
    assert.equal(checkSshKeysOnly(r, SSH_KEYS_DEFAULTS).length, 1);
    assert.deepEqual(checkSshKeysOnly(r, { ...SSH_KEYS_DEFAULTS, minRsaBits: 2048 }), []);
    assert.equal(checkSshKeysOnly(machine(), { ...SSH_KEYS_DEFAULTS, allowedKeyTypes: ["ssh-rsa"] }).length, 1);
  });
});

describe("twinroot-ignition-no-world-writable", () => {
  it("refuses world-writable files and non-sticky directories, and allows sticky ones", () => {
    const m = messages(checkNoWorldWritable(machine([unsafe])));
    assert.equal(m.length, 2, m.join("\n"));
    assert.match(m[0] ?? "", /\(\/etc\/app\/app\.conf\)\.mode 0666 lets every user write the file\. Fix: set mode 0644 or stricter/);
    assert.match(m[1] ?? "", /storage\.directories\[\d+\] \(\/var\/shared\)\.mode 0777 .* Fix: set mode 0755/);
  });
});

describe("twinroot-ignition-no-root-units", () => {
  it("refuses a service without User= beyond the preset's, and follows allowedRootUnits", () => {
    const m = messages(checkNoRootUnits(machine([unsafe]), ROOT_UNITS_DEFAULTS));
    assert.equal(m.length, 1, m.join("\n"));
    assert.match(m[0] ?? "", /systemd\.units\[\d+\] \(app\.service\) runs as root \(no User= in \[Service\]\)\. Fix: set User=/);
    assert.deepEqual(checkNoRootUnits(machine([unsafe]), { allowedRootUnits: ["app.service"] }), []);
  });

  it("refuses a drop-in that switches a unit to root", () => {
    const dropin: Fragment = {
      name: "d",
      config: { systemd: { units: [{ name: "metrics.service", dropins: [{ name: "root.conf", contents: "[Service]\nUser=root\n" }] }] } },
    };
    assert.match(messages(checkNoRootUnits(machine([dropin]), ROOT_UNITS_DEFAULTS))[0] ?? "", /dropins\[0\] \(root\.conf\) sets User=root/);
  });
});

describe("twinroot-ignition-no-plaintext-secrets", () => {
  it("allows the preset's bootstrap kubeconfig and refuses it when the stack allows no secret file", () => {
    assert.deepEqual(checkNoPlaintextSecrets(machine(), SECRETS_DEFAULTS), []);
    const [m] = messages(checkNoPlaintextSecrets(machine(), { allowedSecretFiles: [] }));
    assert.match(m ?? "", /\(\/etc\/kubernetes\/bootstrap-kubelet\.conf\) holds a kubeconfig token in plain text/);
  });

  it("refuses private keys in files and keys in unit environments, without repeating the secret", () => {
    const m = messages(checkNoPlaintextSecrets(machine([unsafe]), SECRETS_DEFAULTS));
    assert.match(m.join("\n"), /\(\/etc\/app\/tls\.key\) holds a private key in plain text: .*Fix: fetch it at boot from a secret store/);
    assert.match(m.join("\n"), /systemd\.units\[\d+\] \(app\.service\) holds a password or key assignment in plain text/);
    assert.doesNotMatch(m.join("\n"), /abcd1234efgh|MIIE/);
  });

  it("refuses credentials in remote sources and their headers", () => {
    const remote: Fragment = {
      name: "remote",
      config: {
        storage: {
          files: [
            { path: "/etc/a", contents: { source: "https://user:pw@config.test/a" } },
            { path: "/etc/b", contents: { source: "https://config.test/b", httpHeaders: [{ name: "Authorization", value: "Bearer x" }] } },
          ],
        },
      },
    };
    const m = messages(checkNoPlaintextSecrets(machine([remote]), SECRETS_DEFAULTS)).join("\n");
    assert.match(m, /\(\/etc\/a\) holds credentials in its source URL/);
    assert.match(m, /\(\/etc\/b\) holds a credential in its Authorization header/);
  });
});
