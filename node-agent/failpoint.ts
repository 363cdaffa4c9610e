// Named crash points for the crash-safety tests. With TWINROOT_FAILPOINT=<name> (or
// <name>@<n> for the n-th time the point is reached) the agent kills itself with
// SIGKILL there, which is as abrupt as a crash gets short of pulling the power: no
// handler, no flush of anything not already written. Unset, a failpoint costs one
// property read.

const hits = new Map<string, number>();

function parse(spec: string | undefined): { name: string; nth: number } | undefined {
  if (!spec) return undefined;
  const [name, nth] = spec.split("@");
  return { name: name as string, nth: nth ? Number(nth) : 1 };
}

/** Kills the process here if TWINROOT_FAILPOINT names this point (and this is the n-th hit). */
export function failpoint(name: string): void {
  const want = parse(process.env.TWINROOT_FAILPOINT);
  if (!want || want.name !== name) return;
  const n = (hits.get(name) ?? 0) + 1;
  hits.set(name, n);
  if (n === want.nth) process.kill(process.pid, "SIGKILL");
}

/** Every failpoint of the agent, in the order an operation reaches them; the crash tests walk this list. */
export const FAILPOINTS = {
  stage: [
    "stage:start",
    "grubenv:tmp-written",
    "grubenv:renamed",
    "stage:marked-bad",
    "state:tmp-written",
    "state:renamed",
    "stage:recorded-writing",
    "stage:checkpoint",
    "stage:checkpoint@3",
    "stage:written",
    "stage:synced",
    "stage:verified",
    "stage:recorded-staged",
  ],
  activate: ["activate:start", "grubenv:tmp-written", "grubenv:renamed", "activate:done"],
} as const;
