import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Flat } from '../../../trainer/comm/flat.js';

function concat(arrays: Float32Array[]): Float32Array {
  const out = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

describe('comm/Flat (tensors seen as one vector)', () => {
  it('gathers, adds, copies and divides across array boundaries like one concatenated array', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        fc.nat(),
        (lengths, s0, l0) => {
          // Views into one buffer at odd offsets, as a trainer's gradient list might be.
          const backing = new Float32Array(lengths.reduce((n, l) => n + l + 1, 0));
          let at = 0;
          const arrays = lengths.map((l) => {
            const a = backing.subarray(at + 1, at + 1 + l);
            at += l + 1;
            for (let i = 0; i < l; i++) a[i] = at * 10 + i;
            return a;
          });
          const ref = concat(arrays);
          const flat = new Flat(arrays);
          assert.equal(flat.length, ref.length);
          const start = ref.length === 0 ? 0 : s0 % ref.length;
          const len = ref.length === 0 ? 0 : l0 % (ref.length - start + 1);
          const bytes = new Uint8Array(len * 4);
          flat.gatherBytes(start, len, bytes);
          assert.deepEqual(
            [...new Float32Array(bytes.buffer)],
            [...ref.subarray(start, start + len)],
          );
          const src = Float32Array.from({ length: len }, (_, i) => i + 0.5);
          flat.add(start, src);
          for (let i = 0; i < len; i++) ref[start + i]! += src[i]!;
          flat.divide(start, len, 4);
          for (let i = 0; i < len; i++) ref[start + i]! /= 4;
          assert.deepEqual([...concat(arrays)], [...ref]);
          flat.copy(start, src);
          ref.set(src, start);
          assert.deepEqual([...concat(arrays)], [...ref]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
