// twinroot-agent: `serve` runs the agent on its socket (the systemd service); the other
// subcommands are for a person at the console and talk to the running agent.

import { parseArgs } from "node:util";
import { Agent } from "./agent";
import { type AgentConfig, loadConfig } from "./config";
import { AgentError } from "./errors";
import { call, RpcError } from "./rpc/client";
import { type Compression, DEFAULT_SOCKET_PATH, type Method, type MethodMap } from "./rpc/protocol";
import { type Handlers, serve } from "./rpc/server";
import type { SlotName } from "./slots/layout";
import { AGENT_VERSION } from "./version";

const HELP = `twinroot-agent ${AGENT_VERSION}: owns a node's A/B root slots and the boot loader's choice between them.

usage: twinroot-agent <command> [options]

commands:
  serve                 run the agent on its Unix socket (as root, from systemd)
  status                slots, versions, which slot is booted and which boots next
  stage --url URL [--digest SHA256] [--signature B64] [--version V] [--size BYTES]
        [--compression auto|none|gzip|zstd|xz] [--force]
                        download, write and verify an image into the inactive slot
  activate [--slot A|B] [--tries N]
                        boot the staged slot next, with N tries before GRUB falls back
  commit [--skip-health-checks]
                        after a boot: run the health checks and mark the booted slot good
  rollback              boot the other good slot next
  reboot                reboot the node

options:
  --socket PATH         the agent's socket (default ${DEFAULT_SOCKET_PATH})
  --config FILE         serve: config file (default /etc/twinroot/agent.json)
  --disk DEV            serve: the boot disk (default: found)
  --boot-dir DIR        serve: where the boot partition is mounted (default: found or mounted)
  --booted-slot A|B     serve: the running slot (default: twinroot.slot= on the kernel command line)
  --version, --help
`;

const options = {
  socket: { type: "string" },
  config: { type: "string" },
  disk: { type: "string" },
  "boot-dir": { type: "string" },
  "booted-slot": { type: "string" },
  url: { type: "string" },
  digest: { type: "string" },
  signature: { type: "string" },
  version: { type: "boolean" },
  "image-version": { type: "string" },
  size: { type: "string" },
  compression: { type: "string" },
  force: { type: "boolean" },
  slot: { type: "string" },
  tries: { type: "string" },
  "skip-health-checks": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

async function runServe(values: Record<string, string | boolean | undefined>): Promise<void> {
  const overrides: Partial<AgentConfig> = {};
  if (typeof values.socket === "string") overrides.socketPath = values.socket;
  if (typeof values.disk === "string") overrides.disk = values.disk;
  if (typeof values["boot-dir"] === "string") overrides.bootDir = values["boot-dir"];
  if (typeof values["booted-slot"] === "string") overrides.bootedSlot = values["booted-slot"] as SlotName;
  const cfg = loadConfig(typeof values.config === "string" ? values.config : "/etc/twinroot/agent.json", overrides);
  const agent = Agent.open(cfg);
  const handlers: Handlers = {
    status: () => agent.status(),
    stage: (p) => agent.stage(p as unknown as MethodMap["stage"]["params"]),
    activate: (p) => agent.activate(p as MethodMap["activate"]["params"]),
    commit: (p) => agent.commit(p as MethodMap["commit"]["params"]),
    rollback: () => agent.rollback(),
    reboot: () => agent.reboot(),
  };
  const srv = await serve(cfg.socketPath, handlers);
  process.stderr.write(`twinroot-agent ${AGENT_VERSION}: disk ${agent.layout.disk}, booted slot ${agent.booted ?? "unknown"}, serving on ${cfg.socketPath}\n`);
  const stop = () => {
    void srv.close().then(() => {
      agent.close();
      process.exit(0);
    });
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

function clientParams(cmd: Method, v: Record<string, string | boolean | undefined>): Record<string, unknown> {
  const num = (k: string) => (typeof v[k] === "string" ? Number(v[k]) : undefined);
  const drop = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined));
  switch (cmd) {
    case "stage":
      return drop({
        url: v.url,
        digest: v.digest,
        signature: v.signature,
        version: v["image-version"],
        size: num("size"),
        compression: v.compression as Compression | undefined,
        force: v.force,
      });
    case "activate":
      return drop({ slot: v.slot, tries: num("tries") });
    case "commit":
      return drop({ skipHealthChecks: v["skip-health-checks"] });
    default:
      return {};
  }
}

/** Runs the command line; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true });
  } catch (err) {
    process.stderr.write(`twinroot-agent: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const cmd = positionals[0];
  if (values.help || cmd === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version && !cmd) {
    process.stdout.write(`${AGENT_VERSION}\n`);
    return 0;
  }
  try {
    if (cmd === "serve") {
      await runServe(values);
      return -1;
    }
    if (cmd && ["status", "stage", "activate", "commit", "rollback", "reboot"].includes(cmd)) {
      const socket = typeof values.socket === "string" ? values.socket : DEFAULT_SOCKET_PATH;
      const result = await call(socket, cmd as Method, clientParams(cmd as Method, values) as never);
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return 0;
    }
  } catch (err) {
    const code = err instanceof AgentError || err instanceof RpcError ? ` [${err.code}]` : "";
    process.stderr.write(`twinroot-agent: ${(err as Error).message}${code}\n`);
    return 1;
  }
  process.stderr.write(cmd ? `twinroot-agent: unknown command ${cmd}\n\n${HELP}` : HELP);
  return 2;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    if (code >= 0) process.exit(code);
  });
}
