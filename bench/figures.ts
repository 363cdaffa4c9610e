import fs from "node:fs";

/** One measured figure, as it appears in `bench/results.json`. */
export interface Figure {
  /** Dotted name, `<group>.<what>`, e.g. `agent.stage.throughput`. */
  name: string;
  value: number;
  unit: string;
  /** The same quantity for the reference implementation, measured in the same run. */
  baseline?: number;
  /** `value / baseline`. */
  ratio?: number;
  /** What the figure was measured on (sizes, counts), for the reader. */
  note?: string;
}

/** Builds a figure; computes the ratio when a baseline is given. */
export function figure(name: string, value: number, unit: string, baseline?: number, note?: string): Figure {
  const f: Figure = { name, value: round(value), unit };
  if (baseline !== undefined) {
    f.baseline = round(baseline);
    f.ratio = baseline === 0 ? Number.NaN : round(value / baseline);
  }
  if (note) f.note = note;
  return f;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * Hands a group's figures to the runner (`scripts/bench.mjs`), which passes the file to
 * write in `TWINROOT_BENCH_OUT`; run standalone, the figures go to stdout.
 */
export function report(figures: Figure[]): void {
  const out = process.env.TWINROOT_BENCH_OUT;
  if (out) fs.writeFileSync(out, JSON.stringify(figures));
  else console.log(JSON.stringify(figures, null, 2));
}

/** Median of a list of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
