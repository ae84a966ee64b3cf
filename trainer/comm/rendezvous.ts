/**
 * Rendezvous: rank 0 serves it at the coordinator address; every other rank joins with its
 * rank and address and learns the ring. The coordinator also keeps the group's liveness:
 * members heartbeat, the reply carries the first fault anyone reported, and a member that
 * falls silent for longer than the deadline becomes that fault.
 */
import * as grpc from '@grpc/grpc-js';
import { InputError, RingmasterError } from '../errors.js';
import type { Logger } from '../log.js';
import { AuthError, RendezvousTimeoutError, StaleGenerationError } from './errors.js';
import {
  CHANNEL_OPTIONS,
  methodOf,
  rendezvousService,
  tokenMetadata,
  type FaultMsg,
  type HeartbeatReply,
  type HeartbeatRequest,
  type JoinReply,
  type JoinRequest,
} from './proto.js';

const GENERATION_KEY = 'x-ringmaster-generation';

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

  constructor(
    readonly generation: number,
    readonly worldSize: number,
    private readonly tokenOk: (md: grpc.Metadata) => boolean,
    private readonly log: Logger,
    private readonly onFault: (f: FaultMsg) => void,
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

  private join(call: grpc.ServerUnaryCall<JoinRequest, JoinReply>, cb: JoinCallback): void {
    const req = call.request;
    if (!this.tokenOk(call.metadata)) {
      cb(refuse(grpc.status.UNAUTHENTICATED, 'missing or wrong job token'));
      return;
    }
    if (req.generation !== this.generation) {
      cb(
        refuse(
          grpc.status.FAILED_PRECONDITION,
          `generation mismatch: coordinator is at generation ${this.generation}, caller at ${req.generation}`,
          this.generation,
        ),
      );
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
    if (!this.tokenOk(call.metadata)) {
      cb(refuse(grpc.status.UNAUTHENTICATED, 'missing or wrong job token'));
      return;
    }
    if (req.generation !== this.generation) {
      cb(
        refuse(
          grpc.status.FAILED_PRECONDITION,
          `generation mismatch: coordinator is at generation ${this.generation}, caller at ${req.generation}`,
          this.generation,
        ),
      );
      return;
    }
    this.lastSeen.set(req.rank, Date.now());
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

  stop(): void {
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    for (const w of this.waiting)
      w(refuse(grpc.status.UNAVAILABLE, 'coordinator is shutting down'));
    this.waiting.clear();
  }
}

const joinMethod = methodOf<JoinRequest, JoinReply>(rendezvousService, 'Join');
const heartbeatMethod = methodOf<HeartbeatRequest, HeartbeatReply>(rendezvousService, 'Heartbeat');

export function unary<Req, Res>(
  client: grpc.Client,
  method: grpc.MethodDefinition<Req, Res>,
  req: Req,
  token: string,
  deadline: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      req,
      tokenMetadata(token),
      { deadline },
      (err, res) => (err ? reject(err) : resolve(res!)),
    );
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Joins the group at `coordinator`, retrying with backoff while it cannot be reached (in a
 * fresh pod set its DNS name may not resolve yet), until `deadlineAt`. Returns the ring's
 * addresses (and data-plane addresses) by rank.
 */
export async function joinGroup(
  coordinator: string,
  req: JoinRequest,
  token: string,
  credentials: grpc.ChannelCredentials,
  deadlineAt: number,
  log: Logger,
): Promise<JoinReply> {
  let backoff = 50;
  let lastError = 'no attempt';
  for (let attempt = 1; ; attempt++) {
    const remaining = deadlineAt - Date.now();
    if (remaining <= 0) {
      throw new RendezvousTimeoutError(
        `rendezvous timed out: rank ${req.rank} could not join the coordinator at ${coordinator} ` +
          `(last error: ${lastError})`,
      );
    }
    // A fresh channel per attempt: a channel caches DNS failures and backs off on its own.
    const client = new grpc.Client(coordinator, credentials, CHANNEL_OPTIONS);
    try {
      const reply = await unary(client, joinMethod, req, token, Date.now() + remaining);
      return reply;
    } catch (e) {
      const err = e as grpc.ServiceError;
      lastError = err.details ?? err.message;
      switch (err.code) {
        case grpc.status.UNAUTHENTICATED:
          throw new AuthError(
            `the coordinator at ${coordinator} refused the job token (check RINGMASTER_TOKEN): ${lastError}`,
          );
        case grpc.status.INVALID_ARGUMENT:
          throw new InputError(
            `the coordinator at ${coordinator} refused rank ${req.rank}: ${lastError}`,
          );
        case grpc.status.ALREADY_EXISTS:
          throw new RingmasterError(`the group at ${coordinator} is already formed: ${lastError}`);
        case grpc.status.FAILED_PRECONDITION: {
          const theirs = Number(err.metadata?.get(GENERATION_KEY)[0] ?? NaN);
          if (theirs > req.generation) {
            throw new StaleGenerationError(
              `stale generation: this process is generation ${req.generation} but the group at ` +
                `${coordinator} is generation ${theirs}; refusing to join`,
            );
          }
          break; // the coordinator is the stale one: wait for its replacement
        }
        case grpc.status.DEADLINE_EXCEEDED:
          throw new RendezvousTimeoutError(
            `rendezvous timed out: the group at ${coordinator} did not form before the deadline ` +
              `(some rank never joined)`,
          );
      }
      log.debug({ attempt, err: lastError, backoffMs: backoff }, 'coordinator not ready; retrying');
      await sleep(Math.min(backoff, Math.max(0, deadlineAt - Date.now())));
      backoff = Math.min(backoff * 2, 2000);
    } finally {
      client.close();
    }
  }
}

/** Members' side of liveness: periodic heartbeats; reports faults; learns the group's fault. */
export class HeartbeatClient {
  private readonly client: grpc.Client;
  private timer: NodeJS.Timeout | undefined;
  private lastOk = Date.now();
  private stopped = false;
  private pendingFault: FaultMsg | undefined;

  constructor(
    private readonly coordinator: string,
    credentials: grpc.ChannelCredentials,
    private readonly token: string,
    private readonly generation: number,
    private readonly rank: number,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly onFault: (f: FaultMsg) => void,
  ) {
    this.client = new grpc.Client(coordinator, credentials, CHANNEL_OPTIONS);
  }

  start(): void {
    this.lastOk = Date.now();
    this.schedule(0);
  }

  /** Sends a fault now (best effort); later beats repeat it until one gets through. */
  report(f: FaultMsg): void {
    this.pendingFault ??= f;
    void this.beat(false).catch(() => undefined);
  }

  /**
   * Reports a fault and returns the group's verdict: the coordinator's first fault (which may
   * name a different rank), or 'unreachable' when the coordinator does not answer in time.
   */
  async exchange(f: FaultMsg, deadlineMs: number): Promise<FaultMsg | 'unreachable' | undefined> {
    this.pendingFault ??= f;
    try {
      return (await this.beat(false, deadlineMs)) ?? undefined;
    } catch {
      return 'unreachable';
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    const due = Date.now() + ms;
    this.timer = setTimeout(() => {
      // Fired late: this process was blocked, so the silence is ours, not the coordinator's.
      if (Date.now() - due > this.intervalMs) this.lastOk = Date.now();
      void this.beat(false)
        .catch(() => undefined)
        .finally(() => this.schedule(this.intervalMs));
    }, ms);
    this.timer.unref();
  }

  private async beat(
    leaving: boolean,
    deadlineMs = this.intervalMs * 2,
  ): Promise<FaultMsg | null | undefined> {
    try {
      const reply = await unary(
        this.client,
        heartbeatMethod,
        {
          generation: this.generation,
          rank: this.rank,
          fault: this.pendingFault ?? null,
          leaving,
        },
        this.token,
        Date.now() + deadlineMs,
      );
      this.lastOk = Date.now();
      if (reply.fault && !this.stopped) this.onFault(reply.fault);
      return reply.fault;
    } catch (e) {
      const silent = Date.now() - this.lastOk;
      if (!this.stopped && !leaving && silent > this.timeoutMs) {
        this.onFault({
          rank: 0,
          message: `coordinator rank 0 (${this.coordinator}) unreachable for ${(silent / 1000).toFixed(1)} s: ${(e as grpc.ServiceError).details ?? String(e)}`,
        });
      }
      throw e;
    }
  }

  /** Tells the coordinator this rank is leaving normally, then stops. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.beat(true, 500).catch(() => undefined);
    this.client.close();
  }
}
