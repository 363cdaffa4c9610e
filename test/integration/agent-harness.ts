// Helpers for the agent's L3/L4 tests: loop-backed lab disks, an HTTPS image server on
// 127.0.0.1 with Range/ETag support and fault injection, and the agent as a real
// process (so it can be SIGKILLed) serving on a socket in the test's directory.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import { createPki, type Pki } from "../../lab/harness/pki";
import { type ManagedProcess, startManaged } from "../../lab/harness/process";
import { copyDisk, DISK_PARTITIONS, labDisk } from "../../lab/image-builder/disk-image";
import { attachLoop, type LoopDisk, mountExt4 } from "../../lab/image-builder/loop";
import { cacheDir, type OsImage } from "../../lab/image-builder/os-image";
import { bootStateFromEnv } from "../../node-agent/boot/chooser";
import { parseGrubEnv } from "../../node-agent/boot/grubenv";
import type { BootState } from "../../node-agent/boot/machine";
import type { AgentConfig } from "../../node-agent/config";
import { call } from "../../node-agent/rpc/client";
import type { Method, MethodMap } from "../../node-agent/rpc/protocol";
import { majMinOf, mountPointOf } from "../../node-agent/slots/disk";
import { AGENT_STATE_FILE } from "../../node-agent/slots/layout";
import { type AgentState, readAgentState } from "../../node-agent/slots/state";

const root = path.resolve(__dirname, "../..");

/** A private copy of the lab disk (1.0.0 committed in slot A), attached to a loop device. */
export function labLoopDisk(dir: string): { loop: LoopDisk; file: string; image: OsImage } {
  const { disk, image } = labDisk();
  const file = copyDisk(disk, dir);
  return { loop: attachLoop(file), file, image };
}

/** Compressed copies of an image, cached next to it. */
export function compressed(image: OsImage, format: "gzip" | "zstd" | "xz"): string {
  const out = path.join(cacheDir(), `${path.basename(image.path)}.${format === "gzip" ? "gz" : format === "zstd" ? "zst" : "xz"}`);
  if (fs.existsSync(out)) return out;
  const cmd = format === "gzip" ? ["gzip", "-1", "-c"] : format === "zstd" ? ["zstd", "-1", "-q", "-c"] : ["xz", "-1", "-T1", "-c"];
  const data = execFileSync(cmd[0] as string, [...cmd.slice(1), image.path], { maxBuffer: 256 << 20 });
  fs.writeFileSync(`${out}.tmp`, data);
  fs.renameSync(`${out}.tmp`, out);
  return out;
}

/** What the image server does wrong on purpose, per path. */
export interface Fault {
  /** Close the connection after this many body bytes... */
  dropAfter?: number;
  /** ...for this many requests (default: all). */
  dropTimes?: number;
  /** Stop every response at this absolute byte of the file (a file cut short behind a full Content-Length). */
  cutAt?: number;
  /** Answer Range requests with the whole file (200). */
  ignoreRange?: boolean;
}

/** A request the server saw. */
export interface SeenRequest {
  path: string;
  range?: string;
  status: number;
}

/** An HTTPS server for image files on 127.0.0.1. */
export interface ImageServer {
  url(p: string): string;
  caFile: string;
  files: Map<string, string>;
  faults: Map<string, Fault>;
  seen: SeenRequest[];
  /** Body bytes sent, by path. */
  sent: Map<string, number>;
  close(): Promise<void>;
}

