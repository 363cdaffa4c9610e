// `npm start`: the local lab. Starts a real control plane (etcd + kube-apiserver) on
// loopback, deploys the default program (the root Pulumi.yaml) into it with the built
// Pulumi CLI, prints how to reach it, and keeps it running until Ctrl-C.
//
//   npm start                 run until interrupted
//   npm start -- --once       deploy, print, tear down (a quick check that it all works)

import fs from "node:fs";
import path from "node:path";
import { ControlPlane } from "./harness/control-plane";
import { PulumiStack } from "./harness/pulumi";
import { repoRoot } from "./harness/tools";

// Overridable so the lab's own test does not clobber a lab a developer is running.
const labDir = process.env.TWINROOT_LAB_DIR ?? path.join(repoRoot, ".lab");

async function main(argv: string[]): Promise<number> {
  const once = argv.includes("--once");
  fs.rmSync(labDir, { recursive: true, force: true });
  fs.mkdirSync(labDir, { recursive: true });
  console.log("lab: starting etcd and kube-apiserver ...");
  const cp = await ControlPlane.start({ dir: path.join(labDir, "control-plane"), keepDir: !once });
  let stack: PulumiStack | undefined;
  const shutdown = async () => {
    await stack?.destroy().catch((err: Error) => console.error(`lab: destroy failed: ${err.message}`));
    await cp.stop();
  };
  try {
    console.log(`lab: API server ready at ${cp.server}`);
    stack = await PulumiStack.create({ projectDir: repoRoot, stack: "local", stateDir: path.join(labDir, "pulumi"), secrets: { kubeconfig: cp.kubeconfig() } });
    console.log("lab: pulumi up (the default program) ...");
    const up = await stack.up();
    console.log(`lab: pulumi up done: ${JSON.stringify(up.changes)}`);
    console.log(`lab: outputs ${JSON.stringify(await stack.outputs())}`);
    console.log(`\n  export KUBECONFIG=${cp.kubeconfigPath}\n  kubectl get namespaces\n`);
    if (once) {
      await shutdown();
      return 0;
    }
    console.log("lab: running; Ctrl-C stops it and removes what it deployed");
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    console.log("\nlab: stopping ...");
    await shutdown();
    return 0;
  } catch (err) {
    await shutdown();
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`lab: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
