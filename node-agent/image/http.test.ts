import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { createPki } from "../../lab/harness/pki";
import { get, parseHead } from "./http";

/**
 * A server that answers every connection with `reply`, then does `end`. `drip`: one piece
 * per timer tick, so that the client reads them separately.
 */
async function rawServer(
  reply: Buffer[],
  end: "close" | "reset" | "hold" = "close",
  drip = false,
): Promise<{ url: string; requests: string[]; close: () => void }> {
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.once("data", async (d) => {
      requests.push(d.toString("latin1"));
      for (const part of reply) {
        s.write(part);
        if (drip) await new Promise((r) => setTimeout(r, 1));
      }
      if (end === "close") s.end();
      else if (end === "reset") s.resetAndDestroy();
    });
    s.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/some/image?x=1`,
    requests,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** Reads a whole body; `pauseEvery` pauses after that many chunks and resumes a moment later. */
async function readBody(url: string, pauseEvery = 0): Promise<{ status: number; headers: Record<string, string>; body: Buffer; chunks: number }> {
  const res = await get(new URL(url));
  const parts: Buffer[] = [];
  let n = 0;
  await res.body((c) => {
    parts.push(Buffer.from(c));
    n++;
    if (pauseEvery && n % pauseEvery === 0) {
      setTimeout(() => res.resume(), 2);
      return false;
    }
    return true;
  });
  return { status: res.status, headers: res.headers, body: Buffer.concat(parts), chunks: n };
}

const payload = randomBytes(300_000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-http-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test("parses a response head: status, lower-case names, repeated headers joined", () => {
  assert.deepEqual(parseHead('HTTP/1.1 206 Partial Content\r\nETag: "a"\r\nX-A: 1\r\nx-a: 2'), { status: 206, headers: { etag: '"a"', "x-a": "1, 2" } });
  assert.throws(() => parseHead("SSH-2.0-OpenSSH"), /not an HTTP/);
  assert.throws(() => parseHead("HTTP/1.1 200 OK\r\nno colon"), /malformed header/);
});

test("sends one GET with Host, Range and Connection: close, and reads a Content-Length body", async () => {
  const srv = await rawServer([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length}\r\n\r\n`), payload]);
  try {
    const url = new URL(srv.url);
    const res = await get(url, { headers: { Range: "bytes=5-" } });
    const parts: Buffer[] = [];
    await res.body((c) => parts.push(Buffer.from(c)) > 0);
    assert.equal(res.status, 200);
    assert.ok(Buffer.concat(parts).equals(payload));
    const req = srv.requests[0] as string;
    assert.match(req, /^GET \/some\/image\?x=1 HTTP\/1\.1\r\n/);
    assert.match(req, new RegExp(`\r\nhost: ${url.host}\r\n`));
    assert.match(req, /\r\nrange: bytes=5-\r\n/);
    assert.match(req, /\r\nconnection: close\r\n/);
  } finally {
    srv.close();
  }
});

test("an empty body (Content-Length: 0, 204) is complete with the head, whatever the server does next", async () => {
  for (const head of ["HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-4/5\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n"]) {
    const srv = await rawServer([Buffer.from(head)], "hold");
    try {
      const r = await readBody(srv.url);
      assert.equal(r.chunks, 0);
    } finally {
      srv.close();
    }
  }
});

test("decodes a chunked body split at every awkward place, and skips an interim 100 response", async () => {
  const body = Buffer.concat([
    Buffer.from("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
    Buffer.from(`${(100_000).toString(16)};ext=1\r\n`),
    payload.subarray(0, 100_000),
    Buffer.from(`\r\n${(200_000).toString(16).toUpperCase()}\r\n`),
    payload.subarray(100_000),
    Buffer.from("\r\n0\r\nX-Trailer: y\r\n\r\n"),
  ]);
  // Written a few bytes at a time around the chunk framing, so lines arrive in pieces.
  const pieces: Buffer[] = [];
  for (let i = 0; i < body.length; ) {
    const n = i < 120 || body.length - i < 40 ? 3 : 50_000;
    pieces.push(body.subarray(i, i + n));
    i += n;
  }
  const srv = await rawServer(pieces, "close", true);
  try {
    const r = await readBody(srv.url, 3);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(payload));
  } finally {
    srv.close();
  }
});

