import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { IMMUTABLE_MACHINE_INPUTS, NodePool, type OpenStackComputeApi, type OpenStackInstanceArgs } from "./node-pool";
import { OsImage } from "./os-image";
import { byType, outputValue, inputProblems as problems, registered, urnOf } from "./test-mocks";

const image = { version: "1.0.0", url: "https://images.test/os.img", digest: "f".repeat(64) };
const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/** A stand-in for `@pulumi/openstack` that registers real (mocked) resources and records the options. */
function fakeOpenStack() {
  const calls: { type: string; name: string; args: unknown; opts?: pulumi.CustomResourceOptions }[] = [];
  class Instance extends pulumi.CustomResource {
    declare readonly accessIpV4: pulumi.Output<string>;
    constructor(name: string, args: OpenStackInstanceArgs, opts?: pulumi.CustomResourceOptions) {
      super("openstack:compute/instance:Instance", name, args as pulumi.Inputs, opts);
      calls.push({ type: "Instance", name, args, opts });
    }
  }
  class ServerGroup extends pulumi.CustomResource {
    constructor(name: string, args: pulumi.Inputs, opts?: pulumi.CustomResourceOptions) {
      super("openstack:compute/serverGroup:ServerGroup", name, args, opts);
      calls.push({ type: "ServerGroup", name, args, opts });
    }
  }
  class Image extends pulumi.CustomResource {
    constructor(name: string, args: pulumi.Inputs, opts?: pulumi.CustomResourceOptions) {
      super("openstack:images/image:Image", name, args, opts);
    }
  }
  const api: OpenStackComputeApi & { images: { Image: typeof Image } } = { compute: { Instance, ServerGroup }, images: { Image } };
  return { api, calls };
}

