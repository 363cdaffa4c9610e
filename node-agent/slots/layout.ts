// The A/B disk layout shared by the node agent, the image builder and the Ignition
// preset: partition labels, GPT type GUIDs and slot names. Pure constants and small
// pure helpers; no I/O.

/** The two root slots. */
export const SLOT_NAMES = ["A", "B"] as const;

/** A root slot's name. */
export type SlotName = (typeof SLOT_NAMES)[number];

/** Tells whether a string names a slot. */
export function isSlotName(s: unknown): s is SlotName {
  return s === "A" || s === "B";
}

/** The slot that is not `slot`. */
export function otherSlot(slot: SlotName): SlotName {
  return slot === "A" ? "B" : "A";
}

/**
 * GPT partition names (the `PARTLABEL`) of the A/B layout. The boot partition is the
 * ESP on UEFI machines; on BIOS machines (and in the lab, where vfat cannot be mounted)
 * it is an ext4 `/boot` labelled `BOOT`. Both hold `grub/grub.cfg` and `grub/grubenv`.
 */
export const PARTITION_LABELS = {
  biosBoot: "BIOS-BOOT",
  esp: "ESP",
  boot: "BOOT",
  rootA: "ROOT-A",
  rootB: "ROOT-B",
  persist: "PERSIST",
} as const;

/** GPT partition type GUIDs (upper case, as `sgdisk` prints them). */
export const PARTITION_TYPE_GUIDS = {
  /** GRUB's core image on BIOS machines (`sgdisk` type `ef02`). */
  biosBoot: "21686148-6449-6E6F-744E-656564454649",
  /** EFI system partition (`ef00`). */
  esp: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
  /** Extended boot loader partition (`ea00`), used for the ext4 `/boot`. */
  xbootldr: "BC13C2FF-59E6-4262-A352-B275FD6F7172",
  /** Linux root (x86-64) (`8304`), used for both root slots. */
  rootX86_64: "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
  /** Linux filesystem data (`8300`), used for PERSIST. */
  linuxData: "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
} as const;

/** The partition label of a slot's root partition. */
export function slotLabel(slot: SlotName): string {
  return slot === "A" ? PARTITION_LABELS.rootA : PARTITION_LABELS.rootB;
}

/** The slot a root partition label belongs to, if any. */
export function slotOfLabel(label: string): SlotName | undefined {
  if (label === PARTITION_LABELS.rootA) return "A";
  if (label === PARTITION_LABELS.rootB) return "B";
  return undefined;
}

/** Where GRUB's files live, relative to the root of the boot partition. */
export const GRUB_DIR = "grub";

/** The agent's own records (slot contents, resumable downloads), relative to the boot partition. */
export const AGENT_STATE_FILE = "twinroot/state.json";

/** The kernel command-line parameter by which `grub.cfg` tells the OS which slot it booted. */
export const SLOT_CMDLINE_PARAM = "twinroot.slot";