test("a body that ends with the connection is complete; one cut short of its length is an error", async () => {
  let srv = await rawServer([Buffer.from("HTTP/1.0 200 OK\r\n\r\n"), payload]);
  try {
    assert.ok((await readBody(srv.url)).body.equals(payload));
  } finally {
    srv.close();
  }
  srv = await rawServer([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length + 10}\r\n\r\n`), payload]);
  try {
    await assert.rejects(readBody(srv.url), new RegExp(`connection closed at byte ${payload.length} of ${payload.length + 10}`));
  } finally {
    srv.close();
  }
  srv = await rawServer([Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n")]);
  try {
    await assert.rejects(readBody(srv.url), /connection closed at byte 16 of the body/);
  } finally {
    srv.close();
  }
  srv = await rawServer([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length + 10}\r\n\r\n`), payload], "reset");
  try {
    await assert.rejects(readBody(srv.url), /ECONNRESET|connection closed/);
  } finally {
    srv.close();
  }
});

test("a body whose last bytes wait while the consumer is paused is still complete when the server has closed", async () => {
  const srv = await rawServer([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length}\r\n\r\n`), payload]);
  try {
    const res = await get(new URL(srv.url));
    // Let the whole response and the close arrive before the body is read at all.
    await new Promise((r) => setTimeout(r, 50));
    const parts: Buffer[] = [];
    await res.body((c) => {
      parts.push(Buffer.from(c));
      setTimeout(() => res.resume(), 1);
      return false;
    });
    assert.ok(Buffer.concat(parts).equals(payload));
  } finally {
    srv.close();
  }
});

test("garbage, an oversized head, a bad chunk size and an idle server are errors; an exception of the consumer ends the body", async () => {
  for (const [reply, expect] of [
    [Buffer.from("SSH-2.0-OpenSSH_9.2\r\n\r\n"), /not an HTTP/],
    [Buffer.from(`HTTP/1.1 200 OK\r\nX: ${"a".repeat(70_000)}`), /response head larger than/],
    [Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), /bad chunk size/],
    [Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n"), /bad Content-Length/],
  ] as const) {
    const srv = await rawServer([reply]);
    try {
      await assert.rejects(readBody(srv.url), expect);
    } finally {
      srv.close();
    }
  }
  const idle = await rawServer([Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345")], "hold");
  try {
    const res = await get(new URL(idle.url), { idleTimeoutMs: 200 });
    await assert.rejects(
      res.body(() => true),
      /idle too long/,
    );
  } finally {
    idle.close();
  }
  const srv = await rawServer([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length}\r\n\r\n`), payload]);
  try {
    const res = await get(new URL(srv.url));
    await assert.rejects(
      res.body(() => {
        throw new Error("disk full");
      }),
      /disk full/,
    );
  } finally {
    srv.close();
  }
});

test("speaks TLS with a given CA, and refuses a server the CA did not sign", async () => {
  const pki = createPki(path.join(dir, "pki"));
  const big = randomBytes(3 << 20);
  const server = https.createServer({ cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey) }, (_req, res) => {
    res.writeHead(200, { "content-length": big.length });
    res.end(big);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = new URL(`https://127.0.0.1:${(server.address() as net.AddressInfo).port}/x`);
  try {
    const res = await get(url, { ca: fs.readFileSync(pki.caCert) });
    const parts: Buffer[] = [];
    let n = 0;
    let paused = false;
    await res.body((c) => {
      // TLS keeps handing over what it already decrypted after a pause: kept, not passed on, not lost.
      assert.equal(paused, false, "a chunk came while paused");
      parts.push(Buffer.from(c));
      if (++n % 7 === 0) {
        paused = true;
        setTimeout(() => {
          paused = false;
          res.resume();
        }, 1);
        return false;
      }
      return true;
    });
    assert.ok(Buffer.concat(parts).equals(big));
    await assert.rejects(get(url), /self-signed|unable to verify|certificate/);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
