// The real @pulumi/openstack against the narrow interfaces the components are typed with
// (OpenStackComputeApi, GlanceImagesApi): at compile time the module must be assignable
// to them; at run time its classes must exist and register the type tokens and input
// names the policy pack reads.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import { FLOATING_IP_TYPES, GLANCE_IMAGE_TYPE, INSTANCE_TYPE, SERVER_GROUP_TYPE } from "../policies/model";
import { NodePool, type OpenStackComputeApi, POOL_LABEL } from "./node-pool";
import { type GlanceImagesApi, OsImage } from "./os-image";
import { byType, outputValue } from "./test-mocks";

// Compile time (`npm run typecheck`; the test runner does not type-check): what a program
// passes as `api`, the module itself, satisfies the narrow interfaces. Construct
// signatures are compared strictly here, so every argument a component may pass must be
// one the real constructor accepts, and every output it reads must exist with its type.
const api: OpenStackComputeApi & GlanceImagesApi = openstack;
// The check refuses an argument of another shape than the real SDK's.
// @ts-expect-error the real InstanceArgs.userData is a string
const _drifted: { compute: { Instance: new (name: string, args: { userData?: pulumi.Input<number> }) => unknown } } = openstack;

const image = { version: "1.0.0", url: "https://images.test/os.img", digest: "f".repeat(64) };
const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
/** The token a generated SDK class registers with (`<Class>.__pulumiType`, internal to the SDK). */
const tokenOf = (c: unknown) => (c as { __pulumiType?: unknown }).__pulumiType;

describe("@pulumi/openstack as the components use it", () => {
  it("has the classes the components construct, as custom resources of the root's @pulumi/pulumi", () => {
    for (const [name, c] of Object.entries({
      "compute.Instance": openstack.compute.Instance,
      "compute.ServerGroup": openstack.compute.ServerGroup,
      "images.Image": openstack.images.Image,
    })) {
      assert.equal(typeof c, "function", name);
      // A second copy of @pulumi/pulumi under the SDK would make this false.
      assert.ok(c.prototype instanceof pulumi.CustomResource, `${name} extends this @pulumi/pulumi's CustomResource`);
    }
  });

  it("registers the type tokens the policy pack reads", () => {
    assert.equal(tokenOf(openstack.compute.Instance), INSTANCE_TYPE);
    assert.equal(tokenOf(openstack.compute.ServerGroup), SERVER_GROUP_TYPE);
    assert.equal(tokenOf(openstack.images.Image), GLANCE_IMAGE_TYPE);
    assert.deepEqual([tokenOf(openstack.compute.FloatingIpAssociate), tokenOf(openstack.networking.FloatingIpAssociate)], FLOATING_IP_TYPES);
    assert.equal(tokenOf(openstack.networking.Port), "openstack:networking/port:Port");
  });

  it("passes a pool's machines, server group and Glance image to the engine under the input names the policies read", async () => {
    const img = new OsImage("real-image", { ...image, glance: { api } });
    const pool = new NodePool("real", {
      backend: { kind: "openstack", api, flavor: "m1.large", networkId: "net-1" },
      size: 2,
      image: img,
      poolName: "workers",
      ignition: { node: { kubelet: { apiServer: "https://10.0.0.1:6443", caCert: CA, bootstrapToken: "abcdef.0123456789abcdef" } } },
    });
    await outputValue(pool.machineIds);
    const machines = byType(INSTANCE_TYPE, "real-machine-");
    assert.equal(machines.length, 2);
    const m = machines[0]?.inputs ?? {};
    assert.deepEqual(m.networks, [{ uuid: "net-1" }]);
    assert.deepEqual(m.schedulerHints, [{ group: "real-group-id" }]);
    assert.deepEqual(m.metadata, { [POOL_LABEL]: "workers" });
    assert.equal(m.imageId, "real-image-glance-id");
    // The user data reaches the engine as a secret holding the Ignition config.
    const userData = m.userData as Record<string, unknown>;
    assert.equal(userData[pulumi.runtime.specialSigKey], pulumi.runtime.specialSecretSig);
    assert.equal(JSON.parse(String(userData.value)).ignition.version, "3.4.0");
    assert.deepEqual(byType(SERVER_GROUP_TYPE, "real-group")[0]?.inputs.policies, ["anti-affinity"]);
    const glance = byType(GLANCE_IMAGE_TYPE, "real-image-glance")[0]?.inputs ?? {};
    assert.equal(glance.imageSourceUrl, image.url);
    assert.deepEqual(glance.tags, ["twinroot"]);
    assert.deepEqual(glance.properties, { twinroot_version: "1.0.0", twinroot_sha256: image.digest });
  });
});
