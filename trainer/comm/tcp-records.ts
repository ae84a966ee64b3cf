/**
 * The TCP data plane's wire format: records `u32le magic | u32le H | u32le D | H bytes |
 * D bytes` (documented in proto/ringmaster/comm/v1/comm.proto) — the DataHello handshake,
 * its reply, and frames whose header is the Frame message's fields. `RecordReader` splits a
 * byte stream back into records, receiving payloads into aligned, reused buffers.
 */
import protobuf from 'protobufjs';
import { RingmasterError } from '../../common/errors.js';
import { PROTO_PATH } from './proto.js';
import { giveSlot, takeSlot } from './sum.js';

export const MAGIC_HELLO = 0x4c484d52; // "RMHL" little-endian
export const MAGIC_REPLY = 0x52484d52; // "RMHR"
export const MAGIC_FRAME = 0x31464d52; // "RMF1"
const PREFIX = 12;
/** Headers are a handful of varints; anything larger means the stream is out of step. */
const MAX_HEADER = 1024;
/** No frame is larger than a chunk; this only guards against a corrupt length. */
const MAX_DATA = 1 << 30;
/** Reads that are not payload land here (prefix + header, and what follows them). */
const HEAD_BYTES = 4096;
/** Receive buffers kept for reuse (each one chunk); a burst beyond this is left to the GC. */
const POOL_LIMIT = 64;

const root = protobuf.loadSync(PROTO_PATH);
const HelloType = root.lookupType('ringmaster.comm.v1.DataHello');
const ReplyType = root.lookupType('ringmaster.comm.v1.DataHelloReply');

export interface DataHello {
  generation: number;
  rank: number;
  token: string;
  /** Which connection of the neighbour pair (0 … channels−1); absent means 0. */
  channel?: number;
}
export interface DataHelloReply {
  ok: boolean;
  code: number;
  message: string;
}

/** grpc status codes used in refusals (the same ones the Pull call answers with). */
export const REFUSE_UNAUTHENTICATED = 16;
export const REFUSE_FAILED_PRECONDITION = 9;

/** One record: prefix + header + (no) data. */
export function encodeRecord(magic: number, header: Uint8Array, dataBytes = 0): Buffer {
  const b = Buffer.allocUnsafe(PREFIX + header.byteLength);
  b.writeUInt32LE(magic, 0);
  b.writeUInt32LE(header.byteLength, 4);
  b.writeUInt32LE(dataBytes, 8);
  b.set(header, PREFIX);
  return b;
}

export function encodeHello(h: DataHello): Buffer {
  return encodeRecord(MAGIC_HELLO, HelloType.encode(HelloType.fromObject(h)).finish());
}
export function encodeReply(r: DataHelloReply): Buffer {
  return encodeRecord(MAGIC_REPLY, ReplyType.encode(ReplyType.fromObject(r)).finish());
}

export class ProtocolError extends RingmasterError {}

type Record_ = { magic: number; header: Uint8Array; data: Uint8Array };

/**
 * Splits the byte stream into records. Payloads go into buffers of their own, 4-byte aligned
 * at offset 0 (reused through `release`), so a float32 view of them needs no copy. With a
 * socket's `onread`, the kernel writes straight into `target()`: while a payload is being
 * received, the target is exactly its unfilled remainder, so no payload byte is copied twice.
 */
export class RecordReader {
  private head = Buffer.allocUnsafeSlow(HEAD_BYTES);
  private headFill = 0;
  /** Payload being received, and how much of it is in. */
  private data: Uint8Array | undefined;
  private dataFill = 0;
  private magic = 0;
  private header: Uint8Array = new Uint8Array(0);
  private readonly pool: ArrayBuffer[] = [];
  /** Buffers this reader allocated (only these go back to the pool). */
  private readonly owned = new WeakSet<ArrayBuffer>();

  constructor(
    private readonly poolBytes: number,
    private readonly onRecord: (r: Record_) => void,
    /** Where a record's payload should go, if its reader knows better than the pool. */
    private readonly pick?: (
      magic: number,
      header: Uint8Array,
      dataBytes: number,
    ) => Uint8Array | undefined,
  ) {}

