/**
 * The TCP data plane's pieces: the record reader (every way a byte stream can be cut into
 * reads), its buffer pool, and the hello handshake against a real socket on loopback.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { AuthError, StaleGenerationError } from '../../../trainer/comm/errors.js';
import { decodeFrame, Kind, type Frame, type FrameHeader } from '../../../trainer/comm/frame.js';
import {
  encodeRecord,
  MAGIC_FRAME,
  ProtocolError,
  RecordReader,
  type DataHello,
} from '../../../trainer/comm/tcp-records.js';
import { TcpDataServer, TcpLink } from '../../../trainer/comm/tcp.js';
import { tokenMatcher } from '../../../trainer/comm/proto.js';
import { RingmasterError } from '../../../common/errors.js';

const POOL = 4096;

/** The bytes TcpLink.send puts on the wire for one frame (header record + payload). */
function frameBytes(h: FrameHeader, data: Uint8Array): Buffer {
  // Reuse the link's own encoder through a socket-less path: a TcpLink writing into a fake.
  const chunks: Buffer[] = [];
  const fake = {
    cork: () => undefined,
    uncork: () => undefined,
    setNoDelay: () => undefined,
    on: () => undefined,
    write: (b: Uint8Array, cb?: () => void) => {
      chunks.push(Buffer.from(b));
      cb?.();
      return true;
    },
  } as unknown as net.Socket;
  const link = new TcpLink(
    1000,
    POOL,
    () => new Error('t'),
    () => new Error('t'),
  );
  link.attachOut(fake, () => new Error('gone'));
  link.send(h, data.byteLength, (dst) => dst.set(data));
  return Buffer.concat(chunks);
}

function header(i: number, _bytes: number): FrameHeader {
  return {
    generation: 7,
    op: 3 + i,
    kind: Kind.allReduceSum,
    count: 1e6 + i,
    step: i % 3,
    index: i,
  };
}

function payload(i: number, bytes: number): Uint8Array {
  const d = new Uint8Array(bytes);
  for (let k = 0; k < bytes; k++) d[k] = (i * 31 + k * 7) & 255;
  return d;
}

// Sizes around the reader's internals: empty, tiny, unaligned, one pool buffer, larger than
// the pool and larger than the 4 KiB head buffer.
const SIZES = [0, 4, 12, 1000, POOL, 6000, 20_000];

function stream(): { bytes: Buffer; frames: { h: FrameHeader; data: Uint8Array }[] } {
  const frames = SIZES.map((n, i) => ({ h: header(i, n), data: payload(i, n) }));
  return { bytes: Buffer.concat(frames.map((f) => frameBytes(f.h, f.data))), frames };
}

function check(got: Frame[], want: { h: FrameHeader; data: Uint8Array }[]): void {
  assert.equal(got.length, want.length);
  got.forEach((f, i) => {
    const w = want[i]!;
    for (const k of ['generation', 'op', 'kind', 'count', 'step', 'index'] as const) {
      assert.equal(f[k], w.h[k], `frame ${i} ${k}`);
    }
    assert.deepEqual(Buffer.from(f.data), Buffer.from(w.data), `frame ${i} data`);
    assert.equal(f.data.byteOffset % 4, 0, 'payload aligned for a float32 view');
  });
}

function collector(): { frames: Frame[]; reader: RecordReader } {
  const frames: Frame[] = [];
  const reader = new RecordReader(POOL, (r) => {
    assert.equal(r.magic, MAGIC_FRAME);
    const f = decodeFrame(r.header);
    f.data = r.data;
    frames.push(f);
  });
  return { frames, reader };
}

