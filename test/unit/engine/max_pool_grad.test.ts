import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend } from '../../../trainer/engine/backend.js';
import { Rng } from '../../../trainer/rng.js';

const cases: Array<{
  shape: [number, number, number, number];
  k: number;
  s: number;
  pad: number | 'same' | 'valid';
}> = [
  { shape: [2, 9, 9, 5], k: 3, s: 2, pad: 1 },
  { shape: [1, 8, 10, 3], k: 3, s: 2, pad: 1 },
  { shape: [2, 7, 7, 4], k: 2, s: 2, pad: 'valid' },
  { shape: [1, 6, 6, 40], k: 3, s: 1, pad: 'same' },
];

describe('wasm MaxPoolGrad vs the cpu backend', function () {
  this.timeout(30000);
  before(async () => {
    await initBackend('wasm');
  });

  for (const c of cases) {
    it(`${c.shape.join('x')} k${c.k} s${c.s} pad ${c.pad}`, async () => {
      const rng = new Rng(3, c.k, c.s);
      const n = c.shape.reduce((a, b) => a * b, 1);
      // Quantized values: ties inside windows exercise the first-maximum rule.
      const xs = Float32Array.from({ length: n }, () => Math.round(rng.normal() * 3));
      const grad = async (backend: string): Promise<Float32Array> => {
        await tf.setBackend(backend);
        return tf.tidy(() => {
          const x = tf.tensor4d(xs, c.shape);
          const pool = (t: tf.Tensor): tf.Tensor4D => tf.maxPool(t as tf.Tensor4D, c.k, c.s, c.pad);
          const outShape = pool(x).shape;
          // Distinct upstream gradients per output, so a wrong routing cannot cancel out.
          const dy = tf.reshape(tf.range(1, 1 + outShape.reduce((a, b) => a * b, 1)), outShape);
          const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(pool(t), dy)))(x);
          return g.dataSync() as Float32Array;
        });
      };
      const ref = await grad('cpu');
      const mine = await grad('wasm');
      assert.deepEqual(Array.from(mine), Array.from(ref));
    });
  }
});
