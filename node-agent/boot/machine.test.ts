import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { AgentError } from "../errors";
import { otherSlot, type SlotName } from "../slots/layout";
import { activate, type BootState, chooseBoot, commit, initialBootState, MAX_TRIES, markBad, markGood, rollback, setPrimary, stageTarget } from "./machine";

/** A node: the boot state plus what the model knows that GRUB does not (slot contents, the running slot). */
interface Node {
  boot: BootState;
  booted: SlotName;
  /** Whether a slot holds a complete, verified image. */
  verified: Record<SlotName, boolean>;
  staged: Record<SlotName, boolean>;
}

type Step = { kind: "stage"; crashAfterMarkBad: boolean } | { kind: "activate"; tries: number } | { kind: "commit" } | { kind: "rollback" } | { kind: "boot" };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant("stage" as const), crashAfterMarkBad: fc.boolean() }),
  fc.record({ kind: fc.constant("activate" as const), tries: fc.integer({ min: 1, max: MAX_TRIES }) }),
  fc.record({ kind: fc.constant("commit" as const) }),
  fc.record({ kind: fc.constant("rollback" as const) }),
  fc.record({ kind: fc.constant("boot" as const) }),
);

/** Applies a step the way the agent and GRUB do; a refused operation changes nothing (AgentError). */
function apply(n: Node, s: Step): Node {
  try {
    switch (s.kind) {
      case "stage": {
        const target = stageTarget(n.boot, n.booted);
        const boot = markBad(n.boot, target);
        const verified = { ...n.verified, [target]: false };
        if (s.crashAfterMarkBad) return { ...n, boot, verified, staged: { ...n.staged, [target]: false } };
        return { ...n, boot, verified: { ...verified, [target]: true }, staged: { ...n.staged, [target]: true } };
      }
      case "activate": {
        const target = otherSlot(n.booted);
        return { ...n, boot: activate(n.boot, n.booted, target, s.tries, n.staged[target]) };
      }
      case "commit":
        return { ...n, boot: commit(n.boot, n.booted) };
      case "rollback":
        return { ...n, boot: rollback(n.boot, n.booted) };
      case "boot": {
        const c = chooseBoot(n.boot);
        return { ...n, boot: c.state, booted: c.slot };
      }
    }
  } catch (err) {
    if (err instanceof AgentError) return n;
    throw err;
  }
}

function initial(): Node {
  return { boot: markGood(initialBootState(), "A"), booted: "A", verified: { A: true, B: false }, staged: { A: true, B: false } };
}

test("whatever the agent does and whenever it crashes, GRUB only boots verified slots and a good slot always remains", () => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
      let n = initial();
      for (const s of steps) {
        n = apply(n, s);
        assert.ok(n.boot.slots.A.good || n.boot.slots.B.good, "a good slot remains");
        for (const slot of ["A", "B"] as const) {
          if (n.boot.slots[slot].good || n.boot.slots[slot].triesLeft > 0) assert.ok(n.verified[slot], `slot ${slot} is bootable but not verified`);
        }
        const c = chooseBoot(n.boot);
        assert.ok(c.bootable);
        assert.ok(n.verified[c.slot]);
      }
      // Never committing again: within MAX_TRIES boots a good slot boots, and stays.
      let boot = n.boot;
      for (let i = 0; i < MAX_TRIES; i++) boot = chooseBoot(boot).state;
      const last = chooseBoot(boot);
      assert.ok(boot.slots[last.slot].good, "falls back to a good slot by itself");
      assert.equal(chooseBoot(last.state).slot, last.slot);
    }),
    { numRuns: 500 },
  );
});

test("an activated slot gets exactly its tries, then the old slot boots", () => {
  let s = markGood(initialBootState(), "A");
  s = activate(s, "A", "B", 3, true);
  const picks: SlotName[] = [];
  for (let i = 0; i < 5; i++) {
    const c = chooseBoot(s);
    picks.push(c.slot);
    s = c.state;
  }
  assert.deepEqual(picks, ["B", "B", "B", "A", "A"]);
});

test("committing stops the counting; rolling back needs a good other slot", () => {
  let s = activate(markGood(initialBootState(), "A"), "A", "B", 2, true);
  s = chooseBoot(s).state;
  s = commit(s, "B");
  assert.deepEqual(s.slots.B, { good: true, triesLeft: 0 });
  for (let i = 0; i < 5; i++) s = chooseBoot(s).state;
  assert.equal(chooseBoot(s).slot, "B");
  assert.deepEqual(rollback(s, "B").order, ["A", "B"]);
  assert.throws(() => rollback(markGood(initialBootState(), "A"), "A"), { code: "no-good-slot" });
});

test("the guards refuse what would leave no fallback", () => {
  const trial = activate(markGood(initialBootState(), "A"), "A", "B", 2, true);
  assert.throws(() => stageTarget(trial, "B"), { code: "booted-slot-not-good" });
  assert.throws(() => activate(trial, "B", "A", 2, true), { code: "booted-slot-not-good" });
  assert.throws(() => activate(markGood(initialBootState(), "A"), "A", "B", 2, false), { code: "not-staged" });
  assert.throws(() => setPrimary(trial, "B", MAX_TRIES + 1), { code: "invalid-params" });
  // Activating the booted slot cancels a pending trial.
  assert.deepEqual(activate(trial, "A", "A", 1, true), { order: ["A", "B"], slots: { A: { good: true, triesLeft: 0 }, B: { good: false, triesLeft: 0 } } });
});
