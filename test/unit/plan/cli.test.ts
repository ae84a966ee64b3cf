import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packSamples, type PackSample } from '../../../trainer/data/pack.js';
import { loadTrainingRecipeFile } from '../../../api/load.js';
import { LocalStorage } from '../../../common/storage/local-storage.js';

const root = join(import.meta.dirname, '..', '..', '..');

function ringmaster(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin/ringmaster.js'), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('ringmaster plan (CLI)', function () {
  this.timeout(120_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ringmaster-plan-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('--json gives the figures of the issue for the final recipe', () => {
    const r = ringmaster(
      'plan',
      'examples/resnet50-recipe.yaml',
      '--train-samples',
      '1281167',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as Record<string, any>;
    assert.equal(plan.globalBatch, 1024);
    assert.equal(plan.samplesPerRank, 160128);
    assert.equal(plan.itersPerEpoch, 1251);
    assert.equal(plan.totalSteps, 750600);
    assert.equal(plan.lrByEpoch.length, 600);
    assert.equal(plan.emaDecay.toFixed(8), '0.99890773');
    assert.equal(plan.emaUpdatesPerEpoch, 40);
    assert.equal(plan.model.params, 25557032);
    assert.equal(plan.trainSamples, 1281167);
    assert.equal(plan.valSamples, 50000);
    assert.match(plan.countsNote, /train given on the command line; val assumed from ImageNet-1k/);
    assert.deepEqual(plan.warnings, []);
  });

  it('prints a table with the counts used and an LR curve', async () => {
    const { spec } = await loadTrainingRecipeFile('examples/local-demo.yaml');
    const r = ringmaster(
      'plan',
      'examples/local-demo.yaml',
      '--train-samples',
      '4096',
      '--val-samples',
      '1001',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /sample counts\s+4,096 train \/ 1,001 val — train and val given on the command line/,
    );
    assert.match(r.stdout, /resnet_mini/);
    assert.ok(r.stdout.includes(`LR by epoch (${spec.recipe.epochs} epochs)`), r.stdout);
    assert.match(r.stdout, /[┼┤]/); // the chart's axis
    assert.match(r.stdout, /1 sample\(s\) are evaluated twice/);
  });

  it('knows the size of generated data, and says when it assumed ImageNet counts', async () => {
    const demo = ringmaster('plan', 'examples/local-demo.yaml', '--json');
    assert.equal(demo.code, 0, demo.stderr);
    const plan = JSON.parse(demo.stdout) as Record<string, any>;
    assert.deepEqual(
      [plan.trainSamples, plan.valSamples, plan.model.numClasses, plan.samplesPerRank],
      [2000, 500, 10, 896],
    );
    assert.equal(plan.countsNote, 'train and val from the data URIs');

    const flowers = join(dir, 'flowers.yaml');
    await writeFile(
      flowers,
      JSON.stringify({
        data: { train: 's3://b/flowers/train', val: 's3://b/flowers/val' },
        output: 's3://b/o',
      }),
    );
    const r = ringmaster('plan', flowers);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /train and val assumed from ImageNet-1k: the size of s3:\/\/b\/flowers\/train is not known/,
    );
  });

  it('reads the counts and classes of a local split from its index.json', async () => {
    const classes = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const samples = (n: number): PackSample[] =>
      Array.from({ length: n }, (_, i) => ({
        key: `s${String(i).padStart(5, '0')}`,
        label: i % classes.length,
        ext: 'jpg',
        size: 4,
        read: () => Promise.resolve(Buffer.from([i & 255, 1, 2, 3])),
      }));
    for (const [split, n] of [
      ['train', 700],
      ['val', 75],
    ] as const) {
      const dest = new LocalStorage(join(dir, 'data', split));
      await packSamples(classes, samples(n), dest, { split, samplesPerShard: 500, verify: 'size' });
      dest.close();
    }
    const recipe = join(dir, 'local.yaml');
    await writeFile(
      recipe,
      JSON.stringify({
        recipe: {
          model: 'resnet_mini',
          batchSize: 16,
          epochs: 3,
          lrWarmupEpochs: 1,
          lr: 0.0078125,
        },
        workers: 2,
        gpusPerWorker: 0,
        data: { train: join(dir, 'data', 'train'), val: join(dir, 'data', 'val') },
        output: join(dir, 'out'),
      }),
    );
    const r = ringmaster('plan', recipe, '--json');
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as Record<string, any>;
    assert.equal(plan.trainSamples, 700);
    assert.equal(plan.valSamples, 75);
    assert.equal(plan.model.numClasses, 7);
    assert.equal(plan.samplesPerRank, 256); // RA: floor(floor(700/256)·256 / 2)
    assert.equal(plan.valPadding, 1);
    assert.equal(plan.countsNote, 'train and val from the data URIs');
  });

  it('a bad recipe exits 2 listing every offending field by path, without a stack trace', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(
      bad,
      [
        'apiVersion: ringmaster.dev/v1alpha1',
        'kind: TrainingRecipe',
        'metadata: {name: bad}',
        'spec:',
        '  recipe: {model: resnet51, lr: fast, epochs: 0, valCropSize: 300, colour: red}',
        '  workers: 2',
        '  data: {train: s3://a/t, val: s3://a/v, extra: 1}',
        '  output: s3://a/o',
      ].join('\n'),
    );
    const r = ringmaster('plan', bad);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    for (const path of [
      'spec.recipe.model',
      'spec.recipe.lr',
      'spec.recipe.epochs',
      'spec.recipe.valCropSize',
      'spec.recipe.colour',
      'spec.data.extra',
    ]) {
      assert.match(r.stderr, new RegExp(`^  ${path.replace(/\./g, '\\.')}: `, 'm'), path);
    }
    assert.match(r.stderr, /^ringmaster: invalid TrainingRecipe in .*bad\.yaml: 6 problems/);
    assert.doesNotMatch(r.stderr, /\n\s+at /); // no stack frames
  });

  it('bad flags and a missing file exit 2', () => {
    const flags = ringmaster('plan', 'examples/resnet50-recipe.yaml', '--train-samples', 'lots');
    assert.equal(flags.code, 2);
    assert.match(flags.stderr, /--train-samples: must be a positive integer/);
    const missing = ringmaster('plan', join(dir, 'nope.yaml'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /recipe file not found/);
  });
});
