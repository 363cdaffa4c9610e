import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { renderGrubCfg } from "./grubcfg";
import { MAX_TRIES } from "./machine";

const snapshot = path.join(__dirname, "testdata", "grub.cfg");
const opts = { slotPartitions: { A: 3, B: 4 }, cmdline: "console=ttyS0 panic=1", terminals: "serial" };

test("grub.cfg renders the same bytes as the reviewed snapshot (UPDATE_SNAPSHOTS=1 rewrites it)", () => {
  const text = renderGrubCfg(opts);
  if (process.env.UPDATE_SNAPSHOTS === "1") fs.writeFileSync(snapshot, text);
  assert.equal(text, fs.readFileSync(snapshot, "utf8"));
  assert.equal(renderGrubCfg(opts), text, "deterministic");
});

test("grub.cfg counts every try down by one with save_env, for both slots", () => {
  const text = renderGrubCfg(opts);
  for (const slot of ["A", "B"]) {
    for (let n = 1; n <= MAX_TRIES; n++) {
      assert.ok(text.includes(`[ "$${slot}_LEFT" = "${n}" ]; then\n          set ${slot}_LEFT=${n - 1}\n          save_env ${slot}_LEFT`), `${slot} ${n}`);
    }
  }
  assert.match(text, /set twinroot_part_A=gpt3\nset twinroot_part_B=gpt4/);
  assert.match(text, /root=PARTLABEL=\$label twinroot\.slot=\$1 console=ttyS0 panic=1/);
});

test("the partition numbers and terminals come from the options", () => {
  const text = renderGrubCfg({ slotPartitions: { A: 5, B: 6 } });
  assert.match(text, /set twinroot_part_A=gpt5\nset twinroot_part_B=gpt6/);
  assert.match(text, /terminal_output serial console/);
});
