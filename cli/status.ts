// `twinroot status [--kubeconfig FILE] [--context NAME] [--rollout NAME] [--json | -w]`:
// rollout progress per node, read from the API server once, or kept live by informers
// (list + watch, never polling) until Ctrl-C.

import os from "node:os";
import type { V1Node } from "@kubernetes/client-node";
import type { OsNode, OsRollout } from "../controller/api/types";
import { Informer } from "../controller/kube/informer";
import type { Logger } from "../controller/kube/log";
import { type KList, NODES, OSNODES, type ResourceRef, ROLLOUTS, resourcePath } from "../controller/kube/resources";
import { Kube } from "../controller/kube/rest";
import type { Command } from "./main";
import { describeApiError, type LoadedKubeconfig, loadKubeconfig, StatusError } from "./status-kubeconfig";
import { buildStatus, changeKey, type StatusDocument, statusExitCode, trimNode, trimOsNode } from "./status-model";
import { renderStatus, type TerminalSize, terminalFrame } from "./status-render";

const usage = `Usage: twinroot status [options]

Rollout progress of a cluster, per node: phase, booted slot and version, target, time in phase.

Options:
  --kubeconfig FILE   the kubeconfig (default: $KUBECONFIG, then ~/.kube/config)
  --context NAME      use this context instead of the kubeconfig's current one
  --rollout NAME      show one OsRollout (default: all, and the nodes in none)
  --json              print one JSON document and exit
  -w, --watch         stay live until Ctrl-C: redrawn in place on a terminal, a new block
                      per change otherwise
  --once              print once and exit (the default)

Exit codes: 0 ok, 1 a rollout shown is Degraded, 2 usage error, 3 the status could not be read.`;

/** How long the first reads may take before the server counts as unreachable. */
const REQUEST_TIMEOUT_MS = 20_000;

/** The options of `twinroot status`. */
export interface StatusArgs {
  kubeconfig?: string;
  context?: string;
  rollout?: string;
  json: boolean;
  watch: boolean;
}

/** Parses the arguments after `status`; a string is a usage error, `"help"` asks for the usage. */
export function parseStatusArgs(argv: readonly string[]): StatusArgs | "help" | string {
  const a: StatusArgs = { json: false, watch: false };
  let once = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf("=");
    const [flag, inline] = arg.startsWith("--") && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    if (flag === "-h" || flag === "--help") return "help";
    else if (flag === "--json") a.json = true;
    else if (flag === "-w" || flag === "--watch") a.watch = true;
    else if (flag === "--once") once = true;
    else if (flag === "--kubeconfig" || flag === "--context" || flag === "--rollout") {
      const v = value();
      if (!v) return `${flag} needs a value`;
      a[flag.slice(2) as "kubeconfig" | "context" | "rollout"] = v;
    } else if (flag.startsWith("-")) return `unknown option ${flag}`;
    else return `unexpected argument ${flag}`;
  }
  if (a.watch && once) return "--watch and --once exclude each other";
  if (a.watch && a.json) return "--json prints one document and exits; it cannot be combined with --watch";
  return a;
}

/** Where the command reads its environment and writes; the process's own, or fakes of them. */
export interface StatusIo {
  /** Writes to standard output. */
  write(text: string): void;
  /** Writes to standard error. */
  error(text: string): void;
  /** Standard output is a terminal (then `--watch` redraws in place). */
  isTTY: boolean;
  size(): TerminalSize;
  env: NodeJS.ProcessEnv;
  home: string;
  /** Calls `fn` on Ctrl-C or SIGTERM (or when stdout goes away); returns the unsubscribe. */
  onInterrupt(fn: () => void): () => void;
  /** Calls `fn` when the terminal is resized; returns the unsubscribe. */
  onResize(fn: () => void): () => void;
}

/** The process's streams, environment and signals. */
export function processStatusIo(): StatusIo {
  return {
    write: (t) => process.stdout.write(t),
    error: (t) => process.stderr.write(t),
    isTTY: !!process.stdout.isTTY,
    size: () => ({ columns: process.stdout.columns || 80, rows: process.stdout.rows || 24 }),
    env: process.env,
    home: os.homedir(),
    onInterrupt: (fn) => {
      process.once("SIGINT", fn);
      process.once("SIGTERM", fn);
      // A closed pipe (`twinroot status -w | head`) ends the watch instead of crashing it.
      process.stdout.once("error", fn);
      return () => {
        process.off("SIGINT", fn);
        process.off("SIGTERM", fn);
        process.stdout.off("error", fn);
      };
    },
    onResize: (fn) => {
      process.stdout.on("resize", fn);
      return () => process.stdout.off("resize", fn);
    },
  };
}

/** The objects a status is built from. */
interface ClusterObjects {
  rollouts: OsRollout[];
  osNodes: OsNode[];
  nodes: V1Node[];
}

async function listAll<T>(kube: Kube, ref: ResourceRef, signal: AbortSignal): Promise<T[]> {
  const items: T[] = [];
  let cont: string | undefined;
  do {
    const page = await kube.request<KList<T>>("GET", resourcePath(ref), { query: { limit: 500, continue: cont }, signal });
    items.push(...page.items);
    cont = page.metadata?.continue || undefined;
  } while (cont);
  return items;
}

