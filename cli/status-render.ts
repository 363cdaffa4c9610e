// The human form of `twinroot status`: a header per rollout and a table of its nodes.
// Pure functions of the status document (and a terminal size for the live view), so
// the output is tested as plain strings.

import type { NodeStatusView, RolloutStatusView, StatusDocument } from "./status-model";

/** A duration as `12s`, `3m04s`, `1h02m` or `2d03h`; `-` when unknown. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return "-";
  const s = Math.floor(seconds);
  const two = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d${two(Math.floor(s / 3600) % 24)}h`;
}

/** Left-aligned columns, each as wide as its widest cell, two spaces apart; no trailing blanks. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [header, ...rows].map(line).join("\n");
}

// Messages come from other programs; a newline in one would break the table.
const oneLine = (s: string) => s.replace(/\s+/g, " ").trim();

function nodeMessage(n: NodeStatusView): string {
  const flags: string[] = [];
  if (n.cordoned === null) flags.push("no Node");
  if (!n.hasOsNode) flags.push("no OsNode");
  if (n.ready === false) flags.push("NotReady");
  if (n.cordoned) flags.push("cordoned");
  // A failed node's message may be about the rollback; the error says what went wrong.
  const failed = n.phase === "Failed" || n.phase === "RolledBack";
  const text = oneLine((failed && n.lastError ? n.lastError : n.message) ?? "");
  return [flags.length ? `[${flags.join(", ")}]` : "", text].filter((x) => x).join(" ");
}

/** The node table: NODE, PHASE, SLOT, VERSION, TARGET, IN PHASE, MESSAGE. */
export function renderNodes(nodes: readonly NodeStatusView[]): string {
  return renderTable(
    ["NODE", "PHASE", "SLOT", "VERSION", "TARGET", "IN PHASE", "MESSAGE"],
    nodes.map((n) => [
      n.name,
      n.phase ?? "-",
      n.bootedSlot ?? "-",
      n.bootedVersion ?? "-",
      n.targetVersion ?? "-",
      formatDuration(n.timeInPhaseSeconds),
      nodeMessage(n),
    ]),
  );
}

/** The header line of a rollout, and a second line saying why when it is not simply moving or done. */
export function renderRolloutHeader(r: RolloutStatusView): string {
  const c = r.counts;
  const lines = [`rollout ${r.name} → ${r.targetVersion}  ${r.state}  updated ${c.updated}/${c.total}  failed ${c.failed}  in progress ${c.inProgress}`];
  const explain = r.state === "Degraded" || r.state === "Paused" || r.state === "Waiting" || (r.state === "Progressing" && r.reason !== "NodesStarted");
  if (r.state === "Unknown") lines.push("  the controller has not reported on this rollout yet (is it running?)");
  else if (explain && (r.reason || r.detail)) lines.push(`  ${[r.reason, r.detail && oneLine(r.detail)].filter((x) => x).join(": ")}`);
  if (r.state !== "Unknown" && !r.observed) lines.push("  (the controller has not caught up with the latest spec yet)");
  return lines.join("\n");
}

/** The whole human-readable status: each rollout with its nodes, then the nodes in no rollout. */
export function renderStatus(doc: StatusDocument): string {
  const blocks: string[] = [];
  if (doc.rollout !== null && doc.rollouts.length === 0) blocks.push(`OsRollout "${doc.rollout}" not found`);
  else if (doc.rollouts.length === 0) blocks.push("no OsRollouts in the cluster");
  for (const r of doc.rollouts) {
    blocks.push(r.nodes.length ? `${renderRolloutHeader(r)}\n\n${renderNodes(r.nodes)}` : `${renderRolloutHeader(r)}\n  no nodes selected`);
  }
  if (doc.unassignedNodes.length) {
    const n = doc.unassignedNodes.length;
    blocks.push(`not in any rollout: ${n} node${n === 1 ? "" : "s"}\n\n${renderNodes(doc.unassignedNodes)}`);
  }
  return `${blocks.join("\n\n")}\n`;
}

/** Size of the terminal the live view draws on. */
export interface TerminalSize {
  columns: number;
  rows: number;
}

/**
 * One frame of the live view: the cursor goes home, every line is cut to the terminal
 * width and cleared to its end, and whatever the last frame left below is erased. Cut
 * lines never wrap, so the next frame overwrites exactly this one (no flicker from
 * clearing the whole screen first).
 */
export function terminalFrame(text: string, size: TerminalSize): string {
  const columns = Math.max(1, size.columns);
  const rows = Math.max(2, size.rows);
  let lines = text.replace(/\n$/, "").split("\n");
  if (lines.length > rows - 1) {
    const hidden = lines.length - (rows - 2);
    lines = [...lines.slice(0, rows - 2), `… ${hidden} more lines (a taller terminal shows them)`];
  }
  const cut = (l: string) => {
    const chars = [...l];
    return chars.length > columns ? `${chars.slice(0, columns - 1).join("")}…` : l;
  };
  return `\x1b[H${lines.map((l) => `${cut(l)}\x1b[K`).join("\n")}\n\x1b[J`;
}
