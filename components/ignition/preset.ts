// The Ignition every twinroot node needs, as named fragments: the A/B GPT layout the
// node agent relies on, the agent's unit and config, the kubelet join, hostname, SSH
// keys and sysctls. `nodeConfig` merges user snippets on top and refuses conflicts.
import type { AgentConfig } from "../../node-agent/config";
import { DEFAULT_SOCKET_PATH } from "../../node-agent/rpc/protocol";
import { PARTITION_LABELS, PARTITION_TYPE_GUIDS } from "../../node-agent/slots/layout";
import { makeDataUrl } from "./dataurl";
import { ConfigProblem, IgnitionConfigError } from "./errors";
import { type Fragment, mergeFragments } from "./merge";
import type { File, IgnitionConfig, Partition } from "./model";
import type { SpecVersion } from "./schema";
import { mountUnit } from "./translate";
import { validateConfig } from "./validate";

/** The agent's systemd unit name. */
export const AGENT_UNIT = "twinroot-agent.service";
/** Where the agent binary is installed on a node. */
export const AGENT_BINARY = "/opt/twinroot/bin/twinroot-agent";
/** The agent's config file. */
export const AGENT_CONFIG_PATH = "/etc/twinroot/agent.json";

/** A taint the kubelet registers the node with (`--register-with-taints`). */
export interface NodeTaint {
  /** Taint key, `[prefix/]name`. */
  key: string;
  /** Taint value. Default: empty. */
  value?: string;
  /** What the taint does to pods that do not tolerate it. */
  effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
}

/** The effects a taint may have. */
export const TAINT_EFFECTS: readonly NodeTaint["effect"][] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/** Why `t` is not a taint Kubernetes accepts, or undefined. */
export function taintProblem(t: NodeTaint): string | undefined {
  if (
    typeof t?.key !== "string" ||
    !/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(t.key)
  )
    return `taint key ${JSON.stringify(t?.key)} is invalid: use [prefix/]name with a name of at most 63 letters, digits, - _ .`;
  if (t.value !== undefined && !/^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/.test(t.value))
    return `taint value ${JSON.stringify(t.value)} is invalid: use at most 63 letters, digits, - _ . starting and ending alphanumeric`;
  if (!TAINT_EFFECTS.includes(t.effect)) return `taint effect ${JSON.stringify(t.effect)} is invalid: use ${TAINT_EFFECTS.join(", ")}`;
  return undefined;
}

/** Options of the node preset. */
export interface NodePresetOptions {
  /** Ignition spec of the OS image (default 3.4.0). */
  spec?: SpecVersion;
  /** The boot disk and its layout. */
  disk?: {
    /** Device path (default `/dev/vda`). */
    device?: string;
    /** `uefi`: vfat ESP; `bios` (default): ext4 `BOOT` partition with a BIOS boot partition for GRUB. */
    firmware?: "uefi" | "bios";
    /** Size of the boot partition in MiB (default 256). */
    bootMiB?: number;
    /** Size of each root slot in MiB (default 2048). */
    rootMiB?: number;
    /** Mount point of PERSIST (default `/var`); PERSIST fills the rest of the disk. */
    persistMountPoint?: string;
  };
  /** Agent settings written to {@link AGENT_CONFIG_PATH}; the socket path defaults to the agent's. */
  agent?: Partial<Pick<AgentConfig, "tries" | "publicKeyFile" | "caFile" | "allowHttp" | "downloadRetries" | "socketPath">>;
  /** How the kubelet joins the cluster; leave out for nodes that join otherwise. */
  kubelet?: {
    /** API server URL, `https://host:port`. */
    apiServer: string;
    /** The cluster CA certificate, PEM. */
    caCert: string;
    /** Bootstrap token `abcdef.0123456789abcdef`; a secret: the rendered config contains it. */
    bootstrapToken: string;
    /** Extra node labels. */
    nodeLabels?: Record<string, string>;
    /** Taints the node registers with; like labels, the kubelet applies them when the node first registers. */
    nodeTaints?: NodeTaint[];
  };
  /** Static hostname. */
  hostname?: string;
  /** SSH keys for the admin user. */
  sshAuthorizedKeys?: string[];
  /** Admin user name (default `core`). */
  user?: string;
  /** Kernel parameters written to `/etc/sysctl.d/90-twinroot.conf`. */
  sysctls?: Record<string, string | number>;
}

function dataFile(path: string, contents: string, mode: number): File {
  const enc = makeDataUrl(Buffer.from(contents, "utf8"), undefined);
  return { path, mode, overwrite: true, contents: { source: enc.source, compression: enc.compression } };
}

