import assert from "node:assert/strict";
import { test } from "node:test";
import zlib from "node:zlib";
import { PARTITION_LABELS, PARTITION_TYPE_GUIDS } from "../../node-agent/slots/layout";
import { decodeDataUrl } from "./dataurl";
import { IgnitionConfigError } from "./errors";
import { AGENT_CONFIG_PATH, AGENT_UNIT, type NodePresetOptions, nodeConfig } from "./preset";
import { validateConfig } from "./validate";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const full: NodePresetOptions = {
  hostname: "node-1",
  sshAuthorizedKeys: ["ssh-ed25519 AAAA admin@host"],
  sysctls: { "net.ipv4.ip_forward": 1, "fs.inotify.max_user_watches": 524288 },
  kubelet: { apiServer: "https://10.0.0.1:6443", caCert: CA, bootstrapToken: "abcdef.0123456789abcdef", nodeLabels: { "twinroot.dev/pool": "workers" } },
};

function fileText(config: ReturnType<typeof nodeConfig>["config"], path: string): string {
  const f = config.storage?.files?.find((x) => x.path === path);
  assert.ok(f, `no file ${path}`);
  const d = decodeDataUrl(f.contents?.source ?? "");
  assert.ok("data" in d);
  return (f.contents?.compression === "gzip" ? zlib.gunzipSync(d.data) : Buffer.from(d.data)).toString("utf8");
}

test("the layout uses the labels and type GUIDs the node agent looks for", () => {
  const { config } = nodeConfig({ disk: { firmware: "bios" } });
  const parts = config.storage?.disks?.[0]?.partitions ?? [];
  assert.deepEqual(
    parts.map((p) => [p.number, p.label, p.typeGuid]),
    [
      [1, PARTITION_LABELS.biosBoot, PARTITION_TYPE_GUIDS.biosBoot],
      [2, PARTITION_LABELS.boot, PARTITION_TYPE_GUIDS.xbootldr],
      [3, PARTITION_LABELS.rootA, PARTITION_TYPE_GUIDS.rootX86_64],
      [4, PARTITION_LABELS.rootB, PARTITION_TYPE_GUIDS.rootX86_64],
      [5, PARTITION_LABELS.persist, PARTITION_TYPE_GUIDS.linuxData],
    ],
  );
  assert.equal(config.storage?.disks?.[0]?.wipeTable, false, "the image's partitions must survive");
});

test("UEFI machines get an ESP instead of the BIOS boot and ext4 boot partitions", () => {
  const parts = nodeConfig({ disk: { firmware: "uefi" } }).config.storage?.disks?.[0]?.partitions ?? [];
  assert.deepEqual(
    parts.map((p) => p.label),
    [PARTITION_LABELS.esp, PARTITION_LABELS.rootA, PARTITION_LABELS.rootB, PARTITION_LABELS.persist],
  );
  assert.equal(parts[0]?.typeGuid, PARTITION_TYPE_GUIDS.esp);
});

test("PERSIST is formatted once and mounted at /var by a generated mount unit", () => {
  const { config } = nodeConfig();
  assert.deepEqual(config.storage?.filesystems?.[0], { device: "/dev/disk/by-partlabel/PERSIST", format: "ext4", label: "PERSIST", path: "/var" });
  assert.equal(config.systemd?.units?.[0]?.name, "var.mount");
});

test("the agent's unit runs its binary with its config file and is enabled", () => {
  const { config } = nodeConfig({ agent: { tries: 2 } });
  const unit = config.systemd?.units?.find((u) => u.name === AGENT_UNIT);
  assert.equal(unit?.enabled, true);
  assert.match(unit?.contents ?? "", /^ExecStart=\/opt\/twinroot\/bin\/twinroot-agent serve --config \/etc\/twinroot\/agent\.json$/m);
  assert.match(unit?.contents ?? "", /^WantedBy=multi-user\.target$/m);
  assert.deepEqual(JSON.parse(fileText(config, AGENT_CONFIG_PATH)), { socketPath: "/run/twinroot/agent.sock", tries: 2 });
  assert.equal(config.storage?.files?.find((f) => f.path === AGENT_CONFIG_PATH)?.mode, 0o600);
});

