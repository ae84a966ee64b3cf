/**
 * Membership, liveness and fault verdicts — everything a rank does with the coordinator
 * (rank 0, rendezvous.ts): forming the group, heartbeating while it runs, and deciding whom
 * a failure names. The coordinator may know better than the rank that saw the failure: a
 * rank waiting on a silent neighbour blames that neighbour, but if the coordinator already
 * heard that some other rank stopped heartbeating, the error names that one.
 */
import type * as grpc from '@grpc/grpc-js';
import { RingmasterError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { withDeadline } from './deadline.js';
import { HangError, PeerError, RendezvousTimeoutError } from './errors.js';
import type { GroupSettings } from './options.js';
import type { Peers } from './peers.js';
import type { StepReport } from './step-clock.js';
import { tokenChecker, type FaultMsg } from './proto.js';
import { Coordinator } from './coordinator.js';
import { HeartbeatClient, joinGroup } from './rendezvous.js';

/** How long a failed coordinator keeps answering heartbeats before it shuts down. */
const LINGER_MS = 1_000;

export class Membership {
  /** The first failure; from then on the group is broken for good. */
  failure: Error | undefined;
  private readonly coordinator: Coordinator | undefined;
  private heartbeat: HeartbeatClient | undefined;
  private settling = false;

  constructor(
    private readonly o: GroupSettings,
    private readonly peers: Peers,
    private readonly isClosing: () => boolean,
    /** Called once, with the failure that broke the group. */
    private readonly onFailure: (err: Error) => void,
    private readonly log: Logger,
  ) {
    if (o.rank === 0) {
      this.coordinator = new Coordinator(
        o.generation,
        o.worldSize,
        tokenChecker(o.token),
        log,
        (f) => this.onGroupFault(f),
        {
          ...(o.clock ? { own: () => o.clock!.snapshot() } : {}),
          ...(o.hangTimeoutMs !== undefined ? { timeoutMs: o.hangTimeoutMs } : {}),
        },
      );
    }
  }

  /** Rank 0 serves Rendezvous (its server must offer this); other ranks serve none. */
  rendezvousService(): grpc.UntypedServiceImplementation | undefined {
    return this.coordinator?.implementation();
  }

  /**
   * Joins the group (rank 0: waits until every rank has joined it) with this rank's control
   * and data addresses; fills in every rank's address and resolves with their data
   * addresses (empty for ranks that serve no TCP data plane).
   */
  async form(
    address: string,
    dataAddress: string,
    creds: grpc.ChannelCredentials,
    deadlineAt: number,
  ): Promise<string[]> {
    const o = this.o;
    if (this.coordinator) {
      const c = this.coordinator;
      c.registerSelf(address, dataAddress);
      this.peers.addresses = await withDeadline(c.formation, deadlineAt, () => {
        return new RendezvousTimeoutError(
          `rendezvous timed out after ${(o.rendezvousMs / 1000).toFixed(1)} s: ` +
            `rank(s) ${c.missingRanks().join(', ')} never joined the coordinator at ${o.coordinator}`,
        );
      });
      return c.dataAddresses();
    }
    const reply = await joinGroup(
      o.coordinator,
      { generation: o.generation, rank: o.rank, worldSize: o.worldSize, address, dataAddress },
      o.token,
      creds,
      deadlineAt,
      this.log,
    );
    this.peers.addresses = reply.addresses;
    return reply.dataAddresses ?? [];
  }

  /** Starts liveness: rank 0 watches the heartbeats, every other rank sends them. */
  startHeartbeats(creds: grpc.ChannelCredentials): void {
    const o = this.o;
    const interval = Math.min(2000, Math.max(100, Math.floor(o.opMs / 5)));
    if (this.coordinator) {
      this.coordinator.startLiveness(interval, o.opMs);
      return;
    }
    this.heartbeat = new HeartbeatClient(
      o.coordinator,
      creds,
      o.token,
      o.generation,
      o.rank,
      interval,
      o.opMs,
      (f) => this.onGroupFault(f),
      o.clock ? () => o.clock!.snapshot() : undefined,
    );
    this.heartbeat.start();
  }

  /** A fault somewhere in the group (from the coordinator, or found here). */
  private onGroupFault(f: FaultMsg): void {
    // While settle() runs, it decides (it has the verdict and the local error's type).
    if (this.failure || this.isClosing() || this.settling) return;
    const addr = f.rank >= 0 ? this.peers.addressOf(f.rank) : '?';
    const Err = f.hang ? HangError : PeerError;
    this.fail(
      new Err(
        f.rank === this.o.rank && !f.hang
          ? f.message
          : `group failed at rank ${f.rank} (${addr}): ${f.message}`,
        f.rank,
        addr,
      ),
    );
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.onFailure(err);
    this.log.error({ err: err.message }, 'process group failed');
  }

  /**
   * Turns what went wrong here into the group's verdict: the fault goes to the coordinator,
   * which may know better who is to blame (a rank that stopped heartbeating), and the error
   * thrown names that rank. Bounded: the coordinator gets one second to answer.
   */
  async settle(e: unknown, what: string): Promise<Error> {
    if (this.failure) return this.failure;
    const err = e instanceof Error ? e : new RingmasterError(`${what} failed: ${String(e)}`);
    if (this.isClosing()) return err;
    const fault: FaultMsg = {
      rank: err instanceof PeerError ? err.peerRank : this.o.rank,
      message: err.message,
    };
    let verdict: FaultMsg | 'unreachable' | undefined;
    this.settling = true;
    try {
      if (this.coordinator) {
        this.coordinator.report(fault);
        verdict = this.coordinator.fault;
      } else if (this.heartbeat) {
        verdict = await this.heartbeat.exchange(fault, 1000);
      }
    } finally {
      this.settling = false;
    }
    if (this.failure) return this.failure;
    let final = err;
    if (verdict === 'unreachable') {
      final = new PeerError(
        `${err.message}; the coordinator ${this.peers.name(0)} does not answer either`,
        0,
        this.peers.addresses[0] ?? this.o.coordinator,
        { cause: err },
      );
    } else if (verdict && (verdict.rank !== fault.rank || verdict.hang)) {
      const addr = this.peers.addressOf(verdict.rank);
      final = new (verdict.hang ? HangError : PeerError)(
        `group failed at rank ${verdict.rank} (${addr}): ${verdict.message}`,
        verdict.rank,
        addr,
        { cause: err },
      );
    }
    this.fail(final);
    return final;
  }

  /** Rank 0: every rank's last step report (the coordinator's view); others: none. */
  stepReports(): Array<{ rank: number; report: StepReport }> {
    return this.coordinator?.stepReports() ?? [];
  }

  /** Rank 0: the hang timeout in force now, if known. */
  hangTimeoutMs(): number | undefined {
    return this.coordinator?.hangTimeoutMs();
  }

  /** Stops liveness. A coordinator that knows of a fault first lingers to tell the others. */
  async stop(): Promise<void> {
    if (this.coordinator?.fault) {
      // Linger so members still waiting on the ring can learn from the coordinator who
      // failed (their heartbeats fetch the verdict), instead of blaming their neighbour.
      await new Promise((r) => setTimeout(r, LINGER_MS));
    }
    this.coordinator?.stop();
    await this.heartbeat?.stop();
  }
}
