/**
 * The coordinator: rank 0 serves Rendezvous at the coordinator address. Every other rank
 * joins with its rank and addresses and learns the ring once all have joined. The
 * coordinator also keeps the group's liveness: members heartbeat, the reply carries the first
 * fault anyone reported, and a member that falls silent for longer than the deadline becomes
 * that fault. Heartbeats also carry each member's step (step-clock.ts): a group that makes no
 * progress for the hang timeout fails with a hang fault naming the rank to blame (hang.ts).
 * The members' side of these calls is rendezvous.ts.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../common/log.js';
import { findHang, hangTimeoutMs, observe, type RankWatch } from './hang.js';
import type { StepReport } from './step-clock.js';
import {
  GENERATION_KEY,
  type FaultMsg,
  type HeartbeatReply,
  type HeartbeatRequest,
  type JoinReply,
  type JoinRequest,
} from './proto.js';

function refuse(code: grpc.status, details: string, generation?: number): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  if (generation !== undefined) metadata.set(GENERATION_KEY, String(generation));
  return Object.assign(new Error(details), { code, details, metadata }) as grpc.ServiceError;
}

type JoinCallback = (err: grpc.ServiceError | null, reply?: JoinReply) => void;

export class Coordinator {
  private readonly members = new Map<number, string>();
  private readonly dataMembers = new Map<number, string>();
  private readonly waiting = new Set<JoinCallback>();
  private addresses: string[] | undefined;
  private formedAt = 0;
  private readonly lastSeen = new Map<number, number>();
  private readonly left = new Set<number>();
  private livenessTimer: NodeJS.Timeout | undefined;
  private formedResolve!: (a: string[]) => void;
  /** Resolves with the addresses (by rank) once every rank has joined. */
  readonly formation: Promise<string[]>;
  fault: FaultMsg | undefined;
  /** Every rank's last step report, and when it last moved. */
  private readonly watches = new Map<number, RankWatch>();

  constructor(
    readonly generation: number,
    readonly worldSize: number,
    private readonly tokenOk: (md: grpc.Metadata) => boolean,
    private readonly log: Logger,
    private readonly onFault: (f: FaultMsg) => void,
    /** Rank 0's own clock (its reports need no call), and the explicit hang timeout. */
    private readonly hang: { own?: () => StepReport; timeoutMs?: number } = {},
  ) {
    this.formation = new Promise((resolve) => (this.formedResolve = resolve));
  }

  /** Rank 0 joins its own group without a call. */
  registerSelf(address: string, dataAddress = ''): void {
    this.admit(0, address, dataAddress);
  }

  /** TCP data-plane addresses by rank ('' for a rank without one); complete once formed. */
  dataAddresses(): string[] {
    return Array.from({ length: this.worldSize }, (_, r) => this.dataMembers.get(r) ?? '');
  }

  missingRanks(): number[] {
    const out: number[] = [];
    for (let r = 0; r < this.worldSize; r++) if (!this.members.has(r)) out.push(r);
    return out;
  }

  addressOf(rank: number): string {
    return this.members.get(rank) ?? '?';
  }

  implementation(): grpc.UntypedServiceImplementation {
    return {
      Join: (call: grpc.ServerUnaryCall<JoinRequest, JoinReply>, cb: JoinCallback) =>
        this.join(call, cb),
      Heartbeat: (
        call: grpc.ServerUnaryCall<HeartbeatRequest, HeartbeatReply>,
        cb: (err: grpc.ServiceError | null, reply?: HeartbeatReply) => void,
      ) => this.heartbeat(call, cb),
    };
  }

  /** Why a join or heartbeat is refused (wrong token, another generation), or null. */
  private admission(md: grpc.Metadata, generation: number): grpc.ServiceError | null {
    if (!this.tokenOk(md)) return refuse(grpc.status.UNAUTHENTICATED, 'missing or wrong job token');
    if (generation === this.generation) return null;
    return refuse(
      grpc.status.FAILED_PRECONDITION,
      `generation mismatch: coordinator is at generation ${this.generation}, caller at ${generation}`,
      this.generation,
    );
  }

  private join(call: grpc.ServerUnaryCall<JoinRequest, JoinReply>, cb: JoinCallback): void {
    const req = call.request;
    const refused = this.admission(call.metadata, req.generation);
    if (refused) {
      cb(refused);
      return;
    }
    if (req.worldSize !== this.worldSize || req.rank < 1 || req.rank >= this.worldSize) {
      cb(
        refuse(
          grpc.status.INVALID_ARGUMENT,
          `rank ${req.rank} of world size ${req.worldSize} does not fit a group of ${this.worldSize}`,
        ),
      );
      return;
    }
    if (this.addresses) {
      // A retry after a lost reply is fine; anyone else is too late: a ring cannot take a member back.
      if (this.members.get(req.rank) === req.address) {
        cb(null, {
          generation: this.generation,
          addresses: this.addresses,
          dataAddresses: this.dataAddresses(),
        });
      } else {
        cb(
          refuse(
            grpc.status.ALREADY_EXISTS,
            `rank ${req.rank} already joined generation ${this.generation} from ${this.members.get(req.rank)}`,
          ),
        );
      }
      return;
    }
    this.waiting.add(cb);
    call.on('cancelled', () => this.waiting.delete(cb));
    this.admit(req.rank, req.address, req.dataAddress ?? '');
  }

  private admit(rank: number, address: string, dataAddress: string): void {
    const before = this.members.get(rank);
    if (before !== undefined && before !== address) {
      this.log.warn({ rank, before, address }, 'rank re-joined with a new address');
    }
    this.members.set(rank, address);
    this.dataMembers.set(rank, dataAddress);
    this.log.debug({ rank, address, joined: this.members.size }, 'rank joined');
    if (this.members.size === this.worldSize && !this.addresses) {
      const addresses: string[] = [];
      for (let r = 0; r < this.worldSize; r++) addresses.push(this.members.get(r)!);
      this.addresses = addresses;
      this.formedAt = Date.now();
      const dataAddresses = this.dataAddresses();
      for (const w of this.waiting)
        w(null, { generation: this.generation, addresses, dataAddresses });
      this.waiting.clear();
      this.formedResolve(addresses);
    }
  }

  private heartbeat(
    call: grpc.ServerUnaryCall<HeartbeatRequest, HeartbeatReply>,
    cb: (err: grpc.ServiceError | null, reply?: HeartbeatReply) => void,
  ): void {
    const req = call.request;
    const refused = this.admission(call.metadata, req.generation);
    if (refused) {
      cb(refused);
      return;
    }
    this.lastSeen.set(req.rank, Date.now());
    if (req.progress) observe(this.watches, req.rank, req.progress, Date.now());
    if (req.leaving) this.left.add(req.rank);
    if (req.fault) this.report(req.fault);
    cb(null, { generation: this.generation, fault: this.fault ?? null });
  }

  /** Records the first fault of the group and passes it to rank 0's own group. */
  report(f: FaultMsg): void {
    if (this.fault) return;
    // A rank that reports a timeout is often a victim: the ring stalls everywhere once one
    // member stops. A member whose heartbeats stopped is the better suspect.
    const silent = this.silentRank();
    if (silent !== undefined && silent !== f.rank) {
      f = {
        rank: silent,
        ...(f.hang ? { hang: true } : {}),
        message: `no heartbeat from rank ${silent} (${this.addressOf(silent)}) for ${((Date.now() - this.seen(silent)) / 1000).toFixed(1)} s (reported by a peer: ${f.message})`,
      };
    }
    this.fault = f;
    this.log.warn({ fault: f }, 'group fault');
    this.onFault(f);
  }

  private resumedAt = 0;

  private seen(rank: number): number {
    return Math.max(this.lastSeen.get(rank) ?? 0, this.formedAt, this.resumedAt);
  }

  /** The member silent for longest, if it has missed a few beats. */
  private silentRank(): number | undefined {
    if (!this.addresses || this.heartbeatMs === 0) return undefined;
    let worst: number | undefined;
    let worstAge = 3 * this.heartbeatMs;
    for (let r = 1; r < this.worldSize; r++) {
      const age = Date.now() - this.seen(r);
      if (!this.left.has(r) && age > worstAge) {
        worst = r;
        worstAge = age;
      }
    }
    return worst;
  }

  private heartbeatMs = 0;

  /** Members silent for longer than timeoutMs become the group's fault. */
  startLiveness(intervalMs: number, timeoutMs: number): void {
    this.heartbeatMs = intervalMs;
    let lastTick = Date.now();
    this.livenessTimer = setInterval(() => {
      const now = Date.now();
      if (now - lastTick > 2 * intervalMs) {
        // This process's event loop was blocked (a long synchronous step): the members'
        // heartbeats are still queued, unread. Start their silence over rather than
        // declare live members dead.
        this.resumedAt = now;
      }
      lastTick = now;
      this.checkHang(now);
      for (let r = 1; r < this.worldSize; r++) {
        if (this.left.has(r)) continue;
        const seen = this.seen(r);
        if (now - seen > timeoutMs) {
          this.report({
            rank: r,
            message: `no heartbeat from rank ${r} (${this.addressOf(r)}) for ${((now - seen) / 1000).toFixed(1)} s`,
          });
        }
      }
    }, intervalMs);
    this.livenessTimer.unref();
  }

  /** Every rank's last report, by rank (rank 0's read now); for progress.json. */
  stepReports(): Array<{ rank: number; report: StepReport }> {
    const own = this.hang.own?.();
    if (own) observe(this.watches, 0, own, Date.now());
    return [...this.watches]
      .sort(([a], [b]) => a - b)
      .map(([rank, w]) => ({ rank, report: w.report }));
  }

  /** The hang timeout in force now (explicit, or derived from the measured steps). */
  hangTimeoutMs(): number | undefined {
    return hangTimeoutMs(this.hang.timeoutMs, this.watches, this.worldSize);
  }

  private checkHang(now: number): void {
    if (!this.addresses || this.fault) return;
    const own = this.hang.own?.();
    if (own) observe(this.watches, 0, own, now);
    // Our own event loop was blocked: nobody's silence in that time is evidence.
    if (this.resumedAt === now) for (const w of this.watches.values()) w.advancedAt = now;
    const timeout = this.hangTimeoutMs();
    if (timeout === undefined) return;
    // A member that left normally is not waited for.
    const present = new Map([...this.watches].filter(([rank]) => !this.left.has(rank)));
    const verdict = findHang(present, now, timeout, this.silentRank());
    if (!verdict) return;
    const r = verdict.rank;
    this.report({
      rank: r,
      hang: true,
      message:
        `hang: rank ${r} (${this.addressOf(r)}) made no progress past step ${verdict.step}; ` +
        `the group has been stalled ${(verdict.stalledMs / 1000).toFixed(1)} s ` +
        `(hang timeout ${(timeout / 1000).toFixed(1)} s)`,
    });
  }

  stop(): void {
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    for (const w of this.waiting)
      w(refuse(grpc.status.UNAVAILABLE, 'coordinator is shutting down'));
    this.waiting.clear();
  }
}
