import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { discoverLayout } from "./disk";
import { GptError, readGpt } from "./gpt";
import { PARTITION_TYPE_GUIDS } from "./layout";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-gpt-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));

/** A sparse disk file with the A/B layout, partitioned by sgdisk (no loop device needed). */
let template: string | undefined;
function makeDisk(name: string): string {
  const file = path.join(dir, name);
  if (template) {
    execFileSync("cp", ["--sparse=always", template, file]);
    return file;
  }
  execFileSync("truncate", ["-s", "128M", file]);
  execFileSync(
    "sgdisk",
    [
      "-n1:2048:+1M",
      "-t1:ef02",
      "-c1:BIOS-BOOT",
      "-n2:0:+16M",
      "-t2:ea00",
      "-c2:BOOT",
      "-n3:0:+40M",
      "-t3:8304",
      "-c3:ROOT-A",
      "-n4:0:+40M",
      "-t4:8304",
      "-c4:ROOT-B",
      "-n5:0:0",
      "-t5:8300",
      "-c5:PERSIST",
      file,
    ],
    { stdio: "ignore" },
  );
  template = path.join(dir, "template.img");
  execFileSync("cp", ["--sparse=always", file, template]);
  return file;
}

function fileReader(file: string) {
  return (offset: number, length: number) => {
    const fd = fs.openSync(file, "r");
    try {
      const b = Buffer.alloc(length);
      fs.readSync(fd, b, 0, length, offset);
      return b;
    } finally {
      fs.closeSync(fd);
    }
  };
}

test("reads the partitions sgdisk wrote: numbers, labels, types, offsets and sizes", () => {
  const file = makeDisk("plain.img");
  const gpt = readGpt(fileReader(file));
  assert.deepEqual(
    gpt.partitions.map((p) => [p.number, p.label]),
    [
      [1, "BIOS-BOOT"],
      [2, "BOOT"],
      [3, "ROOT-A"],
      [4, "ROOT-B"],
      [5, "PERSIST"],
    ],
  );
  const a = gpt.partitions[2];
  assert.equal(a?.typeGuid, PARTITION_TYPE_GUIDS.rootX86_64);
  assert.equal(gpt.partitions[1]?.typeGuid, PARTITION_TYPE_GUIDS.xbootldr);
  const info = execFileSync("sgdisk", ["-i", "3", file], { encoding: "utf8" });
  assert.equal(a?.uniqueGuid, /Partition unique GUID: (\S+)/.exec(info)?.[1]);
  assert.equal(a?.firstLba, BigInt(/First sector: (\d+)/.exec(info)?.[1] ?? -1));
  assert.equal(a?.sizeBytes, 40 << 20);
  assert.equal(a?.offsetBytes, Number(a?.firstLba) * 512);
});

test("a damaged header or entry array is refused, not guessed", () => {
  const file = makeDisk("broken.img");
  const bytes = fs.readFileSync(file);
  const badHeader = Buffer.from(bytes);
  badHeader[512 + 40] = (badHeader[512 + 40] as number) ^ 1;
  assert.throws(
    () => readGpt((o, l) => badHeader.subarray(o, o + l), 512),
    (e: unknown) => e instanceof GptError && e.code === "bad-header-crc",
  );
  const badEntries = Buffer.from(bytes);
  badEntries[1024 + 128 * 2 + 60] = 0x41;
  assert.throws(
    () => readGpt((o, l) => badEntries.subarray(o, o + l), 512),
    (e: unknown) => e instanceof GptError && e.code === "bad-entries-crc",
  );
  assert.throws(
    () => readGpt(() => Buffer.alloc(512)),
    (e: unknown) => e instanceof GptError && e.code === "no-gpt",
  );
});

for (const [disk, sep] of [
  ["vda", ""],
  ["nvme0n1", "p"],
  ["mmcblk0", "p"],
  ["loop7", "p"],
] as const) {
  test(`finds the slots whatever the device naming (${disk}${sep}3)`, () => {
    // A fake sysfs and /dev: the disk "device" is the image file; partition nodes are files.
    const root = path.join(dir, disk);
    const dev = path.join(root, "dev");
    fs.mkdirSync(dev, { recursive: true });
    fs.renameSync(makeDisk(`${disk}.img`), path.join(dev, disk));
    for (let n = 1; n <= 5; n++) {
      const part = `${disk}${sep}${n}`;
      fs.mkdirSync(path.join(root, "sys/class/block", disk, part), { recursive: true });
      fs.writeFileSync(path.join(root, "sys/class/block", disk, part, "partition"), `${n}\n`);
      fs.writeFileSync(path.join(dev, part), "");
    }
    const layout = discoverLayout(path.join(dev, disk), { sysfs: path.join(root, "sys"), dev });
    assert.equal(layout.slots.A.device, path.join(dev, `${disk}${sep}3`));
    assert.equal(layout.slots.B.device, path.join(dev, `${disk}${sep}4`));
    assert.equal(layout.boot.device, path.join(dev, `${disk}${sep}2`));
    assert.equal(layout.persist?.label, "PERSIST");
  });
}
