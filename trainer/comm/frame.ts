/**
 * Hand-written codec for `ringmaster.comm.v1.Frame` (proto/ringmaster/comm/v1/comm.proto).
 * The hot path must not pay for a generic encoder: a frame is a handful of varints plus one
 * large `bytes` field, written straight from the caller's arrays into the outgoing buffer.
 * The output is ordinary protobuf (tests decode it with protobufjs and vice versa).
 */
import { RingmasterError } from '../../common/errors.js';

export const Kind = {
  unspecified: 0,
  allReduceSum: 1,
  allReduceMean: 2,
  broadcast: 3,
  allGatherF32: 4,
  allGatherU8: 5,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

export interface FrameHeader {
  generation: number;
  op: number;
  kind: Kind;
  count: number;
  step: number;
  index: number;
}

export interface Frame extends FrameHeader {
  data: Uint8Array;
}

const PADDING_TAG = (14 << 3) | 2;
const DATA_TAG = (15 << 3) | 2;

function varintSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function writeVarint(buf: Uint8Array, pos: number, v: number): number {
  // Values here are non-negative integers below 2^53; division keeps them exact.
  while (v >= 128) {
    buf[pos++] = (v % 128) | 128;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

function writeField(buf: Uint8Array, pos: number, field: number, v: number): number {
  if (v === 0) return pos; // proto3: defaults are not written
  buf[pos++] = field << 3;
  return writeVarint(buf, pos, v);
}

function fieldSize(v: number): number {
  return v === 0 ? 0 : 1 + varintSize(v);
}

/**
 * Encodes a frame whose `data` is `dataBytes` long and written by `fill` into the slice it
 * is given. `reserve` bytes are left free at the start of the returned buffer (for a length
 * prefix); `alignBase` is the offset at which the receiver's transport will place the
 * message in a buffer (5 for gRPC's framing), so that `data` lands 4-byte aligned there.
 * With `scratch`, the frame is written into that reusable buffer (grown as needed): only for
 * callers that copy the result before encoding the next frame.
 */
export function encodeFrame(
  h: FrameHeader,
  dataBytes: number,
  fill: (dst: Uint8Array) => void,
  reserve = 0,
  alignBase = 0,
  scratch?: { buf: Buffer },
): Buffer {
  const fixed =
    fieldSize(h.generation) +
    fieldSize(h.op) +
    fieldSize(h.kind) +
    fieldSize(h.count) +
    fieldSize(h.step) +
    fieldSize(h.index);
  const tail = 1 + varintSize(dataBytes); // data tag + length
  // padding field = tag + length byte + p filler bytes; choose p so data is aligned.
  const before = alignBase + fixed + 2 + tail;
  const p = (4 - (before % 4)) % 4;
  const headerLen = fixed + 2 + p + tail;
  const total = reserve + headerLen + dataBytes;
  let buf: Buffer;
  if (scratch) {
    if (scratch.buf.length < total)
      scratch.buf = Buffer.allocUnsafeSlow(Math.max(total, 2 * scratch.buf.length));
    buf = scratch.buf.subarray(0, total);
  } else {
    buf = Buffer.allocUnsafe(total);
  }
  let pos = reserve;
  pos = writeField(buf, pos, 1, h.generation);
  pos = writeField(buf, pos, 2, h.op);
  pos = writeField(buf, pos, 3, h.kind);
  pos = writeField(buf, pos, 4, h.count);
  pos = writeField(buf, pos, 5, h.step);
  pos = writeField(buf, pos, 6, h.index);
  buf[pos++] = PADDING_TAG;
  buf[pos++] = p;
  for (let i = 0; i < p; i++) buf[pos++] = 0;
  buf[pos++] = DATA_TAG;
  pos = writeVarint(buf, pos, dataBytes);
  if (dataBytes > 0) fill(buf.subarray(pos, pos + dataBytes));
  return buf;
}

/** Fields 1–6 of a Frame (no padding, no data): the header record of the TCP data plane. */
export function encodeFrameHeader(h: FrameHeader): Uint8Array {
  const buf = new Uint8Array(
    fieldSize(h.generation) +
      fieldSize(h.op) +
      fieldSize(h.kind) +
      fieldSize(h.count) +
      fieldSize(h.step) +
      fieldSize(h.index),
  );
  let pos = writeField(buf, 0, 1, h.generation);
  pos = writeField(buf, pos, 2, h.op);
  pos = writeField(buf, pos, 3, h.kind);
  pos = writeField(buf, pos, 4, h.count);
  pos = writeField(buf, pos, 5, h.step);
  writeField(buf, pos, 6, h.index);
  return buf;
}

export class FrameDecodeError extends RingmasterError {}

/** Decodes a frame; `data` is a view into `buf` (no copy). */
export function decodeFrame(buf: Uint8Array): Frame {
  const f: Frame = {
    generation: 0,
    op: 0,
    kind: Kind.unspecified,
    count: 0,
    step: 0,
    index: 0,
    data: buf.subarray(0, 0),
  };
  let pos = 0;
  const end = buf.length;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (pos >= end) throw new FrameDecodeError('truncated frame (varint)');
      const b = buf[pos++]!;
      v += (b & 127) * mul;
      if (b < 128) return v;
      mul *= 128;
      if (mul > 2 ** 63) throw new FrameDecodeError('varint too long');
    }
  };
  while (pos < end) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      const v = varint();
      switch (field) {
        case 1:
          f.generation = v;
          break;
        case 2:
          f.op = v;
          break;
        case 3:
          f.kind = v as Kind;
          break;
        case 4:
          f.count = v;
          break;
        case 5:
          f.step = v;
          break;
        case 6:
          f.index = v;
          break;
      }
    } else if (wire === 2) {
      const len = varint();
      if (pos + len > end) throw new FrameDecodeError('truncated frame (bytes)');
      if (field === 15) f.data = buf.subarray(pos, pos + len);
      pos += len;
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else {
      throw new FrameDecodeError(`unsupported wire type ${wire}`);
    }
  }
  return f;
}

/**
 * A float32 view of received bytes: no copy when aligned (the encoder arranges that),
 * otherwise a copy into `scratch` (grown as needed) — a Float32Array view needs alignment.
 */
export function float32View(data: Uint8Array, scratch?: { buf: Float32Array }): Float32Array {
  if (data.byteLength % 4 !== 0) {
    throw new FrameDecodeError(
      `float32 payload of ${data.byteLength} bytes is not a multiple of 4`,
    );
  }
  const n = data.byteLength / 4;
  if (data.byteOffset % 4 === 0) return new Float32Array(data.buffer, data.byteOffset, n);
  let out: Float32Array;
  if (scratch) {
    if (scratch.buf.length < n) scratch.buf = new Float32Array(n);
    out = scratch.buf.subarray(0, n);
  } else {
    out = new Float32Array(n);
  }
  new Uint8Array(out.buffer, out.byteOffset, data.byteLength).set(data);
  return out;
}