function bad(path: string, message: string, hint: string): ConfigProblem {
  return new ConfigProblem("bad-preset", "error", path, message, hint);
}

// Checks the options a fragment cannot check by itself.
function checkOptions(o: NodePresetOptions): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  if (o.hostname !== undefined && !/^(?=.{1,63}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(o.hostname))
    out.push(bad("hostname", `hostname ${JSON.stringify(o.hostname)} is not a valid DNS label`, "use 1-63 lower-case letters, digits and dashes"));
  if (o.kubelet) {
    if (!/^[a-z0-9]{6}\.[a-z0-9]{16}$/.test(o.kubelet.bootstrapToken))
      out.push(bad("kubelet.bootstrapToken", "bootstrap token must look like abcdef.0123456789abcdef", "create one with kubeadm token create"));
    if (!/^https:\/\/[^/\s]+(:\d+)?\/?$/.test(o.kubelet.apiServer))
      out.push(bad("kubelet.apiServer", "API server must be an https:// URL", "give https://host:6443"));
    if (!o.kubelet.caCert.includes("-----BEGIN CERTIFICATE-----"))
      out.push(bad("kubelet.caCert", "CA certificate must be PEM", "pass the cluster CA as PEM text"));
    for (const k of Object.keys(o.kubelet.nodeLabels ?? {}))
      if (!/^([a-z0-9.-]+\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/.test(k))
        out.push(bad(`kubelet.nodeLabels.${k}`, "not a valid label key", "use prefix/name"));
    for (const [i, t] of (o.kubelet.nodeTaints ?? []).entries()) {
      const why = taintProblem(t);
      if (why) out.push(bad(`kubelet.nodeTaints[${i}]`, why, "see kubectl taint --help for the format"));
    }
  }
  for (const k of Object.keys(o.sysctls ?? {}))
    if (!/^[a-z0-9_]+([./][a-z0-9_-]+)*$/.test(k)) out.push(bad(`sysctls.${k}`, "not a sysctl key", "write keys like net.ipv4.ip_forward"));
  return out;
}

/** The GPT layout: BIOS boot (BIOS only), boot, ROOT-A, ROOT-B and PERSIST mounted at /var. */
export function layoutFragment(o: NodePresetOptions = {}): Fragment {
  const d = o.disk ?? {};
  const device = d.device ?? "/dev/vda";
  const uefi = d.firmware === "uefi";
  const parts: Partition[] = [];
  if (!uefi) parts.push({ number: 1, label: PARTITION_LABELS.biosBoot, sizeMiB: 1, typeGuid: PARTITION_TYPE_GUIDS.biosBoot });
  const bootLabel = uefi ? PARTITION_LABELS.esp : PARTITION_LABELS.boot;
  parts.push(
    { number: 2, label: bootLabel, sizeMiB: d.bootMiB ?? 256, typeGuid: uefi ? PARTITION_TYPE_GUIDS.esp : PARTITION_TYPE_GUIDS.xbootldr },
    { number: 3, label: PARTITION_LABELS.rootA, sizeMiB: d.rootMiB ?? 2048, typeGuid: PARTITION_TYPE_GUIDS.rootX86_64 },
    { number: 4, label: PARTITION_LABELS.rootB, sizeMiB: d.rootMiB ?? 2048, typeGuid: PARTITION_TYPE_GUIDS.rootX86_64 },
    { number: 5, label: PARTITION_LABELS.persist, sizeMiB: 0, typeGuid: PARTITION_TYPE_GUIDS.linuxData },
  );
  const persist = {
    device: `/dev/disk/by-partlabel/${PARTITION_LABELS.persist}`,
    format: "ext4",
    label: PARTITION_LABELS.persist,
    path: d.persistMountPoint ?? "/var",
  };
  return {
    name: "preset.layout",
    config: {
      storage: { disks: [{ device, wipeTable: false, partitions: parts }], filesystems: [persist] },
      systemd: { units: [mountUnit(persist, false)] },
    },
  };
}

/** The node agent: its unit, its config file and its runtime directory. */
export function agentFragment(o: NodePresetOptions = {}): Fragment {
  const settings = { socketPath: DEFAULT_SOCKET_PATH, ...(o.agent ?? {}) };
  const sorted = Object.fromEntries(Object.entries(settings).sort(([a], [b]) => a.localeCompare(b)));
  const unit = [
    "[Unit]",
    "Description=twinroot node agent (A/B root slots and boot loader)",
    "After=local-fs.target",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${AGENT_BINARY} serve --config ${AGENT_CONFIG_PATH}`,
    "Restart=always",
    "RestartSec=2",
    "RuntimeDirectory=twinroot",
    "RuntimeDirectoryMode=0700",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
  return {
    name: "preset.agent",
    config: {
      storage: { files: [dataFile(AGENT_CONFIG_PATH, `${JSON.stringify(sorted, null, 2)}\n`, 0o600)] },
      systemd: { units: [{ name: AGENT_UNIT, enabled: true, contents: unit }] },
    },
  };
}

/** The kubelet's bootstrap kubeconfig, cluster CA and a drop-in pointing the kubelet at them. */
export function kubeletFragment(o: NodePresetOptions): Fragment {
  const k = o.kubelet;
  if (!k) return { name: "preset.kubelet", config: {} };
  const kubeconfig = [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: cluster",
    "  cluster:",
    `    server: ${k.apiServer}`,
    "    certificate-authority: /etc/kubernetes/pki/ca.crt",
    "users:",
    "- name: kubelet-bootstrap",
    "  user:",
    `    token: ${k.bootstrapToken}`,
    "contexts:",
    "- name: bootstrap",
    "  context:",
    "    cluster: cluster",
    "    user: kubelet-bootstrap",
    "current-context: bootstrap",
    "",
  ].join("\n");
  const labels = Object.entries(k.nodeLabels ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([a, b]) => `${a}=${b}`)
    .join(",");
  const args = ["--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf", "--kubeconfig=/var/lib/kubelet/kubeconfig"];
  if (labels) args.push(`--node-labels=${labels}`);
  const taints = (k.nodeTaints ?? []).map((t) => `${t.key}=${t.value ?? ""}:${t.effect}`).join(",");
  if (taints) args.push(`--register-with-taints=${taints}`);
  return {
    name: "preset.kubelet",
    config: {
      storage: {
        files: [
          dataFile("/etc/kubernetes/bootstrap-kubelet.conf", kubeconfig, 0o600),
          dataFile("/etc/kubernetes/pki/ca.crt", k.caCert.endsWith("\n") ? k.caCert : `${k.caCert}\n`, 0o644),
        ],
      },
      systemd: {
        units: [
          {
            name: "kubelet.service",
            enabled: true,
            dropins: [{ name: "10-twinroot-join.conf", contents: `[Service]\nEnvironment="KUBELET_TWINROOT_ARGS=${args.join(" ")}"\n` }],
          },
        ],
      },
    },
  };
}

/** Hostname, admin SSH keys and sysctls. */
export function hostFragment(o: NodePresetOptions): Fragment {
  const files: File[] = [];
  if (o.hostname) files.push(dataFile("/etc/hostname", `${o.hostname}\n`, 0o644));
  const sysctls = Object.entries(o.sysctls ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (sysctls.length) files.push(dataFile("/etc/sysctl.d/90-twinroot.conf", sysctls.map(([k, v]) => `${k} = ${v}\n`).join(""), 0o644));
  const config: Partial<IgnitionConfig> = {};
  if (files.length) config.storage = { files };
  if (o.sshAuthorizedKeys?.length) config.passwd = { users: [{ name: o.user ?? "core", sshAuthorizedKeys: [...o.sshAuthorizedKeys] }] };
  return { name: "preset.host", config };
}

/** All preset fragments, in merge order. */
export function nodePreset(o: NodePresetOptions = {}): Fragment[] {
  return [layoutFragment(o), agentFragment(o), kubeletFragment(o), hostFragment(o)];
}

/** A node's config and whether it holds secrets. */
export interface NodeConfig {
  config: IgnitionConfig;
  /** True when the config carries the bootstrap token (treat the rendered JSON as a secret). */
  containsSecrets: boolean;
}

/**
 * The preset plus user snippets merged on top, validated for the target spec. Throws
 * {@link IgnitionConfigError} with every problem: bad options, a snippet that sets a
 * field of a preset entry differently (e.g. another `/etc/hostname`), or a merged
 * config Ignition would refuse.
 */
export function nodeConfig(o: NodePresetOptions = {}, snippets: readonly Fragment[] = []): NodeConfig {
  const spec = o.spec ?? "3.4.0";
  const problems = checkOptions(o);
  if (problems.length) throw new IgnitionConfigError(problems);
  const { config, problems: conflicts } = mergeFragments(spec, [...nodePreset(o), ...snippets]);
  const all = [...conflicts, ...validateConfig(config, { spec }).list.filter((p) => p.severity === "error")];
  if (all.length) throw new IgnitionConfigError(all);
  return { config, containsSecrets: o.kubelet !== undefined };
}
