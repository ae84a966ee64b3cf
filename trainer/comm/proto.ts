/**
 * Loads proto/ringmaster/comm/v1/comm.proto for the control messages (rendezvous,
 * heartbeat, pull request) and wires the hand-written Frame codec into the Pull stream of the
 * gRPC link (the TCP data plane writes the same Frame header itself, tcp.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { decodeFrame, encodeFrame, type Frame, type FrameHeader } from './frame.js';
import type { StepReport } from './step-clock.js';

export const PROTO_PATH = fileURLToPath(
  new URL('../../proto/ringmaster/comm/v1/comm.proto', import.meta.url),
);

const definition = protoLoader.loadSync(PROTO_PATH, {
  longs: Number,
  enums: Number,
  defaults: true,
  oneofs: true,
});

export interface FaultMsg {
  rank: number;
  message: string;
  /** The rank made no progress for the hang timeout. */
  hang?: boolean;
}
export interface JoinRequest {
  generation: number;
  rank: number;
  worldSize: number;
  address: string;
  /** Empty when this rank takes frames over the gRPC Pull stream. */
  dataAddress?: string;
}
export interface JoinReply {
  generation: number;
  addresses: string[];
  dataAddresses?: string[];
}
export interface HeartbeatRequest {
  generation: number;
  rank: number;
  fault?: FaultMsg | null;
  leaving?: boolean;
  progress?: StepReport | null;
}
export interface HeartbeatReply {
  generation: number;
  fault?: FaultMsg | null;
}
export interface PullRequest {
  generation: number;
  rank: number;
}

const PKG = 'ringmaster.comm.v1';

export const rendezvousService = definition[`${PKG}.Rendezvous`] as grpc.ServiceDefinition;

const collectiveDef = definition[`${PKG}.Collective`] as grpc.ServiceDefinition;
const pullDef = collectiveDef.Pull as grpc.MethodDefinition<PullRequest, Frame>;

/** A frame on its way out: encoded only when the transport takes it. */
export interface OutFrame {
  h: FrameHeader;
  bytes: number;
  fill: (dst: Uint8Array) => void;
}

/**
 * Collective with the data stream's frames encoded by frame.ts straight from the tensors
 * when grpc-js serializes them (one copy fewer than encoding up front), and decoded without
 * copying on the way in. gRPC puts a 5-byte prefix before each message: the encoder aligns
 * the payload relative to it.
 */
const encodeScratch = { buf: Buffer.alloc(0) };

export const collectiveService: grpc.ServiceDefinition = {
  Pull: {
    ...pullDef,
    // grpc-js copies the serialized message into its own framed buffer at once
    // (serializeMessage), so one reusable buffer serves every frame of the process.
    responseSerialize: (m: OutFrame) => encodeFrame(m.h, m.bytes, m.fill, 0, 5, encodeScratch),
    responseDeserialize: (b: Buffer) => decodeFrame(b),
  } as unknown as grpc.MethodDefinition<PullRequest, OutFrame>,
};

export const PULL_PATH = pullDef.path;
export const serializePull = pullDef.requestSerialize;
export const deserializeFrame = (b: Buffer): Frame => decodeFrame(b);

export function methodOf<Req, Res>(
  service: grpc.ServiceDefinition,
  name: string,
): grpc.MethodDefinition<Req, Res> {
  return service[name] as grpc.MethodDefinition<Req, Res>;
}

/** Metadata entry of a stale-generation refusal: the generation the coordinator is at. */
export const GENERATION_KEY = 'x-ringmaster-generation';

/** Metadata entry that carries the job token on every call. */
export const TOKEN_KEY = 'x-ringmaster-token';

export function tokenMetadata(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(TOKEN_KEY, token);
  return md;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** A constant-time check of an offered token (SHA-256 digests, so lengths never leak). */
export function tokenMatcher(token: string): (offered: unknown) => boolean {
  const want = digest(token);
  return (v) => typeof v === 'string' && timingSafeEqual(digest(v), want);
}

/** A constant-time check of the token a call carries. */
export function tokenChecker(token: string): (md: grpc.Metadata) => boolean {
  const matches = tokenMatcher(token);
  return (md) => matches(md.get(TOKEN_KEY)[0]);
}

/** Channel/server options: no message-size limit (chunks are bounded by us), big windows. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
  // The receiver's HTTP/2 window: the sender may have this much in flight (per connection).
  'grpc-node.flow_control_window': 64 * 1024 * 1024,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  // One connection per peer pair and purpose; never share with other channels.
  'grpc.use_local_subchannel_pool': 1,
};

export const SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
};
