import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointStore } from '../../../trainer/checkpoint/store.js';
import { exportWeights } from '../../../trainer/cli/export.js';
import { initBackend } from '../../../trainer/engine/backend.js';
import { InputError, NotFoundError } from '../../../common/errors.js';
import { countMacs, countParams, getArch } from '../../../trainer/models/arch.js';
import { createResNet } from '../../../trainer/models/resnet.js';
import { decodeSafetensors, encodeSafetensors } from '../../../trainer/models/safetensors.js';
import { stateDict } from '../../../trainer/models/weights.js';
import { parseRecipe, recipeHash } from '../../../api/load.js';
import type { Recipe } from '../../../api/schema.js';
import type { EpochMetrics } from '../../../trainer/report/metrics-log.js';
import { openStorage } from '../../../common/storage/storage.js';

const CATEGORIES = ['circle', 'square', 'triangle'];
const recipe = parseRecipe({
  model: 'resnet_mini',
  epochs: 8,
  lrWarmupEpochs: 1,
  trainCropSize: 16,
  valResizeSize: 20,
  valCropSize: 16,
});

const row = (epoch: number): EpochMetrics => ({
  epoch,
  lr: 0.1,
  trainLoss: 1.5 - epoch / 10,
  trainAcc1: 30 + epoch,
  trainAcc5: 70,
  imagesPerSec: 50,
  seconds: 10,
  acc1: 40 + epoch,
  acc5: 100,
  emaAcc1: 50 + epoch,
  emaAcc5: 100,
  evalBiased: false,
});

/** A state_dict of resnet_mini with 3 classes drawn from `seed`, as safetensors bytes. */
function weightsBytes(seed: number): Buffer {
  const model = createResNet(getArch('resnet_mini'), { numClasses: 3, seed });
  const bytes = Buffer.from(encodeSafetensors(stateDict(model)));
  model.dispose();
  return bytes;
}

/** Writes a checkpoint the way train.ts does (model, optional EMA, state extras). */
async function writeCheckpoint(
  dir: string,
  epoch: number,
  opts: { ema: boolean; recipe?: Recipe; categories?: unknown },
): Promise<{ model: Buffer; ema: Buffer | null }> {
  const model = weightsBytes(100 + epoch);
  const ema = opts.ema ? weightsBytes(200 + epoch) : null;
  const files = new Map<string, Buffer>([['model.safetensors', model]]);
  if (ema) files.set('ema.safetensors', ema);
  files.set('optimizer.safetensors', Buffer.from(encodeSafetensors(new Map())));
  await new CheckpointStore(openStorage(dir)).save(
    {
      epoch,
      stepInEpoch: 0,
      globalStep: epoch * 10,
      recipeHash: recipeHash(opts.recipe ?? recipe),
      worldSize: 2,
      backend: 'cpu',
      extra: {
        metrics: Array.from({ length: epoch }, (_, e) => row(e)),
        ...(opts.categories === undefined ? {} : { categories: opts.categories }),
        emaNAveraged: 3,
      },
    },
    files,
  );
  return { model, ema };
}

function tensorsOf(bytes: Uint8Array): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [k, t] of decodeSafetensors(bytes).tensors) {
    out.set(
      k,
      Array.from(t.data as ArrayLike<number | bigint>, (x) => Number(x)),
    );
  }
  return out;
}

