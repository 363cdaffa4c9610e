// The Ignition library: typed configs (spec 3.3–3.5), Butane-style YAML, validation,
// deterministic rendering, merging, the twinroot node preset and user-data sizing.
// Exports are picked by hand.
export { BUTANE_VERSIONS, type ButaneOptions, type ButaneResult, butaneToIgnition, type Variant } from "./butane";
export { decodeDataUrl, type EncodedContents, makeDataUrl } from "./dataurl";
export { ConfigProblem, formatPath, IgnitionConfigError, type PathStep, type ProblemCode, type Severity } from "./errors";
export { gzipLikeGo } from "./gzip";
export { type Fragment, mergeConfigs, mergeFragments } from "./merge";
export type {
  Directory,
  Disk,
  Dropin,
  File,
  Filesystem,
  FsNode,
  IgnitionConfig,
  IgnitionSection,
  KernelArguments,
  Link,
  Luks,
  Owner,
  Partition,
  Passwd,
  PasswdGroup,
  PasswdUser,
  Raid,
  Resource,
  Storage,
  Systemd,
  Unit,
} from "./model";
export { type ParsedIgnition, parseIgnitionJson } from "./parse";
export {
  AGENT_BINARY,
  AGENT_CONFIG_PATH,
  AGENT_UNIT,
  agentFragment,
  hostFragment,
  kubeletFragment,
  layoutFragment,
  type NodeConfig,
  type NodePresetOptions,
  type NodeTaint,
  nodeConfig,
  nodePreset,
  TAINT_EFFECTS,
  taintProblem,
} from "./preset";
export { type RenderOptions, renderConfig } from "./render";
export { SPEC_VERSIONS, type SpecVersion } from "./schema";
export { type FitOptions, type FitResult, fitUserData, OPENSTACK_USER_DATA_LIMIT, userDataSize } from "./size";
export { type ValidateOptions, validateConfig } from "./validate";
