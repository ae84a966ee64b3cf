import assert from 'node:assert/strict';
import { bestEpoch, bestMetricOf, isNewBest } from '../../../trainer/best.js';
import type { EpochMetrics } from '../../../trainer/report/metrics-log.js';

const row = (epoch: number, acc1: number, emaAcc1: number | null): EpochMetrics => ({
  epoch,
  lr: 0.1,
  trainLoss: 1,
  trainAcc1: 0,
  trainAcc5: 0,
  imagesPerSec: 1,
  seconds: 1,
  acc1,
  acc5: 90,
  emaAcc1,
  emaAcc5: emaAcc1 === null ? null : 90,
  evalBiased: false,
});

describe('best checkpoint', () => {
  it('picks by EMA Acc@1 (EMA weights) unless the EMA is off or acc1 is asked for', () => {
    assert.deepEqual(bestMetricOf({ bestMetric: 'emaAcc1', modelEma: true }), {
      metric: 'emaAcc1',
      ema: true,
    });
    assert.deepEqual(bestMetricOf({ bestMetric: 'emaAcc1', modelEma: false }), {
      metric: 'acc1',
      ema: false,
    });
    assert.deepEqual(bestMetricOf({ bestMetric: 'acc1', modelEma: true }), {
      metric: 'acc1',
      ema: false,
    });
  });

  it('the earliest epoch with the highest value; null values never win', () => {
    const h = [row(0, 50, null), row(1, 70, 60), row(2, 65, 72), row(3, 70, 72)];
    assert.deepEqual(bestEpoch(h, 'acc1'), { epoch: 1, value: 70 });
    assert.deepEqual(bestEpoch(h, 'emaAcc1'), { epoch: 2, value: 72 });
    assert.equal(bestEpoch([row(0, 1, null)], 'emaAcc1'), null);
    assert.equal(bestEpoch([], 'acc1'), null);
  });

  it('isNewBest: only the epoch that takes the lead', () => {
    const h = [row(0, 50, 40), row(1, 60, 45), row(2, 55, 50)];
    assert.equal(isNewBest(h.slice(0, 1), h[0]!, 'acc1'), true);
    assert.equal(isNewBest(h.slice(0, 2), h[1]!, 'acc1'), true);
    assert.equal(isNewBest(h, h[2]!, 'acc1'), false);
    assert.equal(isNewBest(h, h[2]!, 'emaAcc1'), true);
  });
});
