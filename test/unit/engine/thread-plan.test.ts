import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sanitizeProgress } from '../../../api/progress.js';
import { cpuShare } from '../../../trainer/engine/threads.js';
import { describeThreadPlan, planThreads } from '../../../trainer/thread-plan.js';

describe('thread plan: the loader gets what the step leaves', () => {
  const base = { coresSource: 'test', computeThreads: 0, batchSize: 128 };

  it('a 16-core GPU pod: 15 loader threads, the step keeps one core', () => {
    const p = planThreads({ ...base, cores: 16, gpu: true });
    assert.equal(p.loaderWorkers, 15);
    assert.equal(p.computeThreads, 16);
    assert.equal(p.prefetchBatches, 2);
    assert.equal(p.loaderSource, 'derived');
    assert.match(describeThreadPlan(p), /16 cores \(test\) → compute 16, loader 15, prefetch 2/);
  });

  it('a CPU worker: compute takes the cores, the loader one thread beside it', () => {
    assert.equal(planThreads({ ...base, cores: 8, gpu: false }).loaderWorkers, 1);
    assert.equal(
      planThreads({ ...base, cores: 8, gpu: false, computeThreads: 5 }).loaderWorkers,
      3,
    );
  });

  it('small batches prefetch enough to keep every thread busy', () => {
    const p = planThreads({ ...base, cores: 33, gpu: true, batchSize: 8 });
    assert.equal(p.loaderWorkers, 32);
    assert.equal(p.prefetchBatches, 8);
  });

  it('spec.dataLoader overrides, 0 included (decode on the training thread)', () => {
    const p = planThreads({ ...base, cores: 16, gpu: true, loaderWorkers: 0 });
    assert.equal(p.loaderWorkers, 0);
    assert.equal(p.prefetchBatches, 2);
    assert.equal(p.loaderSource, 'spec');
  });
});

describe('CPU share: limit, then request, then the machine', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'rm-cgroup-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('takes the request when the cgroup has no limit, the limit when it has one', () => {
    writeFileSync(join(root, 'cpu.max'), 'max 100000\n');
    const req = cpuShare(root, 500);
    assert.deepEqual(req, { cores: 1, source: 'cpu request' });
    writeFileSync(join(root, 'cpu.max'), '100000 100000\n');
    assert.equal(cpuShare(root, 8000).source, 'cgroup cpu.max');
    writeFileSync(join(root, 'cpu.max'), 'max 100000\n');
    assert.equal(cpuShare(root, 1000 * (availableParallelism() + 1)).cores, availableParallelism());
  });
});

describe('progress.json → status.workerThreads', () => {
  it('keeps valid thread figures and drops the rest', () => {
    const r = sanitizeProgress({
      threads: {
        cores: 8,
        coresSource: 'cgroup cpu.max',
        computeThreads: 8,
        loaderWorkers: 7,
        prefetchBatches: -1,
        loaderSource: 'guess',
      },
    });
    assert.deepEqual(r?.workerThreads, {
      cores: 8,
      coresSource: 'cgroup cpu.max',
      computeThreads: 8,
      loaderWorkers: 7,
    });
    assert.equal(sanitizeProgress({ threads: 'x' })?.workerThreads, undefined);
  });
});
