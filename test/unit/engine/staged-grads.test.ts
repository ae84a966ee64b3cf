/**
 * The staged backward pass must be tf.variableGrads to the bit: same tape, same kernels, same
 * accumulation order; it only hands gradients out earlier (for the overlapped all-reduce).
 */
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { stagedVariableGrads } from '../../../trainer/engine/staged-grads.js';
import { getArch } from '../../../trainer/models/arch.js';
import { createResNet } from '../../../trainer/models/resnet.js';
import { trainStepGrads } from '../../../trainer/models/train-step.js';
import { smoothedCrossEntropy } from '../../../trainer/optim/loss.js';
import { Rng } from '../../../trainer/rng.js';
import { runSuiteOn, trainingBackends } from '../../support/backends.js';

for (const backend of trainingBackends) {
  describe(`staged gradients on ${backend}`, function () {
    this.timeout(120_000);
    runSuiteOn(backend);

    it('equal tf.variableGrads bit for bit, handed out last layers first, memory flat', async () => {
      const model = createResNet(getArch('resnet_mini'), { numClasses: 5, seed: 3 });
      const rng = new Rng(9);
      const n = 4;
      const side = 16;
      const images = Float32Array.from({ length: n * side * side * 3 }, () => rng.normal());
      const x = tf.tensor4d(images, [n, side, side, 3]);
      const t = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 5), 'float32'));
      const names = [...model.params.keys()];
      const vars = [...model.params.values()];
      const loss = (logits: tf.Tensor2D) => smoothedCrossEntropy(logits, t as tf.Tensor2D, 0.1);
      try {
        const want = trainStepGrads(model, x, loss);
        const before = tf.memory().numTensors;
        for (let round = 0; round < 2; round++) {
          const order: number[] = [];
          const got = new Map<number, Float32Array>();
          let stats: ReturnType<typeof model.forward>['bnStats'];
          const value = await stagedVariableGrads(
            () => {
              const out = model.forward(x, true);
              stats = out.bnStats;
              return loss(out.logits);
            },
            vars,
            {
              onGradient: (i, g) => {
                order.push(i);
                got.set(i, g.dataSync() as Float32Array);
                g.dispose();
              },
            },
          );
          for (const s of stats ?? []) tf.dispose([s.mean, s.variance]);
          assert.equal(value.dataSync()[0], want.loss);
          value.dispose();
          assert.equal(got.size, names.length);
          names.forEach((name, i) =>
            assert.deepEqual(got.get(i), want.grads.get(name)!.dataSync(), `${name} differs`),
          );
          // The classifier's gradients are final first, the stem's last.
          assert.equal(names[order[0]!]!.startsWith('fc.'), true, names[order[0]!]);
          assert.equal(names[order.at(-1)!], 'conv1.weight');
          assert.equal(tf.memory().numTensors, before, `round ${round}: tensors leaked`);
        }
        tf.dispose([...want.grads.values()]);
      } finally {
        tf.dispose([x, t]);
        model.dispose();
      }
    });
  });
}
