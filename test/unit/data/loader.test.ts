import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { stepsPerEpoch } from '../../../trainer/data/epoch-length.js';
import { DataLoader, type Batch } from '../../../trainer/data/loader.js';
import { samplerFor } from '../../../trainer/data/sampler.js';
import { CorruptSampleError, readIndex } from '../../../trainer/data/shard-index.js';
import { packSynthetic, SHAPE_CLASSES } from '../../../trainer/data/synthetic.js';
import type { TransformSpec } from '../../../trainer/data/transform-spec.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../../trainer/data/transforms/normalize.js';
import { LocalStorage } from '../../../common/storage/local-storage.js';

const common = { interpolation: 'bilinear' as const, mean: IMAGENET_MEAN, std: IMAGENET_STD };
const evalSpec: TransformSpec = {
  kind: 'preset',
  config: {
    ...common,
    mode: 'eval',
    cropSize: 24,
    resizeSize: 28,
    hflipProb: 0,
    autoAugment: null,
    randomErase: 0,
  },
};
const trainSpec: TransformSpec = {
  kind: 'preset',
  config: {
    ...common,
    mode: 'train',
    cropSize: 16,
    resizeSize: 16,
    hflipProb: 0.5,
    autoAugment: 'ta_wide',
    randomErase: 0.25,
  },
};

