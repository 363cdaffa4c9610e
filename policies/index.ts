// The twinroot policy pack: attach it to a stack with
// `pulumi preview --policy-pack policies --policy-pack-config <file>` (see README,
// "Policy pack"). Loading this module serves the pack to the engine.

import { PolicyPack } from "@pulumi/policy";
import { policies } from "./catalog";

new PolicyPack("twinroot", {
  description: "Keeps unsafe twinroot fleets from reaching pulumi up: image integrity, rollout safety, node hardening, consistency, OpenStack placement.",
  enforcementLevel: "mandatory",
  policies,
});
