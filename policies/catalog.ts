// Every policy of the pack, by group, in the order the README lists them. Kept apart
// from index.ts, which serves the pack when loaded, so tests can read the list.

import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { consistencyPolicies } from "./consistency";
import { hardeningPolicies } from "./hardening";
import { imagePolicies } from "./image";
import { openstackPolicies } from "./openstack";
import { rolloutPolicies } from "./rollout";

/** Every policy of the pack. */
export const policies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  ...imagePolicies,
  ...rolloutPolicies,
  ...hardeningPolicies,
  ...consistencyPolicies,
  ...openstackPolicies,
];
