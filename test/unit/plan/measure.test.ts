import assert from 'node:assert/strict';
import { defaultRecipe } from '../../../trainer/recipe/load.js';
import { measureStepSeconds } from '../../../trainer/step-timing.js';

describe('plan --measure', function () {
  this.timeout(120_000);

  it('times real training steps and scales a large batch from a smaller one', async () => {
    const recipe = {
      ...defaultRecipe(),
      model: 'resnet_mini' as const,
      batchSize: 64,
      trainCropSize: 16,
    };
    const t = await measureStepSeconds(recipe, 10, { steps: 2, maxBatch: 8, backend: 'wasm' });
    assert.equal(t.backend, 'wasm');
    assert.equal(t.measuredBatch, 8);
    assert.ok(t.secondsPerStep > 0 && Number.isFinite(t.secondsPerStep));
    const small = await measureStepSeconds({ ...recipe, batchSize: 8 }, 10, {
      steps: 2,
      maxBatch: 8,
      backend: 'wasm',
    });
    // Same measured batch, reported at 8× the batch: 8× the time, within the noise of timing.
    const ratio = t.secondsPerStep / small.secondsPerStep;
    assert.ok(ratio > 3 && ratio < 20, `ratio ${ratio}`);
  });
});
