import { strict as assert } from 'node:assert';
import { defaultRecipe } from '../../../api/load.js';
import { lrAtEpoch, lrByEpoch } from '../../../trainer/optim/schedule.js';
import { emaDecay, emaUpdatesPerEpoch } from '../../../trainer/optim/ema-decay.js';
import type { Recipe } from '../../../api/schema.js';

const final = defaultRecipe();
const close = (a: number, b: number, tol = 1e-12) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} ≠ ${b}`);

describe('LR schedule', () => {
  it('final recipe: linear warmup from 0.01 over 5 epochs, then cosine over 595', () => {
    const lr = lrByEpoch(final);
    assert.equal(lr.length, 600);
    [0.005, 0.104, 0.203, 0.302, 0.401, 0.5].forEach((v, e) => close(lr[e]!, v));
    for (let e = 5; e < 600; e++) close(lr[e]!, 0.25 * (1 + Math.cos((Math.PI * (e - 5)) / 595)));
    close(lr[599]!, 3.4847756e-6, 1e-6);
    // monotone down after the peak
    for (let e = 6; e < 600; e++) assert.ok(lr[e]! < lr[e - 1]!);
  });

  it('baseline: step ×0.1 every 30 epochs, no warmup', () => {
    const r: Recipe = { ...final, lr: 0.1, epochs: 90, lrScheduler: 'steplr', lrWarmupEpochs: 0 };
    const lr = lrByEpoch(r);
    close(lr[0]!, 0.1);
    close(lr[29]!, 0.1);
    close(lr[30]!, 0.01);
    close(lr[59]!, 0.01);
    close(lr[60]!, 0.001);
    close(lr[89]!, 0.001);
  });

  it('the main scheduler counts its epochs from the end of warmup (SequentialLR)', () => {
    const r: Recipe = {
      ...final,
      epochs: 20,
      lrScheduler: 'steplr',
      lrStepSize: 3,
      lrWarmupEpochs: 2,
    };
    close(lrAtEpoch(r, 2), 0.5);
    close(lrAtEpoch(r, 4), 0.5);
    close(lrAtEpoch(r, 5), 0.05);
    const x: Recipe = {
      ...final,
      epochs: 10,
      lrScheduler: 'exponentiallr',
      lrGamma: 0.9,
      lrWarmupEpochs: 1,
    };
    close(lrAtEpoch(x, 1), 0.5);
    close(lrAtEpoch(x, 4), 0.5 * 0.9 ** 3);
  });

  it('constant warmup holds lr·decay, then jumps to lr', () => {
    const r: Recipe = { ...final, lrWarmupMethod: 'constant', lrWarmupDecay: 0.1 };
    for (let e = 0; e < 5; e++) close(lrAtEpoch(r, e), 0.05);
    close(lrAtEpoch(r, 5), 0.5);
  });

  it('cosine ends near lrMin', () => {
    const r: Recipe = { ...final, lrMin: 0.001, epochs: 50 };
    const lr = lrByEpoch(r);
    assert.ok(lr[49]! > 0.001 && lr[49]! < 0.002);
  });

  it('rejects a negative or fractional epoch', () => {
    assert.throws(() => lrAtEpoch(final, -1), RangeError);
    assert.throws(() => lrAtEpoch(final, 1.5), RangeError);
  });
});

describe('EMA decay', () => {
  it('final recipe on 8 workers: adjust 54.6133, decay 0.998907733', () => {
    close(emaDecay(final, 8)!, 1 - 2e-5 * ((8 * 128 * 32) / 600), 1e-12);
    assert.equal(emaDecay(final, 8)!.toFixed(9), '0.998907733');
  });

  it('one process with the same global batch gets the same decay', () => {
    close(emaDecay({ ...final, batchSize: 1024 }, 1)!, emaDecay(final, 8)!);
  });

  it('is null when modelEma is off, and 0 when α clips at 1', () => {
    assert.equal(emaDecay({ ...final, modelEma: false }, 8), null);
    assert.equal(emaDecay({ ...final, modelEmaDecay: 0.9, epochs: 1 }, 8), 0);
  });

  it('updates at steps i ≡ 0 mod k inside an epoch: 40 for 1251 steps and k = 32', () => {
    assert.equal(emaUpdatesPerEpoch(1251, 32), 40);
    assert.equal(emaUpdatesPerEpoch(1248, 32), 39);
    assert.equal(emaUpdatesPerEpoch(1249, 32), 40);
    assert.equal(emaUpdatesPerEpoch(5, 32), 1);
  });
});
