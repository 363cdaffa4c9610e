// Stack config read through typed, validated objects. Every problem names its config
// key (`twinroot-local:osImage.digest`) and the fix, and all of them are reported
// together at preview, before any resource is registered. Domain checks are the
// components' own (checkOsImage, policySpec), run here with the config key as the path.

import * as pulumi from "@pulumi/pulumi";
import { type NodeTaint, taintProblem } from "../../components/ignition";
import { InputProblems } from "../../components/inputs";
import { checkOsImage, type OsImageArgs } from "../../components/os-image";
import { policySpec, type UpgradePolicyArgs } from "../../components/upgrade-policy";

/** Reads one stack's config, collecting problems instead of throwing at the first. */
export class ConfigReader {
  private readonly cfg: pulumi.Config;
  private readonly problems: { key: string; reason: string }[] = [];

  constructor(
    /** The project name, the config namespace. Default: the running project's. */
    readonly namespace = pulumi.getProject(),
  ) {
    this.cfg = new pulumi.Config(namespace);
  }

  /** Records a problem with `key`. */
  fail(key: string, reason: string): void {
    this.problems.push({ key, reason });
  }

  /** A string, or `fallback` when unset; required when `fallback` is undefined and `required`. */
  string(key: string, fallback?: string, required = false): string | undefined {
    const v = this.cfg.get(key);
    if (v === undefined && required && fallback === undefined) this.fail(key, `is required: set it with \`pulumi config set ${key} <value>\``);
    return v ?? fallback;
  }

  /** A whole number within [min, max], or `fallback` when unset. */
  int(key: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.cfg.get(key);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || n < min || n > max) {
      this.fail(key, `${JSON.stringify(v)} is not a whole number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  }

  /** A count or a percent such as `25%`, or `fallback` when unset. */
  countOrPercent(key: string, fallback: number | string): number | string {
    const v = this.cfg.get(key);
    if (v === undefined) return fallback;
    return /^\d+$/.test(v.trim()) ? Number(v) : v.trim();
  }

  /** `true` or `false`, or `fallback` when unset. */
  bool(key: string, fallback: boolean): boolean {
    const v = this.cfg.get(key);
    if (v === undefined) return fallback;
    if (v !== "true" && v !== "false") {
      this.fail(key, `${JSON.stringify(v)} is not a boolean: use true or false`);
      return fallback;
    }
    return v === "true";
  }

  /** A secret string; required unless `optional`. */
  secret(key: string, optional = false): pulumi.Output<string> | undefined {
    const v = this.cfg.getSecret(key);
    if (v === undefined && !optional) this.fail(key, `is required: set it with \`pulumi config set --secret ${key} <value>\``);
    return v;
  }

  /** A comma-separated list (`a,b,c`), or `fallback` when unset. */
  list(key: string, fallback: string[] = []): string[] {
    const v = this.cfg.get(key);
    if (v === undefined) return fallback;
    return v
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean);
  }

  /** Labels written `key=value,key2=value2`, or none when unset. */
  labels(key: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const item of this.list(key)) {
      const [k, v, ...rest] = item.split("=");
      if (!k || v === undefined || rest.length) this.fail(key, `${JSON.stringify(item)} is not a label: write key=value, comma-separated`);
      else out[k.trim()] = v.trim();
    }
    return out;
  }

  /** Taints written like kubectl's `key=value:Effect,key2:Effect`, or none when unset. */
  taints(key: string): NodeTaint[] {
    const out: NodeTaint[] = [];
    for (const item of this.list(key)) {
      const m = /^([^=:]+)(?:=([^:]*))?:([A-Za-z]+)$/.exec(item);
      const t = m ? { key: (m[1] as string).trim(), ...(m[2] ? { value: m[2].trim() } : {}), effect: m[3] as NodeTaint["effect"] } : undefined;
      const why = t ? taintProblem(t) : "write key=value:Effect (Effect NoSchedule, PreferNoSchedule or NoExecute), comma-separated";
      if (why || !t) this.fail(key, `${JSON.stringify(item)}: ${why}`);
      else out.push(t);
    }
    return out;
  }

  /** An optional whole number above 0 (e.g. a size in bytes). */
  positiveInt(key: string): number | undefined {
    const v = this.cfg.get(key);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n <= 0) {
      this.fail(key, `${JSON.stringify(v)} is not a whole number above 0`);
      return undefined;
    }
    return n;
  }

  /** Runs a component's own check over config values; `keyOf` turns its property paths into config keys. */
  check(keyOf: (propertyPath: string) => string, run: (p: InputProblems) => void): void {
    const p = new InputProblems();
    run(p);
    for (const x of p.list) this.fail(keyOf(x.propertyPath), x.reason);
  }

  /** Throws one error listing every problem, if there were any. */
  done(): void {
    if (!this.problems.length) return;
    const lines = this.problems.map((p) => `  - ${this.namespace}:${p.key}: ${p.reason}`).join("\n");
    throw new pulumi.RunError(`stack ${pulumi.getStack()} has ${this.problems.length} config problem${this.problems.length === 1 ? "" : "s"}:\n${lines}`);
  }
}

/** The `osImage.*` keys: the OS release the stack runs. */
export function readOsImage(r: ConfigReader): Omit<OsImageArgs, "glance"> & { version: string; url: string; digest: string } {
  const image = {
    version: r.string("osImage.version", undefined, true) ?? "",
    url: r.string("osImage.url", undefined, true) ?? "",
    digest: r.string("osImage.digest", undefined, true) ?? "",
    sizeBytes: r.positiveInt("osImage.sizeBytes"),
    signature: r.string("osImage.signature"),
    publicKey: r.string("osImage.publicKey"),
  };
  r.check(
    (path) => `osImage.${path}`,
    (p) => checkOsImage(image, p),
  );
  return image;
}

/** The config key of an UpgradePolicy property path. */
export function policyKey(path: string): string {
  const keys: Record<string, string> = {
    "drain.timeout": "policy.drainTimeout",
    "healthCheck.timeout": "policy.healthTimeout",
    "maintenanceWindows[0].days": "policy.maintenanceDays",
    "maintenanceWindows[0].start": "policy.maintenanceStart",
    "maintenanceWindows[0].duration": "policy.maintenanceDuration",
    "maintenanceWindows[0].timeZone": "policy.maintenanceTimeZone",
  };
  return keys[path] ?? `policy.${path}`;
}

/** The `policy.*` keys: how rollouts proceed. */
export function readPolicy(r: ConfigReader): UpgradePolicyArgs {
  const policy: UpgradePolicyArgs = {
    maxUnavailable: r.countOrPercent("policy.maxUnavailable", 1),
    failureBudget: r.int("policy.failureBudget", 1),
    drain: { timeout: r.string("policy.drainTimeout", "10m"), respectPodDisruptionBudgets: r.bool("policy.respectPodDisruptionBudgets", true) },
    healthCheck: { timeout: r.string("policy.healthTimeout", "10m") },
  };
  const days = r.list("policy.maintenanceDays");
  if (days.length)
    policy.maintenanceWindows = [
      {
        days: days as never,
        start: r.string("policy.maintenanceStart", "22:00") as string,
        duration: r.string("policy.maintenanceDuration", "4h") as string,
        timeZone: r.string("policy.maintenanceTimeZone", "UTC"),
      },
    ];
  r.check(policyKey, (p) => void policySpec(policy as pulumi.Unwrap<UpgradePolicyArgs>, p));
  return policy;
}