async function collect(it: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

describe('data loader', function () {
  this.timeout(60_000);
  let dir: string;
  let storage: LocalStorage;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rm-loader-'));
    storage = new LocalStorage(path.join(dir, 'train'));
    await packSynthetic(
      'train',
      storage,
      { train: 50, size: 32 },
      { samplesPerShard: 16, verify: 'size' },
    );
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('yields NHWC normalized batches with the right labels and ids, keeping the last partial batch', async () => {
    const loader = await DataLoader.create({ storage, transform: evalSpec, workers: 0 });
    try {
      assert.deepEqual(loader.classes, [...SHAPE_CLASSES]);
      const indices = samplerFor('sequential', { n: loader.numSamples }).indices(0);
      const batches = await collect(loader.epoch({ epoch: 0, indices, batchSize: 16, seed: 1 }));
      assert.equal(batches.length, stepsPerEpoch(50, 16));
      assert.deepEqual(
        batches.map((b) => b.batchSize),
        [16, 16, 16, 2],
      );
      const idx = await readIndex(storage);
      const labels = idx.shards.flatMap((s) => s.members.map((m) => m.label));
      for (const b of batches) {
        assert.equal(b.images.length, b.batchSize * 24 * 24 * 3);
        assert.deepEqual(
          Array.from(b.labels),
          Array.from(b.sampleIds).map((i) => labels[i]),
        );
        const mean = b.images.reduce((a, x) => a + x, 0) / b.images.length;
        assert.ok(
          Math.abs(mean) < 2.5 && b.images.every(Number.isFinite),
          `normalized range, mean ${mean}`,
        );
      }
      assert.deepEqual(
        Array.from(batches.flatMap((b) => Array.from(b.sampleIds))),
        Array.from(indices),
      );
      // Sorted by class in ImageFolder order: the labels are non-decreasing over the epoch.
      const all = batches.flatMap((b) => Array.from(b.labels));
      assert.ok(all.every((l, i) => i === 0 || l >= all[i - 1]!));
      // Coalescing: a sequential epoch reads each shard region in few requests.
      assert.ok(loader.fetchStats.requests <= 8, `requests ${loader.fetchStats.requests}`);
      const dropped = await collect(
        loader.epoch({ epoch: 0, indices, batchSize: 16, seed: 1, dropLast: true }),
      );
      assert.equal(dropped.length, 3);
    } finally {
      await loader.close();
    }
  });

  it('is deterministic across worker counts and resumable from a step', async () => {
    const n = 50;
    const indices = samplerFor('distributed', { n, rank: 1, worldSize: 2, seed: 5 }).indices(3);
    const run = async (workers: number, startStep = 0) => {
      const loader = await DataLoader.create({
        storage,
        transform: trainSpec,
        workers,
        prefetch: 3,
      });
      try {
        return await collect(
          loader.epoch({
            epoch: 3,
            indices,
            batchSize: 8,
            seed: 5,
            rank: 1,
            worldSize: 2,
            startStep,
          }),
        );
      } finally {
        await loader.close();
      }
    };
    const inline = await run(0);
    const pooled = await run(2);
    assert.equal(inline.length, 4);
    // The workers wrote the images into the batch's shared memory (no copy on this thread).
    for (const b of pooled) assert.ok(b.images.buffer instanceof SharedArrayBuffer);
    for (let i = 0; i < inline.length; i++) {
      assert.deepEqual(pooled[i]!.sampleIds, inline[i]!.sampleIds);
      assert.deepEqual(
        pooled[i]!.images,
        inline[i]!.images,
        `batch ${i} equal with 0 and 2 workers`,
      );
    }
    const resumed = await run(2, 2);
    assert.deepEqual(
      resumed.map((b) => b.step),
      [2, 3],
    );
    assert.deepEqual(resumed[0]!.images, inline[2]!.images);
    // Another epoch (or another seed) augments differently.
    const loader = await DataLoader.create({ storage, transform: trainSpec, workers: 0 });
    const other = await collect(
      loader.epoch({ epoch: 4, indices, batchSize: 8, seed: 5, rank: 1, worldSize: 2 }),
    );
    await loader.close();
    assert.notDeepEqual(other[0]!.images, inline[0]!.images);
  });

  it('repeats of one image (RA) get different augmentations', async () => {
    const loader = await DataLoader.create({ storage, transform: trainSpec, workers: 0 });
    try {
      const indices = Uint32Array.from([7, 7, 7, 7]);
      const [b] = await collect(loader.epoch({ epoch: 0, indices, batchSize: 4, seed: 0 }));
      const size = 16 * 16 * 3;
      const imgs = [0, 1, 2, 3].map((k) => b!.images.subarray(k * size, (k + 1) * size));
      assert.ok(imgs.some((x, k) => k > 0 && x.some((v, j) => v !== imgs[0]![j])));
    } finally {
      await loader.close();
    }
  });

  it('reports a corrupt or truncated member with its shard and key', async () => {
    const bad = new LocalStorage(path.join(dir, 'bad'));
    await packSynthetic(
      'train',
      bad,
      { train: 20, size: 32 },
      { samplesPerShard: 10, verify: 'size' },
    );
    const idx = await readIndex(bad);
    const victim = idx.shards[1]!.members[3]!;
    const file = path.join(bad.root, idx.shards[1]!.name);
    const buf = await fs.readFile(file);
    buf[victim.offset + 100] ^= 0xff;
    await fs.writeFile(file, buf);
    const loader = await DataLoader.create({ storage: bad, transform: evalSpec, workers: 0 });
    try {
      const all = samplerFor('sequential', { n: 20 }).indices(0);
      await assert.rejects(
        collect(loader.epoch({ epoch: 0, indices: all, batchSize: 20, seed: 0 })),
        (e: unknown) => {
          assert.ok(e instanceof CorruptSampleError);
          assert.equal(e.key, victim.key);
          assert.ok(
            e.message.includes(idx.shards[1]!.name) &&
              e.message.includes(victim.key) &&
              /CRC/.test(e.message),
            e.message,
          );
          return true;
        },
      );
      // Truncate the first shard in the middle of its 5th image.
      const first = path.join(bad.root, idx.shards[0]!.name);
      const m = idx.shards[0]!.members[4]!;
      await fs.truncate(first, m.offset + 10);
      await assert.rejects(
        collect(loader.epoch({ epoch: 0, indices: all.slice(0, 8), batchSize: 8, seed: 0 })),
        (e: unknown) => {
          assert.ok(e instanceof CorruptSampleError);
          assert.equal(e.key, m.key);
          assert.match(e.message, /truncated/);
          return true;
        },
      );
    } finally {
      await loader.close();
    }
  });

  it('an image that does not decode is reported with its shard and key', async () => {
    const bad = new LocalStorage(path.join(dir, 'undecodable'));
    await packSynthetic('train', bad, { train: 10, size: 32 }, { verify: 'size' });
    // Rewrite one member as garbage and fix its CRC in the index: the bytes arrive intact but do not decode.
    const idx = await readIndex(bad);
    const m = idx.shards[0]!.members[2]!;
    const file = path.join(bad.root, idx.shards[0]!.name);
    const buf = await fs.readFile(file);
    buf.fill(0x42, m.offset, m.offset + m.length);
    await fs.writeFile(file, buf);
    const { crc32 } = await import('node:zlib');
    m.crc32 = crc32(buf.subarray(m.offset, m.offset + m.length)) >>> 0;
    const loader = await DataLoader.create({
      storage: bad,
      index: idx,
      transform: evalSpec,
      workers: 1,
    });
    try {
      await assert.rejects(
        collect(
          loader.epoch({
            epoch: 0,
            indices: Uint32Array.from([0, 1, 2, 3]),
            batchSize: 4,
            seed: 0,
          }),
        ),
        (e: unknown) => {
          assert.ok(e instanceof CorruptSampleError && e.key === m.key, String(e));
          return true;
        },
      );
    } finally {
      await loader.close();
    }
  });

  it('serves reads from a local cache directory after the first epoch', async () => {
    const cacheDir = path.join(dir, 'cache');
    const loader = await DataLoader.create({ storage, transform: evalSpec, workers: 0, cacheDir });
    try {
      const indices = samplerFor('random', { n: 50, seed: 2 }).indices(0);
      const a = await collect(loader.epoch({ epoch: 0, indices, batchSize: 25, seed: 0 }));
      const cached = (await fs.readdir(cacheDir, { recursive: true })).filter((f) =>
        f.endsWith('.tar'),
      );
      assert.equal(cached.length, 4);
      const b = await collect(loader.epoch({ epoch: 0, indices, batchSize: 25, seed: 0 }));
      assert.deepEqual(a[1]!.images, b[1]!.images);
    } finally {
      await loader.close();
    }
  });
});

describe('transform pool lifecycle', function () {
  this.timeout(60_000);
  it('closing while batches are in flight neither hangs nor crashes, and later use fails cleanly', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rm-pool-'));
    try {
      const storage = new LocalStorage(dir);
      await packSynthetic('train', storage, { train: 40, size: 32 }, { verify: 'size' });
      const loader = await DataLoader.create({
        storage,
        transform: trainSpec,
        workers: 2,
        prefetch: 4,
      });
      const indices = samplerFor('random', { n: 40, seed: 0 }).indices(0);
      const it = loader.epoch({ epoch: 0, indices, batchSize: 4, seed: 0 });
      const first = await it.next();
      assert.equal(first.done, false);
      await it.return(undefined); // stop early: prefetched batches are still being transformed
      await loader.close();
      await assert.rejects(
        loader.epoch({ epoch: 0, indices, batchSize: 4, seed: 0 }).next(),
        /transform pool closed/,
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
