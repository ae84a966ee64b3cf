import { strict as assert } from 'node:assert';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../trainer/engine/backend.js';
import { InputError } from '../../../trainer/errors.js';

function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

describe('initBackend', function () {
  this.timeout(30000);

  it('falls back from the native backends to wasm when they are not installed', async function () {
    if (installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu')) {
      this.skip(); // on a machine with libtensorflow the native backend wins, as it should
    }
    const choice = await initBackend();
    assert.equal(choice.name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.deepEqual(
      choice.fellBackFrom.map((s) => s.split(':')[0]),
      ['tensorflow-gpu', 'tensorflow'],
    );
    assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'), 'training kernels registered');
  });

  it('completes tfjs-core: gradients and chained ops are registered', async () => {
    await initBackend('cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.ok(tf.getGradient('Conv2D'));
    assert.ok(tf.getGradient('Mean'));
    const y = tf.tidy(
      () => (tf.scalar(3) as tf.Scalar & { mul(x: number): tf.Tensor }).mul(2).dataSync()[0],
    );
    assert.equal(y, 6);
    const g = tf.grad((x: tf.Tensor) => tf.mean(tf.square(x)))(tf.tensor1d([1, 2]));
    assert.deepEqual(Array.from(g.dataSync()), [1, 2]);
  });

  it('rejects an unknown or unavailable forced backend with an InputError', async () => {
    await assert.rejects(
      initBackend('tpu'),
      (err: InputError) => err instanceof InputError && /unknown backend/.test(err.message),
    );
    if (!installed('@tensorflow/tfjs-node')) {
      await assert.rejects(
        initBackend('tensorflow'),
        (err: InputError) => err instanceof InputError && /tensorflow/.test(err.message),
      );
    }
    await initBackend('wasm');
  });
});
