import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointStore, checkpointName } from '../../../trainer/checkpoint/store.js';
import { bestCheckpoints } from '../../../trainer/checkpoint/checkpointer.js';
import type { EpochMetrics } from '../../../trainer/report/metrics-log.js';
import { InputError } from '../../../common/errors.js';
import { openStorage, type Storage } from '../../../common/storage/storage.js';

const HASH = 'a'.repeat(64);

function state(epoch: number, stepInEpoch = 0) {
  return {
    epoch,
    stepInEpoch,
    globalStep: epoch * 100 + stepInEpoch,
    recipeHash: HASH,
    worldSize: 2,
    backend: 'cpu',
    extra: { note: `e${epoch}` },
  };
}

function files(seed: number): Map<string, Buffer> {
  return new Map([
    ['model.safetensors', Buffer.alloc(1000, seed)],
    ['optimizer.safetensors', Buffer.alloc(300, seed + 1)],
  ]);
}

/** A storage whose n-th put fails, as a crash in the middle of a checkpoint would. */
function failingOnPut(inner: Storage, n: number): Storage {
  let puts = 0;
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'put') {
        return async (...args: Parameters<Storage['put']>) => {
          if (++puts === n) throw new Error('simulated crash');
          return target.put(...args);
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

describe('CheckpointStore', () => {
  let dir: string;
  let storage: Storage;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-ckpt-'));
    storage = openStorage(dir);
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('names checkpoints by position and sorts mid-epoch after the epoch start', () => {
    assert.equal(checkpointName(5, 0), 'epoch-000005');
    assert.equal(checkpointName(5, 120), 'epoch-000005-step-0000120');
    assert.ok(checkpointName(5, 120) > checkpointName(5, 0));
    assert.ok(checkpointName(6, 0) > checkpointName(5, 120));
  });

  it('round-trips files and state bit-exactly', async () => {
    const store = new CheckpointStore(storage);
    await store.save(state(1), files(1));
    const loaded = await store.loadLatest({ expectedRecipeHash: HASH });
    assert.ok(loaded);
    assert.equal(loaded.name, 'epoch-000001');
    assert.deepEqual(loaded.state.extra, { note: 'e1' });
    assert.deepEqual(loaded.files.get('model.safetensors'), Buffer.alloc(1000, 1));
    assert.deepEqual(loaded.files.get('optimizer.safetensors'), Buffer.alloc(300, 2));
  });

  it('returns null when there is no checkpoint', async () => {
    assert.equal(await new CheckpointStore(storage).loadLatest({ expectedRecipeHash: HASH }), null);
  });

  it('leaves latest.json at the previous checkpoint when a save dies midway', async () => {
    await new CheckpointStore(storage).save(state(1), files(1));
    for (const n of [1, 2, 3, 4]) {
      // puts: model, optimizer, state.json, latest.json — die at each in turn
      const crashing = new CheckpointStore(failingOnPut(storage, n));
      await assert.rejects(crashing.save(state(2), files(2)), /simulated crash/);
      const loaded = await new CheckpointStore(storage).loadLatest({ expectedRecipeHash: HASH });
      assert.equal(loaded?.name, 'epoch-000001', `crash at put ${n}`);
    }
  });

  it('falls back to the previous checkpoint when a file is corrupt or truncated', async () => {
    const store = new CheckpointStore(storage);
    await store.save(state(1), files(1));
    await store.save(state(2), files(2));
    const victim = join(dir, 'checkpoints', 'epoch-000002', 'model.safetensors');
    const bytes = await readFile(victim);
    bytes[500] ^= 0xff;
    await writeFile(victim, bytes);
    assert.equal((await store.loadLatest({ expectedRecipeHash: HASH }))?.name, 'epoch-000001');
    await writeFile(victim, Buffer.alloc(10, 2));
    assert.equal((await store.loadLatest({ expectedRecipeHash: HASH }))?.name, 'epoch-000001');
  });

  it('refuses a checkpoint of another recipe unless allowed', async () => {
    const store = new CheckpointStore(storage);
    await store.save(state(1), files(1));
    const other = 'b'.repeat(64);
    await assert.rejects(store.loadLatest({ expectedRecipeHash: other }), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.match(err.message, /different recipe/);
      return true;
    });
    const allowed = await store.loadLatest({
      expectedRecipeHash: other,
      allowRecipeMismatch: true,
    });
    assert.equal(allowed?.name, 'epoch-000001');
  });

  it('keeps the newest K checkpoints', async () => {
    const store = new CheckpointStore(storage);
    await store.save(state(1), files(1));
    await store.save(state(2), files(2));
    await store.save(state(2, 50), files(3));
    await store.save(state(3), files(4));
    const deleted = await store.prune(2);
    assert.deepEqual(deleted.sort(), ['epoch-000001', 'epoch-000002']);
    assert.deepEqual(await store.list(), ['epoch-000003', 'epoch-000002-step-0000050']);
    assert.equal((await store.loadLatest({ expectedRecipeHash: HASH }))?.name, 'epoch-000003');
  });

  it('never prunes a pinned checkpoint (the best epoch’s), besides the newest K', async () => {
    const store = new CheckpointStore(storage);
    for (let e = 1; e <= 4; e++) await store.save(state(e), files(e));
    const deleted = await store.prune(1, ['epoch-000002']);
    assert.deepEqual(deleted.sort(), ['epoch-000001', 'epoch-000003']);
    assert.deepEqual(await store.list(), ['epoch-000004', 'epoch-000002']);
    // The pinned one stays loadable as a whole.
    const kept = await store.load('epoch-000002', { expectedRecipeHash: HASH });
    assert.deepEqual(kept.files.get('model.safetensors'), files(2).get('model.safetensors'));
  });
});

describe('bestCheckpoints', () => {
  const row = (epoch: number, acc1: number, emaAcc1: number | null): EpochMetrics => ({
    epoch,
    lr: 0.1,
    trainLoss: 1,
    trainAcc1: 0,
    trainAcc5: 0,
    imagesPerSec: 1,
    seconds: 1,
    acc1,
    acc5: 90,
    emaAcc1,
    emaAcc5: null,
    evalBiased: false,
  });

  it('pins the checkpoint that ends the best epoch by the recipe’s metric', () => {
    const history = [row(0, 40, 30), row(1, 60, 20), row(2, 50, 35)];
    // Epoch e ends in the checkpoint named for the start of epoch e + 1.
    assert.deepEqual(bestCheckpoints(history, 'acc1'), ['epoch-000002']);
    assert.deepEqual(bestCheckpoints(history, 'emaAcc1'), ['epoch-000003']);
    // Ties keep the earlier epoch, as weights/best/ does.
    assert.deepEqual(bestCheckpoints([row(0, 50, null), row(1, 50, null)], 'acc1'), [
      'epoch-000001',
    ]);
    assert.deepEqual(bestCheckpoints([], 'acc1'), []);
  });
});
