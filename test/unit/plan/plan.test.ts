import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { InputError } from '../../../common/errors.js';
import { samplerFor, samplerKindFor } from '../../../trainer/data/sampler.js';
import { planRecipe, trainSamplesPerRank } from '../../../trainer/plan.js';
import { loadTrainingRecipeFile, parseTrainingRecipe } from '../../../api/load.js';
import type { TrainingRecipeSpec } from '../../../api/schema.js';

const root = join(import.meta.dirname, '..', '..', '..');
const IMAGENET = { trainSamples: 1_281_167, valSamples: 50_000 };
const spec = (recipe: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  parseTrainingRecipe({
    recipe,
    data: { train: 's3://b/t', val: 's3://b/v' },
    output: 's3://b/o',
    ...extra,
  }).spec as TrainingRecipeSpec;

describe('plan: the final recipe on ImageNet (issue 2, "Done when")', () => {
  let plan: ReturnType<typeof planRecipe>;
  before(async () => {
    const { spec } = await loadTrainingRecipeFile(join(root, 'examples/resnet50-recipe.yaml'));
    plan = planRecipe(spec, IMAGENET);
  });

  it('global batch 1024, 160,128 samples per rank, 1251 iterations, 750,600 steps', () => {
    assert.equal(plan.globalBatch, 1024);
    assert.equal(plan.sampler, 'ra');
    assert.equal(plan.samplesPerRank, 160_128);
    assert.equal(plan.itersPerEpoch, 1251);
    assert.equal(plan.totalSteps, 750_600);
  });

  it('LR starts 0.005, 0.104, 0.203, 0.302, 0.401, 0.5 and ends ≈ 3.48e-6', () => {
    assert.equal(plan.lrByEpoch.length, 600);
    assert.deepEqual(
      plan.lrByEpoch.slice(0, 6).map((x) => Number(x.toFixed(6))),
      [0.005, 0.104, 0.203, 0.302, 0.401, 0.5],
    );
    assert.equal(plan.lrByEpoch[599]!.toExponential(2), '3.48e-6');
  });

  it('EMA decay ≈ 0.99890773, 40 updates per epoch', () => {
    assert.equal(plan.emaDecay!.toFixed(8), '0.99890773');
    assert.equal(plan.emaUpdatesPerEpoch, 40);
  });

  it('resnet50: 25,557,032 params, 2.608 GFLOPs at 176 (train), 4.089 at 224 (val)', () => {
    assert.equal(plan.model.name, 'resnet50');
    assert.equal(plan.model.params, 25_557_032);
    assert.equal(plan.model.gflops.train.toFixed(3), '2.608');
    assert.equal(plan.model.gflops.val.toFixed(3), '4.089');
  });

  it('no padding on 50,000 validation images over 8 ranks, and no warnings', () => {
    assert.equal(plan.valSamplesPerRank, 6250);
    assert.equal(plan.valPadding, 0);
    assert.deepEqual(plan.warnings, []);
  });
});

describe('plan: the baseline', () => {
  it('lr 0.1 → 0.01 at epoch 30 → 0.001 at 60, no EMA, DistributedSampler', async () => {
    const { spec } = await loadTrainingRecipeFile(join(root, 'examples/resnet50-baseline.yaml'));
    const plan = planRecipe(spec, IMAGENET);
    assert.equal(plan.globalBatch, 256);
    assert.equal(plan.sampler, 'distributed');
    assert.equal(plan.samplesPerRank, Math.ceil(1_281_167 / 8));
    assert.equal(plan.itersPerEpoch, Math.ceil(160_146 / 32));
    const lr = plan.lrByEpoch.map((x) => Number(x.toPrecision(6)));
    assert.deepEqual(
      [lr[0], lr[29], lr[30], lr[59], lr[60], lr[89]],
      [0.1, 0.1, 0.01, 0.01, 0.001, 0.001],
    );
    assert.equal(plan.emaDecay, null);
    assert.equal(plan.emaUpdatesPerEpoch, 0);
    assert.equal(plan.model.gflops.train.toFixed(3), '4.089');
    assert.deepEqual(plan.warnings, []);
  });
});

describe('plan: samplers', () => {
  it('RASampler keeps floor(floor(N/256)·256 / R) per rank', () => {
    assert.deepEqual(trainSamplesPerRank(1_281_167, 8, true, 4), {
      sampler: 'ra',
      samplesPerRank: 160_128,
    });
    assert.deepEqual(trainSamplesPerRank(1000, 3, true, 4), { sampler: 'ra', samplesPerRank: 256 });
  });
  it('DistributedSampler pads to ceil(N/R); one process reads all N', () => {
    assert.deepEqual(trainSamplesPerRank(1001, 4, false, 4), {
      sampler: 'distributed',
      samplesPerRank: 251,
    });
    assert.deepEqual(trainSamplesPerRank(1001, 1, true, 4), {
      sampler: 'random',
      samplesPerRank: 1001,
    });
  });
  it('refuses a dataset the RA sampler would reduce to nothing', () => {
    assert.throws(
      () => planRecipe(spec({ batchSize: 8 }, { workers: 2 }), { trainSamples: 200 }),
      (e: unknown) => e instanceof InputError && e.issues[0]!.path === 'trainSamples',
    );
  });
  it('rejects nonsense counts', () => {
    assert.throws(() => planRecipe(spec({}), { trainSamples: 0 }), InputError);
    assert.throws(() => planRecipe(spec({}), { trainSamples: 10, valSamples: 1.5 }), InputError);
  });
});

describe('plan: warnings', () => {
  const warningsOf = (s: TrainingRecipeSpec, counts = IMAGENET) => planRecipe(s, counts).warnings;

  it('lr 0.5 with a global batch other than 1024 suggests linear scaling', () => {
    const w = warningsOf(spec({}, { workers: 2 }));
    const lrWarning = w.find((x) => x.startsWith('lr 0.5'));
    assert.ok(lrWarning, w.join('\n'));
    assert.match(lrWarning, /global batch is 256/);
    assert.match(lrWarning, /lr 0\.125/);
  });

  it('lr 0.1 is the baseline lr for 256', () => {
    assert.equal(warningsOf(spec({ lr: 0.1, batchSize: 32 }, { workers: 8 })).length, 0);
    assert.ok(
      warningsOf(spec({ lr: 0.1, batchSize: 128 }, { workers: 8 })).some((w) =>
        /lr 0\.4\b/.test(w),
      ),
    );
  });

  it('validation padding when the val set does not divide by the workers', () => {
    const w = warningsOf(spec({}, { workers: 8 }), { trainSamples: 1_281_167, valSamples: 50_001 });
    assert.ok(
      w.some((x) => /7 sample\(s\) are evaluated twice/.test(x)),
      w.join('\n'),
    );
  });

  it('RA sampler on one worker, EMA steps longer than an epoch, steplr that never steps', () => {
    const w = warningsOf(
      spec(
        { batchSize: 1024, lr: 0.5, lrScheduler: 'steplr', lrStepSize: 600, modelEmaSteps: 2000 },
        { workers: 1 },
      ),
    );
    assert.ok(
      w.some((x) => x.includes('one worker')),
      w.join('\n'),
    );
    assert.ok(
      w.some((x) => x.includes('once per epoch')),
      w.join('\n'),
    );
    assert.ok(
      w.some((x) => x.includes('never decays')),
      w.join('\n'),
    );
  });

  it('EMA that is a plain copy, and Acc@5 with fewer than 5 classes', () => {
    const s = spec({ modelEmaDecay: 0.5, epochs: 10, lrWarmupEpochs: 1 }, { workers: 8 });
    const plan = planRecipe(s, { trainSamples: 1_281_167, numClasses: 3 });
    assert.equal(plan.emaDecay, 0);
    assert.ok(plan.warnings.some((x) => x.includes('plain copy')));
    assert.ok(plan.warnings.some((x) => x.includes('Acc@5')));
    assert.equal(plan.model.params, 25_557_032 - 997 * 2049);
  });
});

describe('plan agrees with the samplers the trainer runs', () => {
  it('samples per rank = the sampler numSamples, and the same sampler kind', () => {
    for (const n of [256, 300, 1000, 4097, 50_000]) {
      for (const worldSize of [1, 2, 3, 8]) {
        for (const raSampler of [true, false]) {
          const { sampler, samplesPerRank } = trainSamplesPerRank(n, worldSize, raSampler, 4);
          const kind = samplerKindFor('train', worldSize, raSampler ? 4 : 0);
          assert.equal(kind, sampler, `n=${n} R=${worldSize} ra=${raSampler}`);
          const real = samplerFor(kind, { n, rank: worldSize - 1, worldSize, reps: 4 });
          assert.equal(real.numSamples, samplesPerRank, `n=${n} R=${worldSize} ra=${raSampler}`);
          assert.equal(real.indices(0).length, samplesPerRank);
        }
      }
    }
  });
});
