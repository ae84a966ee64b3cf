import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { InputError } from '../../../common/errors.js';
import {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIR,
  importFashionMnistImageFolder,
  packFashionMnist,
  readFashionMnist,
} from '../../../trainer/data/fashion-mnist.js';
import { scanImageFolder } from '../../../trainer/data/image-folder.js';
import { resolveDataUri } from '../../../trainer/data/resolve.js';
import { readIndex } from '../../../trainer/data/shard-index.js';
import {
  generateSplit,
  SHAPE_CLASSES,
  writeSyntheticImageFolder,
} from '../../../trainer/data/synthetic.js';
import { LocalStorage } from '../../../common/storage/local-storage.js';

const run = promisify(execFile);
const haveFashion = async () =>
  fs.access(path.join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')).then(
    () => true,
    () => false,
  );

describe('datasets', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rm-ds-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('synthetic shapes: deterministic, balanced, varied JPEGs', async () => {
    const a = await generateSplit('val', { val: 40, size: 32 });
    const b = await generateSplit('val', { val: 40, size: 32 });
    assert.deepEqual(
      a.map((x) => x.jpeg),
      b.map((x) => x.jpeg),
    );
    const c = await generateSplit('val', { val: 40, size: 32, seed: 1 });
    assert.notDeepEqual(a[0]!.jpeg, c[0]!.jpeg);
    const counts = SHAPE_CLASSES.map((_, l) => a.filter((x) => x.label === l).length);
    assert.deepEqual(counts, Array(10).fill(4));
    const meta = await sharp(a[0]!.jpeg).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['jpeg', 32, 32, 3]);
    // Train and val are different images.
    const t = await generateSplit('train', { train: 40, size: 32 });
    assert.notDeepEqual(t[0]!.jpeg, a[0]!.jpeg);
  });

  it('synthetic ImageFolder tree scans back with the same classes', async () => {
    await writeSyntheticImageFolder(dir, { train: 20, val: 10, size: 16 });
    const scan = await scanImageFolder(path.join(dir, 'train'));
    assert.deepEqual(scan.classes, [...SHAPE_CLASSES]);
    assert.equal(scan.samples.length, 20);
  });

  it('resolves synthetic: URIs into a cache once, passes other URIs through', async () => {
    const uri = 'synthetic:shapes?train=30&val=10&size=16';
    const train = await resolveDataUri(uri, 'train', { cacheDir: dir });
    const val = await resolveDataUri(uri, 'val', { cacheDir: dir });
    assert.equal((await readIndex(new LocalStorage(train))).numSamples, 30);
    assert.equal((await readIndex(new LocalStorage(val))).numSamples, 10);
    const mtime = (await fs.stat(path.join(train, 'index.json'))).mtimeMs;
    // Concurrent resolution of an existing dataset is a no-op.
    await Promise.all([1, 2, 3].map(() => resolveDataUri(uri, 'train', { cacheDir: dir })));
    assert.equal((await fs.stat(path.join(train, 'index.json'))).mtimeMs, mtime);
    assert.equal(await resolveDataUri('s3://b/p', 'train', { cacheDir: dir }), 's3://b/p');
    await assert.rejects(
      resolveDataUri('synthetic:shapes?size=abc', 'train', { cacheDir: dir }),
      InputError,
    );
    await assert.rejects(resolveDataUri('synthetic:blobs', 'train', { cacheDir: dir }), InputError);
    // Racing first-time builds end with one complete dataset.
    const racy = 'synthetic:shapes?train=12&val=4&size=8';
    const dirs = await Promise.all(
      [1, 2].map(() => resolveDataUri(racy, 'val', { cacheDir: dir })),
    );
    assert.equal(dirs[0], dirs[1]);
    assert.equal((await readIndex(new LocalStorage(dirs[0]!))).numSamples, 4);
  });

  it('Fashion-MNIST: IDX import to ImageFolder and to shards, labels preserved', async function () {
    if (!(await haveFashion())) this.skip(); // needs Debian's dataset-fashion-mnist (.ci/setup.d/10-apt.sh)
    const d = await readFashionMnist('val', { limit: 50 });
    assert.deepEqual([d.count, d.rows, d.cols], [50, 28, 28]);
    await importFashionMnistImageFolder(dir, { limit: 50 });
    const scan = await scanImageFolder(path.join(dir, 'val'));
    assert.equal(scan.classes.length, 10);
    assert.equal(scan.classes[0], '0-T-shirt_top');
    assert.equal(scan.samples.length, 50);
    for (const s of scan.samples) {
      const i = Number(path.basename(s.path, '.png'));
      assert.equal(s.label, d.labels[i], 'ImageFolder label = Fashion-MNIST label');
    }
    const { data, info } = await sharp(scan.samples[0]!.path)
      .raw()
      .toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [28, 28, 3]);
    const i0 = Number(path.basename(scan.samples[0]!.path, '.png'));
    assert.equal(
      data[3 * 200 + 1],
      d.pixels[i0 * 784 + 200],
      'pixels copied exactly (PNG is lossless)',
    );
    const viaUri = await resolveDataUri('fashion-mnist:?limit=20', 'train', { cacheDir: dir });
    const uriIndex = await readIndex(new LocalStorage(viaUri));
    assert.equal(uriIndex.numSamples, 20);
    assert.equal(uriIndex.split, 'train');
    const st = new LocalStorage(path.join(dir, 'shards'));
    const res = await packFashionMnist('val', st, { limit: 50 });
    assert.deepEqual(res.index.classes, [...FASHION_MNIST_CLASSES]);
    assert.equal(res.index.numSamples, 50);
    assert.deepEqual(
      res.index.shards[0]!.members.map((m) => m.label),
      scan.samples.map((s) => s.label),
      'shards in ImageFolder order',
    );
  });

  it('CLI: ringmaster dataset synthetic + ringmaster pack, with clear errors', async () => {
    const bin = path.resolve('bin/ringmaster.js');
    await run(process.execPath, [
      bin,
      'dataset',
      'synthetic',
      path.join(dir, 'tree'),
      '--format',
      'folder',
      '--train',
      '30',
      '--val',
      '10',
      '--size',
      '16',
    ]);
    const out = path.join(dir, 'shards');
    const r = await run(process.execPath, [
      bin,
      'pack',
      path.join(dir, 'tree', 'train'),
      out,
      '--samples-per-shard',
      '8',
    ]);
    assert.match(r.stderr, /packed 30 samples of 10 classes into 4 shards/);
    await assert.rejects(
      run(process.execPath, [bin, 'pack', path.join(dir, 'nope'), out]),
      (e: { code: number; stderr: string }) => {
        assert.equal(e.code, 2);
        assert.match(e.stderr, /ringmaster: ImageFolder not found: .*nope/);
        return true;
      },
    );
  });
});