test("the kubelet join writes a bootstrap kubeconfig with the token, the CA and a drop-in", () => {
  const { config, containsSecrets } = nodeConfig(full);
  assert.equal(containsSecrets, true);
  const kubeconfig = fileText(config, "/etc/kubernetes/bootstrap-kubelet.conf");
  assert.match(kubeconfig, /server: https:\/\/10\.0\.0\.1:6443/);
  assert.match(kubeconfig, /token: abcdef\.0123456789abcdef/);
  assert.equal(fileText(config, "/etc/kubernetes/pki/ca.crt"), CA);
  const kubelet = config.systemd?.units?.find((u) => u.name === "kubelet.service");
  assert.match(kubelet?.dropins?.[0]?.contents ?? "", /--node-labels=twinroot\.dev\/pool=workers/);
});

test("hostname, SSH keys and sysctls are written, sysctls sorted", () => {
  const { config } = nodeConfig(full);
  assert.equal(fileText(config, "/etc/hostname"), "node-1\n");
  assert.deepEqual(config.passwd?.users, [{ name: "core", sshAuthorizedKeys: ["ssh-ed25519 AAAA admin@host"] }]);
  assert.equal(fileText(config, "/etc/sysctl.d/90-twinroot.conf"), "fs.inotify.max_user_watches = 524288\nnet.ipv4.ip_forward = 1\n");
});

test("the merged preset is a valid config for every supported spec", () => {
  for (const spec of ["3.3.0", "3.4.0", "3.5.0"] as const) {
    const { config } = nodeConfig({ ...full, spec });
    assert.equal(config.ignition.version, spec);
    assert.deepEqual(
      validateConfig(config, { spec }).list.filter((p) => p.severity === "error"),
      [],
    );
  }
});

test("user snippets merge on top, and one that contradicts the preset is refused naming both", () => {
  const ok = nodeConfig(full, [{ name: "user", config: { systemd: { units: [{ name: "extra.service", mask: true }] } } }]);
  assert.ok(ok.config.systemd?.units?.some((u) => u.name === "extra.service"));
  assert.throws(
    () => nodeConfig(full, [{ name: "user", config: { systemd: { units: [{ name: AGENT_UNIT, enabled: false }] } } }]),
    (e: unknown) =>
      e instanceof IgnitionConfigError &&
      e.problems.some((p) => p.code === "merge-conflict" && p.path === "systemd.units[0].enabled" && /user .* preset\.agent/.test(p.message)),
  );
});

test("the kubelet registers the node with its taints", () => {
  const { config } = nodeConfig({
    ...full,
    kubelet: {
      ...(full.kubelet as NonNullable<NodePresetOptions["kubelet"]>),
      nodeTaints: [
        { key: "dedicated", value: "db", effect: "NoSchedule" },
        { key: "twinroot.dev/canary", effect: "PreferNoSchedule" },
      ],
    },
  });
  const kubelet = config.systemd?.units?.find((u) => u.name === "kubelet.service");
  assert.match(kubelet?.dropins?.[0]?.contents ?? "", / --register-with-taints=dedicated=db:NoSchedule,twinroot\.dev\/canary=:PreferNoSchedule"/);
});

test("a taint with a bad key or effect names its index", () => {
  const kubelet = {
    ...(full.kubelet as NonNullable<NodePresetOptions["kubelet"]>),
    nodeTaints: [
      { key: "ok", effect: "NoSchedule" as const },
      { key: "bad key", effect: "Sometimes" as never },
    ],
  };
  assert.throws(
    () => nodeConfig({ ...full, kubelet }),
    (e: unknown) =>
      e instanceof IgnitionConfigError &&
      e.problems.length === 1 &&
      e.problems[0]?.path === "kubelet.nodeTaints[1]" &&
      /taint key "bad key"/.test(e.problems[0].message),
  );
});

test("bad options are all reported together", () => {
  assert.throws(
    () => nodeConfig({ hostname: "Not_A_Host", kubelet: { apiServer: "http://x", caCert: "nope", bootstrapToken: "short" }, sysctls: { "bad key": 1 } }),
    (e: unknown) => e instanceof IgnitionConfigError && e.problems.length === 5,
  );
});
