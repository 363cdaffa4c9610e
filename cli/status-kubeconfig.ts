// Finding the cluster for `twinroot status` the way kubectl does (`--kubeconfig`, then
// every file in `$KUBECONFIG`, then `~/.kube/config`), and turning what can go wrong on
// the way to the API server into one sentence a user can act on.

import fs from "node:fs";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeError } from "../controller/kube/rest";

/** A failure the user can fix; printed as its message alone, with `exitCode`. */
export class StatusError extends Error {
  constructor(
    message: string,
    /** 2 for usage errors, 3 when the status could not be read. */
    readonly exitCode: 2 | 3 = 3,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "StatusError";
  }
}

/** Where to look for the kubeconfig. */
export interface KubeconfigChoice {
  /** `--kubeconfig`: this file only. */
  file?: string;
  /** `--context`: instead of the file's current context. */
  context?: string;
  /** `$KUBECONFIG`, a list of files separated by the platform's path delimiter. */
  env?: string;
  /** The home directory, for `~/.kube/config`. */
  home: string;
}

/** A kubeconfig ready to use, and where it came from. */
export interface LoadedKubeconfig {
  kc: KubeConfig;
  /** The files read, in order. */
  files: string[];
  context: string;
  server: string;
}

function readFile(file: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message;
    throw new StatusError(`cannot read the kubeconfig ${file}: ${why}`, 3, { cause: err });
  }
  // An empty or foreign YAML file loads as nothing rather than failing.
  if (!kc.clusters?.length && !kc.contexts?.length) throw new StatusError(`the kubeconfig ${file} defines no clusters or contexts`);
  return kc;
}

// kubectl's merge rule: the first file to define a name (or the current context) wins.
function merge(configs: KubeConfig[]): KubeConfig {
  const first = <T extends { name: string }>(lists: T[][]) => {
    const seen = new Map<string, T>();
    for (const item of lists.flat()) if (!seen.has(item.name)) seen.set(item.name, item);
    return [...seen.values()];
  };
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: first(configs.map((c) => c.clusters ?? [])),
    users: first(configs.map((c) => c.users ?? [])),
    contexts: first(configs.map((c) => c.contexts ?? [])),
    currentContext: configs.find((c) => c.currentContext)?.currentContext,
  });
  return kc;
}

/** Loads the kubeconfig as kubectl would pick it, with the context chosen; throws {@link StatusError}. */
export function loadKubeconfig(choice: KubeconfigChoice): LoadedKubeconfig {
  let files: string[];
  if (choice.file) files = [choice.file];
  else if (choice.env) {
    // As kubectl does: files in $KUBECONFIG that do not exist are skipped.
    files = choice.env.split(path.delimiter).filter((f) => f && fs.existsSync(f));
    if (!files.length) throw new StatusError(`no kubeconfig: none of the files in $KUBECONFIG exists (${choice.env}); pass --kubeconfig FILE`);
  } else {
    const home = path.join(choice.home, ".kube", "config");
    if (!fs.existsSync(home)) throw new StatusError(`no kubeconfig: pass --kubeconfig FILE, set $KUBECONFIG, or create ${home}`);
    files = [home];
  }
  const kc = files.length === 1 ? readFile(files[0] as string) : merge(files.map(readFile));
  const names = kc.getContexts().map((c) => c.name);
  if (choice.context) {
    if (!kc.getContextObject(choice.context)) {
      throw new StatusError(`the kubeconfig has no context "${choice.context}" (it has: ${names.join(", ") || "none"})`);
    }
    kc.setCurrentContext(choice.context);
  }
  const context = kc.getCurrentContext();
  if (!context || !kc.getContextObject(context)) {
    throw new StatusError(`the kubeconfig names no current context; pass --context (it has: ${names.join(", ") || "none"})`);
  }
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new StatusError(`context "${context}" names no cluster with a server address`);
  return { kc, files, context, server };
}

/** The message shown when the twinroot CRDs are missing. */
export const CRDS_MISSING = "the twinroot CRDs are not installed: run pulumi up with the UpgradeController component";

/**
 * One sentence for a failed request to the API server at `server` while reading `what`
 * (e.g. `OsRollouts`); `timedOut` when our own deadline aborted it.
 */
export function describeApiError(err: unknown, server: string, what: string, opts: { twinroot: boolean; timedOut: boolean; timeoutMs: number }): StatusError {
  if (opts.timedOut) return new StatusError(`no answer from the API server at ${server} within ${opts.timeoutMs / 1000}s`, 3, { cause: err });
  if (err instanceof KubeError) {
    // A resource the server does not serve is a plain 404 ("404 page not found").
    if (err.code === 404 && opts.twinroot) return new StatusError(CRDS_MISSING, 3, { cause: err });
    if (err.code === 401)
      return new StatusError(`the API server at ${server} does not accept the kubeconfig's credentials (401 Unauthorized)`, 3, { cause: err });
    if (err.code === 403) return new StatusError(`not allowed to list ${what} (403 Forbidden): ${err.message}`, 3, { cause: err });
    return new StatusError(`reading ${what} failed: ${err.message}`, 3, { cause: err });
  }
  // The REST client wraps the socket's error; its own message ("connect ECONNREFUSED …") is the useful part.
  const cause = (err as { cause?: Error }).cause;
  const why = cause?.message ?? (err instanceof Error ? err.message : String(err));
  return new StatusError(`cannot reach the API server at ${server}: ${why}`, 3, { cause: err });
}
