/**
 * Data parallelism is what the recipe assumes: 2 workers with batch b make the same update as
 * 1 worker with batch 2b. BatchNorm's batch statistics would differ between a batch of b and
 * one of 2b, so both ranks get the same b images: their union then has the statistics of
 * either half, and any difference left is the all-reduce's.
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { connectGroup, type Group } from '../../../trainer/comm/index.js';
import { oneHotArray } from '../../../trainer/data/mixup.js';
import { getArch } from '../../../trainer/models/arch.js';
import { createResNet, type ResNetModel } from '../../../trainer/models/resnet.js';
import { paramGroups, SGD } from '../../../trainer/optim/sgd.js';
import { Rng } from '../../../trainer/rng.js';
import { distributedStep } from '../../../trainer/step.js';
import { trainingBackends, runSuiteOn } from '../../support/backends.js';
import { freePort } from '../../../harness/control-plane.js';

function setup(): { model: ResNetModel; sgd: SGD } {
  const model = createResNet(getArch('resnet_mini'), { numClasses: 10, seed: 7 });
  const sgd = new SGD(
    paramGroups(model.params.keys(), (n) => model.isNormParam(n), {
      weightDecay: 1e-4,
      normWeightDecay: 0,
    }),
    { momentum: 0.9 },
  );
  return { model, sgd };
}

for (const backend of trainingBackends) {
  describe(`data-parallel step on ${backend}`, function () {
    this.timeout(120_000);
    runSuiteOn(backend);

    it('2 workers × batch b make the same update as 1 worker × batch 2b', async () => {
      const b = 6;
      const side = 12;
      const rng = new Rng(3);
      const images = Float32Array.from({ length: b * side * side * 3 }, () => rng.normal());
      const labels = Int32Array.from({ length: b }, (_, i) => (i * 3) % 10);
      const targets = oneHotArray(labels, 10);

      const single = setup();
      const doubled = (x: Float32Array) => {
        const out = new Float32Array(x.length * 2);
        out.set(x);
        out.set(x, x.length);
        return out;
      };
      for (let step = 0; step < 2; step++) {
        await distributedStep({
          ...single,
          group: null,
          images: doubled(images),
          targets: doubled(targets),
          batch: 2 * b,
          height: side,
          width: side,
          labelSmoothing: 0.1,
          lr: 0.2,
        });
      }

      const port = await freePort();
      const token = 'x'.repeat(32);
      const groups: Group[] = await Promise.all(
        [0, 1].map((rank) =>
          connectGroup({
            rank,
            worldSize: 2,
            coordinator: `127.0.0.1:${port}`,
            listen: rank === 0 ? `127.0.0.1:${port}` : '127.0.0.1:0',
            token,
            generation: 0,
          }),
        ),
      );
      try {
        const ranks = [setup(), setup()];
        for (let step = 0; step < 2; step++) {
          const shared = [new Float32Array([0]), new Float32Array([1])];
          const results = await Promise.all(
            ranks.map((r, i) =>
              distributedStep({
                ...r,
                group: groups[i]!,
                images,
                targets,
                batch: b,
                height: side,
                width: side,
                labelSmoothing: 0.1,
                lr: 0.2,
                shared: shared[i]!,
              }),
            ),
          );
          // Shared scalars are averaged too: that is how a stop request reaches every rank.
          assert.deepEqual([shared[0]![0], shared[1]![0]], [0.5, 0.5]);
          assert.equal(results[0]!.loss, results[1]!.loss);
        }
        for (const [name, p] of single.model.params) {
          const want = p.dataSync();
          const r0 = ranks[0]!.model.params.get(name)!.dataSync();
          const r1 = ranks[1]!.model.params.get(name)!.dataSync();
          assert.deepEqual(r0, r1, `${name}: ranks differ`);
          let maxDiff = 0;
          let maxAbs = 0;
          for (let i = 0; i < want.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(want[i]! - r0[i]!));
            maxAbs = Math.max(maxAbs, Math.abs(want[i]!));
          }
          assert.ok(maxDiff <= 1e-5 * Math.max(1, maxAbs), `${name}: max diff ${maxDiff}`);
        }
        for (const r of [...ranks, single]) {
          r.model.dispose();
          r.sgd.dispose();
        }
        assert.ok(tf.memory().numTensors < 1000);
      } finally {
        await Promise.all(groups.map((g) => g.close()));
      }
    });

    it('the overlapped all-reduce makes the same update as the fused one, bit for bit', async () => {
      const b = 4;
      const side = 12;
      const rng = new Rng(5);
      const images = [0, 1].map(() =>
        Float32Array.from({ length: b * side * side * 3 }, () => rng.normal()),
      );
      const targets = oneHotArray(
        Int32Array.from({ length: b }, (_, i) => i % 10),
        10,
      );
      const port = await freePort();
      const groups: Group[] = await Promise.all(
        [0, 1].map((rank) =>
          connectGroup({
            rank,
            worldSize: 2,
            coordinator: `127.0.0.1:${port}`,
            listen: rank === 0 ? `127.0.0.1:${port}` : '127.0.0.1:0',
            token: 'y'.repeat(32),
            generation: 0,
          }),
        ),
      );
      try {
        const run = async (overlap: boolean) => {
          const ranks = [setup(), setup()];
          for (let step = 0; step < 2; step++) {
            await Promise.all(
              ranks.map((r, i) =>
                distributedStep({
                  ...r,
                  group: groups[i]!,
                  images: images[i]!,
                  targets,
                  batch: b,
                  height: side,
                  width: side,
                  labelSmoothing: 0.1,
                  lr: 0.2,
                  overlap,
                  // Small buckets: several all-reduces in flight during the backward pass.
                  bucketBytes: 16 * 1024,
                }),
              ),
            );
          }
          const weights = [...ranks[0]!.model.params.values()].map((p) => p.dataSync());
          for (const r of ranks) {
            r.model.dispose();
            r.sgd.dispose();
          }
          return weights;
        };
        const fused = await run(false);
        const overlapped = await run(true);
        fused.forEach((w, i) => assert.deepEqual(overlapped[i], w, `parameter ${i} differs`));
      } finally {
        await Promise.all(groups.map((g) => g.close()));
      }
    });
  });
}
