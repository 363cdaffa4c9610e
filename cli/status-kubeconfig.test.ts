import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { KubeError } from "../controller/kube/rest";
import { CRDS_MISSING, describeApiError, loadKubeconfig, StatusError } from "./status-kubeconfig";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-status-kc-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const write = (name: string, contexts: string[], current?: string, server = "https://127.0.0.1:6443") => {
  const file = path.join(dir, name);
  const yaml = [
    "apiVersion: v1",
    "kind: Config",
    `clusters: [${contexts.map((c) => `{name: ${c}, cluster: {server: "${server}/${name}/${c}"}}`).join(", ")}]`,
    `users: [${contexts.map((c) => `{name: ${c}, user: {token: t}}`).join(", ")}]`,
    `contexts: [${contexts.map((c) => `{name: ${c}, context: {cluster: ${c}, user: ${c}}}`).join(", ")}]`,
    current ? `current-context: ${current}` : "",
  ].join("\n");
  fs.writeFileSync(file, yaml);
  return file;
};
const refused = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StatusError, String(err));
    assert.match(err.message, message);
    assert.equal(err.exitCode, 3);
    return true;
  });

describe("loadKubeconfig", () => {
  it("uses --kubeconfig before $KUBECONFIG and the home directory, and --context over the current context", () => {
    const file = write("flag", ["a", "b"], "a");
    const home = fs.mkdtempSync(path.join(dir, "home-"));
    const loaded = loadKubeconfig({ file, env: write("env", ["x"], "x"), home });
    assert.deepEqual([loaded.files, loaded.context, loaded.server], [[file], "a", "https://127.0.0.1:6443/flag/a"]);
    assert.equal(loadKubeconfig({ file, context: "b", home }).server, "https://127.0.0.1:6443/flag/b");
  });

  it("merges the files of $KUBECONFIG as kubectl does: missing files skipped, the first to name something wins", () => {
    const first = write("first", ["shared"], "shared");
    const second = write("second", ["shared", "only-second"], "only-second");
    const loaded = loadKubeconfig({ env: [path.join(dir, "missing"), first, second].join(path.delimiter), home: dir });
    assert.deepEqual(loaded.files, [first, second]);
    assert.equal(loaded.context, "shared");
    assert.equal(loaded.server, "https://127.0.0.1:6443/first/shared");
    assert.equal(
      loadKubeconfig({ env: [first, second].join(path.delimiter), context: "only-second", home: dir }).server,
      "https://127.0.0.1:6443/second/only-second",
    );
  });

  it("falls back to ~/.kube/config", () => {
    const home = fs.mkdtempSync(path.join(dir, "home-"));
    fs.mkdirSync(path.join(home, ".kube"));
    fs.copyFileSync(write("homecfg", ["h"], "h"), path.join(home, ".kube", "config"));
    assert.equal(loadKubeconfig({ home }).context, "h");
  });

  it("says what to do when there is no kubeconfig, no such context or no current context", () => {
    const home = fs.mkdtempSync(path.join(dir, "home-"));
    refused(() => loadKubeconfig({ home }), /no kubeconfig: pass --kubeconfig FILE, set \$KUBECONFIG, or create .*\.kube\/config/);
    refused(() => loadKubeconfig({ env: path.join(dir, "nope"), home }), /none of the files in \$KUBECONFIG exists/);
    refused(() => loadKubeconfig({ file: path.join(dir, "nope"), home }), /cannot read the kubeconfig .*nope: no such file/);
    refused(() => loadKubeconfig({ file: write("ctx", ["a", "b"], "a"), context: "c", home }), /no context "c" \(it has: a, b\)/);
    refused(() => loadKubeconfig({ file: write("nocur", ["a"]), home }), /names no current context; pass --context \(it has: a\)/);
    fs.writeFileSync(path.join(dir, "empty"), "{}\n");
    refused(() => loadKubeconfig({ file: path.join(dir, "empty"), home }), /defines no clusters or contexts/);
  });
});

describe("describeApiError", () => {
  const opts = { twinroot: true, timedOut: false, timeoutMs: 20_000 };
  const server = "https://127.0.0.1:6443";

  it("turns a 404 on a twinroot resource into the CRDs-missing message, but not one on Nodes", () => {
    const notFound = new KubeError(404, "InvalidResponse", "kube: GET /apis/twinroot.dev/v1alpha1/osrollouts: 404: not JSON");
    assert.equal(describeApiError(notFound, server, "OsRollouts", opts).message, CRDS_MISSING);
    assert.match(describeApiError(notFound, server, "Nodes", { ...opts, twinroot: false }).message, /^reading Nodes failed: /);
  });

  it("names refused credentials, missing permissions, a refused connection and a timeout", () => {
    assert.match(describeApiError(new KubeError(401, "Unauthorized", "x"), server, "OsRollouts", opts).message, /does not accept the kubeconfig's credentials/);
    assert.match(describeApiError(new KubeError(403, "Forbidden", "no"), server, "Nodes", opts).message, /^not allowed to list Nodes \(403 Forbidden\)/);
    const refusedConn = new Error("kube: GET /x: connect ECONNREFUSED 127.0.0.1:1", { cause: new Error("connect ECONNREFUSED 127.0.0.1:1") });
    assert.equal(
      describeApiError(refusedConn, server, "OsRollouts", opts).message,
      `cannot reach the API server at ${server}: connect ECONNREFUSED 127.0.0.1:1`,
    );
    assert.equal(
      describeApiError(new Error("aborted"), server, "OsRollouts", { ...opts, timedOut: true }).message,
      `no answer from the API server at ${server} within 20s`,
    );
  });
});
