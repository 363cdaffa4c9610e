// `npm start`, the main job, as a person runs it: the whole demo on a fresh lab (real
// control plane, image server, lab machines with real agents on loop disks, the
// controller, the Pulumi CLI), read from its output as a person would read it.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { it } from "node:test";
import YAML from "yaml";
import { repoRoot } from "../../lab/harness/tools";
import { buildOsImage } from "../../lab/image-builder/os-image";
import { LAB_VERSIONS } from "../../lab/nodes/disk-lab";
import { runPrinted } from "./support/run";

const run = (args: string[], env: NodeJS.ProcessEnv) =>
  runPrinted(process.execPath, ["--import", "tsx", path.join(repoRoot, "lab", "main.ts"), ...args], { env });

it("pins in Pulumi.local.yaml the digest the lab builds for 1.0.0", () => {
  const doc = YAML.parse(fs.readFileSync(path.join(repoRoot, "programs", "local", "Pulumi.local.yaml"), "utf8")) as { config: Record<string, string> };
  const version = doc.config["twinroot-local:osImage.version"] as string;
  const built = buildOsImage(version, LAB_VERSIONS[version] ?? "good", 4, { kernel: false });
  assert.equal(doc.config["twinroot-local:osImage.digest"], built.digest);
});

it("npm start rolls the lab fleet from 1.0.0 to 1.1.0 through pulumi up, node by node, and tears it down", { timeout: 1_200_000 }, async () => {
  const labDir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-lab-start-"));
  try {
    const r = await run(["--nodes", "3"], { ...process.env, TWINROOT_LAB_DIR: labDir, TWINROOT_LAB_IMAGE_PORT: "0" });
    assert.equal(r.code, 0, r.out);
    const out = r.out;
    assert.match(out, /pulumi up: programs\/local at 1\.0\.0 with 3 lab machines/);
    assert.match(out, /fleet: 3 nodes on 1\.0\.0: lab-0, lab-1, lab-2/);
    assert.match(out, /osImage\.version 1\.0\.0 → 1\.1\.0; pulumi preview: 1 to update/);
    for (const n of ["lab-0", "lab-1", "lab-2"]) {
      assert.match(out, new RegExp(`${n} +\\S+ +→ Staging +1\\.0\\.0 → 1\\.1\\.0`), `${n} started staging`);
      assert.match(out, new RegExp(`${n} +Verifying +→ Done`), `${n} finished`);
      assert.match(out, new RegExp(`^ +${n} +1\\.1\\.0 +slot B +Done$`, "m"), `${n} ends on 1.1.0 from slot B`);
    }
    assert.match(out, /pulumi up done: the rollout is Complete/);
    assert.match(out, /max unavailable +1 at once/);
    assert.match(out, /pulumi destroy done/);
  } finally {
    fs.rmSync(labDir, { recursive: true, force: true });
  }
});