/** Starts the image server; its certificate comes from a throwaway CA written under `dir`. */
export async function startImageServer(dir: string, pki?: Pki): Promise<ImageServer> {
  const p = pki ?? createPki(path.join(dir, "pki"));
  const files = new Map<string, string>();
  const faults = new Map<string, Fault>();
  const seen: SeenRequest[] = [];
  const drops = new Map<string, number>();
  const sentByPath = new Map<string, number>();
  const server = https.createServer({ cert: fs.readFileSync(p.serverCert), key: fs.readFileSync(p.serverKey) }, (req, res) => {
    const urlPath = (req.url ?? "/").split("?")[0] as string;
    const file = files.get(urlPath);
    if (!file) {
      seen.push({ path: urlPath, status: 404 });
      res.writeHead(404).end();
      return;
    }
    const size = fs.statSync(file).size;
    const etag = `"${createHash("sha256")
      .update(`${file}:${size}:${fs.statSync(file).mtimeMs}`)
      .digest("hex")
      .slice(0, 16)}"`;
    const fault = faults.get(urlPath) ?? {};
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ""));
    const ifRange = req.headers["if-range"];
    let start = 0;
    let status = 200;
    if (range && !fault.ignoreRange && (!ifRange || ifRange === etag)) {
      start = Number(range[1]);
      status = 206;
    }
    if (status === 206 && start >= size) {
      // Like a real server: nothing from there on.
      seen.push({ path: urlPath, range: String(req.headers.range), status: 416 });
      res.writeHead(416, { "content-range": `bytes */${size}`, etag }).end();
      return;
    }
    seen.push({ path: urlPath, ...(req.headers.range ? { range: String(req.headers.range) } : {}), status });
    const headers: Record<string, string | number> = { "content-length": size - start, etag, "accept-ranges": "bytes" };
    if (status === 206) headers["content-range"] = `bytes ${start}-${size - 1}/${size}`;
    res.writeHead(status, headers);
    const n = drops.get(urlPath) ?? 0;
    const drop = fault.dropAfter !== undefined && (fault.dropTimes === undefined || n < fault.dropTimes);
    if (drop) drops.set(urlPath, n + 1);
    let limit = drop ? (fault.dropAfter as number) : Number.POSITIVE_INFINITY;
    if (fault.cutAt !== undefined) limit = Math.min(limit, Math.max(0, fault.cutAt - start));
    let sent = 0;
    const stream = fs.createReadStream(file, { start, highWaterMark: 1 << 20 });
    stream.on("data", (chunk) => {
      const c = chunk as Buffer;
      const take = Math.min(c.length, limit - sent);
      sent += take;
      sentByPath.set(urlPath, (sentByPath.get(urlPath) ?? 0) + take);
      if (sent >= limit) {
        stream.destroy();
        // Cut the connection mid-body once what was written has left the process.
        res.write(c.subarray(0, take), () => res.socket?.destroy());
        return;
      }
      if (!res.write(c)) {
        stream.pause();
        res.once("drain", () => stream.resume());
      }
    });
    stream.on("end", () => res.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: (q) => `https://127.0.0.1:${port}${q}`,
    caFile: p.caCert,
    files,
    faults,
    seen,
    sent: sentByPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An agent process under test. */
export interface AgentProcess {
  socket: string;
  proc: ManagedProcess;
  call<M extends Method>(method: M, params?: MethodMap[M]["params"]): Promise<MethodMap[M]["result"]>;
  /** Resolves with the exit code or signal once the process has ended. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/** Starts `twinroot-agent serve` on `disk` (through tsx, or a given executable) and waits for its socket. */
export async function startAgent(
  dir: string,
  disk: string,
  config: Partial<AgentConfig> = {},
  opts: { failpoint?: string; executable?: string; name?: string } = {},
): Promise<AgentProcess> {
  const name = opts.name ?? "agent";
  const socket = path.join(dir, `${name}.sock`);
  const cfgFile = path.join(dir, `${name}.json`);
  fs.writeFileSync(cfgFile, JSON.stringify({ bootedSlot: "A", runDir: path.join(dir, "run"), checkpointBytes: 4 << 20, ...config, disk, socketPath: socket }));
  const env = { ...process.env, ...(opts.failpoint ? { TWINROOT_FAILPOINT: opts.failpoint } : { TWINROOT_FAILPOINT: "" }) };
  const argv = opts.executable
    ? [opts.executable, "serve", "--config", cfgFile]
    : [process.execPath, "--import", "tsx", path.join(root, "node-agent/main.ts"), "serve", "--config", cfgFile];
  const proc = startManaged(name, argv[0] as string, argv.slice(1), path.join(dir, `${name}.log`), env);
  const exitInfo = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const c = net.connect(socket);
      c.once("connect", () => {
        c.destroy();
        resolve(true);
      });
      c.once("error", () => resolve(false));
    });
    if (up) break;
    if (proc.child.exitCode !== null || i > 300) throw new Error(`agent did not start:\n${proc.tail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    socket,
    proc,
    call: (method, params) => call(socket, method, params ?? {}),
    exited: () => {
      proc.child.ref();
      return exitInfo;
    },
    stop: () => proc.stop(),
  };
}

/** Reads the boot state and the agent's records straight from the disk's boot partition. */
export function readDisk(loop: LoopDisk, dir: string): { boot: BootState; state: AgentState; grubenv: Buffer } {
  // The agent may have the partition mounted (a killed agent leaves its mount): read
  // through that mount, else mount it read-only for the look.
  const dev = loop.part(DISK_PARTITIONS.boot);
  const mounted = mountPointOf(majMinOf(dev));
  const mnt = mounted ?? path.join(dir, "inspect");
  const umount = mounted ? () => {} : mountExt4(dev, mnt, true);
  try {
    const grubenv = fs.readFileSync(path.join(mnt, "grub/grubenv"));
    return { boot: bootStateFromEnv(parseGrubEnv(grubenv)), state: readAgentState(path.join(mnt, AGENT_STATE_FILE)), grubenv };
  } finally {
    umount();
  }
}

/** SHA-256 of the first `bytes` bytes of a device. */
export function hashDevice(device: string, bytes: number): string {
  const fd = fs.openSync(device, "r");
  try {
    const h = createHash("sha256");
    const buf = Buffer.alloc(4 << 20);
    for (let pos = 0; pos < bytes; ) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, bytes - pos), pos);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
    return h.digest("hex");
  } finally {
    fs.closeSync(fd);
  }
}

/** Unmounts whatever is mounted from the loop disk's partitions (an agent killed by SIGKILL leaves its mount), then detaches it. */
export function releaseLoop(loop: LoopDisk): void {
  const parts = new Set<string>();
  for (let n = 1; n <= 5; n++) {
    try {
      const rdev = fs.statSync(loop.part(n)).rdev;
      parts.add(`${(rdev >> 8) & 0xfff}:${(rdev & 0xff) | ((rdev >> 12) & 0xfff00)}`);
    } catch {
      // Partition node gone.
    }
  }
  const mounts = fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => parts.has(f[2] as string))
    .map((f) => f[4] as string)
    .reverse();
  for (const m of mounts) execFileSync("umount", [m]);
  loop.detach();
}
