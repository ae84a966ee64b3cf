/**
 * The recipe's methodology with the real trainer on this machine: two seeds as one object
 * (each its own output and summary over both), the best epoch's weights kept next to the last
 * in a run built to peak early (the LR warmup climbs to a rate that diverges), and the
 * inference-resize grid on a finished model.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTrainingRecipe } from '../../../api/load.js';
import { SEEDS_FILE } from '../../../api/names.js';
import { openWeights } from '../../../trainer/checkpoint/artifact.js';
import { CheckpointStore, checkpointName } from '../../../trainer/checkpoint/store.js';
import { openStorage } from '../../../common/storage/storage.js';
import { resolveDataUri } from '../../../trainer/data/resolve.js';
import { initBackend } from '../../../trainer/engine/backend.js';
import { runSeeds } from '../../../trainer/local/seeds.js';
import { parseMetricsJsonl } from '../../../trainer/report/metrics-log.js';
import { evaluateWeights, tuneResize } from '../../../trainer/tune-resize.js';

const DATA = 'synthetic:shapes?train=256&val=64&size=16';
const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

describe('methodology: seeds, best weights, resize tuning (local trainer)', function () {
  this.timeout(600_000);
  let dir: string;
  let cacheDir: string;
  let data: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-method-'));
    cacheDir = join(dir, 'cache');
    data = await resolveDataUri(DATA, 'val', { cacheDir });
    await initBackend(undefined);
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('trains two seeds, keeps each run’s best epoch beside its last, and summarizes both', async () => {
    const out = join(dir, 'runs');
    const { spec } = parseTrainingRecipe({
      workers: 1,
      seeds: [0, 1],
      data: { train: DATA, val: DATA },
      output: out,
      recipe: {
        model: 'resnet_mini',
        batchSize: 16,
        epochs: 3,
        // Warmup from 0.2 up to 50: the first epoch learns, the next ones diverge.
        lr: 50,
        lrWarmupEpochs: 2,
        lrWarmupDecay: 0.004,
        mixupAlpha: 0,
        cutmixAlpha: 0,
        autoAugment: 'none',
        randomErase: 0,
        labelSmoothing: 0,
        trainCropSize: 16,
        valResizeSize: 16,
        valCropSize: 16,
        modelEmaSteps: 2,
        bestMetric: 'acc1',
        keepCheckpoints: 1,
      },
    });
    const resolved = {
      ...spec,
      data: { train: await resolveDataUri(DATA, 'train', { cacheDir }), val: data },
    };
    const runs = await runSeeds({
      spec: resolved,
      seeds: [0, 1],
      parallelism: 1,
      workers: 1,
      maxRestarts: 0,
      cacheDir,
      allowRecipeChange: false,
      out: quiet,
      loaderThreads: 1,
    });
    const finals: number[] = [];
    for (const seed of [0, 1]) {
      const run = join(out, `seed-${seed}`);
      const rows = parseMetricsJsonl(await readFile(join(run, 'metrics.jsonl'), 'utf8'));
      assert.equal(rows.length, 3);
      finals.push(rows.at(-1)!.acc1);
      const top = Math.max(...rows.map((r) => r.acc1));
      const bestRow = rows.find((r) => r.acc1 === top)!;
      const last = JSON.parse(await readFile(join(run, 'weights', 'meta.json'), 'utf8'));
      const best = JSON.parse(await readFile(join(run, 'weights', 'best', 'meta.json'), 'utf8'));
      assert.equal(last.recipe.seed, seed);
      assert.equal(last.epoch, 2);
      assert.deepEqual(best.selectedBy, { metric: 'acc1', value: top });
      assert.equal(best.epoch, bestRow.epoch, 'the earliest epoch with the top Acc@1');
      assert.equal(best.ema, false, 'acc1 selects the model weights');
      assert.deepEqual(
        { epoch: last.best.epoch, metric: last.best.metric, value: last.best.value },
        { epoch: bestRow.epoch, metric: 'acc1', value: top },
      );
      // Built to peak early: the diverged last epoch is worse, and its weights differ.
      assert.ok(best.epoch < 2 && top > rows.at(-1)!.acc1, JSON.stringify(rows.map((r) => r.acc1)));
      // keepCheckpoints 1 keeps the last checkpoint and, besides it, the best epoch's.
      // (The store's listing: pruning deletes the files; a local directory may stay empty.)
      const ckpts = await new CheckpointStore(openStorage(run)).list();
      assert.deepEqual(ckpts.sort(), [checkpointName(best.epoch + 1, 0), 'epoch-000003']);
      const [a, b] = await Promise.all([
        readFile(join(run, 'weights', 'model.safetensors')),
        readFile(join(run, 'weights', 'best', 'model.safetensors')),
      ]);
      assert.ok(!a.equals(b));
      // The kept weights are that epoch's: evaluated again, they score what the run recorded.
      const w = await openWeights(join(run, 'weights', 'best'));
      try {
        const again = await evaluateWeights({ weights: w, data, batchSize: 16, loaderThreads: 1 });
        assert.equal(again.acc1, top);
        assert.equal(again.count, 64);
      } finally {
        w.model.dispose();
      }
    }
    assert.equal(runs.summary.n, 2);
    assert.equal(runs.summary.acc1!.mean, (finals[0]! + finals[1]!) / 2);
    const file = JSON.parse(await readFile(join(out, SEEDS_FILE), 'utf8'));
    assert.deepEqual(file.summary, runs.summary);
  });

  it('tunes the resize of a finished model on two halves of the validation split', async () => {
    const w = await openWeights(join(dir, 'runs', 'seed-0', 'weights', 'best'));
    try {
      const t = await tuneResize({
        weights: w,
        data,
        grid: [16, 18, 20],
        batchSize: 16,
        loaderThreads: 1,
      });
      assert.deepEqual(
        t.grid.map((r) => [r.resize, r.select.count, r.confirm.count]),
        [
          [16, 32, 32],
          [18, 32, 32],
          [20, 32, 32],
        ],
      );
      const bestSelect = Math.max(...t.grid.map((r) => r.select.acc1));
      assert.equal(t.grid.find((r) => r.resize === t.chosen)!.select.acc1, bestSelect);
      assert.equal(t.current, 16);
      const at = (r: number) => t.grid.find((x) => x.resize === r)!.confirm.acc1;
      assert.equal(t.confirmGain, at(t.chosen) - at(16));
      // The two halves at the model's own resize make up the full-split figure.
      const full = await evaluateWeights({ weights: w, data, batchSize: 16, loaderThreads: 1 });
      const row16 = t.grid[0]!;
      assert.ok(
        Math.abs((row16.select.acc1 + row16.confirm.acc1) / 2 - full.acc1) < 1e-9,
        `${row16.select.acc1}, ${row16.confirm.acc1} vs ${full.acc1}`,
      );
    } finally {
      w.model.dispose();
    }
  });
});