describe('ringmaster export', function () {
  this.timeout(30_000);
  let dir: string;
  before(async () => {
    await initBackend('cpu');
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-export-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function writeRecipeJson(r: Recipe = recipe): Promise<void> {
    // What `ringmaster train --local` leaves in the run directory: the resolved spec.
    await writeFile(
      join(dir, 'recipe.json'),
      JSON.stringify({ recipe: r, workers: 2, output: dir }),
    );
  }

  it('exports the latest checkpoint’s EMA weights with categories, metrics, params and GFLOPs', async () => {
    await writeRecipeJson();
    await writeCheckpoint(dir, 1, { ema: true, categories: CATEGORIES });
    const latest = await writeCheckpoint(dir, 2, { ema: true, categories: CATEGORIES });

    const res = await exportWeights({ output: dir });

    assert.equal(res.weights, openStorage(dir).uriOf('weights'));
    assert.match(res.checkpoint, /epoch-000002$/);
    const written = await readFile(join(dir, 'weights', 'model.safetensors'));
    assert.deepEqual(tensorsOf(written), tensorsOf(latest.ema!));
    assert.notDeepEqual(tensorsOf(written), tensorsOf(latest.model));
    const meta = JSON.parse(await readFile(join(dir, 'weights', 'meta.json'), 'utf8'));
    assert.equal(meta.ema, true);
    assert.equal(meta.arch, 'resnet_mini');
    assert.deepEqual(meta.categories, CATEGORIES);
    assert.equal(meta.numClasses, 3);
    assert.deepEqual(meta.metrics, { acc1: 41, acc5: 100, emaAcc1: 51, emaAcc5: 100 });
    assert.equal(meta.params, countParams(getArch('resnet_mini'), 3));
    assert.ok(Math.abs(meta.gflops.val - countMacs(getArch('resnet_mini'), 16, 3) / 1e9) < 1e-12);
    assert.equal(meta.recipeHash, recipeHash(recipe));
    assert.equal(meta.transforms.resizeSize, 20);
    assert.equal(meta.transforms.cropSize, 16);
    assert.equal(meta.checkpoint, res.checkpoint);
  });

  it('exports a named checkpoint’s model weights when it has no EMA, to another location', async () => {
    await writeRecipeJson();
    const first = await writeCheckpoint(dir, 1, { ema: false, categories: CATEGORIES });
    await writeCheckpoint(dir, 2, { ema: true, categories: CATEGORIES });
    const to = join(dir, 'elsewhere');

    const res = await exportWeights({ output: dir, checkpoint: 'epoch-000001', to });

    assert.match(res.checkpoint, /epoch-000001$/);
    assert.equal(res.meta.ema, false);
    const written = await readFile(join(to, 'weights', 'model.safetensors'));
    assert.deepEqual(tensorsOf(written), tensorsOf(first.model));
    // the run's own weights/ is left alone
    await assert.rejects(readFile(join(dir, 'weights', 'meta.json')), { code: 'ENOENT' });
    assert.deepEqual(res.meta.metrics, { acc1: 40, acc5: 100, emaAcc1: 50, emaAcc5: 100 });
  });

  it('falls back to the previous checkpoint when the latest is corrupt', async () => {
    await writeRecipeJson();
    const good = await writeCheckpoint(dir, 1, { ema: true, categories: CATEGORIES });
    await writeCheckpoint(dir, 2, { ema: true, categories: CATEGORIES });
    const emaPath = join(dir, 'checkpoints', 'epoch-000002', 'ema.safetensors');
    const bytes = await readFile(emaPath);
    await writeFile(emaPath, bytes.subarray(0, bytes.length - 7));

    const res = await exportWeights({ output: dir });

    assert.match(res.checkpoint, /epoch-000001$/);
    const written = await readFile(join(dir, 'weights', 'model.safetensors'));
    assert.deepEqual(tensorsOf(written), tensorsOf(good.ema!));
  });

  it('names the URI when the run has no checkpoint', async () => {
    await writeRecipeJson();
    await assert.rejects(exportWeights({ output: dir }), (err: unknown) => {
      assert.ok(err instanceof NotFoundError);
      assert.ok(err.message.includes(join(dir, 'checkpoints')), err.message);
      return true;
    });
  });

  it('refuses a missing named checkpoint, naming it', async () => {
    await writeRecipeJson();
    await writeCheckpoint(dir, 1, { ema: true, categories: CATEGORIES });
    await assert.rejects(
      exportWeights({ output: dir, checkpoint: 'epoch-000009' }),
      (err: unknown) => err instanceof NotFoundError && err.message.includes('epoch-000009'),
    );
  });

  it('needs a recipe: recipe.json or an explicit one, hashing to the checkpoint’s', async () => {
    await writeCheckpoint(dir, 1, { ema: true, categories: CATEGORIES });
    await assert.rejects(
      exportWeights({ output: dir }),
      (err: unknown) => err instanceof InputError && /recipe\.json.*--recipe/.test(err.message),
    );
    // an explicit recipe works without recipe.json
    const res = await exportWeights({ output: dir, recipe });
    assert.equal(res.meta.recipe.trainCropSize, 16);
    // another recipe is refused unless allowed
    const other = parseRecipe({ ...recipe, lr: 0.2 });
    await assert.rejects(
      exportWeights({ output: dir, recipe: other }),
      (err: unknown) => err instanceof InputError && /different recipe/.test(err.message),
    );
    const allowed = await exportWeights({ output: dir, recipe: other, allowRecipeChange: true });
    assert.equal(allowed.meta.recipe.lr, 0.2);
  });

  it('checks categories against the classifier and names classes by index when absent', async () => {
    await writeRecipeJson();
    await writeCheckpoint(dir, 1, { ema: false, categories: ['a', 'b'] });
    await assert.rejects(
      exportWeights({ output: dir }),
      (err: unknown) => err instanceof InputError && /2 categories.*3 outputs/.test(err.message),
    );
    await writeCheckpoint(dir, 2, { ema: false });
    const res = await exportWeights({ output: dir });
    assert.deepEqual(res.meta.categories, ['0', '1', '2']);
  });
});
