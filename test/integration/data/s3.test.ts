import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { InputError, NotFoundError } from '../../../common/errors.js';
import {
  importFashionMnistImageFolder,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIR,
} from '../../../trainer/data/fashion-mnist.js';
import { DataLoader, type Batch } from '../../../trainer/data/loader.js';
import { packImageFolder } from '../../../trainer/data/pack.js';
import { samplerFor } from '../../../trainer/data/sampler.js';
import { CorruptSampleError, readIndex } from '../../../trainer/data/shard-index.js';
import { writeSyntheticImageFolder } from '../../../trainer/data/synthetic.js';
import type { TransformSpec } from '../../../trainer/data/transform-spec.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../../trainer/data/transforms/normalize.js';
import { LocalStorage } from '../../../common/storage/local-storage.js';
import { S3Storage } from '../../../common/storage/s3-storage.js';
import { openStorage, type Storage, type StorageOptions } from '../../../common/storage/storage.js';
import { minioBinary, startMinio, type MinioServer } from '../../../harness/minio.js';

const run = promisify(execFile);
const spec: TransformSpec = {
  kind: 'preset',
  config: {
    mode: 'train',
    cropSize: 16,
    resizeSize: 16,
    interpolation: 'bilinear',
    hflipProb: 0.5,
    autoAugment: 'ta_wide',
    randomErase: 0.1,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
  },
};

