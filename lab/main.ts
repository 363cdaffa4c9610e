// `npm start`: the whole twinroot workflow on this machine, with no cloud. Starts the
// local lab (etcd + kube-apiserver, an HTTPS image server with the lab's OS versions,
// the node API for lab machines, the controller), runs `pulumi up` of programs/local at
// 1.0.0 (CRDs, RBAC, the controller's workloads, the rollout and N lab machines, each a
// loop-backed A/B disk with a real agent and proxy), then bumps the stack's
// osImage.version to 1.1.0 and runs `pulumi up` again, printing the rollout node by node
// as it happens, and ends with a summary.
//
//   npm start                      the demo, then pulumi destroy and the lab stops
//   npm start -- --keep            the demo, then the lab keeps running (Ctrl-C stops it)
//   npm start -- --nodes 6         lab machines in the pool (default 4)
//   npm start -- --to 1.2.0        the version to roll to (default 1.1.0; the lab's 1.2.0
//                                  fails its health check, 1.3.0 does not boot)

import fs from "node:fs";
import path from "node:path";
import { sleep } from "../controller/kube/backoff";
import { createLogger } from "../controller/kube/log";
import { Kube } from "../controller/kube/rest";
import { PulumiCommandError, PulumiStack } from "./harness/pulumi";
import { repoRoot, toolsBin } from "./harness/tools";
import { Lab } from "./lab";
import { type PhaseChange, RolloutObserver } from "./observe";

/** The lab's state folder; overridable so the lab's own test does not clobber a running lab. */
const labDir = process.env.TWINROOT_LAB_DIR ?? path.join(repoRoot, ".lab");
const programDir = path.join(repoRoot, "programs", "local");
const PASSPHRASE = "twinroot-lab";

