import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import tar from 'tar-stream';
import { InputError } from '../../../common/errors.js';
import { scanImageFolder } from '../../../trainer/data/image-folder.js';
import {
  packImageFolder,
  parseByteSize,
  planShards,
  type PackSample,
} from '../../../trainer/data/pack.js';
import { readIndex, validateIndex } from '../../../trainer/data/shard-index.js';
import { readTarEntries, tarHeader } from '../../../trainer/data/tar.js';
import { LocalStorage } from '../../../common/storage/local-storage.js';

/** Extracts with tar-stream (an independent reader): name → bytes. */
async function extract(buf: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (d: unknown) => void parts.push(d as Buffer));
      stream.on('end', () => {
        out.set(h.name, Buffer.concat(parts));
        next();
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  Readable.from([buf]).pipe(ex);
  await done;
  return out;
}

async function writeTree(root: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, body] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await fs.writeFile(path.join(root, rel), body);
  }
}

describe('shards: tar, ImageFolder scan, pack', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rm-pack-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('ustar headers: checksums valid and long names split into prefix', () => {
    const long = `${'d'.repeat(80)}/${'f'.repeat(60)}.jpg`;
    const buf = Buffer.concat([
      tarHeader(long, 3),
      Buffer.from('abc'),
      Buffer.alloc(509),
      Buffer.alloc(1024),
    ]);
    assert.deepEqual(readTarEntries(buf), [{ name: long, offset: 512, size: 3 }]);
    assert.throws(() => tarHeader('x'.repeat(300), 1), InputError);
  });

  it('scans an ImageFolder in torchvision order: sorted classes, os.walk order, image extensions only', async () => {
    const src = path.join(dir, 'src');
    await writeTree(src, {
      'b_cls/2.jpg': 'x',
      'b_cls/10.JPEG': 'x',
      'b_cls/notes.txt': 'x',
      'b_cls/sub/a.png': 'x',
      'b_cls/sub-x/z.jpg': 'x',
      'b_cls/sub/deep/q.jpg': 'x',
      'A_cls/z.webp': 'x',
      'a_cls/y.bmp': 'x',
      'readme.md': 'x',
    });
    const scan = await scanImageFolder(src);
    assert.deepEqual(scan.classes, ['A_cls', 'a_cls', 'b_cls']);
    assert.deepEqual(
      scan.samples.map((s) => `${s.label}:${s.rel}`),
      // sorted(os.walk) orders by dirpath: "b_cls" < "b_cls/sub" < "b_cls/sub-x" < "b_cls/sub/deep"
      // (a prefix sorts first; '-' is 0x2d, '/' is 0x2f), files sorted inside each directory.
      [
        '0:z.webp',
        '1:y.bmp',
        '2:10.JPEG',
        '2:2.jpg',
        '2:sub/a.png',
        '2:sub-x/z.jpg',
        '2:sub/deep/q.jpg',
      ],
    );
  });

  it('refuses an ImageFolder with an empty class, like torchvision', async () => {
    await writeTree(path.join(dir, 'src'), { 'a/1.jpg': 'x', 'b/readme.txt': 'x' });
    await assert.rejects(scanImageFolder(path.join(dir, 'src')), (e: InputError) =>
      /empty classes: b/.test(e.issues[0]!.message),
    );
  });

  it('plans shards by size or by count', () => {
    const s = (size: number): PackSample => ({
      key: 'k',
      label: 0,
      ext: 'jpg',
      size,
      read: async () => Buffer.alloc(size),
    });
    const samples = Array.from({ length: 10 }, () => s(1000));
    // each sample spans 512+1024 (jpg) + 512+512 (cls) = 2560 bytes; end-of-archive 1024
    assert.deepEqual(
      planShards(samples, { split: 't', shardSizeBytes: 1024 + 3 * 2560 }).map((x) => x.length),
      [3, 3, 3, 1],
    );
    assert.deepEqual(
      planShards(samples, { split: 't', samplesPerShard: 4 }).map((x) => x.length),
      [4, 4, 2],
    );
    assert.deepEqual(
      planShards([s(10_000)], { split: 't', shardSizeBytes: 100 }).map((x) => x.length),
      [1],
    );
    assert.equal(parseByteSize('256MB'), 256e6);
    assert.equal(parseByteSize('1GiB'), 2 ** 30);
    assert.throws(() => parseByteSize('lots'), InputError);
  });

  it('packs into WebDataset tars whose index offsets point at the exact member bytes; resumes', async () => {
    const src = path.join(dir, 'src');
    const files: Record<string, Buffer> = {};
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < 7; i++)
        files[`class${c}/img.${i}.jpg`] = createHash('sha256')
          .update(`${c}/${i}`)
          .digest()
          .subarray(0, 100 + 37 * i);
    }
    await writeTree(src, files);
    const dest = new LocalStorage(path.join(dir, 'out'));
    const progress: number[] = [];
    const r1 = await packImageFolder(src, dest, {
      split: 'train',
      samplesPerShard: 5,
      onProgress: (p) => progress.push(p.samplesDone),
    });
    assert.equal(r1.shardsWritten, 5);
    assert.equal(progress.length, 5);
    assert.equal(progress.at(-1), 21); // shards finish in any order (two at a time)
    const idx = await readIndex(dest);
    assert.equal(idx.numSamples, 21);
    assert.deepEqual(idx.classes, ['class0', 'class1', 'class2']);
    assert.deepEqual(await dest.list(''), [...idx.shards.map((s) => s.name), 'index.json'].sort());
    let id = 0;
    for (const shard of idx.shards) {
      const buf = await dest.get(shard.name);
      assert.equal(buf.length, shard.size);
      assert.equal(createHash('sha256').update(buf).digest('hex'), shard.sha256);
      const entries = await extract(buf);
      assert.equal(entries.size, 2 * shard.numSamples);
      for (const m of shard.members) {
        const c = Math.floor(id / 7);
        const i = id % 7;
        const orig = files[`class${c}/img.${i}.jpg`]!;
        assert.equal(m.label, c);
        assert.ok(!m.key.includes('.'), 'WebDataset keys have no dots');
        assert.deepEqual(entries.get(`${m.key}.jpg`), orig);
        assert.equal(entries.get(`${m.key}.cls`)!.toString(), String(c));
        assert.deepEqual(
          buf.subarray(m.offset, m.offset + m.length),
          orig,
          'offset/length address the image bytes',
        );
        assert.equal(m.crc32, crc32(orig) >>> 0);
        id++;
      }
    }
    // Re-run: nothing to write. Remove one shard: only that one is rewritten, byte-identical.
    const r2 = await packImageFolder(src, dest, { split: 'train', samplesPerShard: 5 });
    assert.deepEqual([r2.shardsWritten, r2.shardsSkipped], [0, 5]);
    const before = await dest.get('train-000002.tar');
    await dest.delete('train-000002.tar');
    const r3 = await packImageFolder(src, dest, { split: 'train', samplesPerShard: 5 });
    assert.deepEqual([r3.shardsWritten, r3.shardsSkipped], [1, 4]);
    assert.deepEqual(await dest.get('train-000002.tar'), before);
    // A different plan replaces the shards and removes the orphans.
    await packImageFolder(src, dest, { split: 'train', samplesPerShard: 10 });
    assert.deepEqual(await dest.list('train-'), [
      'train-000000.tar',
      'train-000001.tar',
      'train-000002.tar',
    ]);
    assert.equal((await dest.list('.pack')).length, 0);
  });

  it('resumes after a crash mid-pack from the per-shard records', async () => {
    const src = path.join(dir, 'src');
    const files: Record<string, string> = {};
    for (let i = 0; i < 12; i++)
      files[`c/${String(i).padStart(2, '0')}.png`] = `image ${i}`.repeat(i + 1);
    await writeTree(src, files);
    const dest = new LocalStorage(path.join(dir, 'out'));
    let n = 0;
    await assert.rejects(
      packImageFolder(src, dest, {
        split: 'val',
        samplesPerShard: 4,
        shardConcurrency: 1, // one shard at a time: the crash point is exact
        onProgress: () => {
          if (++n === 2) throw new Error('killed');
        },
      }),
      /killed/,
    );
    assert.equal(await dest.exists('index.json'), false);
    const r = await packImageFolder(src, dest, { split: 'val', samplesPerShard: 4 });
    assert.deepEqual([r.shardsWritten, r.shardsSkipped], [1, 2]);
    assert.equal((await readIndex(dest)).numSamples, 12);
  });

  it('rejects an inconsistent index with located issues', () => {
    const bad = {
      version: 1,
      format: 'webdataset',
      split: 'train',
      classes: ['a'],
      numSamples: 3,
      shards: [
        {
          name: 's.tar',
          numSamples: 1,
          size: 10,
          sha256: '0'.repeat(64),
          members: [{ key: 'k', label: 1, offset: 0, length: 5, crc32: 0 }],
        },
      ],
    };
    assert.throws(
      () => validateIndex(bad, 'x'),
      (e: InputError) =>
        e.issues.some((i) => i.path === '/numSamples') &&
        e.issues.some((i) => /label 1/.test(i.message)),
    );
    assert.throws(() => validateIndex({ version: 2 }, 'x'), InputError);
  });
});
