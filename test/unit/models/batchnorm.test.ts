import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { parityBackends, runSuiteOn } from '../../support/backends.js';
import { batchNormTrain, BN_EPS } from '../../../trainer/models/batchnorm.js';
import { Rng } from '../../../trainer/rng.js';

/** BN written as plain tf ops, differentiated by tfjs's autograd. */
function reference(x: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D): tf.Tensor4D {
  const mean = tf.mean(x, [0, 1, 2]);
  const v = tf.mean(tf.square(tf.sub(x, mean)), [0, 1, 2]);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(v, BN_EPS))), g), b) as tf.Tensor4D;
}

function relErr(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

for (const backend of parityBackends) {
  describe(`batchNormTrain (custom gradient) vs autograd on ${backend}`, function () {
    this.timeout(30000);
    runSuiteOn(backend);

    it('forward, dx, dγ, dβ and the batch statistics', () => {
      const rng = new Rng(21);
      const shape: [number, number, number, number] = [3, 5, 4, 6];
      const n = shape.reduce((a, c) => a * c, 1);
      const x = tf.tensor4d(
        Float32Array.from({ length: n }, () => rng.normal() * 2 + 1),
        shape,
      );
      const g = tf.tensor1d(Float32Array.from({ length: 6 }, () => rng.uniform(0.5, 1.5)));
      const b = tf.tensor1d(Float32Array.from({ length: 6 }, () => rng.normal()));
      const w = tf.tensor4d(
        Float32Array.from({ length: n }, () => rng.normal()),
        shape,
      );
      const kept: tf.Tensor[] = [];
      const mine = tf.grads((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => {
        const r = batchNormTrain(xi as tf.Tensor4D, gi as tf.Tensor1D, bi as tf.Tensor1D);
        kept.push(r.mean, r.variance);
        return tf.sum(tf.mul(r.y, w));
      })([x, g, b]);
      const ref = tf.grads((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) =>
        tf.sum(tf.mul(reference(xi as tf.Tensor4D, gi as tf.Tensor1D, bi as tf.Tensor1D), w)),
      )([x, g, b]);
      for (let i = 0; i < 3; i++) {
        const e = relErr(mine[i]!.dataSync() as Float32Array, ref[i]!.dataSync() as Float32Array);
        assert.ok(e < 1e-4, `gradient ${['dx', 'dγ', 'dβ'][i]} rel err ${e}`);
      }
      const fwd = batchNormTrain(x, g, b);
      const e = relErr(
        fwd.y.dataSync() as Float32Array,
        reference(x, g, b).dataSync() as Float32Array,
      );
      assert.ok(e < 1e-5, `forward rel err ${e}`);
      const m = tf.mean(x, [0, 1, 2]);
      assert.ok(relErr(fwd.mean.dataSync() as Float32Array, m.dataSync() as Float32Array) < 1e-6);
      tf.dispose([x, g, b, w, ...mine, ...ref, ...kept, fwd.y, fwd.mean, fwd.variance, m]);
    });
  });
}
