/**
 * The group's data path to its two neighbours, whichever kind of link carries the frames:
 * the TCP data plane (the default, tcp.ts) or the gRPC Pull stream (grpc-link.ts). The
 * successor connects to this rank and is admitted only if it is the ring neighbour of this
 * generation and carries the job token — one rule for both kinds; this rank connects to its
 * predecessor, retrying until the rendezvous deadline. Over TCP there may be `channels`
 * connections per neighbour pair (each its own link, ADR 0093); `link` is the first, which
 * carries every collective but the all-reduce's other parts.
 */
import type net from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { RingmasterError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { Backoff, withDeadline } from './deadline.js';
import { PeerError } from './errors.js';
import { GrpcLink } from './grpc-link.js';
import type { GroupSettings } from './options.js';
import type { Peers } from './peers.js';
import { tokenChecker, tokenMatcher, type OutFrame, type PullRequest } from './proto.js';
import { TcpLink } from './tcp.js';
import {
  REFUSE_FAILED_PRECONDITION,
  REFUSE_UNAUTHENTICATED,
  type DataHello,
  type DataHelloReply,
} from './tcp-records.js';

/** Why a caller may not become our successor (codes as gRPC's, for both kinds of link). */
interface Refusal {
  code: number;
  message: string;
}

export class RingLinks {
  /** The link the collectives use (channel 0). */
  readonly link: GrpcLink | TcpLink;
  /** One link per channel; channel 0 is `link`. */
  readonly channels: readonly (GrpcLink | TcpLink)[];
  private readonly tcp: TcpLink | undefined;
  private readonly tcpChannels: TcpLink[] = [];
  private readonly grpc: GrpcLink | undefined;
  private readonly tokenOk: (md: grpc.Metadata) => boolean;
  private readonly helloTokenOk: (offered: unknown) => boolean;
  /** Channels the successor has connected (TCP) or 0 once it pulls (gRPC). */
  private readonly successorChannels = new Set<number>();
  private successorArrived!: () => void;
  private readonly successor: Promise<void>;

  constructor(
    private readonly o: GroupSettings,
    private readonly peers: Peers,
    private readonly isClosing: () => boolean,
    private readonly log: Logger,
  ) {
    this.tokenOk = tokenChecker(o.token);
    this.helloTokenOk = tokenMatcher(o.token);
    const onRecvTimeout = (ms: number): Error => peers.silentPredecessor(ms, o.opMs);
    const onSendTimeout = (ms: number): Error => peers.stuckSuccessor(ms, o.opMs);
    if (o.transport === 'tcp') {
      for (let c = 0; c < o.channels; c++)
        this.tcpChannels.push(new TcpLink(o.opMs, o.chunkBytes, onRecvTimeout, onSendTimeout));
      this.tcp = this.tcpChannels[0]!;
      this.link = this.tcp;
      this.channels = this.tcpChannels;
    } else {
      this.grpc = new GrpcLink(o.opMs, onRecvTimeout, onSendTimeout);
      this.link = this.grpc;
      this.channels = [this.grpc];
    }
    this.successor = new Promise((r) => (this.successorArrived = r));
  }

  /** Whether frames travel over the TCP data plane (which then needs a server). */
  get usesTcp(): boolean {
    return this.tcp !== undefined;
  }

  private refusal(
    kind: 'pull' | 'tcp',
    caller: { tokenOk: boolean; generation: number; rank: number; channel?: number },
  ): Refusal | undefined {
    const { rank, generation } = this.o;
    const successor = this.peers.successor();
    if (!caller.tokenOk)
      return { code: REFUSE_UNAUTHENTICATED, message: 'missing or wrong job token' };
    if (caller.generation !== generation) {
      return {
        code: REFUSE_FAILED_PRECONDITION,
        message: `stale generation: rank ${rank} is at generation ${generation}, caller at ${caller.generation}`,
      };
    }
    if (kind === 'pull' && this.tcp) {
      return {
        code: REFUSE_FAILED_PRECONDITION,
        message:
          `rank ${rank} sends frames over its TCP data plane, not Pull ` +
          `(every rank must use the same transport; see RINGMASTER_COMM_TRANSPORT)`,
      };
    }
    const channel = caller.channel ?? 0;
    if (channel >= this.channels.length) {
      return {
        code: REFUSE_FAILED_PRECONDITION,
        message:
          `rank ${caller.rank} opened data channel ${channel}, rank ${rank} has ${this.channels.length} ` +
          `(every rank of a group must use the same channel count; see RINGMASTER_COMM_CHANNELS)`,
      };
    }
    const connected = this.successorChannels.has(channel);
    if (caller.rank !== successor || connected || this.isClosing()) {
      const verb = kind === 'pull' ? 'may not pull from' : 'may not take frames from';
      return {
        code: REFUSE_FAILED_PRECONDITION,
        message: `rank ${caller.rank} ${verb} rank ${rank} (successor is ${successor}, already connected: ${connected})`,
      };
    }
    return undefined;
  }

  /** The successor calls Pull (gRPC link): admit it, and its call becomes our outbound stream. */
  acceptPull(call: grpc.ServerWritableStream<PullRequest, OutFrame>): void {
    const req = call.request;
    const no = this.refusal('pull', {
      tokenOk: this.tokenOk(call.metadata),
      generation: req.generation,
      rank: req.rank,
    });
    if (no) {
      this.log.warn({ peer: call.getPeer(), details: no.message }, 'refused a pull');
      call.emit('error', { code: no.code, details: no.message });
      return;
    }
    this.successorChannels.add(0);
    this.grpc!.attachOut(call, () => this.peers.successorGone());
    this.successorArrived();
  }

  /** The successor says hello on our data port (TCP link): admit it or say why not. */
  checkDataHello(h: DataHello): DataHelloReply {
    const no = this.refusal('tcp', {
      tokenOk: this.helloTokenOk(h.token),
      generation: h.generation,
      rank: h.rank,
      channel: h.channel ?? 0,
    });
    if (no) return { ok: false, ...no };
    this.successorChannels.add(h.channel ?? 0);
    return { ok: true, code: 0, message: '' };
  }

  /** The admitted successor's socket becomes the outbound stream of its channel. */
  acceptData(sock: net.Socket, h: DataHello): void {
    this.tcpChannels[h.channel ?? 0]!.attachOut(sock, () => this.peers.successorGone());
    if (this.successorChannels.size === this.channels.length) this.successorArrived();
  }

  /** Once the group has formed: neighbours are named in the link's messages. */
  nameNeighbours(): void {
    const name = this.peers.name(this.peers.predecessor());
    for (const l of this.channels) l.predecessorName = name;
  }

  /**
   * Opens the inbound stream from the predecessor, whose data address (empty when it serves
   * none) tells whether it uses the same kind of link.
   */
  async connectPredecessor(
    dataAddresses: readonly string[],
    creds: grpc.ChannelCredentials,
    deadlineAt: number,
  ): Promise<void> {
    const o = this.o;
    if (this.tcp) {
      const p = this.peers.predecessor();
      const addr = dataAddresses[p] ?? '';
      if (!addr) {
        throw new RingmasterError(
          `${this.peers.name(p)} serves no TCP data plane: every rank of a group must use the same ` +
            `transport (this one uses "tcp"; see RINGMASTER_COMM_TRANSPORT)`,
        );
      }
      await Promise.all(
        this.tcpChannels.map((link, channel) => this.connectTcp(link, channel, addr, deadlineAt)),
      );
      return;
    }
    if (dataAddresses.some((a) => a)) {
      throw new RingmasterError(
        `the group mixes transports: this rank uses "grpc", others "tcp" ` +
          `(every rank must use the same; see RINGMASTER_COMM_TRANSPORT)`,
      );
    }
    const request = { generation: o.generation, rank: o.rank };
    await this.grpc!.connectIn(this.peers, creds, request, o.token, deadlineAt);
  }

  /** Dials the predecessor's data plane; retried while it cannot be reached, until the deadline. */
  private async connectTcp(
    link: TcpLink,
    channel: number,
    addr: string,
    deadlineAt: number,
  ): Promise<void> {
    const p = this.peers.predecessor();
    const backoff = new Backoff(deadlineAt);
    for (;;) {
      try {
        await link.connectIn(
          addr,
          { generation: this.o.generation, rank: this.o.rank, token: this.o.token, channel },
          this.o.tls,
          p,
          Math.max(1, Math.min(10_000, deadlineAt - Date.now())),
        );
        return;
      } catch (e) {
        if (e instanceof RingmasterError) throw e; // a refusal: retrying cannot help
        if (Date.now() >= deadlineAt) {
          throw new PeerError(
            `rendezvous timed out connecting to the data plane of ${this.peers.name(p)} at ${addr}: ${(e as Error).message}`,
            p,
            addr,
          );
        }
      }
      await backoff.pause();
    }
  }

  /** Resolves once the successor has connected to us, or fails at the deadline. */
  successorConnects(deadlineAt: number): Promise<void> {
    const s = this.peers.successor();
    return withDeadline(
      this.successor,
      deadlineAt,
      () =>
        new PeerError(
          `rendezvous timed out: ${this.peers.name(s)} never connected to this rank`,
          s,
          this.peers.addressOf(s),
        ),
    );
  }

  /** Fails every wait on the inbound stream with `err`. */
  abort(err: Error): void {
    for (const l of this.channels) l.inbox.abort(err);
  }

  /**
   * Closes both streams. Normally the successor gets up to `graceMs` to take the frames
   * already queued; after a failure (`forced`) nothing is worth flushing and a stalled peer
   * would hold us up, so the sockets are dropped at once.
   */
  async close(forced: boolean, graceMs: number): Promise<void> {
    this.grpc?.close();
    const tcp = this.tcpChannels;
    if (forced) {
      for (const l of tcp) l.unref();
    } else {
      await Promise.all(tcp.map((l) => l.finishOut(graceMs)));
    }
    for (const l of tcp) l.destroy();
  }
}
