import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend } from '../../../trainer/engine/backend.js';
import { Rng } from '../../../trainer/rng.js';

type Pad = 'valid' | 'same' | number;
interface Case {
  n: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  k: number;
  s: number;
  pad: Pad;
}

function explicitPad(
  pad: Pad,
): 'valid' | 'same' | [[number, number], [number, number], [number, number], [number, number]] {
  return typeof pad === 'number'
    ? [
        [0, 0],
        [pad, pad],
        [pad, pad],
        [0, 0],
      ]
    : pad;
}

function randomArray(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

/** dX and dW of sum(conv2d(x, w) · dy), computed on the current backend. */
function grads(
  c: Case,
  xs: Float32Array,
  ws: Float32Array,
  dys: Float32Array,
): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const x = tf.tensor4d(xs, [c.n, c.h, c.w, c.ci]);
    const w = tf.tensor4d(ws, [c.k, c.k, c.ci, c.co]);
    const out = tf.conv2d(x, w, c.s, explicitPad(c.pad));
    const dy = tf.tensor(dys, out.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, explicitPad(c.pad)), dy)),
    )([x, w]);
    return [dx!.dataSync() as Float32Array, dw!.dataSync() as Float32Array];
  });
}

function outSize(c: Case): [number, number] {
  const f = (len: number): number => {
    if (c.pad === 'same') return Math.ceil(len / c.s);
    const p = c.pad === 'valid' ? 0 : c.pad;
    return Math.floor((len + 2 * p - c.k) / c.s) + 1;
  };
  return [f(c.h), f(c.w)];
}

function relErr(a: Float32Array, b: Float32Array): number {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < b.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
  }
  return maxDiff / maxRef;
}

const cases: Case[] = [
  { n: 2, h: 8, w: 8, ci: 3, co: 4, k: 1, s: 1, pad: 0 },
  { n: 2, h: 8, w: 8, ci: 5, co: 6, k: 1, s: 2, pad: 0 },
  { n: 2, h: 7, w: 9, ci: 4, co: 3, k: 1, s: 2, pad: 0 },
  { n: 1, h: 9, w: 9, ci: 4, co: 5, k: 3, s: 1, pad: 1 },
  { n: 2, h: 8, w: 8, ci: 3, co: 4, k: 3, s: 2, pad: 1 },
  { n: 2, h: 7, w: 11, ci: 3, co: 2, k: 3, s: 2, pad: 1 },
  { n: 1, h: 10, w: 10, ci: 2, co: 3, k: 3, s: 1, pad: 0 },
  { n: 1, h: 6, w: 6, ci: 2, co: 3, k: 3, s: 1, pad: 2 },
  { n: 2, h: 16, w: 16, ci: 3, co: 4, k: 7, s: 2, pad: 3 },
  { n: 1, h: 13, w: 13, ci: 3, co: 2, k: 7, s: 2, pad: 3 },
  { n: 1, h: 12, w: 12, ci: 2, co: 2, k: 7, s: 1, pad: 3 },
  { n: 2, h: 9, w: 9, ci: 3, co: 4, k: 3, s: 2, pad: 'same' },
  { n: 2, h: 9, w: 10, ci: 3, co: 4, k: 3, s: 2, pad: 'valid' },
  { n: 1, h: 5, w: 5, ci: 8, co: 8, k: 3, s: 1, pad: 'same' },
];

describe('wasm conv backprop kernels vs the cpu backend', function () {
  this.timeout(30000);
  before(async () => {
    await initBackend('wasm');
  });
  after(async () => {
    await tf.setBackend('wasm');
  });

  for (const c of cases) {
    it(`n${c.n} ${c.h}x${c.w} ${c.ci}->${c.co} k${c.k} s${c.s} pad ${c.pad}`, async () => {
      const rng = new Rng(7, c.h, c.k, c.s);
      const [oh, ow] = outSize(c);
      const xs = randomArray(c.n * c.h * c.w * c.ci, rng);
      const ws = randomArray(c.k * c.k * c.ci * c.co, rng);
      const dys = randomArray(c.n * oh * ow * c.co, rng);
      await tf.setBackend('cpu');
      const [dxRef, dwRef] = grads(c, xs, ws, dys);
      await tf.setBackend('wasm');
      const before = tf.memory().numTensors;
      const [dx, dw] = grads(c, xs, ws, dys);
      assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
      assert.equal(dx.length, dxRef.length);
      assert.equal(dw.length, dwRef.length);
      assert.ok(relErr(dw, dwRef) <= 1e-5, `dW rel err ${relErr(dw, dwRef)}`);
      assert.ok(relErr(dx, dxRef) <= 1e-5, `dX rel err ${relErr(dx, dxRef)}`);
    });
  }

  it('registers Conv2DBackpropFilter on wasm', () => {
    assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'));
  });
});