describe('comm/tcp: the data plane', () => {
  describe('RecordReader', () => {
    it('splits a stream into frames however it is cut into chunks (feed)', () => {
      const { bytes, frames: want } = stream();
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: 9000 }), { maxLength: 40 }), (cuts) => {
          const { frames, reader } = collector();
          let at = 0;
          for (const c of cuts) {
            if (at >= bytes.length) break;
            reader.feed(bytes.subarray(at, Math.min(bytes.length, at + c)));
            at += c;
          }
          if (at < bytes.length) reader.feed(bytes.subarray(at));
          check(frames, want);
        }),
        { numRuns: 60 },
      );
    });

    it('one byte at a time', () => {
      const { bytes, frames: want } = stream();
      const { frames, reader } = collector();
      for (let i = 0; i < bytes.length; i++) reader.feed(bytes.subarray(i, i + 1));
      check(frames, want);
    });

    it('reads written straight into target() (the onread path), with any read size', () => {
      const { bytes, frames: want } = stream();
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1 }), (sizes) => {
          const { frames, reader } = collector();
          let at = 0;
          for (let k = 0; at < bytes.length; k++) {
            const t = reader.target();
            assert.ok(t.byteLength > 0, 'a read always has room');
            const n = Math.min(t.byteLength, sizes[k % sizes.length]!, bytes.length - at);
            t.set(bytes.subarray(at, at + n));
            at += n;
            reader.advance(n);
          }
          check(frames, want);
        }),
        { numRuns: 60 },
      );
    });

    it('puts a payload where pick() says, and reuses only its own buffers', () => {
      const dst = new Uint8Array(new ArrayBuffer(POOL)); // same size as a pool buffer
      const got: Uint8Array[] = [];
      const reader = new RecordReader(
        POOL,
        (r) => got.push(r.data),
        (_m, _h, bytes) => (bytes === 1000 ? dst.subarray(0, 1000) : undefined),
      );
      const { bytes } = stream();
      reader.feed(bytes);
      const landed = got[SIZES.indexOf(1000)]!;
      assert.equal(landed.buffer, dst.buffer, 'the 1000-byte payload landed in place');
      assert.deepEqual(Buffer.from(landed), Buffer.from(payload(SIZES.indexOf(1000), 1000)));
      // Handing back a buffer the reader does not own must not put it in the pool.
      reader.release(dst);
      const second: Uint8Array[] = [];
      const r2 = new RecordReader(POOL, (r) => second.push(r.data));
      r2.release(dst);
      r2.feed(frameBytes(header(0, 8), payload(0, 8)));
      assert.notEqual(second[0]!.buffer, dst.buffer);
      // Its own buffers come back.
      r2.release(second[0]!);
      r2.feed(frameBytes(header(1, 8), payload(1, 8)));
      assert.equal(second[1]!.buffer, second[0]!.buffer);
    });

    it('refuses a stream that is out of step', () => {
      const { reader } = collector();
      assert.throws(() => reader.feed(Buffer.from('GET / HTTP/1.1\r\n\r\n')), ProtocolError);
      const { reader: r2 } = collector();
      assert.throws(() => r2.feed(encodeRecord(MAGIC_FRAME, new Uint8Array(5000))), ProtocolError);
    });
  });

  describe('the hello handshake on a real socket', () => {
    const TOKEN = 'the-job-token-0123';
    let server: TcpDataServer;
    let port = 0;
    let accepted: net.Socket[] = [];
    const warnings: string[] = [];

    beforeEach(async () => {
      accepted = [];
      server = new TcpDataServer(
        undefined,
        (h: DataHello) => {
          if (!tokenMatcher(TOKEN)(h.token))
            return { ok: false, code: 16, message: 'missing or wrong job token' };
          if (h.generation !== 2)
            return {
              ok: false,
              code: 9,
              message: `stale generation: callee at 2, caller at ${h.generation}`,
            };
          if (h.rank !== 1)
            return { ok: false, code: 9, message: `rank ${h.rank} may not connect` };
          return { ok: true, code: 0, message: '' };
        },
        (s) => accepted.push(s),
        (m) => warnings.push(m),
      );
      port = await server.listen('127.0.0.1', 0);
    });
    afterEach(() => server.close());

    const link = (): TcpLink =>
      new TcpLink(
        2000,
        POOL,
        () => new Error('recv timeout'),
        () => new Error('send timeout'),
      );

    it('refuses a wrong token (AuthError), a stale generation and a wrong rank', async () => {
      await assert.rejects(
        link().connectIn(
          `127.0.0.1:${port}`,
          { generation: 2, rank: 1, token: 'nope' },
          undefined,
          0,
          2000,
        ),
        AuthError,
      );
      await assert.rejects(
        link().connectIn(
          `127.0.0.1:${port}`,
          { generation: 1, rank: 1, token: TOKEN },
          undefined,
          0,
          2000,
        ),
        StaleGenerationError,
      );
      await assert.rejects(
        link().connectIn(
          `127.0.0.1:${port}`,
          { generation: 2, rank: 5, token: TOKEN },
          undefined,
          0,
          2000,
        ),
        (e: Error) => e instanceof RingmasterError && /rank 5 may not connect/.test(e.message),
      );
      assert.equal(accepted.length, 0);
      assert.equal(warnings.length, 3);
    });

    it('a socket that is not a ring member is dropped', async () => {
      const s = net.connect(port, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      s.write('hello?\n\n\n\n\n\n\n\n');
      await new Promise((r) => s.once('close', r));
      assert.ok(warnings.some((w) => /dropped a data connection/.test(w)));
    });

    it('after a good hello, frames flow in order, zero-copy views included', async () => {
      const inbound = link();
      await inbound.connectIn(
        `127.0.0.1:${port}`,
        { generation: 2, rank: 1, token: TOKEN },
        undefined,
        0,
        2000,
      );
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(accepted.length, 1);
      const outbound = link();
      outbound.attachOut(accepted[0]!, () => new Error('gone'));
      const big = new Float32Array(300_000).map((_, i) => i * 0.5);
      const view = new Uint8Array(big.buffer);
      outbound.send(header(0, view.byteLength), view.byteLength, () => assert.fail('copied'), view);
      outbound.send(header(1, 3), 3, (d) => d.set([1, 2, 3]));
      outbound.send(header(2, 0), 0, () => undefined);
      await outbound.flush();
      const f0 = await inbound.recv();
      assert.deepEqual(new Float32Array(f0.data.buffer, f0.data.byteOffset, 300_000), big);
      const f1 = await inbound.recv();
      assert.deepEqual([...f1.data], [1, 2, 3]);
      const f2 = await inbound.recv();
      assert.equal(f2.index, 2);
      assert.equal(f2.data.byteLength, 0);
      inbound.destroy();
      outbound.destroy();
    });
  });
});
