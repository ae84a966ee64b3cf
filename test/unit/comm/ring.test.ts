import assert from 'node:assert/strict';
import { Flat } from '../../../trainer/comm/flat.js';
import {
  decodeFrame,
  encodeFrame,
  Kind,
  type Frame,
  type FrameHeader,
} from '../../../trainer/comm/frame.js';
import { Inbox } from '../../../trainer/comm/inbox.js';
import {
  CollectiveMismatchError,
  ringAllGather,
  ringAllReduce,
  ringBroadcast,
  type Link,
  type RingContext,
} from '../../../trainer/comm/ring.js';
import { exactSum, firstMismatch, intInput, randomInput, ringOrderSum } from './reference.js';

/**
 * An in-process ring: frames really go through the codec, and every other frame lands at an
 * odd offset so both the aligned (view) and unaligned (copy) receive paths run.
 */
function memRing(N: number): Link[] {
  const boxes = Array.from({ length: N }, () => new Inbox(2000, () => new Error('timeout')));
  let n = 0;
  return boxes.map((_, r) => ({
    predecessorName: `rank ${(r + N - 1) % N}`,
    send(h: FrameHeader, bytes: number, fill: (d: Uint8Array) => void) {
      const shift = n++ % 2;
      const buf = encodeFrame(h, bytes, fill, 0, 0);
      const landed = new Uint8Array(buf.length + shift);
      landed.set(buf, shift);
      setImmediate(() => boxes[(r + 1) % N]!.push(decodeFrame(landed.subarray(shift))));
    },
    recv: (): Promise<Frame> => boxes[r]!.recv(),
  }));
}

const ctxOf = (rank: number, worldSize: number, chunkBytes: number): RingContext => ({
  rank,
  worldSize,
  generation: 3,
  chunkBytes,
});

async function allReduceAll(
  N: number,
  inputs: Float32Array[][],
  chunkBytes: number,
  mean: boolean,
  bucketElems = Infinity,
): Promise<void> {
  const links = memRing(N);
  await Promise.all(
    links.map(async (link, r) => {
      const flat = new Flat(inputs[r]!);
      for (let base = 0, op = 1; base < flat.length || op === 1; base += bucketElems, op++) {
        const len = Math.min(bucketElems, flat.length - base);
        await ringAllReduce(link, ctxOf(r, N, chunkBytes), op, flat, base, len, flat.length, mean);
        if (flat.length === 0) break;
      }
    }),
  );
}

describe('comm/ring algorithms (in-process links)', () => {
  for (const N of [1, 2, 3, 4, 5]) {
    for (const n of [0, 1, 2, 3, 7, 64, 1001]) {
      it(`all-reduce sum, N=${N}, ${n} elements: exact, and in the documented fixed order`, async () => {
        const ints = Array.from({ length: N }, (_, r) => [intInput(r, n)]);
        const want = exactSum(ints.map((x) => x[0]!));
        await allReduceAll(N, ints, 12, false);
        for (let r = 0; r < N; r++) assert.equal(firstMismatch(ints[r]![0]!, want), undefined);
        const floats = Array.from({ length: N }, (_, r) => [randomInput(r, n, 11)]);
        const ordered = ringOrderSum(
          floats.map((x) => x[0]!),
          n,
        );
        await allReduceAll(N, floats, 8, false);
        for (let r = 0; r < N; r++) assert.equal(firstMismatch(floats[r]![0]!, ordered), undefined);
      });
    }
  }

  it('mean divides the exact sum once, on every rank alike', async () => {
    const N = 3;
    const inputs = Array.from({ length: N }, (_, r) => [intInput(r, 100)]);
    const want = exactSum(inputs.map((x) => x[0]!)).map((v) => v / N);
    await allReduceAll(N, inputs, 16, true);
    for (let r = 0; r < N; r++) assert.equal(firstMismatch(inputs[r]![0]!, want), undefined);
  });

  it('fuses many tensors and splits them into bucket passes', async () => {
    const N = 4;
    const shapes = [1, 0, 17, 3, 250, 2];
    const inputs = Array.from({ length: N }, (_, r) =>
      shapes.map((n, k) => intInput(r * 10 + k, n)),
    );
    const want = shapes.map((_, k) => exactSum(inputs.map((x) => x[k]!)));
    await allReduceAll(N, inputs, 20, false, 37);
    for (let r = 0; r < N; r++) {
      shapes.forEach((_, k) => assert.equal(firstMismatch(inputs[r]![k]!, want[k]!), undefined));
    }
  });

  it('gives bit-identical results when repeated', async () => {
    const run = async (): Promise<Float32Array> => {
      const x = Array.from({ length: 3 }, (_, r) => [randomInput(r, 500, 5)]);
      await allReduceAll(3, x, 24, false);
      return x[0]![0]!;
    };
    assert.equal(firstMismatch(await run(), await run()), undefined);
  });

  for (const N of [2, 3, 5]) {
    it(`broadcast from every root, N=${N}`, async () => {
      for (let root = 0; root < N; root++) {
        const links = memRing(N);
        const arrays = Array.from({ length: N }, (_, r) =>
          r === root
            ? [intInput(7, 5), intInput(8, 33)]
            : [new Float32Array(5), new Float32Array(33)],
        );
        await Promise.all(
          links.map((l, r) => ringBroadcast(l, ctxOf(r, N, 16), 1, new Flat(arrays[r]!), root)),
        );
        for (let r = 0; r < N; r++) {
          assert.equal(firstMismatch(arrays[r]![0]!, intInput(7, 5)), undefined);
          assert.equal(firstMismatch(arrays[r]![1]!, intInput(8, 33)), undefined);
        }
      }
    });

    it(`all-gather of pieces of different sizes (incl. empty), N=${N}`, async () => {
      const links = memRing(N);
      const piece = (r: number): Uint8Array =>
        Uint8Array.from({ length: r * 9 }, (_, i) => (r + i) % 251);
      const out = await Promise.all(
        links.map((l, r) => ringAllGather(l, ctxOf(r, N, 8), 1, piece(r), Kind.allGatherU8)),
      );
      for (let r = 0; r < N; r++) {
        for (let s = 0; s < N; s++) assert.deepEqual([...out[r]![s]!], [...piece(s)]);
      }
    });
  }

  it('detects ranks that call different collectives or sizes', async () => {
    const links = memRing(2);
    const results = await Promise.allSettled([
      ringAllReduce(
        links[0]!,
        ctxOf(0, 2, 16),
        1,
        new Flat([new Float32Array(10)]),
        0,
        10,
        10,
        false,
      ),
      ringAllReduce(
        links[1]!,
        ctxOf(1, 2, 16),
        1,
        new Flat([new Float32Array(11)]),
        0,
        11,
        11,
        false,
      ),
    ]);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok(r.reason instanceof CollectiveMismatchError, String(r.reason));
      assert.match(r.reason.message, /collective mismatch with rank \d: expected .* count 1[01]/);
    }
  });
});
