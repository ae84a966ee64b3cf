/**
 * Elastic resize keeps the run (issue 13, part 4): a 2-worker recipe loses a worker mid-epoch,
 * goes on as 1 worker running both original ranks as 2 accumulation micro-steps, then gets
 * its worker back — and ends with exactly the weights of a 2-worker run that was never
 * resized. Both runs pin one compute thread per worker: TensorFlow's kernels may sum in
 * another order with more threads, and the claim is about the schedule, not the kernels.
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
import { decodeSafetensors } from '../../../trainer/models/safetensors.js';
import { trainingBackends } from '../../support/backends.js';

// 256 images: the RA sampler gives each of 2 ranks 128 samples, 8 steps of 16 per epoch.
const DATA = 'synthetic:shapes?train=256&val=40&size=16';

async function tinySpec(output: string, cacheDir: string) {
  const { spec } = parseTrainingRecipe({
    workers: 2,
    data: { train: DATA, val: DATA },
    output,
    runPolicy: { elastic: { minWorkers: 1, maxWorkers: 2 } },
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
      checkpointEverySteps: 2,
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

function capture() {
  const lines: string[] = [];
  const out = {
    write: (s: string) => {
      lines.push(s);
      return true;
    },
    isTTY: false,
  } as unknown as NodeJS.WriteStream;
  return { out, lines };
}

/** Largest |a − b| over every tensor of two safetensors files. */
function maxAbsDiff(a: Uint8Array, b: Uint8Array): number {
  const ta = decodeSafetensors(a).tensors;
  const tb = decodeSafetensors(b).tensors;
  assert.deepEqual([...ta.keys()].sort(), [...tb.keys()].sort());
  let worst = 0;
  for (const [name, x] of ta) {
    const y = tb.get(name)!;
    for (let i = 0; i < x.data.length; i++) {
      worst = Math.max(worst, Math.abs(Number(x.data[i]) - Number(y.data[i])));
    }
  }
  return worst;
}

describe('elastic resize (local group)', function () {
  this.timeout(900_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-elastic-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  // One backend is enough for the schedule's claim (the resume test covers every backend).
  const backend = trainingBackends[0]!;
  it(`2 workers → 1 (2 accumulation steps) → 2 ends with the uninterrupted run's weights (${backend})`, async () => {
    const cacheDir = join(dir, 'cache');
    const common = {
      backend,
      workers: 2,
      cacheDir,
      allowRecipeChange: false,
      opTimeoutMs: 15_000,
      loaderThreads: 1,
      env: { [WorkerEnv.computeThreads]: '1' },
    };
    const a = join(dir, 'uninterrupted');
    const runA = capture();
    const summaryA = await launchLocal({
      ...common,
      out: runA.out,
      spec: await tinySpec(a, cacheDir),
      maxRestarts: 0,
    });
    assert.equal(summaryA.epochs, 2);

    const b = join(dir, 'elastic');
    const runB = capture();
    const resumed: Array<{ epoch: number; step: number }> = [];
    const summaryB = await launchLocal({
      ...common,
      out: runB.out,
      spec: await tinySpec(b, cacheDir),
      // Lost at step 5 of 16 (mid-epoch 0; last checkpoint at 4), back 5 steps later (after
      // the shrunk group crossed the epoch boundary and evaluated).
      simulateLoss: { atStep: 5, forSteps: 5 },
      maxRestarts: 0,
      onMessage: (m: WorkerMessage) => {
        if (m.type === 'resumed') resumed.push({ epoch: m.epoch, step: m.stepInEpoch });
      },
    });
    const text = runB.lines.join('');
    assert.match(
      text,
      /resizing the group 2 → 1 worker\(s\) \(rank 1 lost at step 5\); each runs 2 accumulation/,
    );
    assert.match(text, /resizing the group 1 → 2 worker\(s\) \(capacity returned at step \d+\)/);
    assert.equal(resumed.length, 2, `two resumes: ${JSON.stringify(resumed)}`);
    assert.deepEqual(resumed[0], { epoch: 0, step: 4 });
    assert.ok(resumed[1]!.epoch === 1, `grew back in epoch 2: ${JSON.stringify(resumed[1])}`);
    // The 1-worker group ran both original ranks as micro-steps.
    const log = await readFile(join(b, 'logs', 'worker-0.log'), 'utf8');
    assert.match(log, /"originalRanks":\[0,1\],"accumulationSteps":2/);

    for (const file of ['model.safetensors']) {
      const wa = await readFile(join(a, 'weights', file));
      const wb = await readFile(join(b, 'weights', file));
      const diff = maxAbsDiff(wa, wb);
      assert.ok(diff <= 1e-5, `${file}: max |Δ| = ${diff}`);
      // Two terms sum the same in either order: bit-identical is the claim at W = 2.
      assert.ok(wa.equals(wb), `${file} is bit-identical (max |Δ| = ${diff})`);
    }
    // Evaluation ran each original rank's slice with its own BatchNorm buffers: same counts.
    const rowsA = parseMetricsJsonl(await readFile(join(a, 'metrics.jsonl'), 'utf8'));
    const rowsB = parseMetricsJsonl(await readFile(join(b, 'metrics.jsonl'), 'utf8'));
    const keep = (r: (typeof rowsA)[number]) => [r.epoch, r.acc1, r.acc5, r.emaAcc1, r.emaAcc5];
    assert.deepEqual(rowsB.map(keep), rowsA.map(keep));
    assert.equal(summaryB.acc1, summaryA.acc1);
    assert.equal(summaryB.emaAcc1, summaryA.emaAcc1);
  });
});
