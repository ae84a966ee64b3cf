import { strict as assert } from 'node:assert';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderExamples } from '../../../scripts/gen-examples.js';
import { defaultRecipe, loadTrainingRecipeFile } from '../../../api/load.js';
import { loadTrainingStudyFile } from '../../../api/study-load.js';
import type { Recipe } from '../../../api/schema.js';
import { planRecipe } from '../../../trainer/plan.js';

const root = join(import.meta.dirname, '..', '..', '..');
const load = async (rel: string) => (await loadTrainingRecipeFile(join(root, rel))).spec;

/** Fields whose values differ between two recipes. */
function changed(a: Recipe, b: Recipe): string[] {
  return (Object.keys(a) as Array<keyof Recipe>).filter((k) => a[k] !== b[k]).sort();
}

/** The ablation ladder of RECIPE.md, written out independently of the generator. */
const LADDER_STEPS: Array<[string, string[]]> = [
  [
    '01-lr-optimizations',
    ['batchSize', 'lr', 'lrScheduler', 'lrWarmupEpochs'], // warmup method/decay already at default
  ],
  ['02-trivialaugment', ['autoAugment']],
  ['03-long-training', ['epochs']],
  ['04-random-erasing', ['randomErase']],
  ['05-label-smoothing', ['labelSmoothing']],
  ['06-mixup', ['mixupAlpha']],
  ['07-cutmix', ['cutmixAlpha']],
  ['08-weight-decay-tuning', ['normWeightDecay', 'weightDecay']],
  ['09-fixres', ['trainCropSize']],
  ['10-ema', ['modelEma']],
  ['11-inference-resize', ['valResizeSize']],
  ['12-repeated-augmentation', ['raSampler']],
];

describe('examples', () => {
  it('the committed files equal the generator output (npx tsx scripts/gen-examples.ts)', async () => {
    for (const [rel, text] of renderExamples()) {
      assert.equal(await readFile(join(root, rel), 'utf8'), text, rel);
    }
  });

  it('every YAML under examples/ is a valid TrainingRecipe or TrainingStudy', async () => {
    const files = (await readdir(join(root, 'examples'), { recursive: true })).filter((f) =>
      f.endsWith('.yaml'),
    );
    assert.ok(files.length >= 9, `only ${files.length} examples`);
    for (const f of files) {
      if (/study/.test(f)) await loadTrainingStudyFile(join(root, 'examples', f));
      else await load(join('examples', f));
    }
  });

  it('resnet50-recipe is the final recipe on 8 workers × 1 GPU with S3 data', async () => {
    const spec = await load('examples/resnet50-recipe.yaml');
    assert.deepEqual(spec.recipe, defaultRecipe());
    assert.equal(spec.workers, 8);
    assert.equal(spec.gpusPerWorker, 1);
    assert.match(spec.data.train ?? '', /^s3:\/\//);
    assert.match(spec.data.val, /^s3:\/\//);
    assert.match(spec.output, /^s3:\/\//);
  });

  it('resnet50-baseline differs from the final recipe exactly as RECIPE.md tabulates', async () => {
    const spec = await load('examples/resnet50-baseline.yaml');
    const r = spec.recipe;
    assert.equal(spec.workers * r.batchSize, 256);
    assert.deepEqual(
      [r.epochs, r.lr, r.lrScheduler, r.lrStepSize, r.lrGamma, r.lrWarmupEpochs],
      [90, 0.1, 'steplr', 30, 0.1, 0],
    );
    assert.deepEqual([r.weightDecay, r.normWeightDecay], [1e-4, 1e-4]);
    assert.deepEqual(
      [r.labelSmoothing, r.mixupAlpha, r.cutmixAlpha, r.autoAugment, r.randomErase],
      [0, 0, 0, 'none', 0],
    );
    assert.deepEqual([r.raSampler, r.modelEma], [false, false]);
    assert.deepEqual([r.trainCropSize, r.valResizeSize, r.valCropSize], [224, 256, 224]);
    assert.equal(r.interpolation, 'bilinear');
    assert.equal(r.momentum, 0.9);
  });

  it('the ablation study is the ladder: one ingredient per row, from the baseline to the final recipe', async () => {
    const study = await loadTrainingStudyFile(join(root, 'examples/ablation/study.yaml'));
    const rows = study.variants;
    assert.equal(rows.length, LADDER_STEPS.length + 1);
    assert.deepEqual(rows[0]!.spec.recipe, (await load('examples/resnet50-baseline.yaml')).recipe);
    for (const [i, [step, fields]] of LADDER_STEPS.entries()) {
      const row = rows[i + 1]!;
      assert.equal(row.slug, step);
      assert.deepEqual(changed(rows[i]!.spec.recipe, row.spec.recipe), fields.sort(), step);
      assert.equal(row.spec.output, `s3://ringmaster-runs/ablation/${step}`);
      assert.deepEqual(row.spec.seeds, [0, 1, 2]);
    }
    assert.deepEqual(rows.at(-1)!.spec.recipe, defaultRecipe());
  });

  it('the variants are the final recipe with another model', async () => {
    for (const model of ['resnet101', 'resnet152', 'resnext50_32x4d']) {
      const spec = await load(`examples/${model}-recipe.yaml`);
      assert.deepEqual(changed(defaultRecipe(), spec.recipe), ['model']);
      assert.equal(spec.recipe.model, model);
    }
  });

  it('local-demo: every ingredient on, 2 CPU workers, synthetic data, a local output', async () => {
    const spec = await load('examples/local-demo.yaml');
    const r = spec.recipe;
    assert.equal(r.model, 'resnet_mini');
    assert.deepEqual([spec.workers, spec.gpusPerWorker], [2, 0]);
    assert.match(spec.data.train ?? '', /^synthetic:/);
    assert.match(spec.data.val, /^synthetic:/);
    assert.ok(!spec.output.includes('://'));
    assert.equal(r.autoAugment, 'ta_wide');
    assert.ok(r.mixupAlpha > 0 && r.cutmixAlpha > 0 && r.randomErase > 0 && r.labelSmoothing > 0);
    assert.ok(
      r.raSampler && r.modelEma && r.lrWarmupEpochs > 0 && r.lrScheduler === 'cosineannealinglr',
    );
    assert.ok(r.weightDecay > 0);

    const plan = planRecipe(spec, { trainSamples: 2048, valSamples: 512, numClasses: 10 });
    // A few-minute run uses a larger LR than linear scaling of the final recipe's would give;
    // plan says so.
    assert.ok(r.lr > (0.5 * plan.globalBatch) / 1024);
    assert.ok(
      plan.warnings.some((w) => w.includes('not scaled automatically')),
      plan.warnings.join('\n'),
    );
    // The EMA is updated several times per epoch and really averages (decay well below 1, above 0).
    assert.ok(plan.emaUpdatesPerEpoch >= 4, `${plan.emaUpdatesPerEpoch}`);
    assert.ok(plan.emaDecay! > 0.5 && plan.emaDecay! < 0.99, `${plan.emaDecay}`);
  });
});
