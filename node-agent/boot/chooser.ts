// The boot-chooser facade (RAUC's get/set primary, get/set state) and its GRUB backend,
// which keeps the boot state in grubenv variables. Each verb is one atomic write of the
// environment block, so a crash leaves the old or the new selection, never a mix.

import { wrap } from "../errors";
import { SLOT_NAMES, type SlotName } from "../slots/layout";
import { editGrubEnv, type GrubEnv, grubEnvVars, readGrubEnvFile, writeGrubEnvFile } from "./grubenv";
import { type BootState, initialBootState, MAX_TRIES, markBad, markGood, type SlotBootState, sameBootState, setPrimary } from "./machine";

/** A boot loader's view of the slots, with the same verbs whatever the boot loader. */
export interface BootChooser {
  /** The whole boot state. */
  read(): BootState;
  /** Applies a transition in one atomic write; returns the new state and whether anything changed. */
  update(transition: (state: BootState) => BootState): { state: BootState; changed: boolean };
  /** The slot first in the order. */
  getPrimary(): SlotName;
  /** Puts a slot first, with `tries` boots if it is not committed. */
  setPrimary(slot: SlotName, tries: number): void;
  /** A slot's good flag and tries left. */
  getState(slot: SlotName): SlotBootState;
  /** Marks a slot good (committed) or bad (unbootable, last in the order). */
  setState(slot: SlotName, good: boolean): void;
}

/** grubenv variable names: `ORDER`, `<slot>_OK`, `<slot>_LEFT` (read by grub.cfg). */
export const GRUBENV_VARS = {
  order: "ORDER",
  ok: (slot: SlotName) => `${slot}_OK`,
  left: (slot: SlotName) => `${slot}_LEFT`,
} as const;

/**
 * Reads the boot state from grubenv variables. Missing or foreign values read as "not
 * good, no tries", the safe side: a slot is only bootable when the agent said so.
 */
export function bootStateFromEnv(env: GrubEnv): BootState {
  const vars = grubEnvVars(env);
  const state = initialBootState();
  const order = (vars.get(GRUBENV_VARS.order) ?? "").split(/\s+/).filter((s): s is SlotName => (SLOT_NAMES as readonly string[]).includes(s));
  const first = order[0] ?? "A";
  state.order = [first, first === "A" ? "B" : "A"];
  for (const slot of SLOT_NAMES) {
    const left = Number(vars.get(GRUBENV_VARS.left(slot)));
    state.slots[slot] = {
      good: vars.get(GRUBENV_VARS.ok(slot)) === "1",
      triesLeft: Number.isInteger(left) && left > 0 ? Math.min(left, MAX_TRIES) : 0,
    };
  }
  return state;
}

/** Writes the boot state into an environment block, keeping every other line as it was. */
export function bootStateToEnv(env: GrubEnv, state: BootState): GrubEnv {
  const edits: Record<string, string> = { [GRUBENV_VARS.order]: state.order.join(" ") };
  for (const slot of SLOT_NAMES) {
    edits[GRUBENV_VARS.ok(slot)] = state.slots[slot].good ? "1" : "0";
    edits[GRUBENV_VARS.left(slot)] = String(state.slots[slot].triesLeft);
  }
  return editGrubEnv(env, edits);
}

/** The GRUB backend: the boot state lives in the grubenv file at `envFile`. */
export class GrubBootChooser implements BootChooser {
  constructor(readonly envFile: string) {}

  private readEnv(): GrubEnv {
    try {
      return readGrubEnvFile(this.envFile);
    } catch (err) {
      throw wrap(err, "grub backend", "grubenv");
    }
  }

  read(): BootState {
    return bootStateFromEnv(this.readEnv());
  }

  update(transition: (state: BootState) => BootState): { state: BootState; changed: boolean } {
    const env = this.readEnv();
    const before = bootStateFromEnv(env);
    const after = transition(before);
    // Only the agent's own variables are compared; an unchanged state is not rewritten,
    // which keeps repeated calls (retries after a crash) free of writes.
    if (sameBootState(before, after) && this.envHasAll(env)) return { state: after, changed: false };
    try {
      writeGrubEnvFile(this.envFile, bootStateToEnv(env, after));
    } catch (err) {
      throw wrap(err, "grub backend", "grubenv");
    }
    return { state: after, changed: true };
  }

  private envHasAll(env: GrubEnv): boolean {
    const vars = grubEnvVars(env);
    return vars.has(GRUBENV_VARS.order) && SLOT_NAMES.every((s) => vars.has(GRUBENV_VARS.ok(s)) && vars.has(GRUBENV_VARS.left(s)));
  }

  getPrimary(): SlotName {
    return this.read().order[0];
  }

  setPrimary(slot: SlotName, tries: number): void {
    this.update((s) => setPrimary(s, slot, tries));
  }

  getState(slot: SlotName): SlotBootState {
    return this.read().slots[slot];
  }

  setState(slot: SlotName, good: boolean): void {
    this.update((s) => (good ? markGood(s, slot) : markBad(s, slot)));
  }
}
