/**
 * Rendezvous, the members' side: every rank but 0 joins the group at the coordinator
 * (coordinator.ts) and learns the ring, then heartbeats to it while the group runs; a
 * heartbeat carries a fault this rank found and brings back the group's verdict.
 */
import * as grpc from '@grpc/grpc-js';
import { InputError, RingmasterError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { AuthError, RendezvousTimeoutError, StaleGenerationError } from './errors.js';
import type { StepReport } from './step-clock.js';
import {
  CHANNEL_OPTIONS,
  GENERATION_KEY,
  methodOf,
  rendezvousService,
  tokenMetadata,
  type FaultMsg,
  type HeartbeatReply,
  type HeartbeatRequest,
  type JoinReply,
  type JoinRequest,
} from './proto.js';

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
    /** This rank's training position, sent with every beat. */
    private readonly progress?: () => StepReport,
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
          progress: this.progress?.() ?? null,
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
