/**
 * A process group: rendezvous and liveness over gRPC at rank 0, then a ring in which every
 * rank takes the frames of its predecessor over one stream — a TCP connection it opens to
 * the predecessor's data port (the default, tcp.ts) or the gRPC Pull stream. The group runs
 * collectives one at a time, in call order; the first failure breaks the group for good (a
 * ring cannot take a member back: the trainer exits with the retryable code and the whole
 * group restarts).
 */
import type { Http2Session } from 'node:http2';
import type net from 'node:net';
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { InputError, RingmasterError } from '../errors.js';
import { log as rootLog, type Logger } from '../log.js';
import {
  AuthError,
  GroupClosedError,
  PeerError,
  RendezvousTimeoutError,
  StaleGenerationError,
} from './errors.js';
import { Kind, type Frame, type FrameHeader } from './frame.js';
import { Flat } from './flat.js';
import { Inbox } from './inbox.js';
import { Writes } from './writes.js';
import {
  CHANNEL_OPTIONS,
  collectiveService,
  deserializeFrame,
  PULL_PATH,
  rendezvousService,
  SERVER_OPTIONS,
  serializePull,
  tokenChecker,
  tokenMatcher,
  tokenMetadata,
  type FaultMsg,
  type OutFrame,
  type PullRequest,
} from './proto.js';
import { Coordinator, HeartbeatClient, joinGroup } from './rendezvous.js';
import {
  REFUSE_FAILED_PRECONDITION,
  REFUSE_UNAUTHENTICATED,
  TcpDataServer,
  TcpLink,
  type DataHello,
  type DataHelloReply,
} from './tcp.js';
import {
  ringAllGather,
  ringAllReduce,
  ringBroadcast,
  type Link,
  type RingContext,
} from './ring.js';

export interface TlsOptions {
  /** PEM CA bundle that signed every rank's certificate. */
  ca: Buffer;
  /** This rank's PEM certificate chain and key (used as server and client identity). */
  cert: Buffer;
  key: Buffer;
}

export interface GroupOptions {
  rank: number;
  worldSize: number;
  /** host:port of rank 0's Rendezvous (RINGMASTER_COORDINATOR). */
  coordinator: string;
  /** Where this rank serves Collective. Rank 0: defaults to the coordinator address (one
   * server, both services). Others: default `0.0.0.0:0` (any interface, a free port). */
  listen?: string;
  /** The address others dial to reach this rank. Default: the listen host (or, for a
   * wildcard listen, os.hostname()) with the bound port; rank 0: the coordinator address. */
  advertise?: string;
  /** The job token (RINGMASTER_TOKEN); every call carries it, every server checks it. */
  token: string;
  /** Generation of the group (bumped by each whole-group restart). */
  generation: number;
  deadlines?: {
    /** Joining, forming the ring and connecting neighbours. Default 300 000. */
    rendezvousMs?: number;
    /** The longest any single wait inside a collective may take (no data from a peer),
     * and the heartbeat silence after which a member is declared dead. Default 60 000. */
    opMs?: number;
  };
  /** Elements of one ring pass, in bytes (tensors are fused up to this). Default 64 MiB. */
  bucketBytes?: number;
  /** Size of one frame on the wire. Default 1 MiB. */
  chunkBytes?: number;
  /** Optional mutual TLS; plaintext when absent (the token still authenticates). */
  tls?: TlsOptions;
  /**
   * How frames travel: 'tcp' (default), one TCP connection per neighbour pair next to the
   * gRPC control plane, about 3× cheaper in CPU; or 'grpc', the Collective.Pull stream.
   * Every rank of a group must use the same.
   */
  transport?: 'tcp' | 'grpc';
  /**
   * Where the TCP data plane listens. Default: the listen host, on the listen port + 1 (a
   * fixed port, so a NetworkPolicy can name it), or any free port when that port is 0.
   */
  dataListen?: string;
  logger?: Logger;
}

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
}

const DEFAULTS = {
  rendezvousMs: 300_000,
  opMs: 60_000,
  bucketBytes: 64 * 1024 * 1024,
  chunkBytes: 1024 * 1024,
};

/** Bound on how long close() waits for the successor to take the last frames. */
const CLOSE_GRACE_MS = 3_000;
/** How long a failed coordinator keeps answering heartbeats before it shuts down. */
const LINGER_MS = 1_000;

