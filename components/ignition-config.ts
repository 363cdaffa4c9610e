// IgnitionConfig: the Ignition library (./ignition) as a component. It composes the
// node preset, a typed config, a Butane-style YAML document and user snippets, validates
// the result for the image's spec, renders it deterministically and fits it into the
// platform's user-data limit. The rendered JSON is a secret whenever an input is.

import * as pulumi from "@pulumi/pulumi";
import {
  butaneToIgnition,
  type ConfigProblem,
  type Fragment,
  fitUserData,
  IgnitionConfigError,
  type IgnitionConfig as IgnitionDocument,
  mergeFragments,
  type NodePresetOptions,
  nodeConfig,
  OPENSTACK_USER_DATA_LIMIT,
  SPEC_VERSIONS,
  type SpecVersion,
  validateConfig,
} from "./ignition";
import { checkedBuild, type InputProblems } from "./inputs";

/** The component's type token. */
export const IGNITION_CONFIG_TYPE = "twinroot:ignition:IgnitionConfig";

/** Arguments of {@link IgnitionConfig}. */
export interface IgnitionConfigArgs {
  /** Ignition spec version to produce; must be one the OS image reads (`OsImage.ignitionSpec`). Default `3.4.0`. */
  spec?: pulumi.Input<SpecVersion>;
  /**
   * The twinroot node preset: A/B disk layout, node agent unit, kubelet join, hostname,
   * SSH keys, sysctls (see `ignition.nodePreset`). Default: no preset, only what you give.
   * A kubelet bootstrap token makes the rendered config a secret.
   */
  node?: pulumi.Input<NodePresetOptions>;
  /** A typed Ignition config merged over the preset; it may not set a preset field differently. Default: none. */
  config?: pulumi.Input<Partial<IgnitionDocument>>;
  /**
   * A Butane-style YAML document (`variant: fcos` or `flatcar`) merged over the preset;
   * its Butane version must produce `spec`. Problems are reported at their YAML path. Default: none.
   */
  butane?: pulumi.Input<string>;
  /** More named fragments, merged in order after `config` and `butane`. Default: none. */
  snippets?: pulumi.Input<pulumi.Input<Fragment>[]>;
  /**
   * User-data limit in bytes (counted base64-encoded, as Nova counts). A larger config is
   * gzipped, then split off to `fullConfigUrl`. Default 65535, OpenStack Nova's limit.
   */
  userDataLimit?: pulumi.Input<number>;
  /** Where machines can fetch the full config when even the compressed one is over the limit. Default: none (an error then). */
  fullConfigUrl?: pulumi.Input<string>;
}

/** What {@link buildIgnition} produced. */
export interface BuiltIgnition {
  config: IgnitionDocument;
  /** The full config, compact JSON. */
  rendered: string;
  /** What to give machines as user data (compressed or split when over the limit). */
  userData: string;
  strategy: "as-is" | "compressed" | "split";
  /** `sha512-…` of `rendered`. */
  hash: string;
  /** The config carries a secret of its own (the kubelet bootstrap token). */
  containsSecrets: boolean;
}

// Where a library problem points, as an input property path of this component.
function report(p: InputProblems, source: string, problems: readonly ConfigProblem[]): void {
  for (const x of problems) {
    if (x.severity !== "error") continue;
    const where = x.position ? ` (line ${x.position.line}:${x.position.column})` : "";
    p.add(x.path ? `${source}.${x.path}` : source, `${x.message}${where}${x.hint ? `; ${x.hint}` : ""}`);
  }
}

/** Builds, validates and fits the config; records every problem in `p` and returns undefined when there were any. */
export function buildIgnition(a: pulumi.Unwrap<IgnitionConfigArgs>, p: InputProblems): BuiltIgnition | undefined {
  const spec = a.spec ?? "3.4.0";
  if (!SPEC_VERSIONS.includes(spec)) {
    p.add("spec", `${JSON.stringify(spec)} is not supported: use one of ${SPEC_VERSIONS.join(", ")}`);
    return undefined;
  }
  const fragments: Fragment[] = [];
  if (a.config) fragments.push({ name: "config", config: a.config as Partial<IgnitionDocument> });
  if (a.butane !== undefined) {
    const r = butaneToIgnition(a.butane);
    report(p, "butane", r.problems);
    if (r.config && r.spec !== spec)
      p.add("butane", `its Butane version produces Ignition ${r.spec}, but spec is ${spec}: change the document's version or spec`);
    else if (r.config) fragments.push({ name: "butane", config: r.config });
  }
  fragments.push(...((a.snippets ?? []) as Fragment[]));
  if (p.any) return undefined;
  let config: IgnitionDocument;
  let containsSecrets = false;
  try {
    if (a.node) ({ config, containsSecrets } = nodeConfig({ ...(a.node as NodePresetOptions), spec }, fragments));
    else {
      const merged = mergeFragments(spec, fragments);
      const invalid = [...merged.problems, ...validateConfig(merged.config, { spec }).list.filter((x) => x.severity === "error")];
      if (invalid.length) throw new IgnitionConfigError(invalid);
      config = merged.config;
    }
  } catch (err) {
    if (!(err instanceof IgnitionConfigError)) throw err;
    for (const x of err.problems) report(p, x.code === "bad-preset" ? "node" : "config", [x]);
    return undefined;
  }
  const limit = a.userDataLimit ?? OPENSTACK_USER_DATA_LIMIT;
  if (!(Number.isSafeInteger(limit) && limit > 0)) {
    p.add("userDataLimit", `${limit} is not a size: give a whole number of bytes above 0`);
    return undefined;
  }
  try {
    const fit = fitUserData(config, { limit, fullConfigUrl: a.fullConfigUrl });
    return { config, rendered: fit.full, userData: fit.userData, strategy: fit.strategy, hash: fit.hash, containsSecrets };
  } catch (err) {
    if (!(err instanceof IgnitionConfigError)) throw err;
    report(p, "fullConfigUrl", err.problems);
    return undefined;
  }
}

/**
 * An Ignition config for the machines of a pool. `rendered` and `userData` are secret
 * outputs whenever any input is secret or the config carries a bootstrap token.
 */
export class IgnitionConfig extends pulumi.ComponentResource {
  /** The full config, compact JSON in Ignition's key order. */
  readonly rendered: pulumi.Output<string>;
  /** What machines get as user data: `rendered`, or a small config merging it (gzipped inline or from `fullConfigUrl`). */
  readonly userData: pulumi.Output<string>;
  /** `as-is`, `compressed` or `split`. */
  readonly strategy: pulumi.Output<string>;
  /** `sha512-…` of `rendered`: changes exactly when the config does. */
  readonly hash: pulumi.Output<string>;

  constructor(name: string, args: IgnitionConfigArgs, opts?: pulumi.ComponentResourceOptions) {
    super(IGNITION_CONFIG_TYPE, name, {}, opts);
    const result = checkedBuild(IGNITION_CONFIG_TYPE, name, args, buildIgnition).apply((b) => (b.containsSecrets ? pulumi.secret(b) : b));
    this.rendered = result.rendered;
    this.userData = result.userData;
    this.strategy = result.strategy;
    // The hash reveals nothing of the content; keep it readable in diffs and outputs.
    this.hash = pulumi.unsecret(result.hash);
    this.registerOutputs({ rendered: this.rendered, userData: this.userData, strategy: this.strategy, hash: this.hash });
  }
}
