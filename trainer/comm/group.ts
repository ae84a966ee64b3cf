/**
 * A process group — the face the trainer sees (`connectGroup`, `Group`): collectives run one
 * at a time, in call order, and the first failure breaks the group for good (a ring cannot
 * take a member back: the trainer exits with the retryable code and the whole group
 * restarts). With one process every collective is the identity. With more, the group is
 * put together from parts that each do one job:
 * - servers.ts — what this rank serves: gRPC (control plane, and the Pull stream) and the
 *   TCP data-plane listener;
 * - membership.ts — rendezvous, heartbeats and fault verdicts (coordinator.ts at rank 0,
 *   rendezvous.ts on the other ranks);
 * - links.ts — the frames' path to both neighbours, over TCP (tcp.ts, the default since
 *   ADR 0085) or gRPC (grpc-link.ts);
 * - ring.ts — the ring algorithms, which see only a link.
 */
import { InputError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { GroupClosedError } from './errors.js';
import { Flat } from './flat.js';
import { Kind } from './frame.js';
import { RingLinks } from './links.js';
import { Membership } from './membership.js';
import {
  channelCredentials,
  resolveOptions,
  type GroupOptions,
  type GroupSettings,
} from './options.js';
import { Peers } from './peers.js';
import { ringAllGather, ringAllReduce, ringBroadcast, type RingContext } from './ring.js';
import { GroupServers } from './servers.js';
import type { StepClock, StepReport } from './step-clock.js';

export type { GroupOptions, TlsOptions } from './options.js';

export interface Group {
  readonly rank: number;
  readonly worldSize: number;
  readonly generation: number;
  /** In-place all-reduce of float32 arrays, fused into buckets. Identical on every rank. */
  allReduce(arrays: Float32Array | readonly Float32Array[], op?: 'sum' | 'mean'): Promise<void>;
  /** Copies root's arrays into everyone's (same shapes on every rank). */
  broadcast(arrays: Float32Array | readonly Float32Array[], root?: number): Promise<void>;
  /** Everyone's data, indexed by rank (sizes may differ between ranks). */
  allGather(data: Float32Array): Promise<Float32Array[]>;
  allGather(data: Uint8Array): Promise<Uint8Array[]>;
  /** Resolves once every rank has entered the barrier. */
  barrier(): Promise<void>;
  /** Idempotent, bounded in time; fails any collective still running. */
  close(): Promise<void>;
  /** Rank 0: every rank's last step report as the coordinator heard it; others: []. */
  stepReports(): Array<{ rank: number; report: StepReport }>;
  /** Rank 0: the hang timeout in force now (ms), if known yet. */
  hangTimeoutMs(): number | undefined;
}

/** Bound on how long close() waits for the successor to take the last frames. */
const CLOSE_GRACE_MS = 3_000;

function toArrays(a: Float32Array | readonly Float32Array[]): readonly Float32Array[] {
  return a instanceof Float32Array ? [a] : a;
}

/** Connects this process to its group; with worldSize 1 nothing touches the network. */
export async function connectGroup(opts: GroupOptions): Promise<Group> {
  const o = resolveOptions(opts);
  if (o.worldSize === 1) return new SoloGroup(o.generation, o.clock);
  const g = new RingGroup(o);
  try {
    await g.start();
  } catch (e) {
    await g.close();
    throw e;
  }
  return g;
}

/** World size 1: every collective is the identity. */
class SoloGroup implements Group {
  readonly rank = 0;
  readonly worldSize = 1;
  private closed = false;
  constructor(
    readonly generation: number,
    private readonly clock?: StepClock,
  ) {}
  stepReports(): Array<{ rank: number; report: StepReport }> {
    return this.clock ? [{ rank: 0, report: this.clock.snapshot() }] : [];
  }
  hangTimeoutMs(): number | undefined {
    return undefined;
  }
  private check(): void {
    if (this.closed) throw new GroupClosedError('collective called on a closed group');
  }
  allReduce(): Promise<void> {
    return Promise.resolve().then(() => this.check());
  }
  broadcast(): Promise<void> {
    return Promise.resolve().then(() => this.check());
  }
  allGather(data: Float32Array): Promise<Float32Array[]>;
  allGather(data: Uint8Array): Promise<Uint8Array[]>;
  allGather(data: Float32Array | Uint8Array): Promise<(Float32Array | Uint8Array)[]> {
    return Promise.resolve().then(() => {
      this.check();
      return [data.slice()];
    });
  }
  barrier(): Promise<void> {
    return Promise.resolve().then(() => this.check());
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

class RingGroup implements Group {
  readonly rank: number;
  readonly worldSize: number;
  readonly generation: number;
  private readonly log: Logger;
  private readonly peers: Peers;
  private readonly servers: GroupServers;
  private readonly links: RingLinks;
  private readonly membership: Membership;
  private tail: Promise<unknown> = Promise.resolve();
  private opSeq = 0;
  private closing: Promise<void> | undefined;

  constructor(private readonly o: GroupSettings) {
    this.rank = o.rank;
    this.worldSize = o.worldSize;
    this.generation = o.generation;
    this.log = o.log;
    const isClosing = (): boolean => this.closing !== undefined;
    this.peers = new Peers(o.rank, o.worldSize);
    this.servers = new GroupServers(o, this.log);
    this.links = new RingLinks(o, this.peers, isClosing, this.log);
    this.membership = new Membership(
      o,
      this.peers,
      isClosing,
      (err) => this.links.abort(err),
      this.log,
    );
  }

  /** Serves, forms the group, connects both neighbours, then starts heartbeats. */
  async start(): Promise<void> {
    const o = this.o;
    const deadlineAt = Date.now() + o.rendezvousMs;
    this.servers.addServices(
      (call) => this.links.acceptPull(call),
      this.membership.rendezvousService(),
    );
    const address = await this.servers.listen();
    const dataAddress = this.links.usesTcp
      ? await this.servers.listenData(
          (h) => this.links.checkDataHello(h),
          (sock, h) => this.links.acceptData(sock, h),
        )
      : '';
    const creds = channelCredentials(o.tls);
    const dataAddresses = await this.membership.form(address, dataAddress, creds, deadlineAt);
    this.links.nameNeighbours();
    this.log.debug({ addresses: this.peers.addresses, dataAddresses }, 'ring formed');
    await this.links.connectPredecessor(dataAddresses, creds, deadlineAt);
    await this.links.successorConnects(deadlineAt);
    this.membership.startHeartbeats(creds);
    this.log.info({ worldSize: o.worldSize, generation: o.generation }, 'process group ready');
  }

  /** Runs collectives one at a time, in call order; the first failure breaks the group. */
  private run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(async () => {
      if (this.closing) throw new GroupClosedError(`${what} called on a closed group`);
      if (this.membership.failure) throw this.membership.failure;
      try {
        return await fn();
      } catch (e) {
        throw await this.membership.settle(e, what);
      }
    });
    this.tail = p.catch(() => undefined);
    return p;
  }

  private ringContext(): RingContext {
    return {
      rank: this.rank,
      worldSize: this.worldSize,
      generation: this.generation,
      chunkBytes: this.o.chunkBytes,
    };
  }

  allReduce(
    arrays: Float32Array | readonly Float32Array[],
    op: 'sum' | 'mean' = 'sum',
  ): Promise<void> {
    const flat = new Flat(toArrays(arrays));
    return this.run('allReduce', async () => {
      const total = flat.length;
      const channels = this.links.channels;
      for (let base = 0; base < total; base += this.o.bucketElems) {
        const len = Math.min(this.o.bucketElems, total - base);
        const opSeq = ++this.opSeq;
        // Channel c reduces elements [base + ⌊c·len/C⌋, base + ⌊(c+1)·len/C⌋) on its own ring;
        // each element's summation order is fixed by the channel count alone (ADR 0093).
        const C = channels.length;
        await Promise.all(
          channels.map((link, c) => {
            const a = base + Math.floor((c * len) / C);
            const b = base + Math.floor(((c + 1) * len) / C);
            return ringAllReduce(
              link,
              this.ringContext(),
              opSeq,
              flat,
              a,
              b - a,
              total,
              op === 'mean',
            );
          }),
        );
      }
    });
  }

  broadcast(arrays: Float32Array | readonly Float32Array[], root = 0): Promise<void> {
    if (!Number.isInteger(root) || root < 0 || root >= this.worldSize) {
      return Promise.reject(new InputError(`broadcast root ${root} is not a rank of this group`));
    }
    const flat = new Flat(toArrays(arrays));
    return this.run('broadcast', () =>
      ringBroadcast(this.links.link, this.ringContext(), ++this.opSeq, flat, root),
    );
  }

  allGather(data: Float32Array): Promise<Float32Array[]>;
  allGather(data: Uint8Array): Promise<Uint8Array[]>;
  allGather(data: Float32Array | Uint8Array): Promise<(Float32Array | Uint8Array)[]> {
    const f32 = data instanceof Float32Array;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return this.run('allGather', async () => {
      const pieces = await ringAllGather(
        this.links.link,
        this.ringContext(),
        ++this.opSeq,
        bytes,
        f32 ? Kind.allGatherF32 : Kind.allGatherU8,
      );
      return f32
        ? pieces.map((p) => new Float32Array(p.buffer, p.byteOffset, p.byteLength / 4))
        : pieces;
    });
  }

  barrier(): Promise<void> {
    return this.run('barrier', async () => {
      await ringAllGather(
        this.links.link,
        this.ringContext(),
        ++this.opSeq,
        new Uint8Array(0),
        Kind.allGatherU8,
      );
    });
  }

  stepReports(): Array<{ rank: number; report: StepReport }> {
    return this.membership.stepReports();
  }

  hangTimeoutMs(): number | undefined {
    return this.membership.hangTimeoutMs();
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const t0 = Date.now();
    this.links.abort(new GroupClosedError('the process group was closed'));
    await this.membership.stop();
    this.log.debug({ ms: Date.now() - t0 }, 'closing: heartbeats stopped');
    // Let the successor take the frames already queued, then stop serving; bounded. A
    // broken ring has nothing worth flushing, and a stalled peer would hold us up.
    const forced = this.membership.failure !== undefined;
    await this.links.close(forced, CLOSE_GRACE_MS);
    await this.servers.close(forced, CLOSE_GRACE_MS);
    this.log.debug(
      { ms: Date.now() - t0 },
      forced ? 'process group closed (forced)' : 'process group closed',
    );
  }
}
