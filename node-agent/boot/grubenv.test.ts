import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { editGrubEnv, emptyGrubEnv, formatGrubEnv, GRUBENV_SIZE, grubEnvVars, parseGrubEnv, readGrubEnvFile, writeGrubEnvFile } from "./grubenv";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-grubenv-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));

const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,6}$/);
const value = fc.string({ unit: fc.constantFrom("a", "1", " ", "#", "=", "\\", "\n", "x", "-"), maxLength: 12 });
const op = fc.oneof(fc.tuple(fc.constant("set" as const), name, value), fc.tuple(fc.constant("unset" as const), name, fc.constant("")));

test("edits produce byte for byte the block grub-editenv produces", () => {
  let n = 0;
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 6 }), (ops) => {
      const file = path.join(dir, `env-${n++}`);
      execFileSync("grub-editenv", [file, "create"]);
      let ours = parseGrubEnv(fs.readFileSync(file));
      for (const [kind, k, v] of ops) {
        if (kind === "set") execFileSync("grub-editenv", [file, "set", `${k}=${v}`]);
        else execFileSync("grub-editenv", [file, "unset", k]);
        ours = editGrubEnv(ours, { [k]: kind === "set" ? v : undefined });
      }
      const theirs = fs.readFileSync(file);
      assert.equal(formatGrubEnv(ours).toString("latin1"), theirs.toString("latin1"));
      // And what we parse from their block is what they list.
      const listed = execFileSync("grub-editenv", [file, "list"], { encoding: "utf8" });
      const vars = [...grubEnvVars(parseGrubEnv(theirs))].map(([k, v]) => `${k}=${v}\n`).join("");
      assert.equal(vars, listed);
    }),
    { numRuns: 25 },
  );
});

test("format and parse are inverse, and every block is exactly 1024 bytes", () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.tuple(name, value), { selector: (x) => x[0], maxLength: 8 }), (pairs) => {
      const env = editGrubEnv(emptyGrubEnv(), Object.fromEntries(pairs));
      const block = formatGrubEnv(env);
      assert.equal(block.length, GRUBENV_SIZE);
      assert.deepEqual(parseGrubEnv(block), env);
    }),
  );
});

test("a block that would not fit, a bad name or a missing signature is an error", () => {
  assert.throws(() => formatGrubEnv(editGrubEnv(emptyGrubEnv(), { big: "x".repeat(1000) })), /do not fit in 1024/);
  assert.throws(() => formatGrubEnv(editGrubEnv(emptyGrubEnv(), { "a=b": "1" })), /invalid variable name/);
  assert.throws(() => parseGrubEnv(Buffer.alloc(1024, "#")), /no environment block signature/);
});

test("files are replaced atomically, and a missing file reads as empty", () => {
  const file = path.join(dir, "atomic");
  assert.deepEqual(readGrubEnvFile(file), emptyGrubEnv());
  writeGrubEnvFile(file, editGrubEnv(emptyGrubEnv(), { ORDER: "B A" }));
  assert.equal(execFileSync("grub-editenv", [file, "list"], { encoding: "utf8" }), "ORDER=B A\n");
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.includes("atomic")),
    ["atomic"],
    "no temporary file left",
  );
});
