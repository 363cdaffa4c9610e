// The boot-selection state machine: what the boot loader's environment says about the
// slots, what GRUB does with it at boot, and the transitions the agent makes. Pure and
// synchronous, so every rule is checked by property tests; the GRUB backend maps it to
// grubenv variables and grub.cfg implements chooseBoot in GRUB's script language.
//
// Model (RAUC's ORDER/<slot>_OK with a countdown per slot, like RAUC's BOOT_<slot>_LEFT):
// - a slot is good once committed; GRUB boots a good slot without counting;
// - an uncommitted slot is bootable while it has tries left; GRUB takes one try each
//   time it picks it, before booting, so a slot that never gets committed stops being
//   picked after its tries and the next slot in the order (a good one) boots instead.

import { AgentError } from "../errors";
import { otherSlot, SLOT_NAMES, type SlotName } from "../slots/layout";

/** The most tries an activation may give; grub.cfg counts down with a lookup up to this. */
export const MAX_TRIES = 9;

/** One slot as the boot loader sees it. */
export interface SlotBootState {
  /** Committed: boots without counting. */
  good: boolean;
  /** Boots left for an uncommitted slot (0 = not bootable unless good). */
  triesLeft: number;
}

/** The whole boot selection. */
export interface BootState {
  /** Both slots, the preferred one first. */
  order: [SlotName, SlotName];
  slots: Record<SlotName, SlotBootState>;
}

/** Whether GRUB would consider the slot. */
export function isBootable(s: SlotBootState): boolean {
  return s.good || s.triesLeft > 0;
}

function clone(state: BootState): BootState {
  return { order: [...state.order], slots: { A: { ...state.slots.A }, B: { ...state.slots.B } } };
}

/** What GRUB does at one boot. */
export interface BootChoice {
  slot: SlotName;
  /** The state GRUB saves before booting (a try taken from an uncommitted slot). */
  state: BootState;
  /** False when no slot was bootable and GRUB fell back to the first in the order. */
  bootable: boolean;
}

/**
 * The model of grub.cfg: the first slot in the order that is good boots as it is; an
 * uncommitted one with tries left loses one try and boots; when nothing is bootable
 * (the agent never leaves it so) the first slot in the order boots anyway.
 */
export function chooseBoot(state: BootState): BootChoice {
  for (const slot of state.order) {
    const s = state.slots[slot];
    if (s.good) return { slot, state: clone(state), bootable: true };
    if (s.triesLeft > 0) {
      const next = clone(state);
      next.slots[slot].triesLeft = s.triesLeft - 1;
      return { slot, state: next, bootable: true };
    }
  }
  return { slot: state.order[0], state: clone(state), bootable: false };
}

/** Makes `slot` unbootable and last in the order: the first step before writing it. */
export function markBad(state: BootState, slot: SlotName): BootState {
  const next = clone(state);
  next.slots[slot] = { good: false, triesLeft: 0 };
  next.order = [otherSlot(slot), slot];
  return next;
}

/** Marks `slot` committed (boots without counting). */
export function markGood(state: BootState, slot: SlotName): BootState {
  const next = clone(state);
  next.slots[slot] = { good: true, triesLeft: 0 };
  return next;
}

/**
 * Puts `slot` first. An uncommitted `slot` gets `tries` boots; the other slot, if it is
 * uncommitted, loses its tries, so a trial is only ever pending for the primary slot.
 */
export function setPrimary(state: BootState, slot: SlotName, tries: number): BootState {
  if (!Number.isInteger(tries) || tries < 1 || tries > MAX_TRIES) throw new AgentError("invalid-params", `tries must be 1-${MAX_TRIES}, got ${tries}`);
  const next = clone(state);
  next.order = [slot, otherSlot(slot)];
  if (!next.slots[slot].good) next.slots[slot].triesLeft = tries;
  const other = next.slots[otherSlot(slot)];
  if (!other.good) other.triesLeft = 0;
  return next;
}

/** A fresh state: nothing committed, A first. */
export function initialBootState(): BootState {
  return { order: ["A", "B"], slots: { A: { good: false, triesLeft: 0 }, B: { good: false, triesLeft: 0 } } };
}

/** Whether two states are the same (to skip a write that changes nothing). */
export function sameBootState(a: BootState, b: BootState): boolean {
  return a.order[0] === b.order[0] && SLOT_NAMES.every((s) => a.slots[s].good === b.slots[s].good && a.slots[s].triesLeft === b.slots[s].triesLeft);
}

// Guards: the agent's preconditions, pure so the property tests use the very same rules.

/**
 * The slot `stage` may write: the one not booted, and only while the booted slot is good,
 * since the booted slot is the only fallback while the other one is being rewritten.
 */
export function stageTarget(state: BootState, booted: SlotName): SlotName {
  if (!state.slots[booted].good) throw new AgentError("booted-slot-not-good", `slot ${booted} is booted but not committed; commit or roll back before staging`);
  return otherSlot(booted);
}

/**
 * Activates `target` with `tries`: the staged other slot, or the booted slot itself
 * (which cancels a pending activation). The booted slot must be good so a failed trial
 * has somewhere to fall back to.
 */
export function activate(state: BootState, booted: SlotName, target: SlotName, tries: number, targetStaged: boolean): BootState {
  if (!state.slots[booted].good) throw new AgentError("booted-slot-not-good", `slot ${booted} is booted but not committed; commit it first`);
  if (target !== booted && !targetStaged && !state.slots[target].good)
    throw new AgentError("not-staged", `slot ${target} holds no verified image; stage one first`);
  return setPrimary(state, target, tries);
}

/** Commits the booted slot; its tries are no longer counted. */
export function commit(state: BootState, booted: SlotName): BootState {
  return markGood(state, booted);
}

/** Makes the other slot, which must be good, boot next; the booted slot loses any tries it had left. */
export function rollback(state: BootState, booted: SlotName): BootState {
  const target = otherSlot(booted);
  if (!state.slots[target].good) throw new AgentError("no-good-slot", `slot ${target} is not good; nothing to roll back to`);
  const next = clone(state);
  next.order = [target, booted];
  if (!next.slots[booted].good) next.slots[booted].triesLeft = 0;
  return next;
}