interface Resolved {
  rank: number;
  worldSize: number;
  coordinator: string;
  listen: string;
  advertise: string | undefined;
  token: string;
  generation: number;
  rendezvousMs: number;
  opMs: number;
  bucketElems: number;
  chunkBytes: number;
  tls: TlsOptions | undefined;
  transport: 'tcp' | 'grpc';
  dataListen: string;
  log: Logger;
}

function resolve(opts: GroupOptions): Resolved {
  const issues: { path: string; message: string }[] = [];
  const int = (v: unknown, min: number): boolean =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
  if (!int(opts.worldSize, 1))
    issues.push({ path: 'worldSize', message: 'must be an integer ≥ 1' });
  if (!int(opts.rank, 0) || opts.rank >= opts.worldSize) {
    issues.push({ path: 'rank', message: `must be an integer in [0, ${opts.worldSize})` });
  }
  if (!int(opts.generation, 0))
    issues.push({ path: 'generation', message: 'must be an integer ≥ 0' });
  if (opts.worldSize > 1) {
    if (!/^.+:\d+$/.test(opts.coordinator ?? '')) {
      issues.push({ path: 'coordinator', message: `"${opts.coordinator}" is not host:port` });
    }
    if (!opts.token) issues.push({ path: 'token', message: 'a job token is required' });
  }
  const chunkBytes = opts.chunkBytes ?? DEFAULTS.chunkBytes;
  const bucketBytes = opts.bucketBytes ?? DEFAULTS.bucketBytes;
  if (!int(chunkBytes, 4) || chunkBytes % 4 !== 0) {
    issues.push({ path: 'chunkBytes', message: 'must be a multiple of 4, ≥ 4' });
  }
  if (!int(bucketBytes, 4)) issues.push({ path: 'bucketBytes', message: 'must be ≥ 4' });
  const d = { rendezvousMs: DEFAULTS.rendezvousMs, opMs: DEFAULTS.opMs, ...opts.deadlines };
  if (!(d.rendezvousMs > 0))
    issues.push({ path: 'deadlines.rendezvousMs', message: 'must be > 0' });
  if (!(d.opMs > 0)) issues.push({ path: 'deadlines.opMs', message: 'must be > 0' });
  const transport = opts.transport ?? 'tcp';
  if (transport !== 'tcp' && transport !== 'grpc') {
    issues.push({
      path: 'transport',
      message: `must be "tcp" or "grpc", not "${String(transport)}"`,
    });
  }
  const listen = opts.listen ?? (opts.rank === 0 ? opts.coordinator : '0.0.0.0:0');
  let dataListen = opts.dataListen;
  if (dataListen === undefined && /^.*:\d+$/.test(listen)) {
    const [h, p] = splitHostPort(listen);
    dataListen = `${h}:${p === 0 ? 0 : p + 1}`;
  }
  if (transport === 'tcp' && opts.worldSize > 1 && !/^.*:\d+$/.test(dataListen ?? '')) {
    issues.push({ path: 'dataListen', message: `"${dataListen}" is not host:port` });
  }
  if (issues.length > 0) throw new InputError('invalid process-group options', issues);
  return {
    rank: opts.rank,
    worldSize: opts.worldSize,
    coordinator: opts.coordinator,
    listen,
    advertise: opts.advertise ?? (opts.rank === 0 ? opts.coordinator : undefined),
    token: opts.token,
    generation: opts.generation,
    rendezvousMs: d.rendezvousMs,
    opMs: d.opMs,
    bucketElems: Math.max(1, Math.floor(bucketBytes / 4)),
    chunkBytes,
    tls: opts.tls,
    transport,
    dataListen: dataListen ?? '0.0.0.0:0',
    log: (opts.logger ?? rootLog).child({ component: 'comm', rank: opts.rank }),
  };
}

function splitHostPort(addr: string): [string, number] {
  const i = addr.lastIndexOf(':');
  return [addr.slice(0, i), Number(addr.slice(i + 1))];
}

const WILDCARD = new Set(['0.0.0.0', '::', '[::]', '']);

function toArrays(a: Float32Array | readonly Float32Array[]): readonly Float32Array[] {
  return a instanceof Float32Array ? [a] : a;
}

