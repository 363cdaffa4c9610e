// Waiting on the API server's state in tests: poll until a condition holds, with a
// generous deadline (a failure to get there is the test's failure, not a timing claim).

import type { OsRollout } from "../../../controller/api/types";
import { sleep } from "../../../controller/kube/backoff";

/** Polls `fn` until it returns something other than undefined; throws after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

/** The condition of `type` of a rollout, if set. */
export const condition = (r: OsRollout | undefined, type: string) => r?.status?.conditions?.find((c) => c.type === type);