async function collect(it: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

describe('data on S3 (MinIO)', function () {
  this.timeout(180_000);
  let dir: string;
  let minio: MinioServer;
  let opts: StorageOptions;
  const opened: Storage[] = [];
  const s3 = (uri: string, extra: StorageOptions = {}) => {
    const st = openStorage(uri, { ...opts, ...extra });
    opened.push(st);
    return st;
  };

  before(async function () {
    if (!minioBinary()) {
      console.log('    (skipped: no MinIO binary; set MINIO_BIN or run .ci/setup.d/20-minio.sh)');
      this.skip();
    }
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rm-s3-'));
    minio = await startMinio({ dir: path.join(dir, 'minio') });
    await minio.createBucket('data');
    opts = { endpoint: minio.endpoint, credentials: minio.credentials, retryBaseMs: 100 };
    await writeSyntheticImageFolder(path.join(dir, 'tree'), { train: 60, val: 20, size: 32 });
  });
  after(async () => {
    for (const st of opened) st.close();
    await minio?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('storage: objects, ranged GETs, multipart upload, listing', async () => {
    const st = s3('s3://data/basic');
    await st.put('a/one.txt', Buffer.from('hello ranged world'));
    assert.equal((await st.get('a/one.txt')).toString(), 'hello ranged world');
    assert.equal((await st.getRange('a/one.txt', 6, 6)).toString(), 'ranged');
    assert.equal((await st.getRange('a/one.txt', 13, 100)).toString(), 'world');
    assert.equal((await st.getRange('a/one.txt', 500, 10)).length, 0);
    const big = Buffer.alloc(21 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    await st.put('big.bin', big); // > 16 MiB: multipart
    assert.equal(await st.size('big.bin'), big.length);
    const off = 17 * 1024 * 1024 + 4096 * 3;
    assert.deepEqual(await st.getRange('big.bin', off, 8192), big.subarray(off, off + 8192));
    assert.deepEqual(await st.list(''), ['a/one.txt', 'big.bin']);
    assert.deepEqual(await st.list('a/'), ['a/one.txt']);
    assert.equal(await st.exists('nope'), false);
    await st.delete('big.bin');
    assert.equal(await st.exists('big.bin'), false);
  });

  it('errors: missing object, missing bucket, bad credentials name the URI', async () => {
    await assert.rejects(s3('s3://data/basic').get('missing.json'), (e: unknown) => {
      assert.ok(e instanceof NotFoundError, String(e));
      assert.match(e.message, /s3:\/\/data\/basic\/missing\.json/);
      return true;
    });
    await assert.rejects(s3('s3://no-such-bucket/x').get('index.json'), (e: unknown) => {
      assert.ok(e instanceof NotFoundError, String(e));
      assert.match(e.message, /bucket not found: s3:\/\/no-such-bucket/);
      return true;
    });
    const bad = s3('s3://data/basic', {
      credentials: { accessKeyId: 'wrong', secretAccessKey: 'wrong-secret' },
    });
    const t0 = Date.now();
    await assert.rejects(bad.get('a/one.txt'), (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      assert.match(e.message, /access denied to s3:\/\/data\/basic\/a\/one\.txt.*credentials/);
      return true;
    });
    assert.ok(Date.now() - t0 < 5000, 'credential errors are not retried');
  });

  it('pack into MinIO, read back by ranged GETs: same batches as from local shards', async () => {
    const remote = s3('s3://data/synthetic/train');
    const res = await packImageFolder(path.join(dir, 'tree', 'train'), remote, {
      split: 'train',
      samplesPerShard: 16,
    });
    assert.equal(res.shardsWritten, 4);
    const index = await readIndex(remote);
    assert.equal(index.numSamples, 60);
    const local = new LocalStorage(path.join(dir, 'local-train'));
    await packImageFolder(path.join(dir, 'tree', 'train'), local, {
      split: 'train',
      samplesPerShard: 16,
    });
    assert.deepEqual(await readIndex(local), index, 'byte-identical shards locally and in S3');
    const indices = samplerFor('random', { n: 60, seed: 3 }).indices(1);
    const load = async (storage: Storage) => {
      const loader = await DataLoader.create({
        storage,
        transform: spec,
        workers: 1,
        maxGapBytes: 0,
      });
      try {
        const batches = await collect(loader.epoch({ epoch: 1, indices, batchSize: 16, seed: 3 }));
        return { batches, requests: loader.fetchStats.requests };
      } finally {
        await loader.close();
      }
    };
    const a = await load(remote);
    const b = await load(local);
    assert.equal(a.batches.length, 4);
    assert.ok(a.requests >= 4, 'ranged reads, not whole shards');
    a.batches.forEach((x, i) => assert.deepEqual(x.images, b.batches[i]!.images));
  });

  it('MinIO killed mid-epoch: the loader retries and finishes with the same batches', async () => {
    const remote = s3('s3://data/synthetic/train', { retries: 8, retryBaseMs: 200 });
    const indices = samplerFor('random', { n: 60, seed: 9 }).indices(0);
    const reference = await (async () => {
      const l = await DataLoader.create({ storage: remote, transform: spec, workers: 0 });
      try {
        return await collect(l.epoch({ epoch: 0, indices, batchSize: 6, seed: 9 }));
      } finally {
        await l.close();
      }
    })();
    // No read-ahead budget: one batch's ranges at a time, so batches after the kill still
    // have to be read (with the default budget the whole 60-sample epoch is one window, read
    // before the outage).
    const loader = await DataLoader.create({
      storage: remote,
      transform: spec,
      workers: 0,
      prefetch: 1,
      readAheadBytes: 0,
    });
    const got: Batch[] = [];
    let restarted: Promise<void> | undefined;
    try {
      for await (const b of loader.epoch({ epoch: 0, indices, batchSize: 6, seed: 9 })) {
        got.push(b);
        if (got.length === 2) {
          await minio.kill();
          restarted = new Promise((r) => setTimeout(r, 2000)).then(() => minio.start());
        }
      }
    } finally {
      await restarted;
      await loader.close();
    }
    assert.equal(got.length, reference.length);
    got.forEach((b, i) => assert.deepEqual(b.images, reference[i]!.images));
    assert.ok((remote as S3Storage).retriedAttempts > 0, 'the outage was hit and retried');
  });

  it('a corrupt or truncated shard in S3 is reported with its shard URI and key', async () => {
    const remote = s3('s3://data/synthetic/train');
    const index = await readIndex(remote);
    const shard = index.shards[2]!;
    const victim = shard.members[5]!;
    const orig = await remote.get(shard.name);
    const corrupt = Buffer.from(orig);
    corrupt[victim.offset + 7] ^= 0x55;
    const broken = s3('s3://data/broken/train');
    for (const s of index.shards)
      await broken.put(s.name, s.name === shard.name ? corrupt : await remote.get(s.name));
    await broken.put('index.json', await remote.get('index.json'));
    const loader = await DataLoader.create({ storage: broken, transform: spec, workers: 0 });
    try {
      const all = samplerFor('sequential', { n: 60 }).indices(0);
      await assert.rejects(
        collect(loader.epoch({ epoch: 0, indices: all, batchSize: 60, seed: 0 })),
        (e: unknown) => {
          assert.ok(e instanceof CorruptSampleError, String(e));
          assert.ok(
            e.message.includes(`s3://data/broken/train/${shard.name}`) &&
              e.message.includes(victim.key),
            e.message,
          );
          return true;
        },
      );
      await broken.put(shard.name, orig.subarray(0, victim.offset + 50));
      await assert.rejects(
        collect(loader.epoch({ epoch: 0, indices: all, batchSize: 60, seed: 0 })),
        (e: unknown) => {
          assert.ok(
            e instanceof CorruptSampleError && e.key === victim.key && /truncated/.test(e.message),
            String(e),
          );
          return true;
        },
      );
    } finally {
      await loader.close();
    }
  });

  it('ringmaster pack of a Fashion-MNIST import into MinIO and back; bad credentials exit 2', async function () {
    if (
      !(await fs.access(FASHION_MNIST_DIR).then(
        () => true,
        () => false,
      ))
    )
      this.skip();
    const tree = path.join(dir, 'fmnist');
    await importFashionMnistImageFolder(tree, { limit: 300 });
    const bin = path.resolve('bin/ringmaster.js');
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: minio.accessKey,
      AWS_SECRET_ACCESS_KEY: minio.secretKey,
      RINGMASTER_S3_ENDPOINT: minio.endpoint,
    };
    const r = await run(
      process.execPath,
      [
        bin,
        'pack',
        path.join(tree, 'val'),
        's3://data/fmnist/val',
        '--split',
        'val',
        '--shard-size',
        '40KB',
      ],
      { env },
    );
    assert.match(r.stderr, /packed 300 samples of 10 classes/);
    const remote = s3('s3://data/fmnist/val');
    const index = await readIndex(remote);
    assert.equal(index.numSamples, 300);
    assert.ok(index.shards.length > 1 && index.shards.every((s) => s.size <= 40_000));
    assert.deepEqual(
      index.classes,
      FASHION_MNIST_CLASSES.map((c, i) => `${i}-${c.replace(/[/ ]/g, '_')}`),
    );
    const loader = await DataLoader.create({
      storage: remote,
      transform: {
        kind: 'preset',
        config: { ...spec.config, mode: 'eval', cropSize: 28, resizeSize: 28 },
      } as TransformSpec,
      workers: 2,
    });
    try {
      const batches = await collect(
        loader.epoch({
          epoch: 0,
          indices: samplerFor('sequential', { n: 300 }).indices(0),
          batchSize: 100,
          seed: 0,
        }),
      );
      const labels = batches.flatMap((b) => Array.from(b.labels));
      const files = (await fs.readdir(path.join(tree, 'val'), { recursive: true }))
        .filter((f) => f.endsWith('.png'))
        .sort();
      assert.deepEqual(
        labels,
        files.map((f) => Number(f.split('-')[0])),
      );
      // Gray images stay gray through the RGB pipeline: the three channels agree (before normalization).
      const px = batches[0]!.images;
      const r0 = px[3 * 400]! * 0.229 + 0.485;
      const g0 = px[3 * 400 + 1]! * 0.224 + 0.456;
      assert.ok(Math.abs(r0 - g0) < 1e-5);
    } finally {
      await loader.close();
    }
    await assert.rejects(
      run(process.execPath, [bin, 'pack', path.join(tree, 'val'), 's3://data/fmnist/val2'], {
        env: { ...env, AWS_SECRET_ACCESS_KEY: 'not-the-secret' },
      }),
      (e: { code: number; stderr: string }) => {
        assert.equal(e.code, 2, e.stderr);
        assert.match(e.stderr, /ringmaster: access denied to s3:\/\/data\/fmnist\/val2\//);
        return true;
      },
    );
  });
});
