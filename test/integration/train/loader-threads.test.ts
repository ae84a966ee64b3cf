/**
 * A worker started as the operator starts it sizes its data loader from its CPU share: the
 * test gives `ringmaster worker` a fake cgroup (RINGMASTER_CGROUP_ROOT) and reads the chosen
 * thread counts from the worker's first log lines, then stops the worker by its PID.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WorkerEnv } from '../../../api/names.js';
import { parseTrainingRecipe } from '../../../api/load.js';
import type { ThreadPlan } from '../../../trainer/thread-plan.js';

const BIN = fileURLToPath(new URL('../../../bin/ringmaster.js', import.meta.url));
const DATA = 'synthetic:shapes?train=64&val=16&size=16';

interface PlanLine extends ThreadPlan {
  msg: string;
}

/** Starts a worker, returns its `threads:` log record, and kills it. */
async function firstThreadsLine(env: Record<string, string>): Promise<PlanLine> {
  const child = spawn(process.execPath, [BIN, 'worker'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines: string[] = [];
  try {
    return await new Promise<PlanLine>((resolve, reject) => {
      createInterface({ input: child.stderr! }).on('line', (line) => {
        lines.push(line);
        try {
          const rec = JSON.parse(line) as PlanLine;
          if (typeof rec.msg === 'string' && rec.msg.startsWith('threads:')) resolve(rec);
        } catch {
          // not a log record
        }
      });
      child.on('exit', (code) =>
        reject(new Error(`worker exited (${code}) before its threads line:\n${lines.join('\n')}`)),
      );
    });
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

describe('worker: loader threads from the pod', function () {
  this.timeout(120_000);
  let dir: string;
  let recipe: string;
  let cgroup: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-threads-'));
    cgroup = join(dir, 'cgroup');
    await mkdir(cgroup);
    const { spec } = parseTrainingRecipe({
      workers: 1,
      gpusPerWorker: 1,
      data: { train: DATA, val: DATA },
      output: join(dir, 'out'),
      recipe: {
        model: 'resnet_mini',
        batchSize: 4,
        epochs: 1,
        lrWarmupEpochs: 0,
        trainCropSize: 16,
        valResizeSize: 16,
        valCropSize: 16,
      },
    });
    recipe = join(dir, 'recipe.json');
    await writeFile(recipe, JSON.stringify(spec));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const base = () => ({
    [WorkerEnv.recipe]: recipe,
    [WorkerEnv.cgroupRoot]: cgroup,
    [WorkerEnv.cacheDir]: join(dir, 'cache'),
    [WorkerEnv.backend]: 'cpu',
  });

  it('a half-core cgroup v2 quota gives one core: one compute and one loader thread', async () => {
    await writeFile(join(cgroup, 'cpu.max'), '50000 100000\n');
    const p = await firstThreadsLine(base());
    assert.equal(p.cores, 1);
    assert.equal(p.coresSource, 'cgroup cpu.max');
    assert.equal(p.computeThreads, 1);
    assert.equal(p.loaderWorkers, 1);
    assert.equal(p.loaderSource, 'derived');
  });

  it('no quota: the machine minus the step’s core, at least one (GPU worker)', async () => {
    await writeFile(join(cgroup, 'cpu.max'), 'max 100000\n');
    const p = await firstThreadsLine(base());
    assert.equal(p.cores, availableParallelism());
    assert.equal(p.loaderWorkers, Math.max(1, availableParallelism() - 1));
    // batch 4: two queued samples per thread need ceil(2·threads / 4) batches, at least 2.
    assert.equal(p.prefetchBatches, Math.max(2, Math.ceil((2 * p.loaderWorkers) / 4)));
  });

  it('spec.dataLoader as the operator passes it wins over the quota', async () => {
    await writeFile(join(cgroup, 'cpu.max'), '50000 100000\n');
    const p = await firstThreadsLine({
      ...base(),
      [WorkerEnv.loaderWorkers]: '3',
      [WorkerEnv.prefetchBatches]: '5',
    });
    assert.equal(p.cores, 1);
    assert.equal(p.loaderWorkers, 3);
    assert.equal(p.prefetchBatches, 5);
    assert.equal(p.loaderSource, 'spec');
  });

  it('an invalid override stops the worker with an error that names the variable', async () => {
    await assert.rejects(
      firstThreadsLine({ ...base(), [WorkerEnv.loaderWorkers]: 'many' }),
      /RINGMASTER_LOADER_WORKERS/,
    );
  });
});
