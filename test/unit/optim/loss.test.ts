import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';

import { oneHot, smoothedCrossEntropy } from '../../../trainer/optim/loss.js';
import { assertClose, loadFixture, testBackends, useBackend, useCpu } from './fixture.js';

interface LossCase {
  name: string;
  labelSmoothing: number;
  batch: number;
  classes: number;
  logits: number[];
  targets: number[];
  targetKind: 'index' | 'soft';
  loss: number;
  grad: number[];
}
const fixture = loadFixture<{ cases: LossCase[] }>('loss.json');

describe('optim/loss', () => {
  before(useCpu);

  for (const backend of testBackends)
    describe(`on ${backend}`, () => {
      let previous = 'cpu';
      before(async () => {
        previous = await useBackend(backend);
      });
      after(async () => {
        await useBackend(previous);
      });
      for (const c of fixture.cases) {
        it(`matches torch CrossEntropyLoss(label_smoothing=${c.labelSmoothing}) and its gradient (${c.name})`, () => {
          const logits = tf.tensor2d(c.logits, [c.batch, c.classes]);
          const targets =
            c.targetKind === 'index'
              ? tf.tensor1d(c.targets, 'int32')
              : tf.tensor2d(c.targets, [c.batch, c.classes]);
          const { value, grad } = tf.valueAndGrad((x: tf.Tensor) =>
            smoothedCrossEntropy(x as tf.Tensor2D, targets, c.labelSmoothing),
          )(logits);
          assertClose([value.dataSync()[0]!], [c.loss], `${c.name} loss`);
          assertClose(grad.dataSync(), c.grad, `${c.name} grad`);
          tf.dispose([logits, targets, value, grad]);
        });
      }
    });

  it('inside tf.variableGrads moves the logits toward the target', () => {
    const c = fixture.cases[0]!;
    const x = tf.variable(tf.tensor2d(c.logits, [c.batch, c.classes]));
    const t = tf.tensor2d(c.targets, [c.batch, c.classes]);
    const loss = () => smoothedCrossEntropy(x, t, 0.1);
    const before = tf.tidy(() => loss().dataSync()[0]!);
    const { value, grads } = tf.variableGrads(loss, [x]);
    x.assign(tf.sub(x, tf.mul(grads[x.name]!, 0.5)));
    assert.ok(tf.tidy(() => loss().dataSync()[0]!) < before);
    tf.dispose([value, grads[x.name]!, x, t]);
  });

  it('builds one-hot rows from labels and leaks nothing', () => {
    const n = tf.memory().numTensors;
    const h = oneHot(new Int32Array([2, 0]), 3);
    assert.deepEqual(Array.from(h.dataSync()), [0, 0, 1, 1, 0, 0]);
    assert.equal(h.dtype, 'float32');
    h.dispose();
    const x = tf.tensor2d([[1, 2, 3]]);
    const l = smoothedCrossEntropy(x, tf.tensor1d([1], 'int32'), 0.1);
    tf.dispose([x, l]);
    // The label tensor above is the caller's; count it.
    assert.equal(tf.memory().numTensors, n + 1);
  });

  it('rejects targets of the wrong shape', () => {
    const x = tf.zeros([2, 3]) as tf.Tensor2D;
    const t = tf.zeros([2, 4]) as tf.Tensor2D;
    assert.throws(() => smoothedCrossEntropy(x, t, 0.1), /do not match/);
    tf.dispose([x, t]);
  });
});