/** Reads rollouts, per-node objects and Nodes once; every failure becomes a {@link StatusError}. */
async function fetchObjects(kube: Kube, server: string): Promise<ClusterObjects> {
  const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  const list = async <T>(ref: ResourceRef, what: string, twinroot: boolean): Promise<T[]> => {
    try {
      return await listAll<T>(kube, ref, signal);
    } catch (err) {
      throw describeApiError(err, server, what, { twinroot, timedOut: signal.aborted, timeoutMs: REQUEST_TIMEOUT_MS });
    }
  };
  // Rollouts first: a missing CRD is the likeliest problem and has its own message.
  const rollouts = await list<OsRollout>(ROLLOUTS, "OsRollouts", true);
  const [osNodes, nodes] = await Promise.all([list<OsNode>(OSNODES, "OsNodes", true), list<V1Node>(NODES, "Nodes", false)]);
  return { rollouts, osNodes: osNodes.map(trimOsNode), nodes: nodes.map(trimNode) };
}

function snapshot(objects: ClusterObjects, loaded: LoadedKubeconfig, only: string | undefined): StatusDocument {
  return buildStatus({ ...objects, now: new Date(), context: loaded.context, only });
}

/** Runs `twinroot status <args>`; resolves to the exit code. */
export async function runStatus(argv: readonly string[], io: StatusIo = processStatusIo()): Promise<number> {
  const a = parseStatusArgs(argv);
  if (a === "help") {
    io.write(`${usage}\n`);
    return 0;
  }
  if (typeof a === "string") {
    io.error(`twinroot status: ${a}\n\n${usage}\n`);
    return 2;
  }
  let kube: Kube | undefined;
  try {
    const loaded = loadKubeconfig({ file: a.kubeconfig, context: a.context, env: io.env.KUBECONFIG, home: io.home });
    kube = new Kube(loaded.kc, undefined, "twinroot-status");
    const objects = await fetchObjects(kube, loaded.server);
    if (a.rollout && !objects.rollouts.some((r) => r.metadata.name === a.rollout)) {
      const have = objects.rollouts.map((r) => r.metadata.name).join(", ");
      throw new StatusError(`OsRollout "${a.rollout}" not found (${have ? `the cluster has: ${have}` : "the cluster has none"})`);
    }
    if (a.watch) return await watch(kube, loaded, a.rollout, objects, io);
    const doc = snapshot(objects, loaded, a.rollout);
    io.write(a.json ? `${JSON.stringify(doc, null, 2)}\n` : renderStatus(doc));
    return statusExitCode(doc);
  } catch (err) {
    if (!(err instanceof StatusError)) throw err;
    io.error(`twinroot status: ${err.message}\n`);
    return err.exitCode;
  } finally {
    kube?.close();
  }
}

/**
 * The live view. Informers keep caches of the three resources; any change redraws. On a
 * terminal the frame is redrawn in place (and every second, so times in phase count
 * up); elsewhere a new block is printed only when the cluster's state changed.
 */
async function watch(kube: Kube, loaded: LoadedKubeconfig, only: string | undefined, first: ClusterObjects, io: StatusIo): Promise<number> {
  let problem: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lastKey = "";
  let live = false;
  let doc = snapshot(first, loaded, only);
  const report = (msg: string, fields?: Record<string, unknown>) => {
    const err = fields?.err instanceof Error ? fields.err.message : fields?.message;
    problem = `${fields?.resource ?? "api"}: ${msg}${err ? `: ${err}` : ""}`;
    if (!io.isTTY) io.error(`twinroot status: ${problem}\n`);
    schedule();
  };
  const log: Logger = { error: report, warn: report, info: () => {}, debug: () => {}, with: () => log };
  const informers = {
    rollouts: new Informer<OsRollout>(kube, ROLLOUTS, { log }),
    osNodes: new Informer<OsNode>(kube, OSNODES, { log, transform: trimOsNode }),
    nodes: new Informer<V1Node>(kube, NODES, { log, transform: trimNode }),
  };
  const draw = () => {
    timer = undefined;
    // Until every cache holds its first list, the one-off read is the best picture.
    const objects = live ? { rollouts: informers.rollouts.list(), osNodes: informers.osNodes.list(), nodes: informers.nodes.list() } : first;
    doc = snapshot(objects, loaded, only);
    const body = renderStatus(doc);
    if (io.isTTY) {
      const clock = new Date().toTimeString().slice(0, 8);
      const footer = problem ? `\n! ${problem} (retrying)\n` : "";
      io.write(terminalFrame(`twinroot status · ${loaded.context} · ${clock} · Ctrl-C to quit\n\n${body}${footer}`, io.size()));
      return;
    }
    const key = changeKey(doc);
    if (key === lastKey) return;
    lastKey = key;
    io.write(`--- ${doc.time}\n${body}\n`);
  };
  // Events come in bursts (a list, a node's phases); one redraw per burst is enough.
  const schedule = () => {
    timer ??= setTimeout(draw, 100);
  };
  for (const inf of Object.values(informers)) {
    (inf as Informer<OsRollout | OsNode | V1Node>).on(() => {
      problem = undefined;
      schedule();
    });
  }

  if (io.isTTY) io.write("\x1b[?25l\x1b[2J");
  draw();
  const tick = io.isTTY ? setInterval(draw, 1000) : undefined;
  const stopResize = io.isTTY ? io.onResize(draw) : () => {};
  let stopInterrupt = () => {};
  const interrupted = new Promise<void>((resolve) => {
    stopInterrupt = io.onInterrupt(resolve);
  });
  void Promise.all(Object.values(informers).map((i) => i.start())).then(() => {
    live = true;
    schedule();
  });
  await interrupted;
  stopInterrupt();
  stopResize();
  clearInterval(tick);
  clearTimeout(timer);
  await Promise.all(Object.values(informers).map((i) => i.stop()));
  if (io.isTTY) io.write("\x1b[?25h");
  return statusExitCode(doc);
}

/** The `twinroot status` command. */
export const statusCommand: Command = {
  summary: "rollout progress per node, once, as JSON, or live",
  run: (args: string[]) => runStatus(args),
};
