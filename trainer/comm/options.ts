/**
 * A process group's options as a caller gives them (`GroupOptions`), checked once and turned
 * into the settings every part of the group reads (`GroupSettings`): defaults filled in, the
 * listen and data-plane addresses derived, every problem named in one InputError.
 */
import * as grpc from '@grpc/grpc-js';
import { checkInt } from '../../common/parse.js';
import { InputError, type InputIssue } from '../../common/errors.js';
import { log as rootLog, type Logger } from '../../common/log.js';
import type { StepClock } from './step-clock.js';

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
   * TCP connections per neighbour pair ('tcp' transport): each all-reduce pass is split into
   * this many parts, each a ring of its own on its own connection, run at once. More bytes in
   * flight keep the ring moving when a rank is descheduled (ranks sharing cores) and, on
   * faster links, more than one stream's worth. Default 1: on the 2-core development machine 2
   * channels were slower at N=4 (ADR 0093); 'grpc': always 1.
   */
  channels?: number;
  /**
   * Where the TCP data plane listens. Default: the listen host, on the listen port + 1 (a
   * fixed port, so a NetworkPolicy can name it), or any free port when that port is 0.
   */
  dataListen?: string;
  logger?: Logger;
  /** This rank's training clock; heartbeats carry it to the coordinator (hang detection). */
  clock?: StepClock;
  /** runPolicy.hangTimeoutSeconds in ms; absent: derived from the measured steps (hang.ts). */
  hangTimeoutMs?: number;
}

/** The options with every default applied; what the group's parts are built from. */
export interface GroupSettings {
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
  channels: number;
  tls: TlsOptions | undefined;
  transport: 'tcp' | 'grpc';
  dataListen: string;
  log: Logger;
  clock: StepClock | undefined;
  hangTimeoutMs: number | undefined;
}

const DEFAULTS = {
  rendezvousMs: 300_000,
  opMs: 60_000,
  bucketBytes: 64 * 1024 * 1024,
  chunkBytes: 1024 * 1024,
  channels: 1,
};

/** TCP connections per neighbour pair when the options do not say (ADR 0093). */
export const DEFAULT_CHANNELS = DEFAULTS.channels;

export function resolveOptions(opts: GroupOptions): GroupSettings {
  const issues: InputIssue[] = [];
  const int = (name: string, value: unknown, min: number, max?: number): boolean => {
    const issue = checkInt(value, { name, min, ...(max !== undefined ? { max } : {}) });
    if (issue) issues.push(issue);
    return issue === undefined;
  };
  const worldSizeOk = int('worldSize', opts.worldSize, 1);
  int('rank', opts.rank, 0, worldSizeOk ? opts.worldSize - 1 : undefined);
  int('generation', opts.generation, 0);
  if (opts.worldSize > 1) {
    if (!/^.+:\d+$/.test(opts.coordinator ?? '')) {
      issues.push({ path: 'coordinator', message: `"${opts.coordinator}" is not host:port` });
    }
    if (!opts.token) issues.push({ path: 'token', message: 'a job token is required' });
  }
  const chunkBytes = opts.chunkBytes ?? DEFAULTS.chunkBytes;
  const bucketBytes = opts.bucketBytes ?? DEFAULTS.bucketBytes;
  if (int('chunkBytes', chunkBytes, 4) && chunkBytes % 4 !== 0) {
    issues.push({ path: 'chunkBytes', message: `must be a multiple of 4 (got ${chunkBytes})` });
  }
  int('bucketBytes', bucketBytes, 4);
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
  const channels = transport === 'grpc' ? 1 : (opts.channels ?? DEFAULTS.channels);
  int('channels', channels, 1, 16);
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
    channels,
    tls: opts.tls,
    transport,
    dataListen: dataListen ?? '0.0.0.0:0',
    log: (opts.logger ?? rootLog).child({ component: 'comm', rank: opts.rank }),
    clock: opts.clock,
    hangTimeoutMs: opts.hangTimeoutMs,
  };
}

export function splitHostPort(addr: string): [string, number] {
  const i = addr.lastIndexOf(':');
  return [addr.slice(0, i), Number(addr.slice(i + 1))];
}

/** The credentials this rank's clients present (mutual TLS, or plaintext without `tls`). */
export function channelCredentials(tls: TlsOptions | undefined): grpc.ChannelCredentials {
  return tls
    ? grpc.credentials.createSsl(tls.ca, tls.key, tls.cert)
    : grpc.credentials.createInsecure();
}
