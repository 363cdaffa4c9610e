// The agent's records of what each slot holds (version, digest, staged or not) and of an
// interrupted download it can resume. They live next to grubenv on the boot partition,
// written atomically, so they belong to the disk rather than to the machine.

import fs from "node:fs";
import path from "node:path";
import { writeFileAtomic } from "../atomic";
import { AgentError } from "../errors";
import type { SlotContentState } from "../rpc/protocol";
import { SLOT_NAMES, type SlotName } from "./layout";

/** Where an interrupted stage stopped, to continue from there with a Range request. */
export interface StageCheckpoint {
  url: string;
  digest: string;
  /** Bytes of the (uncompressed) image on the slot and flushed. */
  bytes: number;
  /** The server's ETag, sent back as If-Range so a changed file restarts from zero. */
  etag?: string;
  /**
   * A multi-frame zstd image: the compressed offset of the frame whose output starts at
   * `bytes`; the download continues there. Absent: a raw image, continued at `bytes`.
   */
  zstdOffset?: number;
}

/** What the agent recorded about one slot. */
export interface SlotRecord {
  content: SlotContentState;
  version?: string;
  digest?: string;
  bytes?: number;
  url?: string;
  stagedAt?: string;
  lastError?: string;
  checkpoint?: StageCheckpoint;
}

/** The whole state file. */
export interface AgentState {
  version: 1;
  slots: Record<SlotName, SlotRecord>;
}

/** A state with nothing known. */
export function emptyAgentState(): AgentState {
  return { version: 1, slots: { A: { content: "unknown" }, B: { content: "unknown" } } };
}

/** Reads the state file; a missing file is an empty state. */
export function readAgentState(file: string): AgentState {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return emptyAgentState();
    throw new AgentError("state", `state: read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const parsed = JSON.parse(text) as AgentState;
    const state = emptyAgentState();
    for (const s of SLOT_NAMES) if (parsed.slots?.[s]?.content) state.slots[s] = parsed.slots[s];
    return state;
  } catch (err) {
    throw new AgentError("state", `state: ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** Writes the state file atomically. */
export function writeAgentState(file: string, state: AgentState): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`, "state", 0o600);
  } catch (err) {
    throw new AgentError("state", `state: write ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads, changes one slot's record, writes. */
export function updateSlotRecord(file: string, slot: SlotName, record: SlotRecord): AgentState {
  const state = readAgentState(file);
  state.slots[slot] = record;
  writeAgentState(file, state);
  return state;
}
