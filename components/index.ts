// The public API of the twinroot package: the Pulumi components and the libraries they
// are built on. Each export is picked by hand; nothing internal leaks through a wildcard.

export { FLEET_TYPE, Fleet, type FleetArgs, fleetSelector } from "./fleet";
export * as ignition from "./ignition";
export { IGNITION_CONFIG_TYPE, IgnitionConfig, type IgnitionConfigArgs } from "./ignition-config";
export { InputProblems, inputError } from "./inputs";
export { LabMachine, type LabMachineInputs } from "./lab-machine";
export {
  IMMUTABLE_MACHINE_INPUTS,
  type LabPoolArgs,
  NODE_POOL_TYPE,
  NodePool,
  type NodePoolArgs,
  type OpenStackComputeApi,
  type OpenStackInstanceArgs,
  type OpenStackPoolArgs,
  POOL_LABEL,
} from "./node-pool";
export { type GlanceImageArgs, type GlanceImagesApi, OS_IMAGE_TYPE, OsImage, type OsImageArgs, type OsImageGlanceArgs } from "./os-image";
export { RolloutFailedError, type RolloutState, rolloutState } from "./rollout-wait";
export {
  DEFAULT_CONTROLLER_IMAGE,
  DEFAULT_PROXY_IMAGE,
  type RolloutBindingArgs,
  UPGRADE_CONTROLLER_TYPE,
  UpgradeController,
  type UpgradeControllerArgs,
} from "./upgrade-controller";
export {
  type DrainArgs,
  type HealthCheckArgs,
  type MaintenanceWindowArgs,
  type PolicySpec,
  UPGRADE_POLICY_TYPE,
  UpgradePolicy,
  type UpgradePolicyArgs,
} from "./upgrade-policy";
