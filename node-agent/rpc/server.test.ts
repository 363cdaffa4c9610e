import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { AgentError } from "../errors";
import { call, RpcError } from "./client";
import { PROTOCOL_VERSION, RPC_ERRORS } from "./protocol";
import { type Handlers, handleLine, serve } from "./server";

const calls: string[] = [];
const handlers: Handlers = {
  status: () => ({ ok: true }),
  stage: (p) => {
    throw new AgentError("digest-mismatch", `stage: bad digest for ${String(p.url)}`);
  },
  activate: (p) => {
    if (p.tries === 0) throw new AgentError("invalid-params", "tries must be 1-9");
    return { slot: "B", tries: p.tries, changed: true };
  },
  commit: () => {
    calls.push("commit");
    return { slot: "A", changed: false, checks: [] };
  },
  rollback: () => {
    throw new Error("boom");
  },
  reboot: () => ({ scheduled: true }),
};

const parse = async (line: string) => JSON.parse((await handleLine(line, handlers)) ?? "null");

test("answers requests, and maps agent errors to -32000 with a code", async () => {
  assert.deepEqual(await parse('{"jsonrpc":"2.0","id":7,"method":"status"}'), { jsonrpc: "2.0", id: 7, result: { ok: true } });
  assert.deepEqual(await parse('{"jsonrpc":"2.0","id":"x","method":"stage","params":{"url":"u"}}'), {
    jsonrpc: "2.0",
    id: "x",
    error: { code: RPC_ERRORS.agentError, message: "stage: bad digest for u", data: { code: "digest-mismatch" } },
  });
  assert.equal((await parse('{"jsonrpc":"2.0","id":1,"method":"activate","params":{"tries":0}}')).error.code, RPC_ERRORS.invalidParams);
  assert.equal((await parse('{"jsonrpc":"2.0","id":1,"method":"rollback"}')).error.code, RPC_ERRORS.internalError);
});

test("follows JSON-RPC 2.0 for malformed input, unknown methods, batches and notifications", async () => {
  assert.equal((await parse("{nope")).error.code, RPC_ERRORS.parseError);
  assert.equal((await parse('{"id":1,"method":"status"}')).error.code, RPC_ERRORS.invalidRequest);
  assert.equal((await parse('{"jsonrpc":"2.0","id":1,"method":"format"}')).error.code, RPC_ERRORS.methodNotFound);
  assert.equal((await parse('{"jsonrpc":"2.0","id":1,"method":"status","params":[1]}')).error.code, RPC_ERRORS.invalidParams);
  assert.equal((await parse("[]")).error.code, RPC_ERRORS.invalidRequest);
  const batch = await parse('[{"jsonrpc":"2.0","id":1,"method":"status"},{"jsonrpc":"2.0","method":"commit"},{"jsonrpc":"2.0","id":2,"method":"reboot"}]');
  assert.deepEqual(
    batch.map((r: { id: number }) => r.id),
    [1, 2],
  );
  assert.ok(calls.includes("commit"), "the notification ran");
  assert.equal(await handleLine('{"jsonrpc":"2.0","method":"commit"}', handlers), undefined, "no answer to a notification");
});

test("refuses another protocol version", async () => {
  const r = await parse(`{"jsonrpc":"2.0","id":1,"method":"status","params":{"protocol":${PROTOCOL_VERSION + 1}}}`);
  assert.equal(r.error.code, RPC_ERRORS.protocolMismatch);
  assert.deepEqual((await parse(`{"jsonrpc":"2.0","id":1,"method":"status","params":{"protocol":${PROTOCOL_VERSION}}}`)).result, { ok: true });
});

test("serves on a root-only Unix socket, replaces a stale one and refuses to steal a live one", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-rpc-"));
  const sock = path.join(dir, "run", "agent.sock");
  fs.mkdirSync(path.dirname(sock));
  fs.writeFileSync(sock, "");
  const srv = await serve(sock, handlers);
  try {
    assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
    assert.deepEqual(await call(sock, "status"), { ok: true });
    const err = await call(sock, "stage", { url: "u" }).catch((e: unknown) => e);
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, "digest-mismatch");
    await assert.rejects(serve(sock, handlers), /another agent is listening/);
  } finally {
    await srv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
