import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';

import {
  accuracyFromCounts,
  addCounts,
  MetricLogger,
  SmoothedValue,
  topk,
  topkCountsFromArray,
} from '../../../trainer/optim/metrics.js';
import { loadFixture, useCpu } from './fixture.js';

interface AccCase {
  batch: number;
  classes: number;
  logits: number[];
  labels: number[];
  acc1: number;
  acc5: number;
}
interface Smoothed {
  window: number;
  values: number[];
  weights: number[];
  median: number;
  avg: number;
  globalAvg: number;
  max: number;
  value: number;
}
const fixture = loadFixture<{ accuracy: AccCase[]; smoothed: Smoothed }>('metrics.json');

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

  it("reproduces SmoothedValue's window median, avg, max and weighted global average", () => {
    const s = fixture.smoothed;
    const v = new SmoothedValue(s.window);
    s.values.forEach((x, i) => v.update(x, s.weights[i]));
    assert.equal(v.median, s.median);
    assert.ok(Math.abs(v.avg - s.avg) < 1e-5);
    assert.ok(Math.abs(v.globalAvg - s.globalAvg) < 1e-12);
    assert.equal(v.max, s.max);
    assert.equal(v.value, s.value);
    v.synchronize({ count: 2, total: 3 });
    assert.equal(v.globalAvg, 1.5);
  });

  it('formats a MetricLogger line as name: median (global avg)', () => {
    const m = new MetricLogger('  ', 3);
    m.update({ loss: 2, lr: 0.5 });
    m.update({ loss: 4 });
    m.update({ loss: 3 });
    m.update({ loss: 10 });
    assert.equal(m.toString(), 'loss: 4.0000 (4.7500)  lr: 0.5000 (0.5000)');
  });
});
