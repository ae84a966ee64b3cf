import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';

import { mixupCutmix, oneHotArray } from '../../../trainer/data/mixup.js';
import {
  accuracyFromCounts,
  addCounts,
  targetLabels,
  topk,
  topkCountsFromArray,
} from '../../../trainer/optim/metrics.js';
import { Rng } from '../../../trainer/rng.js';
import { loadFixture, useCpu } from './fixture.js';

interface AccCase {
  batch: number;
  classes: number;
  logits: number[];
  labels: number[];
  acc1: number;
  acc5: number;
}
const fixture = loadFixture<{ accuracy: AccCase[] }>('metrics.json');

describe('optim/metrics', () => {
  before(useCpu);

  for (const c of fixture.accuracy) {
    it(`matches torchvision's accuracy(topk=(1, 5)) for ${c.batch}×${c.classes}`, () => {
      const logits = tf.tensor2d(c.logits, [c.batch, c.classes]);
      const counts = topk(logits, new Int32Array(c.labels));
      logits.dispose();
      assert.equal(counts.count, c.batch);
      const acc = accuracyFromCounts(counts);
      // torchvision computes the percentage in float32.
      assert.ok(Math.abs(acc.acc1 - c.acc1) < 1e-4, `acc1 ${acc.acc1} vs ${c.acc1}`);
      assert.ok(Math.abs(acc.acc5 - c.acc5) < 1e-4, `acc5 ${acc.acc5} vs ${c.acc5}`);
      assert.ok(counts.correct1 > 0 && counts.correct1 < c.batch, 'fixture is not degenerate');
    });
  }

  it('sums counts so accuracy is sample-weighted across ranks', () => {
    const a = { correct1: 1, correct5: 2, count: 2 };
    const b = { correct1: 9, correct5: 10, count: 10 };
    assert.deepEqual(accuracyFromCounts(addCounts(a, b)), { acc1: (100 * 10) / 12, acc5: 100 });
  });

  it('breaks ties towards the lower class index and counts all as top-5 with ≤ 5 classes', () => {
    const logits = new Float32Array([1, 1, 0, /**/ 1, 1, 0, /**/ 0, 0, NaN]);
    const c = topkCountsFromArray(logits, 3, [0, 1, 2]);
    assert.deepEqual(c, { correct1: 1, correct5: 3, count: 3 });
  });

  it('ranks a label against more than 5 classes', () => {
    const row = [6, 5, 4, 3, 2, 1, 0];
    const logits = new Float32Array([...row, ...row]);
    assert.deepEqual(topkCountsFromArray(logits, 7, [4, 5]), {
      correct1: 0,
      correct5: 1,
      count: 2,
    });
  });

  it('soft targets count against their argmax, the first one on a tie (torch max(dim=1))', () => {
    const rows = [
      [0.7, 0.3, 0], // mixup λ = 0.7: the sample's own label
      [0.2, 0, 0.8], // λ = 0.2: the partner's label wins
      [0.5, 0.5, 0], // a tie: the lower class index
      [0, 0, 1], // mixed with itself, or nothing applied
    ];
    const targets = Float32Array.from(rows.flat());
    assert.deepEqual(Array.from(targetLabels(targets, 3)), [0, 2, 0, 2]);
    assert.throws(() => targetLabels(new Float32Array(5), 3), /not rows of 3/);
  });

  it('one-hot targets give the plain labels: no mixing, the same accuracy as against labels', () => {
    const labels = Int32Array.from([3, 0, 9, 9, 4, 1]);
    assert.deepEqual(targetLabels(oneHotArray(labels, 10), 10), labels);
  });

  it('mixup/cutmix batches: each sample counts for the label with the larger weight', () => {
    const B = 8;
    const C = 10;
    const labels = Int32Array.from({ length: B }, (_, i) => (i * 7) % C);
    for (let seed = 0; seed < 20; seed++) {
      const images = new Float32Array(B * 4 * 4 * 3);
      const mixed = mixupCutmix(
        images,
        labels,
        C,
        { mixupAlpha: 0.2, cutmixAlpha: 1 },
        new Rng(seed),
        4,
        4,
        3,
      );
      const got = targetLabels(mixed.targets, C);
      for (let b = 0; b < B; b++) {
        // torchvision pairs sample b with b − 1 (the batch rolled by one).
        const own = labels[b]!;
        const partner = labels[(b + B - 1) % B]!;
        const lam = mixed.targets[b * C + own]!;
        const expected =
          own === partner ? own : lam > 0.5 ? own : lam < 0.5 ? partner : Math.min(own, partner);
        assert.equal(got[b], expected, `seed ${seed} (${mixed.applied}, λ ${lam}) sample ${b}`);
      }
    }
  });
});
