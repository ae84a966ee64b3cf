import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkQueue } from '../../../operator/queue.js';

describe('operator work queue', () => {
  it('dedupes a waiting key and never runs one key on two workers at once', async () => {
    const q = new WorkQueue({ concurrency: 4 });
    const running = new Set<string>();
    const runs: string[] = [];
    let overlap = false;
    q.add('a');
    q.add('a');
    q.add('b');
    q.start(async (key) => {
      if (running.has(key)) overlap = true;
      running.add(key);
      runs.push(key);
      if (runs.length === 1) q.add('a'); // added while processing: runs once more afterwards
      await sleep(20);
      running.delete(key);
    });
    await sleep(120);
    await q.shutdown();
    assert.equal(overlap, false);
    assert.deepEqual(runs.filter((k) => k === 'a').length, 2);
    assert.deepEqual(runs.filter((k) => k === 'b').length, 1);
  });

  it('backs off exponentially per key and starts over after forget', () => {
    const q = new WorkQueue({ concurrency: 1, baseDelayMs: 10, maxDelayMs: 50 });
    const delays = [1, 2, 3, 4].map(() => q.addRateLimited('k'));
    assert.deepEqual(delays, [10, 20, 40, 50]);
    q.forget('k');
    assert.equal(q.addRateLimited('k'), 10);
    void q.shutdown();
  });

  it('keeps the earliest of several addAfter schedules', async () => {
    const q = new WorkQueue({ concurrency: 1 });
    const seen: number[] = [];
    const t0 = Date.now();
    q.addAfter('k', 200);
    q.addAfter('k', 30);
    q.addAfter('k', 100);
    q.start(async () => {
      seen.push(Date.now() - t0);
    });
    await sleep(250);
    await q.shutdown();
    assert.equal(seen.length, 1);
    assert.ok(seen[0]! >= 25 && seen[0]! < 150, `ran after ${seen[0]} ms`);
  });

  it('shutdown waits for the reconcile in flight and takes no new keys', async () => {
    const q = new WorkQueue({ concurrency: 1 });
    let finished = false;
    q.start(async () => {
      await sleep(50);
      finished = true;
    });
    q.add('x');
    await sleep(5);
    await q.shutdown();
    assert.equal(finished, true);
    q.add('y');
    assert.equal(q.length, 0);
  });
});
