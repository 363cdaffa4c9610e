// Where the controller and the proxy find their cluster: in a pod, the service account
// token Kubernetes mounts; elsewhere $KUBECONFIG or ~/.kube/config. When client-node finds
// none of them it falls back to http://localhost:8080, and a process would then retry a
// server that is not there for ever, logging a TLS complaint; it stops at once instead and
// says what is missing.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";

/** Where Kubernetes mounts a pod's service account token. */
export const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/** Where to look; the defaults are this process's. */
export interface ConfigSources {
  env?: NodeJS.ProcessEnv;
  home?: string;
  tokenFile?: string;
}

/** The cluster configuration `program` runs with, as client-node's `loadFromDefault` finds it; throws when there is none. */
export function loadClusterConfig(program: string, s: ConfigSources = {}): KubeConfig {
  const env = s.env ?? process.env;
  const tokenFile = s.tokenFile ?? SERVICE_ACCOUNT_TOKEN;
  const files = (env.KUBECONFIG ?? "").split(path.delimiter).filter(Boolean);
  const homeFile = path.join(s.home ?? env.HOME ?? os.homedir(), ".kube", "config");
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length) throw new Error(`${program}: KUBECONFIG names ${missing.join(", ")}, which does not exist`);
  if (!files.length && !fs.existsSync(homeFile) && !fs.existsSync(tokenFile))
    throw new Error(
      `${program}: no Kubernetes configuration: in a pod it uses the service account token at ${tokenFile} (keep automountServiceAccountToken on); elsewhere set KUBECONFIG or create ${homeFile}`,
    );
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}