  /** Where the next bytes should be written. */
  target(): Uint8Array {
    return this.data ? this.data.subarray(this.dataFill) : this.head.subarray(this.headFill);
  }

  /** `n` bytes were written into the last `target()`. */
  advance(n: number): void {
    if (this.data) {
      this.dataFill += n;
      if (this.dataFill === this.data.byteLength) this.finishData();
      return;
    }
    this.headFill += n;
    this.parseHead();
  }

  /** For sockets without `onread` (TLS): copy a chunk through the same path. */
  feed(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.byteLength) {
      const t = this.target();
      const k = Math.min(t.byteLength, chunk.byteLength - at);
      t.set(chunk.subarray(at, at + k));
      at += k;
      this.advance(k);
    }
  }

  /** Hands a payload buffer back once the ring is done with the frame. */
  release(data: Uint8Array): void {
    if (giveSlot(data)) return;
    const b = data.buffer;
    if (
      b instanceof ArrayBuffer &&
      this.owned.has(b) &&
      b.byteLength === this.poolBytes &&
      this.pool.length < POOL_LIMIT
    ) {
      this.pool.push(b);
    }
  }

  private alloc(bytes: number): Uint8Array {
    if (bytes <= this.poolBytes) {
      // Preferably in the SIMD module's memory: the addition then reads it where it is.
      const slot = bytes > 0 ? takeSlot(bytes) : undefined;
      if (slot) return slot;
      let b = this.pool.pop();
      if (!b) {
        b = new ArrayBuffer(this.poolBytes);
        this.owned.add(b);
      }
      return new Uint8Array(b, 0, bytes);
    }
    return new Uint8Array(new ArrayBuffer(bytes));
  }

  private parseHead(): void {
    let pos = 0;
    for (;;) {
      const avail = this.headFill - pos;
      if (avail < PREFIX) break;
      const magic = this.head.readUInt32LE(pos);
      const H = this.head.readUInt32LE(pos + 4);
      const D = this.head.readUInt32LE(pos + 8);
      if (magic !== MAGIC_FRAME && magic !== MAGIC_REPLY && magic !== MAGIC_HELLO) {
        throw new ProtocolError(
          `data stream out of step: bad record magic 0x${magic.toString(16)}`,
        );
      }
      if (H > MAX_HEADER || D > MAX_DATA) {
        throw new ProtocolError(`data stream out of step: record of ${H}+${D} bytes`);
      }
      if (avail < PREFIX + H) break;
      this.magic = magic;
      // A copy: the head buffer is reused for what follows.
      this.header = Uint8Array.prototype.slice.call(
        this.head,
        pos + PREFIX,
        pos + PREFIX + H,
      ) as Uint8Array;
      pos += PREFIX + H;
      const data = this.pick?.(magic, this.header, D) ?? this.alloc(D);
      const k = Math.min(D, this.headFill - pos);
      data.set(this.head.subarray(pos, pos + k));
      pos += k;
      if (k === D) {
        this.onRecord({ magic, header: this.header, data });
        continue;
      }
      // The rest of the payload goes straight into its buffer.
      this.data = data;
      this.dataFill = k;
      break;
    }
    // Keep the unparsed tail at the front of the head buffer.
    if (pos > 0) {
      this.head.copyWithin(0, pos, this.headFill);
      this.headFill -= pos;
    }
  }

  private finishData(): void {
    const data = this.data!;
    this.data = undefined;
    this.dataFill = 0;
    this.onRecord({ magic: this.magic, header: this.header, data });
  }
}

export function decodeHello(header: Uint8Array): DataHello {
  const m = HelloType.toObject(HelloType.decode(header), { longs: Number, defaults: true });
  return m as DataHello;
}
export function decodeReply(header: Uint8Array): DataHelloReply {
  const m = ReplyType.toObject(ReplyType.decode(header), { longs: Number, defaults: true });
  return m as DataHelloReply;
}
