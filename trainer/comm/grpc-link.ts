/**
 * The gRPC link (`transport: 'grpc'`): the ring's frames on the Collective.Pull stream. The
 * successor calls Pull on this rank's server and the call's response stream carries our
 * frames to it; this rank calls Pull on its predecessor and receives that one's frames.
 * The TCP data plane (tcp.ts) replaced it as the default (docs/adr/0085); it stays for
 * networks that let only gRPC through.
 */
import * as grpc from '@grpc/grpc-js';
import { RingmasterError } from '../../common/errors.js';
import { Backoff } from './deadline.js';
import { AuthError, PeerError, StaleGenerationError } from './errors.js';
import type { Frame, FrameHeader } from './frame.js';
import { Inbox } from './inbox.js';
import type { Peers } from './peers.js';
import {
  CHANNEL_OPTIONS,
  deserializeFrame,
  PULL_PATH,
  serializePull,
  tokenMetadata,
  type OutFrame,
  type PullRequest,
} from './proto.js';
import type { Link } from './ring.js';
import { Writes } from './writes.js';

export class GrpcLink implements Link {
  predecessorName = '?';
  readonly inbox: Inbox;
  private readonly writes: Writes;
  /** The successor's Pull call: our frames go out as its responses. */
  private out: grpc.ServerWritableStream<PullRequest, OutFrame> | undefined;
  private inClient: grpc.Client | undefined;
  private inCall: grpc.ClientReadableStream<Frame> | undefined;

  constructor(
    opMs: number,
    onTimeout: (waitedMs: number) => Error,
    onSendTimeout: (waitedMs: number) => Error,
  ) {
    this.inbox = new Inbox(opMs, onTimeout);
    this.writes = new Writes(opMs, () => this.inbox.failure ?? onSendTimeout(opMs));
  }

  send(h: FrameHeader, bytes: number, fill: (dst: Uint8Array) => void): void {
    const failure = this.inbox.failure ?? this.writes.gone;
    if (failure) throw failure;
    // No await on 'drain': awaiting could deadlock the ring (everyone blocked on send while
    // nobody reads). What is queued is bounded by one bucket pass, and flush() bounds time.
    this.out!.write({ h, bytes, fill }, this.writes.track());
  }

  recv(): Promise<Frame> {
    return this.inbox.recv();
  }

  flush(): Promise<void> {
    return this.writes.flush();
  }

  /** The successor's stream is gone: no pending flush can complete. */
  closeOut(err: Error): void {
    this.writes.close(err);
  }

  /** The successor's accepted Pull call becomes our outbound stream. */
  attachOut(call: grpc.ServerWritableStream<PullRequest, OutFrame>, onGone: () => Error): void {
    // The successor went away. Not a fault by itself (it may have finished and closed);
    // it becomes one if we still need to send to it.
    call.on('cancelled', () => this.closeOut(onGone()));
    call.on('error', () => undefined);
    call.sendMetadata(new grpc.Metadata());
    this.out = call;
  }

  /** Pulls from the predecessor; retried while it cannot be reached, until the deadline. */
  async connectIn(
    peers: Peers,
    creds: grpc.ChannelCredentials,
    request: PullRequest,
    token: string,
    deadlineAt: number,
  ): Promise<void> {
    const p = peers.predecessor();
    const addr = peers.addresses[p]!;
    const backoff = new Backoff(deadlineAt);
    for (;;) {
      const client = new grpc.Client(addr, creds, CHANNEL_OPTIONS);
      const call = client.makeServerStreamRequest(
        PULL_PATH,
        serializePull,
        deserializeFrame,
        request,
        tokenMetadata(token),
        { deadline: Infinity },
      );
      const e = await answered(call, deadlineAt);
      if (e === undefined) {
        this.inClient = client;
        this.inCall = call;
        call.on('data', (f: Frame) => this.inbox.push(f));
        call.on('error', (err: grpc.ServiceError) =>
          this.inbox.end(
            new PeerError(
              `lost the ring stream from ${peers.name(p)}: ${err.details ?? err.message}`,
              p,
              addr,
              { cause: err },
            ),
          ),
        );
        call.on('end', () =>
          this.inbox.end(
            new PeerError(`${peers.name(p)} closed its ring stream (left the group)`, p, addr),
          ),
        );
        return;
      }
      call.cancel();
      client.close();
      if (e.code === grpc.status.UNAUTHENTICATED) {
        throw new AuthError(`${peers.name(p)} refused the job token: ${e.details}`);
      }
      if (e.code === grpc.status.FAILED_PRECONDITION) {
        throw /stale generation/.test(e.details)
          ? new StaleGenerationError(`${peers.name(p)} refused us: ${e.details}`)
          : new RingmasterError(`${peers.name(p)} refused us: ${e.details}`);
      }
      if (e.code === grpc.status.DEADLINE_EXCEEDED || Date.now() >= deadlineAt) {
        throw new PeerError(
          `rendezvous timed out connecting to ${peers.name(p)}: ${e.details}`,
          p,
          addr,
        );
      }
      await backoff.pause();
    }
  }

  /** Ends our outbound stream (the successor takes what is queued) and drops the inbound one. */
  close(): void {
    this.out?.end();
    this.inCall?.cancel();
    this.inClient?.close();
  }
}

/** Undefined once the call's headers arrive (the predecessor accepted), else why not. */
function answered(
  call: grpc.ClientReadableStream<Frame>,
  deadlineAt: number,
): Promise<grpc.ServiceError | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(
      () =>
        resolve(
          Object.assign(new Error('deadline'), {
            code: grpc.status.DEADLINE_EXCEEDED,
            details: 'deadline',
            metadata: new grpc.Metadata(),
          }),
        ),
      Math.max(0, deadlineAt - Date.now()),
    );
    call.once('metadata', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    call.once('error', (e: grpc.ServiceError) => {
      clearTimeout(timer);
      resolve(e);
    });
  });
}
