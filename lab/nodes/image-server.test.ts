import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { startImageServer } from "./image-server";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-image-server-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = path.join(dir, "image.raw");
const data = randomBytes((3 << 20) + 12345);
fs.writeFileSync(file, data);

/** GETs `url`; resolves with the status, headers and the body bytes that arrived before the end or a cut. */
function get(url: string, ca: Buffer, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer; complete: boolean }>((resolve, reject) => {
    const req = https.get(url, { ca, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), complete: res.complete });
      res.on("end", done);
      res.on("aborted", done);
      res.on("error", done);
    });
    req.on("error", reject);
  });
}

for (const memory of [false, true]) {
  test(`serves whole files, ranges and faults the same ${memory ? "from memory" : "from the file"}`, async () => {
    const server = await startImageServer(path.join(dir, `srv-${memory}`), undefined, { memory });
    try {
      server.files.set("/image.raw", file);
      const ca = fs.readFileSync(server.caFile);
      const url = server.url("/image.raw");

      const whole = await get(url, ca);
      assert.equal(whole.status, 200);
      assert.ok(whole.complete);
      assert.ok(whole.body.equals(data));

      const part = await get(url, ca, { range: "bytes=1000-" });
      assert.equal(part.status, 206);
      assert.equal(part.headers["content-range"], `bytes 1000-${data.length - 1}/${data.length}`);
      assert.ok(part.body.equals(data.subarray(1000)));

      server.faults.set("/image.raw", { dropAfter: 70_000, dropTimes: 1 });
      const dropped = await get(url, ca);
      assert.equal(dropped.complete, false);
      assert.ok(dropped.body.equals(data.subarray(0, 70_000)));
      assert.ok((await get(url, ca)).body.equals(data), "only the first request is dropped");

      server.faults.set("/image.raw", { cutAt: 2_000_000 });
      const cut = await get(url, ca, { range: "bytes=500000-" });
      assert.equal(cut.complete, false);
      assert.ok(cut.body.equals(data.subarray(500_000, 2_000_000)));
      // Two whole files, the range, the dropped start and the cut range.
      assert.equal(server.sent.get("/image.raw"), 2 * data.length + (data.length - 1000) + 70_000 + 1_500_000);
    } finally {
      await server.close();
    }
  });
}
