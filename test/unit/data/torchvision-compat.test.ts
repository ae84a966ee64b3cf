/**
 * Independent readers agree with our shards and our ImageFolder order: Python's tarfile (the
 * reader under WebDataset) finds every member at the offset the index records, and
 * torchvision.datasets.ImageFolder orders samples as scanImageFolder does. Python parts skip
 * when the interpreter (or the oracle venv with torchvision, test/oracle/setup.sh) is absent.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { scanImageFolder } from '../../../trainer/data/image-folder.js';
import { packImageFolder } from '../../../trainer/data/pack.js';
import { readIndex } from '../../../trainer/data/shard-index.js';
import { samplerFor } from '../../../trainer/data/sampler.js';
import { LocalStorage } from '../../../common/storage/local-storage.js';

function python(cmd: string): boolean {
  try {
    execFileSync(cmd, ['-c', 'pass'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const venv = path.join(
  process.env.RINGMASTER_CACHE ?? path.join(os.homedir(), '.cache', 'ringmaster'),
  'venv',
  'bin',
  'python',
);

describe('torchvision / WebDataset compatibility', function () {
  // Importing torch takes long on a loaded machine.
  this.timeout(180_000);
  let dir: string;
  let src: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rm-compat-'));
    src = path.join(dir, 'src');
    const files = [
      'Zebra/b.JPG',
      'Zebra/a.png',
      'apple/x.jpeg',
      'apple/sub/y.jpg',
      'apple/sub-1/z.jpg',
      'apple/sub/deep/w.webp',
      'apple/readme.txt',
      'été/1.jpg',
      'ete/2.bmp',
      '10/a.tif',
      '9/b.ppm',
    ];
    for (const [i, f] of files.entries()) {
      await fs.mkdir(path.dirname(path.join(src, f)), { recursive: true });
      await fs.writeFile(path.join(src, f), Buffer.alloc(700 + 13 * i, i + 1));
    }
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("Python's tarfile reads every member at the index's offset", async function () {
    if (!python('python3')) this.skip();
    const out = new LocalStorage(path.join(dir, 'out'));
    await packImageFolder(src, out, { split: 'train', samplesPerShard: 4 });
    const index = await readIndex(out);
    for (const shard of index.shards) {
      const listing = execFileSync(
        'python3',
        [
          '-c',
          'import sys, tarfile\nfor m in tarfile.open(sys.argv[1]):\n    print(m.name, m.offset_data, m.size)',
          path.join(out.root, shard.name),
        ],
        { encoding: 'utf8' },
      );
      const byName = new Map(
        listing
          .trim()
          .split('\n')
          .map((l) => {
            const [n, o, s] = l.split(' ');
            return [n!, [Number(o), Number(s)]] as const;
          }),
      );
      assert.equal(byName.size, 2 * shard.numSamples);
      for (const m of shard.members) {
        const ext = [...byName.keys()].find(
          (k) => k.startsWith(`${m.key}.`) && !k.endsWith('.cls'),
        )!;
        assert.deepEqual(byName.get(ext), [m.offset, m.length], `${shard.name} ${m.key}`);
        assert.ok(byName.has(`${m.key}.cls`));
      }
    }
  });

  it('torchvision ImageFolder and torch DistributedSampler (no shuffle) agree with ours', async function () {
    if (!existsSync(venv) || !python(venv)) this.skip();
    const cases: [number, number, boolean][] = [
      [7, 3, false],
      [7, 3, true],
      [2, 5, false],
      [100, 8, false],
      [101, 8, true],
      [50_000, 8, false],
    ];
    const script = [
      'import sys, json',
      'from torchvision.datasets import ImageFolder',
      'from torch.utils.data import DistributedSampler',
      'd = ImageFolder(sys.argv[1], loader=lambda p: p)',
      'ds = {}',
      'for n, R, drop in json.loads(sys.argv[2]):',
      '    ds[f"{n},{R},{drop}"] = [list(DistributedSampler(range(n), num_replicas=R, rank=r, shuffle=False, drop_last=drop)) for r in range(R)]',
      'print(json.dumps({"classes": d.classes, "samples": d.samples, "ds": ds}))',
    ].join('\n');
    let listing: string;
    try {
      listing = execFileSync(venv, ['-c', script, src, JSON.stringify(cases)], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        maxBuffer: 64 << 20,
      });
    } catch {
      this.skip();
    }
    const tv = JSON.parse(listing) as {
      classes: string[];
      samples: [string, number][];
      ds: Record<string, number[][]>;
    };
    const ours = await scanImageFolder(src);
    assert.deepEqual(ours.classes, tv.classes);
    assert.deepEqual(
      ours.samples.map((s) => [s.path, s.label]),
      tv.samples,
    );
    for (const [n, R, dropLast] of cases) {
      const want = tv.ds[`${n},${R},${dropLast ? 'True' : 'False'}`]!;
      for (let rank = 0; rank < R; rank++) {
        const got = samplerFor('distributed', {
          n,
          rank,
          worldSize: R,
          shuffle: false,
          dropLast,
        }).indices(0);
        assert.deepEqual(
          Array.from(got),
          want[rank],
          `n=${n} R=${R} drop_last=${dropLast} rank=${rank}`,
        );
      }
    }
  });
});