describe("NodePool", () => {
  it("creates OpenStack machines in an anti-affinity group that never take a new image or Ignition", async () => {
    const { api, calls } = fakeOpenStack();
    const img = new OsImage("np-image", { ...image, glance: { api } });
    const pool = new NodePool("np", {
      backend: { kind: "openstack", api, flavor: "m1.large", networkId: "net-1", availabilityZones: ["az1", "az2"] },
      size: 3,
      image: img,
      poolName: "workers",
      labels: { tier: "app" },
      ignition: { node: { kubelet: { apiServer: "https://10.0.0.1:6443", caCert: CA, bootstrapToken: "abcdef.0123456789abcdef" } } },
    });
    assert.deepEqual(await outputValue(pool.nodeNames), ["workers-0", "workers-1", "workers-2"]);
    assert.deepEqual(await outputValue(pool.machineIds), ["np-machine-0-id", "np-machine-1-id", "np-machine-2-id"]);
    const instances = calls.filter((c) => c.type === "Instance");
    assert.equal(instances.length, 3);
    for (const c of instances) {
      assert.equal(c.opts?.parent, pool);
      assert.deepEqual(c.opts?.ignoreChanges, [...IMMUTABLE_MACHINE_INPUTS.openstack]);
    }
    const group = calls.find((c) => c.type === "ServerGroup");
    assert.deepEqual(group?.args, { name: "twinroot-workers", policies: ["anti-affinity"] });
    const regs = byType("openstack:compute/instance:Instance", "np-machine-");
    assert.deepEqual(
      regs.map((r) => [r.inputs.name, r.inputs.availabilityZone, r.inputs.imageId, r.inputs.flavorName]),
      [
        ["workers-0", "az1", "np-image-glance-id", "m1.large"],
        ["workers-1", "az2", "np-image-glance-id", "m1.large"],
        ["workers-2", "az1", "np-image-glance-id", "m1.large"],
      ],
    );
    assert.deepEqual(regs[0]?.inputs.schedulerHints, [{ group: "np-group-id" }]);
    assert.deepEqual(regs[0]?.inputs.networks, [{ uuid: "net-1" }]);
    assert.deepEqual(regs[0]?.inputs.metadata, { "twinroot.dev/pool": "workers" });
    // The pool's labels reach the kubelet through the Ignition config, which stays secret.
    assert.ok(pool.ignition);
    assert.equal(await pulumi.isSecret(pool.ignition.userData), true);
    const rendered = await outputValue(pool.ignition.rendered);
    const dropin = JSON.parse(rendered).systemd.units.find((u: { name: string }) => u.name === "kubelet.service").dropins[0].contents as string;
    assert.match(dropin, /--node-labels=tier=app,twinroot\.dev\/pool=workers/);
    assert.match(await urnOf(pool), /twinroot:nodes:NodePool::np$/);
  });

  it("creates lab machines through the engine with the pool's labels and the image's version", async () => {
    const img = new OsImage("lp-image", image);
    const pool = new NodePool("lp", { backend: { kind: "lab", endpoint: "http://127.0.0.1:7000" }, size: 2, image: img });
    assert.deepEqual(await outputValue(pool.nodeNames), ["lp-0", "lp-1"]);
    await outputValue(pool.machineIds);
    const machines = registered.filter((r) => r.name.startsWith("lp-machine-"));
    assert.equal(machines.length, 2);
    assert.equal(machines[0]?.type, "pulumi-nodejs:dynamic/twinroot:LabMachine");
    assert.equal(machines[1]?.inputs.nodeName, "lp-1");
    assert.equal(machines[1]?.inputs.version, "1.0.0");
    assert.deepEqual(machines[1]?.inputs.labels, { "twinroot.dev/pool": "lp" });
  });

  it("registers the pool's taints with the kubelet on OpenStack and with the lab's new nodes, never pushing them to existing ones", async () => {
    const { api, calls } = fakeOpenStack();
    const taints = [{ key: "dedicated", value: "db", effect: "NoSchedule" as const }];
    const os = new NodePool("tp", {
      backend: { kind: "openstack", api, flavor: "m1.large", networkId: "net-1" },
      size: 1,
      image: new OsImage("tp-image", { ...image, glance: { api } }),
      taints,
      ignition: { node: { kubelet: { apiServer: "https://10.0.0.1:6443", caCert: CA, bootstrapToken: "abcdef.0123456789abcdef" } } },
    });
    const rendered = JSON.parse(await outputValue((os.ignition as NonNullable<typeof os.ignition>).rendered));
    const dropin = rendered.systemd.units.find((u: { name: string }) => u.name === "kubelet.service").dropins[0].contents as string;
    assert.match(dropin, /--register-with-taints=dedicated=db:NoSchedule/);
    assert.ok(calls.some((c) => c.type === "Instance"));
    const lab = new NodePool("tl", { backend: { kind: "lab", endpoint: "http://127.0.0.1:7000" }, size: 1, image: new OsImage("tl-image", image), taints });
    await outputValue(lab.machineIds);
    const machine = registered.find((r) => r.name === "tl-machine-0");
    assert.deepEqual(machine?.inputs.taints, taints);
    assert.ok(IMMUTABLE_MACHINE_INPUTS.lab.includes("taints"));
  });

  it("names every bad input in one error", () => {
    const { api } = fakeOpenStack();
    const img = new OsImage("bad-image", image);
    assert.deepEqual(
      problems(
        () =>
          new NodePool("bad", {
            backend: { kind: "openstack", api, flavor: " ", networkId: "n", portIds: ["p"], availabilityZones: [] },
            size: 2,
            image: img,
            poolName: "Bad_Pool",
            labels: { "bad key!": "v" },
          }),
      ),
      ["poolName", "labels", "ignition", "image", "backend.portIds", "backend.portIds", "backend.flavor", "backend.availabilityZones"],
    );
    assert.deepEqual(
      problems(
        () =>
          new NodePool("bad2", {
            backend: { kind: "lab", endpoint: "http://10.1.2.3:80" },
            size: -1,
            image: img,
            taints: [
              { key: "ok", effect: "NoExecute" },
              { key: "x", effect: "Always" as never },
            ],
          }),
      ),
      ["size", "taints[1]", "backend.endpoint"],
    );
  });
});
