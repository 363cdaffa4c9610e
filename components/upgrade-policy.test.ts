import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { outputValue } from "./test-mocks";
import { UpgradePolicy } from "./upgrade-policy";

describe("UpgradePolicy", () => {
  it("writes out production-safe defaults", async () => {
    const spec = await outputValue(new UpgradePolicy("pol-default").spec);
    assert.deepEqual(spec, {
      maxUnavailable: 1,
      paused: false,
      drain: { timeout: "10m", deleteEmptyDirData: false, onTimeout: "GiveBack" },
      healthCheck: { timeout: "10m" },
      failure: { maxFailedNodes: 1, failedNodePolicy: "LeaveRolledBack" },
    });
  });

  it("maps every field to the rollout resource's policy fields", async () => {
    const spec = await outputValue(
      new UpgradePolicy("pol-full", {
        maxUnavailable: "25%",
        failureBudget: 0,
        failedNodePolicy: "KeepCordoned",
        paused: true,
        maintenanceWindows: [
          { days: ["Sat", "Sun"], start: "02:00", duration: "4h", timeZone: "Europe/Berlin" },
          { days: ["Wed"], start: "23:30", duration: "90m" },
        ],
        drain: {
          timeout: "5m",
          respectPodDisruptionBudgets: false,
          deleteEmptyDirData: true,
          gracePeriodSeconds: 30,
          skipPodSelector: { matchLabels: { keep: "yes" } },
        },
        healthCheck: { timeout: "3m", deployments: [{ namespace: "web", name: "frontend", minAvailable: 2 }] },
      }).spec,
    );
    assert.equal(spec.maxUnavailable, "25%");
    assert.deepEqual(spec.failure, { maxFailedNodes: 0, failedNodePolicy: "KeepCordoned" });
    assert.deepEqual(spec.drain, {
      timeout: "5m",
      deleteEmptyDirData: true,
      onTimeout: "DeletePods",
      skipPodSelector: { matchLabels: { keep: "yes" } },
      gracePeriodSeconds: 30,
    });
    assert.deepEqual(spec.maintenanceWindows?.[1], { days: ["Wed"], start: "23:30", duration: "90m", timeZone: "UTC" });
    assert.deepEqual(spec.healthCheck?.deployments, [{ namespace: "web", name: "frontend", minAvailable: 2 }]);
    assert.equal(spec.paused, true);
  });

  it("names every bad field in one error", () => {
    assert.throws(
      () =>
        new UpgradePolicy("pol-bad", {
          maxUnavailable: "150%",
          failureBudget: -1,
          failedNodePolicy: "Explode" as never,
          maintenanceWindows: [{ days: ["Funday" as never], start: "25:00", duration: "forever", timeZone: "Mars/Olympus" }],
          drain: { timeout: "0s", gracePeriodSeconds: 90000, skipPodSelector: { matchExpressions: [{ key: "a", operator: "In" }] } },
          healthCheck: { timeout: "200h", deployments: [{ namespace: "", name: "", minAvailable: -2 }] },
        }),
      (err: unknown) => {
        assert.ok(pulumi.InputPropertiesError.isInstance(err));
        assert.deepEqual(
          err.errors.map((e) => e.propertyPath),
          [
            "maxUnavailable",
            "failureBudget",
            "failedNodePolicy",
            "maintenanceWindows[0].days",
            "maintenanceWindows[0].start",
            "maintenanceWindows[0].duration",
            "maintenanceWindows[0].timeZone",
            "drain.timeout",
            "drain.gracePeriodSeconds",
            "drain.skipPodSelector.matchExpressions[0].values",
            "healthCheck.timeout",
            "healthCheck.deployments[0].namespace",
            "healthCheck.deployments[0].name",
            "healthCheck.deployments[0].minAvailable",
          ],
        );
        return true;
      },
    );
  });

  it("refuses a count of 0 and a fractional count", () => {
    for (const maxUnavailable of [0, 1.5]) assert.throws(() => new UpgradePolicy(`pol-${maxUnavailable}`, { maxUnavailable }), /maxUnavailable/);
  });
});
