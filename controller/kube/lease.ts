// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the holder
// renews every retry period; a candidate takes the Lease only after it has seen the same
// record unchanged for a whole lease duration on its own clock (so clock skew between
// machines does not matter), and every write carries the resourceVersion it read, so two
// candidates can never both win.

import { sleep } from "./backoff";
import type { Logger } from "./log";
import { LEASES, resourcePath } from "./resources";
import { isStatus, type Kube } from "./rest";

/** Options of a {@link LeaseElector}. */
export interface LeaseElectorOptions {
  namespace: string;
  name: string;
  /** This candidate's identity (pod name, or host and pid). */
  identity: string;
  /** How long a Lease holds without renewal. Default 15 s. */
  leaseDurationMs?: number;
  /** The leader gives up when it could not renew for this long. Default 10 s. */
  renewDeadlineMs?: number;
  /** Time between attempts. Default 2 s. */
  retryPeriodMs?: number;
  log: Logger;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const micro = (d: Date) => d.toISOString().replace("Z", "000Z");

/** Elects one leader among candidates that share a Lease. */
export class LeaseElector {
  private observed?: { record: string; at: number };
  private leading = false;

  constructor(
    private readonly kube: Kube,
    private readonly opts: LeaseElectorOptions,
  ) {}

  /** Whether this candidate held the Lease at its last successful attempt. */
  get isLeader(): boolean {
    return this.leading;
  }

  private get durationMs(): number {
    return this.opts.leaseDurationMs ?? 15_000;
  }

  private path(name?: string): string {
    return resourcePath(LEASES, { namespace: this.opts.namespace, name });
  }

  /** One attempt to take or renew the Lease; true when this candidate holds it afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    let lease: Lease | undefined;
    try {
      lease = await this.kube.request<Lease>("GET", this.path(this.opts.name));
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
    }
    const spec = {
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: Math.ceil(this.durationMs / 1000),
      renewTime: micro(now),
    };
    if (!lease) {
      try {
        await this.kube.request("POST", this.path(), {
          body: {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name: this.opts.name, namespace: this.opts.namespace },
            spec: { ...spec, acquireTime: micro(now), leaseTransitions: 0 },
          },
        });
        return this.setLeading(true);
      } catch (err) {
        if (isStatus(err, 409)) return this.setLeading(false);
        throw err;
      }
    }
    const holder = lease.spec.holderIdentity ?? "";
    const record = JSON.stringify(lease.spec);
    if (this.observed?.record !== record) this.observed = { record, at: Date.now() };
    const mine = holder === this.opts.identity;
    const expired = !holder || Date.now() - this.observed.at >= (lease.spec.leaseDurationSeconds ?? 15) * 1000;
    if (!mine && !expired) return this.setLeading(false);
    const next: Lease = {
      ...lease,
      spec: {
        ...lease.spec,
        ...spec,
        acquireTime: mine ? lease.spec.acquireTime : micro(now),
        leaseTransitions: (lease.spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
      },
    };
    try {
      await this.kube.request("PUT", this.path(this.opts.name), { body: next });
      return this.setLeading(true);
    } catch (err) {
      // Someone else wrote the Lease since we read it: they won this round.
      if (isStatus(err, 409)) return this.setLeading(false);
      throw err;
    }
  }

  private setLeading(v: boolean): boolean {
    if (v !== this.leading) this.opts.log.info(v ? "became leader" : "not leader", { lease: this.opts.name, identity: this.opts.identity });
    this.leading = v;
    return v;
  }

  /**
   * Campaigns until `signal` aborts. Each time this candidate wins, `lead` runs with a
   * signal that aborts when leadership is lost (no renewal within the renew deadline);
   * `lead` must stop all work then. On abort, a held Lease is released so a successor
   * need not wait for it to expire.
   */
  async run(lead: (signal: AbortSignal) => Promise<void> | void, signal: AbortSignal): Promise<void> {
    const retry = this.opts.retryPeriodMs ?? 2_000;
    const deadline = this.opts.renewDeadlineMs ?? 10_000;
    while (!signal.aborted) {
      if (!(await this.attempt())) {
        await sleep(retry, signal);
        continue;
      }
      const term = new AbortController();
      const leading = Promise.resolve(lead(AbortSignal.any([term.signal, signal])));
      let lastRenew = Date.now();
      while (!signal.aborted) {
        await sleep(retry, signal);
        if (signal.aborted) break;
        if (await this.attempt()) lastRenew = Date.now();
        else if (!this.leading || Date.now() - lastRenew > deadline) break;
      }
      term.abort();
      await leading.catch((err) => this.opts.log.error("leader work failed", { err }));
      this.leading = false;
    }
    await this.release();
  }

  private async attempt(): Promise<boolean> {
    try {
      return await this.tryAcquireOrRenew();
    } catch (err) {
      this.opts.log.warn("lease attempt failed", { lease: this.opts.name, err });
      return false;
    }
  }

  /** Gives the Lease up if this candidate holds it. */
  async release(): Promise<void> {
    try {
      const lease = await this.kube.request<Lease>("GET", this.path(this.opts.name));
      if (lease.spec.holderIdentity !== this.opts.identity) return;
      await this.kube.request("PUT", this.path(this.opts.name), {
        body: { ...lease, spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: micro(new Date()) } },
      });
    } catch (err) {
      this.opts.log.warn("lease release failed", { lease: this.opts.name, err });
    } finally {
      this.leading = false;
    }
  }
}