interface Args {
  keep: boolean;
  nodes: number;
  from: string;
  to: string;
  imagePort: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { keep: false, nodes: 4, from: "1.0.0", to: "1.1.0", imagePort: Number(process.env.TWINROOT_LAB_IMAGE_PORT ?? 8443) };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${x} needs a value`);
      return v;
    };
    if (x === "--keep") a.keep = true;
    else if (x === "--nodes") a.nodes = Number(value());
    else if (x === "--to") a.to = value();
    else if (x === "--from") a.from = value();
    else throw new Error(`unknown option ${x}; use --keep, --nodes N, --from VERSION, --to VERSION`);
  }
  if (!Number.isInteger(a.nodes) || a.nodes < 1 || a.nodes > 50) throw new Error("--nodes: give a whole number from 1 to 50");
  return a;
}

const t0 = Date.now();
const clock = () => {
  const s = Math.round((Date.now() - t0) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
};
const say = (msg: string) => console.log(`[${clock()}] ${msg}`);

function formatSeconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

function phaseLine(c: PhaseChange): string {
  const versions = c.targetVersion && c.bootedVersion !== c.targetVersion ? `${c.bootedVersion ?? "?"} → ${c.targetVersion}` : (c.bootedVersion ?? "");
  const detail = c.message ? `  ${c.message}` : "";
  return `  ${c.node.padEnd(8)} ${(c.from ?? "—").padEnd(10)} → ${c.to.padEnd(10)} ${versions}${detail}`;
}

/** Sets the stack's osImage.* to one of the lab's versions. */
async function setImage(stack: PulumiStack, lab: Lab, version: string): Promise<void> {
  const image = lab.image(version);
  await stack.setConfig("osImage.version", image.version);
  await stack.setConfig("osImage.url", image.url);
  await stack.setConfig("osImage.digest", image.digest ?? "");
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  fs.rmSync(labDir, { recursive: true, force: true });
  fs.mkdirSync(labDir, { recursive: true });
  // The lab's own log (node API, proxies) goes to a file: the terminal shows the rollout.
  const logFile = path.join(labDir, "lab.log");
  const log = createLogger({ component: "lab" }, undefined, (line) => fs.appendFileSync(logFile, `${line}\n`));
  say("starting the local lab: etcd, kube-apiserver, OS images, image server, node API, controller");
  const lab = await Lab.start({ dir: labDir, imagePort: args.imagePort, log });
  let stack: PulumiStack | undefined;
  let observer: RolloutObserver | undefined;
  const admin = new Kube(lab.kubeConfig(), undefined, "lab-main");
  const shutdown = async () => {
    await observer?.stop();
    if (stack) {
      say("pulumi destroy ...");
      const d = await stack.destroy().catch((err: Error) => {
        console.error(`lab: destroy failed: ${err.message}`);
        return undefined;
      });
      if (d) say(`pulumi destroy done: ${JSON.stringify(d.changes)}`);
    }
    admin.close();
    await lab.stop();
  };
  try {
    say(`API server ${lab.controlPlane.server}; images ${lab.image(args.from).url.replace(/\/images\/.*$/, "")}; node API ${lab.nodeApi.endpoint}`);
    stack = await PulumiStack.create({
      projectDir: programDir,
      stack: "local",
      stateDir: path.join(labDir, "pulumi"),
      configTemplate: path.join(programDir, "Pulumi.local.yaml"),
      passphrase: PASSPHRASE,
      config: { "lab.endpoint": lab.nodeApi.endpoint, "lab.nodes": String(args.nodes) },
      secrets: { kubeconfig: lab.kubeconfig() },
    });
    await setImage(stack, lab, args.from);

    say(`pulumi up: programs/local at ${args.from} with ${args.nodes} lab machines ...`);
    const first = await stack.up();
    say(
      `pulumi up done in ${formatSeconds((first.events.find((e) => e.summaryEvent)?.summaryEvent?.durationSeconds ?? 0) * 1000)}: ${JSON.stringify(first.changes)}`,
    );
    observer = new RolloutObserver(admin, log);
    await observer.start();
    const nodes = (await stack.outputs()).nodes as string[];
    say(`fleet: ${nodes.length} nodes on ${args.from}: ${nodes.join(", ")}`);

    await setImage(stack, lab, args.to);
    const preview = await stack.preview();
    const planned = Object.entries(preview.changes)
      .filter(([k]) => k !== "same")
      .map(([k, n]) => `${n} to ${k}`)
      .join(", ");
    say(`osImage.version ${args.from} → ${args.to}; pulumi preview: ${planned || "no changes"}`);
    say(`pulumi up: the controller rolls the fleet to ${args.to} (max unavailable from Pulumi.local.yaml) ...`);
    observer.resetMax();
    observer.onPhase = (c) => console.log(`[${clock()}] ${phaseLine(c)}`);
    const rolloutStart = Date.now();
    let failed: string | undefined;
    try {
      await stack.up();
    } catch (err) {
      if (!(err instanceof PulumiCommandError)) throw err;
      failed = err.result.diagnostics.find((d) => d.severity === "error")?.message.trim() ?? err.message;
    }
    const took = Date.now() - rolloutStart;
    observer.onPhase = undefined;
    const seen = observer.observation;
    console.log("");
    say(failed ? "pulumi up FAILED: the rollout halted" : "pulumi up done: the rollout is Complete");
    console.log(`  rollout time        ${formatSeconds(took)}`);
    console.log(`  max unavailable     ${seen.maxUnavailable} at once (watched on ${seen.nodeChanges} Node changes)`);
    console.log(`  nodes               ${nodes.length}`);
    for (const n of nodes) {
      const o = observer.osNode(n);
      console.log(`    ${n.padEnd(8)} ${String(o?.status?.bootedVersion ?? "?").padEnd(8)} slot ${o?.status?.bootedSlot ?? "?"}  ${o?.status?.phase ?? ""}`);
    }
    if (failed) console.log(`  reason              ${failed.split("\n").join("\n                      ")}`);

    if (!args.keep) {
      await shutdown();
      return failed ? 1 : 0;
    }
    console.log(`
The lab keeps running. In another shell:

  export KUBECONFIG=${lab.controlPlane.kubeconfigPath}
  export PATH="${toolsBin}:$PATH" PULUMI_BACKEND_URL="file://${path.join(labDir, "pulumi", "backend")}"
  export PULUMI_HOME="${path.join(labDir, "pulumi", "home")}" PULUMI_CONFIG_PASSPHRASE=${PASSPHRASE} PULUMI_SKIP_UPDATE_CHECK=true
  cd programs/local
  node --import tsx ../../cli/main.ts status --watch        # the fleet, live
  pulumi --stack local --config-file ${stack.configFile} config    # the stack's config (a copy of Pulumi.local.yaml)

The lab serves these versions (1.2.0 fails its health check, 1.3.0 does not boot):
${[...lab.disks.images.values()].map((i) => `  ${i.version.padEnd(6)} ${lab.image(i.version).url}  ${i.digest}`).join("\n")}

Roll to another one by setting osImage.version, osImage.url and osImage.digest with
\`pulumi --stack local --config-file ${stack.configFile} config set ...\`, then
\`pulumi --stack local --config-file ${stack.configFile} up\`.
Ctrl-C here runs pulumi destroy and stops the lab.`);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    console.log("");
    await shutdown();
    return 0;
  } catch (err) {
    console.error(`lab: failed; the lab's log is ${logFile}, the controller's ${path.join(labDir, "controller", "controller.log")}`);
    await shutdown();
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Give buffered output a moment, then end even if a handle lingers.
    void sleep(100).then(() => process.exit(code));
  },
  (err: unknown) => {
    console.error(`lab: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
