/**
 * The training group end to end on this machine: a run killed mid-epoch restarts as a whole
 * group, resumes from the last checkpoint, and ends with exactly the weights of a run that was
 * never interrupted.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkerEnv } from '../../../api/names.js';
import { resolveDataUri } from '../../../trainer/data/resolve.js';
import { launchLocal } from '../../../trainer/local/launcher.js';
import type { WorkerMessage } from '../../../trainer/local/messages.js';
import { parseTrainingRecipe } from '../../../api/load.js';
import { parseMetricsJsonl } from '../../../trainer/report/metrics-log.js';
import { trainingBackends } from '../../support/backends.js';

const DATA = 'synthetic:shapes?train=512&val=40&size=16';

async function tinySpec(output: string, cacheDir: string) {
  const { spec } = parseTrainingRecipe({
    workers: 2,
    data: { train: DATA, val: DATA },
    output,
    recipe: {
      model: 'resnet_mini',
      batchSize: 16,
      epochs: 2,
      lr: 0.1,
      lrWarmupEpochs: 1,
      trainCropSize: 16,
      valResizeSize: 16,
      valCropSize: 16,
      modelEmaSteps: 2,
      checkpointEverySteps: 5,
    },
  });
  return {
    ...spec,
    data: {
      train: await resolveDataUri(DATA, 'train', { cacheDir }),
      val: await resolveDataUri(DATA, 'val', { cacheDir }),
    },
  };
}

const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

describe('local training group', function () {
  this.timeout(600_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-train-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  // Bit-identical within one backend: each backend's kernels sum in their own order.
  for (const backend of trainingBackends) {
    it(`resumes a killed group from a mid-epoch checkpoint and ends bit-identical (${backend})`, async () => {
      const cacheDir = join(dir, 'cache');
      const common = {
        backend,
        workers: 2,
        cacheDir,
        allowRecipeChange: false,
        out: quiet,
        opTimeoutMs: 15_000,
        loaderThreads: 1,
        // The overlapped all-reduce ('auto' picks it on GPUs only) must resume bit-identical too.
        env: { [WorkerEnv.overlapAllReduce]: 'on' },
      };

      const a = join(dir, backend, 'uninterrupted');
      const summaryA = await launchLocal({
        ...common,
        spec: await tinySpec(a, cacheDir),
        maxRestarts: 0,
      });
      assert.equal(summaryA.epochs, 2);

      const b = join(dir, backend, 'killed');
      const seen: WorkerMessage[] = [];
      let killedAt = 0;
      let resumedAfterMs = 0;
      const summaryB = await launchLocal({
        ...common,
        spec: await tinySpec(b, cacheDir),
        maxRestarts: 1,
        onMessage: (m, group) => {
          seen.push(m);
          if (!killedAt && m.type === 'progress' && m.epoch === 1 && m.step === 8) {
            killedAt = Date.now();
            group.kill(1, 'SIGKILL');
          }
          if (m.type === 'resumed') resumedAfterMs = Date.now() - killedAt;
        },
      });
      assert.ok(killedAt > 0, 'the fault was injected');
      const resumed = seen.find((m) => m.type === 'resumed');
      assert.deepEqual(resumed && { epoch: resumed.epoch, step: resumed.stepInEpoch }, {
        epoch: 1,
        step: 5,
      });
      // The survivor fails within the collective deadline, the group restarts and rejoins.
      assert.ok(resumedAfterMs < 60_000, `resumed ${resumedAfterMs} ms after the kill`);

      const weightsA = await readFile(join(a, 'weights', 'model.safetensors'));
      const weightsB = await readFile(join(b, 'weights', 'model.safetensors'));
      assert.ok(weightsA.equals(weightsB), 'the resumed run ends with the same weights');
      assert.equal(summaryB.acc1, summaryA.acc1);
      assert.equal(summaryB.emaAcc1, summaryA.emaAcc1);

      const rows = parseMetricsJsonl(await readFile(join(b, 'metrics.jsonl'), 'utf8'));
      assert.deepEqual(
        rows.map((r) => r.epoch),
        [0, 1],
      );
      const meta = JSON.parse(await readFile(join(b, 'weights', 'meta.json'), 'utf8')) as {
        arch: string;
        categories: string[];
        ema: boolean;
      };
      assert.equal(meta.arch, 'resnet_mini');
      assert.equal(meta.categories.length, 10);
      assert.equal(meta.ema, true);
      const report = await readFile(join(b, 'report.html'), 'utf8');
      assert.match(report, /<svg/);
    });
  }
});