/** Connects this process to its group; with worldSize 1 nothing touches the network. */
export async function connectGroup(opts: GroupOptions): Promise<Group> {
  const o = resolve(opts);
  if (o.worldSize === 1) return new SoloGroup(o.generation);
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
  constructor(readonly generation: number) {}
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

/** The data path to the neighbours: frames go out through the successor's Pull stream. */
class GrpcLink implements Link {
  predecessorName = '?';
  successorName = '?';
  out: grpc.ServerWritableStream<PullRequest, OutFrame> | undefined;
  readonly inbox: Inbox;
  private readonly writes: Writes;

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
}

class RingGroup implements Group {
  readonly rank: number;
  readonly worldSize: number;
  readonly generation: number;
  private readonly o: Resolved;
  private readonly log: Logger;
  private readonly tokenOk: (md: grpc.Metadata) => boolean;
  private readonly helloTokenOk: (offered: unknown) => boolean;
  private readonly server: grpc.Server;
  /** The active data path: `tcpLink` or `grpcLink`. */
  private readonly link: GrpcLink | TcpLink;
  private readonly grpcLink: GrpcLink;
  private readonly tcpLink: TcpLink | undefined;
  private dataServer: TcpDataServer | undefined;
  private dataAddress = '';
  private coordinator: Coordinator | undefined;
  private heartbeat: HeartbeatClient | undefined;
  private inClient: grpc.Client | undefined;
  private inCall: grpc.ClientReadableStream<Frame> | undefined;
  private addresses: string[] = [];
  private address = '?';
  private successorArrived!: () => void;
  private readonly successorPromise: Promise<void>;
  private tail: Promise<unknown> = Promise.resolve();
  private opSeq = 0;
  private failure: Error | undefined;
  private settling = false;
  private closing: Promise<void> | undefined;

  constructor(o: Resolved) {
    this.o = o;
    this.rank = o.rank;
    this.worldSize = o.worldSize;
    this.generation = o.generation;
    this.log = o.log;
    this.tokenOk = tokenChecker(o.token);
    this.helloTokenOk = tokenMatcher(o.token);
    this.server = new grpc.Server(SERVER_OPTIONS);
    const onRecvTimeout = (ms: number): Error => {
      const p = this.predecessor();
      return new PeerError(
        `no data from rank ${p} (${this.addresses[p]}) for ${(ms / 1000).toFixed(1)} s ` +
          `(peer stalled or dead; deadline opMs=${o.opMs})`,
        p,
        this.addresses[p] ?? '?',
      );
    };
    const onSendTimeout = (ms: number): Error => {
      const s = this.successor();
      return new PeerError(
        `rank ${s} (${this.addresses[s]}) took no data for ${(ms / 1000).toFixed(1)} s ` +
          `(peer stalled or dead; deadline opMs=${o.opMs})`,
        s,
        this.addresses[s] ?? '?',
      );
    };
    this.grpcLink = new GrpcLink(o.opMs, onRecvTimeout, onSendTimeout);
    this.tcpLink =
      o.transport === 'tcp'
        ? new TcpLink(o.opMs, o.chunkBytes, onRecvTimeout, onSendTimeout)
        : undefined;
    this.link = this.tcpLink ?? this.grpcLink;
    this.successorPromise = new Promise((r) => (this.successorArrived = r));
  }

  private predecessor(): number {
    return (this.rank - 1 + this.worldSize) % this.worldSize;
  }
  private successor(): number {
    return (this.rank + 1) % this.worldSize;
  }
  private name(rank: number): string {
    return `rank ${rank} (${this.addresses[rank] ?? '?'})`;
  }

  private serverCredentials(): grpc.ServerCredentials {
    const t = this.o.tls;
    return t
      ? grpc.ServerCredentials.createSsl(t.ca, [{ cert_chain: t.cert, private_key: t.key }], true)
      : grpc.ServerCredentials.createInsecure();
  }
  private channelCredentials(): grpc.ChannelCredentials {
    const t = this.o.tls;
    return t ? grpc.credentials.createSsl(t.ca, t.key, t.cert) : grpc.credentials.createInsecure();
  }

  async start(): Promise<void> {
    const o = this.o;
    const deadlineAt = Date.now() + o.rendezvousMs;
    this.server.addService(collectiveService, {
      Pull: (call: grpc.ServerWritableStream<PullRequest, OutFrame>) => this.acceptPull(call),
    });
    if (this.rank === 0) {
      this.coordinator = new Coordinator(o.generation, o.worldSize, this.tokenOk, this.log, (f) =>
        this.onGroupFault(f),
      );
      this.server.addService(rendezvousService, this.coordinator.implementation());
    }
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(o.listen, this.serverCredentials(), (err, p) =>
        err
          ? reject(
              new RingmasterError(`cannot serve collectives at ${o.listen}: ${err.message}`, {
                cause: err,
              }),
            )
          : resolve(p),
      ),
    );
    const [host] = splitHostPort(o.listen);
    this.address = o.advertise ?? `${WILDCARD.has(host) ? hostname() : host}:${port}`;
    this.log.debug({ listen: o.listen, port, address: this.address }, 'serving collectives');
    if (this.tcpLink) await this.serveData();

    const creds = this.channelCredentials();
    let dataAddresses: string[] = [];
    if (this.coordinator) {
      this.coordinator.registerSelf(this.address, this.dataAddress);
      this.addresses = await withDeadline(this.coordinator.formation, deadlineAt, () => {
        const missing = this.coordinator!.missingRanks();
        return new RendezvousTimeoutError(
          `rendezvous timed out after ${(o.rendezvousMs / 1000).toFixed(1)} s: ` +
            `rank(s) ${missing.join(', ')} never joined the coordinator at ${o.coordinator}`,
        );
      });
      dataAddresses = this.coordinator.dataAddresses();
    } else {
      const reply = await joinGroup(
        o.coordinator,
        {
          generation: o.generation,
          rank: o.rank,
          worldSize: o.worldSize,
          address: this.address,
          dataAddress: this.dataAddress,
        },
        o.token,
        creds,
        deadlineAt,
        this.log,
      );
      this.addresses = reply.addresses;
      dataAddresses = reply.dataAddresses ?? [];
    }
    this.link.predecessorName = this.name(this.predecessor());
    this.link.successorName = this.name(this.successor());
    this.log.debug({ addresses: this.addresses, dataAddresses }, 'ring formed');

    if (this.tcpLink) {
      const p = this.predecessor();
      const addr = dataAddresses[p] ?? '';
      if (!addr) {
        throw new RingmasterError(
          `${this.name(p)} serves no TCP data plane: every rank of a group must use the same ` +
            `transport (this one uses "tcp"; see RINGMASTER_COMM_TRANSPORT)`,
        );
      }
      await this.openInboundTcp(this.tcpLink, addr, deadlineAt);
    } else {
      if (dataAddresses.some((a) => a)) {
        throw new RingmasterError(
          `the group mixes transports: this rank uses "grpc", others "tcp" ` +
            `(every rank must use the same; see RINGMASTER_COMM_TRANSPORT)`,
        );
      }
      await this.openInbound(creds, deadlineAt);
    }
    await withDeadline(
      this.successorPromise,
      deadlineAt,
      () =>
        new PeerError(
          `rendezvous timed out: ${this.name(this.successor())} never connected to this rank`,
          this.successor(),
          this.addresses[this.successor()] ?? '?',
        ),
    );

    const hbInterval = Math.min(2000, Math.max(100, Math.floor(o.opMs / 5)));
    if (this.coordinator) {
      this.coordinator.startLiveness(hbInterval, o.opMs);
    } else {
      this.heartbeat = new HeartbeatClient(
        o.coordinator,
        creds,
        o.token,
        o.generation,
        o.rank,
        hbInterval,
        o.opMs,
        (f) => this.onGroupFault(f),
      );
      this.heartbeat.start();
    }
    this.log.info({ worldSize: o.worldSize, generation: o.generation }, 'process group ready');
  }

  /** The successor pulls our frames: validate it and keep its stream as our outbound link. */
  private acceptPull(call: grpc.ServerWritableStream<PullRequest, OutFrame>): void {
    const req = call.request;
    const refuse = (code: grpc.status, details: string): void => {
      this.log.warn({ peer: call.getPeer(), details }, 'refused a pull');
      call.emit('error', { code, details });
    };
    if (!this.tokenOk(call.metadata)) {
      refuse(grpc.status.UNAUTHENTICATED, 'missing or wrong job token');
      return;
    }
    if (req.generation !== this.generation) {
      refuse(
        grpc.status.FAILED_PRECONDITION,
        `stale generation: rank ${this.rank} is at generation ${this.generation}, caller at ${req.generation}`,
      );
      return;
    }
    if (this.tcpLink) {
      refuse(
        grpc.status.FAILED_PRECONDITION,
        `rank ${this.rank} sends frames over its TCP data plane, not Pull ` +
          `(every rank must use the same transport; see RINGMASTER_COMM_TRANSPORT)`,
      );
      return;
    }
    if (req.rank !== this.successor() || this.grpcLink.out || this.closing) {
      refuse(
        grpc.status.FAILED_PRECONDITION,
        `rank ${req.rank} may not pull from rank ${this.rank} (successor is ${this.successor()}, already connected: ${this.grpcLink.out !== undefined})`,
      );
      return;
    }
    call.on('cancelled', () => {
      // The successor went away. Not a fault by itself (it may have finished and closed);
      // it becomes one if we still need to send to it.
      this.link.closeOut(
        new PeerError(
          `${this.name(this.successor())} disconnected from this rank's ring stream`,
          this.successor(),
          this.addresses[this.successor()] ?? '?',
        ),
      );
    });
    call.on('error', () => undefined);
    call.sendMetadata(new grpc.Metadata());
    this.grpcLink.out = call;
    this.successorArrived();
  }

  /** Serves the TCP data plane; the successor dials it and says hello. */
  private async serveData(): Promise<void> {
    const o = this.o;
    const [bracketed, want] = splitHostPort(o.dataListen);
    const host = bracketed.replace(/^\[(.*)\]$/, '$1'); // "[::]" → "::" for net.listen
    const server = new TcpDataServer(
      o.tls,
      (h) => this.checkDataHello(h),
      (sock) => this.acceptData(sock),
      (msg) => this.log.warn(msg),
    );
    this.dataServer = server;
    const port = await server.listen(host, want).catch((e: Error) => {
      throw new RingmasterError(
        `cannot serve the data plane at ${o.dataListen}: ${e.message}` +
          (want !== 0 ? ' (it takes the port after the listen port; set dataListen)' : ''),
        { cause: e },
      );
    });
    const [advHost] = splitHostPort(this.address);
    this.dataAddress = `${advHost}:${port}`;
    this.log.debug({ dataListen: o.dataListen, dataAddress: this.dataAddress }, 'serving data');
  }

  private checkDataHello(h: DataHello): DataHelloReply {
    const no = (code: number, message: string): DataHelloReply => ({ ok: false, code, message });
    if (!this.helloTokenOk(h.token))
      return no(REFUSE_UNAUTHENTICATED, 'missing or wrong job token');
    if (h.generation !== this.generation) {
      return no(
        REFUSE_FAILED_PRECONDITION,
        `stale generation: rank ${this.rank} is at generation ${this.generation}, caller at ${h.generation}`,
      );
    }
    if (h.rank !== this.successor() || this.successorConnected || this.closing) {
      return no(
        REFUSE_FAILED_PRECONDITION,
        `rank ${h.rank} may not take frames from rank ${this.rank} (successor is ${this.successor()}, already connected: ${this.successorConnected})`,
      );
    }
    this.successorConnected = true;
    return { ok: true, code: 0, message: '' };
  }

  private successorConnected = false;

  private acceptData(sock: net.Socket): void {
    this.tcpLink!.attachOut(
      sock,
      () =>
        new PeerError(
          `${this.name(this.successor())} disconnected from this rank's ring stream`,
          this.successor(),
          this.addresses[this.successor()] ?? '?',
        ),
    );
    this.successorArrived();
  }

  /** Dials the predecessor's data plane; retried while it cannot be reached, until the deadline. */
  private async openInboundTcp(link: TcpLink, addr: string, deadlineAt: number): Promise<void> {
    const p = this.predecessor();
    let backoff = 50;
    for (;;) {
      try {
        await link.connectIn(
          addr,
          { generation: this.generation, rank: this.rank, token: this.o.token },
          this.o.tls,
          p,
          Math.max(1, Math.min(10_000, deadlineAt - Date.now())),
        );
        return;
      } catch (e) {
        if (e instanceof RingmasterError) throw e; // a refusal: retrying cannot help
        if (Date.now() >= deadlineAt) {
          throw new PeerError(
            `rendezvous timed out connecting to the data plane of ${this.name(p)} at ${addr}: ${(e as Error).message}`,
            p,
            addr,
          );
        }
      }
      await new Promise((r) =>
        setTimeout(r, Math.min(backoff, Math.max(0, deadlineAt - Date.now()))),
      );
      backoff = Math.min(backoff * 2, 1000);
    }
  }

  /** Pull from the predecessor; retried while it cannot be reached, until the deadline. */
  private async openInbound(creds: grpc.ChannelCredentials, deadlineAt: number): Promise<void> {
    const p = this.predecessor();
    const addr = this.addresses[p]!;
    let backoff = 50;
    for (;;) {
      const client = new grpc.Client(addr, creds, CHANNEL_OPTIONS);
      const call = client.makeServerStreamRequest(
        PULL_PATH,
        serializePull,
        deserializeFrame,
        { generation: this.generation, rank: this.rank },
        tokenMetadata(this.o.token),
        { deadline: Infinity },
      );
      const outcome = await new Promise<'ok' | grpc.ServiceError>((resolve) => {
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
          resolve('ok');
        });
        call.once('error', (e: grpc.ServiceError) => {
          clearTimeout(timer);
          resolve(e);
        });
      });
      if (outcome === 'ok') {
        this.inClient = client;
        this.inCall = call;
        call.on('data', (f: Frame) => this.grpcLink.inbox.push(f));
        call.on('error', (e: grpc.ServiceError) =>
          this.grpcLink.inbox.end(
            new PeerError(
              `lost the ring stream from ${this.name(p)}: ${e.details ?? e.message}`,
              p,
              addr,
              {
                cause: e,
              },
            ),
          ),
        );
        call.on('end', () =>
          this.grpcLink.inbox.end(
            new PeerError(`${this.name(p)} closed its ring stream (left the group)`, p, addr),
          ),
        );
        return;
      }
      call.cancel();
      client.close();
      const e = outcome;
      if (e.code === grpc.status.UNAUTHENTICATED) {
        throw new AuthError(`${this.name(p)} refused the job token: ${e.details}`);
      }
      if (e.code === grpc.status.FAILED_PRECONDITION) {
        throw /stale generation/.test(e.details)
          ? new StaleGenerationError(`${this.name(p)} refused us: ${e.details}`)
          : new RingmasterError(`${this.name(p)} refused us: ${e.details}`);
      }
      if (e.code === grpc.status.DEADLINE_EXCEEDED || Date.now() >= deadlineAt) {
        throw new PeerError(
          `rendezvous timed out connecting to ${this.name(p)}: ${e.details}`,
          p,
          addr,
        );
      }
      await new Promise((r) =>
        setTimeout(r, Math.min(backoff, Math.max(0, deadlineAt - Date.now()))),
      );
      backoff = Math.min(backoff * 2, 1000);
    }
  }

  /** A fault somewhere in the group (from the coordinator, or found here). */
  private onGroupFault(f: FaultMsg): void {
    // While settle() runs, it decides (it has the verdict and the local error's type).
    if (this.failure || this.closing || this.settling) return;
    const addr = f.rank >= 0 ? (this.addresses[f.rank] ?? '?') : '?';
    this.fail(
      new PeerError(
        f.rank === this.rank ? f.message : `group failed at rank ${f.rank} (${addr}): ${f.message}`,
        f.rank,
        addr,
      ),
    );
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.link.inbox.abort(err);
    this.log.error({ err: err.message }, 'process group failed');
  }

  /**
   * Turns what went wrong here into the group's verdict: the fault goes to the coordinator,
   * which may know better who is to blame (a rank that stopped heartbeating), and the error
   * thrown names that rank. Bounded: the coordinator gets one second to answer.
   */
  private async settle(e: unknown, what: string): Promise<Error> {
    if (this.failure) return this.failure;
    const err = e instanceof Error ? e : new RingmasterError(`${what} failed: ${String(e)}`);
    if (this.closing) return err;
    const fault: FaultMsg = {
      rank: err instanceof PeerError ? err.peerRank : this.rank,
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
        `${err.message}; the coordinator ${this.name(0)} does not answer either`,
        0,
        this.addresses[0] ?? this.o.coordinator,
        { cause: err },
      );
    } else if (verdict && verdict.rank !== fault.rank) {
      const addr = this.addresses[verdict.rank] ?? '?';
      final = new PeerError(
        `group failed at rank ${verdict.rank} (${addr}): ${verdict.message}`,
        verdict.rank,
        addr,
        { cause: err },
      );
    }
    this.fail(final);
    return final;
  }

  private ringContext(): RingContext {
    return {
      rank: this.rank,
      worldSize: this.worldSize,
      generation: this.generation,
      chunkBytes: this.o.chunkBytes,
    };
  }

  /** Runs collectives one at a time, in call order; the first failure breaks the group. */
  private run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(async () => {
      if (this.closing) throw new GroupClosedError(`${what} called on a closed group`);
      if (this.failure) throw this.failure;
      try {
        return await fn();
      } catch (e) {
        throw await this.settle(e, what);
      }
    });
    this.tail = p.catch(() => undefined);
    return p;
  }

  allReduce(
    arrays: Float32Array | readonly Float32Array[],
    op: 'sum' | 'mean' = 'sum',
  ): Promise<void> {
    const flat = new Flat(toArrays(arrays));
    return this.run('allReduce', async () => {
      const total = flat.length;
      for (let base = 0; base < total; base += this.o.bucketElems) {
        const len = Math.min(this.o.bucketElems, total - base);
        await ringAllReduce(
          this.link,
          this.ringContext(),
          ++this.opSeq,
          flat,
          base,
          len,
          total,
          op === 'mean',
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
      ringBroadcast(this.link, this.ringContext(), ++this.opSeq, flat, root),
    );
  }

  allGather(data: Float32Array): Promise<Float32Array[]>;
  allGather(data: Uint8Array): Promise<Uint8Array[]>;
  allGather(data: Float32Array | Uint8Array): Promise<(Float32Array | Uint8Array)[]> {
    const f32 = data instanceof Float32Array;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return this.run('allGather', async () => {
      const pieces = await ringAllGather(
        this.link,
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
        this.link,
        this.ringContext(),
        ++this.opSeq,
        new Uint8Array(0),
        Kind.allGatherU8,
      );
    });
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const t0 = Date.now();
    this.link.inbox.abort(new GroupClosedError('the process group was closed'));
    if (this.coordinator?.fault) {
      // Linger so members still waiting on the ring can learn from the coordinator who
      // failed (their heartbeats fetch the verdict), instead of blaming their neighbour.
      await new Promise((r) => setTimeout(r, LINGER_MS));
    }
    this.coordinator?.stop();
    await this.heartbeat?.stop();
    this.log.debug({ ms: Date.now() - t0 }, 'closing: heartbeats stopped');
    // Let the successor take the frames already queued, then stop serving; bounded.
    this.grpcLink.out?.end();
    this.inCall?.cancel();
    this.inClient?.close();
    if (this.failure) {
      // A broken ring has nothing worth flushing, and a stalled peer would hold us up.
      this.tcpLink?.unref();
      this.tcpLink?.destroy();
      this.dataServer?.close();
      shutdownNow(this.server);
      this.log.debug({ ms: Date.now() - t0 }, 'process group closed (forced)');
      return;
    }
    if (this.tcpLink) {
      await this.tcpLink.finishOut(CLOSE_GRACE_MS);
      this.tcpLink.destroy();
      this.dataServer?.close();
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.log.debug('closing: grace over, forcing shutdown');
        shutdownNow(this.server);
        resolve();
      }, CLOSE_GRACE_MS);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.log.debug({ ms: Date.now() - t0 }, 'process group closed');
  }
}

/**
 * forceShutdown() destroys the HTTP/2 sessions, but a session's socket then waits for the
 * peer's FIN; a stopped (SIGSTOP, frozen VM) peer never sends it and the socket would keep
 * this process alive. grpc-js exposes no handle on its sessions, hence the private field,
 * guarded: unref'ing them lets the process exit.
 */
function shutdownNow(server: grpc.Server): void {
  const sessions = (server as unknown as { sessions?: unknown }).sessions;
  const list = sessions instanceof Map ? [...(sessions.keys() as Iterable<Http2Session>)] : [];
  for (const s of list) {
    try {
      s.unref();
    } catch {
      // already gone
    }
  }
  server.forceShutdown();
}

function withDeadline<T>(p: Promise<T>, deadlineAt: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), Math.max(0, deadlineAt - Date.now()));
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
