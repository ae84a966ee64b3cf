/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews
 * the Lease every retry period; another replica takes over only after the Lease went
 * unrenewed for leaseDuration *as measured by its own clock* since it last saw the record
 * change (clock skew between nodes does not matter). Updates carry the resourceVersion, so
 * two candidates cannot both win. On graceful shutdown the holder releases the Lease so a
 * standby takes over at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../common/log.js';
import { statusOf, type KubeRest } from './rest.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  /** The leader gives up when it could not renew for this long (< leaseDuration). */
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: LeaseSpec;
}

/** metav1.MicroTime wants exactly six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private observed?: { key: string; at: number };
  private loop?: Promise<void>;
  private wake?: AbortController;

  constructor(
    private readonly rest: KubeRest,
    private readonly opts: LeaderElectionOptions,
    private readonly log: Logger,
    private readonly hooks: { onStartedLeading: () => void; onStoppedLeading: () => void },
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.loop ??= this.run();
  }

  private path(name?: string): string {
    const base = `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases`;
    return name ? `${base}/${name}` : base;
  }

  private async run(): Promise<void> {
    let lastRenew = Date.now();
    while (!this.stopped) {
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        this.log.warn({ err: String(err) }, 'leader election: lease request failed');
      }
      if (this.stopped) break;
      if (ok) {
        lastRenew = Date.now();
        if (!this.leading) {
          this.leading = true;
          this.log.info({ identity: this.opts.identity, lease: this.opts.name }, 'became leader');
          this.hooks.onStartedLeading();
        }
      } else if (this.leading && Date.now() - lastRenew > this.opts.renewDeadlineSeconds * 1000) {
        this.leading = false;
        this.log.error({ identity: this.opts.identity }, 'lost the leader lease');
        this.hooks.onStoppedLeading();
        return;
      }
      this.wake = new AbortController();
      await sleep(this.opts.retryPeriodSeconds * 1000, undefined, {
        signal: this.wake.signal,
      }).catch(() => undefined);
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    let lease: Lease | undefined;
    try {
      lease = await this.rest.get<Lease>(this.path(this.opts.name));
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    const mine: LeaseSpec = {
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: this.opts.leaseDurationSeconds,
      renewTime: microTime(now),
    };
    if (!lease) {
      const fresh: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.opts.name, namespace: this.opts.namespace },
        spec: { ...mine, acquireTime: microTime(now), leaseTransitions: 0 },
      };
      try {
        await this.rest.request('POST', this.path(), { body: fresh });
        return true;
      } catch (err) {
        if (statusOf(err) === 409) return false;
        throw err;
      }
    }
    const spec = lease.spec ?? {};
    const key = `${spec.holderIdentity ?? ''}|${spec.renewTime ?? ''}|${spec.leaseDurationSeconds ?? ''}`;
    if (this.observed?.key !== key) this.observed = { key, at: Date.now() };
    const held = spec.holderIdentity && spec.holderIdentity !== this.opts.identity;
    const expired =
      Date.now() >
      this.observed.at + (spec.leaseDurationSeconds ?? this.opts.leaseDurationSeconds) * 1000;
    if (held && !expired) return false;
    const takingOver = spec.holderIdentity !== this.opts.identity;
    const next: Lease = {
      ...lease,
      spec: {
        ...spec,
        ...mine,
        acquireTime: takingOver ? microTime(now) : (spec.acquireTime ?? microTime(now)),
        leaseTransitions:
          (spec.leaseTransitions ?? 0) + (takingOver && spec.holderIdentity ? 1 : 0),
      },
    };
    try {
      const updated = await this.rest.request<Lease>('PUT', this.path(this.opts.name), {
        body: next,
      });
      const s = updated.spec;
      this.observed = {
        key: `${s.holderIdentity ?? ''}|${s.renewTime ?? ''}|${s.leaseDurationSeconds ?? ''}`,
        at: Date.now(),
      };
      return true;
    } catch (err) {
      if (statusOf(err) === 409) return false;
      throw err;
    }
  }

  /** Stops renewing; if leading, hands the Lease back so a standby need not wait it out. */
  async release(): Promise<void> {
    this.stopped = true;
    this.wake?.abort();
    await this.loop;
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.rest.get<Lease>(this.path(this.opts.name));
      if (lease.spec?.holderIdentity !== this.opts.identity) return;
      const now = microTime(new Date());
      await this.rest.request('PUT', this.path(this.opts.name), {
        body: {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            renewTime: now,
            acquireTime: now,
          },
        },
      });
      this.log.info({ identity: this.opts.identity }, 'released the leader lease');
    } catch (err) {
      this.log.warn({ err: String(err) }, 'could not release the leader lease');
    }
  }
}
