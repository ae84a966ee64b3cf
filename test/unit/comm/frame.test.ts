import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { decodeFrame, encodeFrame, float32View, Kind } from '../../../trainer/comm/frame.js';
import { PROTO_PATH } from '../../../trainer/comm/proto.js';

const FrameType = protobuf.loadSync(PROTO_PATH).lookupType('ringmaster.comm.v1.Frame');

const header = {
  generation: 2 ** 40 + 3,
  op: 300,
  kind: Kind.allReduceMean,
  count: 26_214_401,
  step: 5,
  index: 129,
};

describe('comm/frame codec', () => {
  it('writes what protobufjs reads, for every alignment', () => {
    const data = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const alignBase of [0, 1, 2, 3, 4, 5]) {
      const buf = encodeFrame(header, data.length, (d) => d.set(data), 0, alignBase);
      const m = FrameType.toObject(FrameType.decode(buf), { longs: Number, enums: Number });
      assert.equal(m.generation, header.generation);
      assert.equal(m.op, header.op);
      assert.equal(m.kind, header.kind);
      assert.equal(m.count, header.count);
      assert.equal(m.step, header.step);
      assert.equal(m.index, header.index);
      assert.deepEqual([...(m.data as Uint8Array)], [...data]);
      // The payload lands 4-byte aligned once the transport puts alignBase bytes in front.
      const offset = buf.length - data.length;
      assert.equal((alignBase + offset) % 4, 0, `alignBase ${alignBase}`);
    }
  });

  it('reads what protobufjs writes (defaults omitted, unknown fields skipped)', () => {
    const bytes = FrameType.encode(
      FrameType.fromObject({ op: 1, kind: 3, data: new Uint8Array([9, 9, 9, 9]) }),
    ).finish();
    const withUnknown = new Uint8Array([...bytes, (10 << 3) | 0, 150, 1, (11 << 3) | 2, 2, 7, 7]);
    const f = decodeFrame(withUnknown);
    assert.equal(f.generation, 0);
    assert.equal(f.op, 1);
    assert.equal(f.kind, Kind.broadcast);
    assert.equal(f.step, 0);
    assert.deepEqual([...f.data], [9, 9, 9, 9]);
  });

  it('round-trips an empty payload and a reserved prefix', () => {
    const buf = encodeFrame({ ...header, generation: 0, index: 0 }, 0, () => assert.fail(), 4, 0);
    const f = decodeFrame(buf.subarray(4));
    assert.equal(f.data.byteLength, 0);
    assert.equal(f.op, header.op);
  });

  it('refuses truncated frames', () => {
    const buf = encodeFrame(header, 16, (d) => d.fill(1));
    assert.throws(() => decodeFrame(buf.subarray(0, buf.length - 3)), /truncated/);
  });

  it('views aligned float32 payloads without a copy and copies unaligned ones', () => {
    const backing = new Uint8Array(64);
    const floats = new Float32Array([1.5, -2, 3.25]);
    backing.set(new Uint8Array(floats.buffer), 8);
    const aligned = float32View(backing.subarray(8, 20));
    assert.equal(aligned.buffer, backing.buffer);
    assert.deepEqual([...aligned], [...floats]);
    backing.set(new Uint8Array(floats.buffer), 13);
    const scratch = { buf: new Float32Array(0) };
    const copied = float32View(backing.subarray(13, 25), scratch);
    assert.notEqual(copied.buffer, backing.buffer);
    assert.deepEqual([...copied], [...floats]);
    assert.throws(() => float32View(backing.subarray(0, 6)), /multiple of 4/);
  });
});
