/**
 * The loader end to end from MinIO: ImageNet-sized JPEGs (500×375) packed into shards in a
 * real MinIO, read by ranged GETs, decoded and augmented with the recipe's train transform
 * (RRC 176, flip, TA-wide, normalize, erasing) in 1 and 2 worker threads, batched.
 * Peers measured in the same run:
 *  - torchvision's ImageFolder + DataLoader (PIL, the same preset) on the same files from
 *    local disk with num_workers 1 and 2 (persistent workers; venv from test/oracle/setup.sh);
 *  - raw ranged-GET throughput from the same MinIO (how fast bytes arrive, no decoding).
 * Prints images/s and `ratio=<ringmaster / torchvision>` per worker count, the 1→2 worker
 * scaling of each side, and ends with the 2-worker ratio. Per timed epoch: process CPU, ranged
 * reads and the read-ahead peak; BENCH_MARKS=1 also prints the epoch's window on the clock of
 * `node --cpu-prof` profiles (µs), to cut a per-stage breakdown out of them.
 * Usage: npm run bench:data  (or node --import tsx bench/data/loader.ts [--images N])
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { DataLoader } from '../../trainer/data/loader.js';
import { packImageFolder } from '../../trainer/data/pack.js';
import { samplerFor } from '../../trainer/data/sampler.js';
import { readIndex, sampleTable } from '../../trainer/data/shard-index.js';
import { renderShape, SHAPE_CLASSES } from '../../trainer/data/synthetic.js';
import { transformConfigFromRecipe } from '../../trainer/data/transforms/presets.js';
import { Rng } from '../../trainer/rng.js';
import { openStorage } from '../../common/storage/storage.js';
import { minioBinary, startMinio } from '../../harness/minio.js';

const argImages = process.argv.indexOf('--images');
const N = argImages > 0 ? Number(process.argv[argImages + 1]) : 320;
const BATCH = 32;
const EPOCHS = 2; // the first warms up (worker start, caches); the second is timed

const PEER = String.raw`
import json, sys, time, torch
from torch.utils.data import DataLoader, RandomSampler
from torchvision.datasets import ImageFolder
from torchvision.transforms import InterpolationMode
import torchvision.transforms as T
torch.set_num_threads(1)
root, workers, batch, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t = T.Compose([
    T.RandomResizedCrop(176, interpolation=InterpolationMode.BILINEAR, antialias=True),
    T.RandomHorizontalFlip(0.5),
    T.TrivialAugmentWide(interpolation=InterpolationMode.BILINEAR),
    T.PILToTensor(), T.ConvertImageDtype(torch.float),
    T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
    T.RandomErasing(p=0.1)])
ds = ImageFolder(root, transform=t)
dl = DataLoader(ds, batch_size=batch, sampler=RandomSampler(ds), num_workers=workers, persistent_workers=True)
for e in range(epochs):
    start = time.perf_counter(); n = 0
    for x, y in dl: n += x.shape[0]
    el = time.perf_counter() - start
print(json.dumps({"images": n, "seconds": el, "imagesPerSecond": n / el}))
`;

async function makeImages(root: string): Promise<number> {
  let bytes = 0;
  for (const c of SHAPE_CLASSES) await fs.mkdir(path.join(root, c), { recursive: true });
  for (let i = 0; i < N; i++) {
    const label = i % SHAPE_CLASSES.length;
    const raw = renderShape(label, 500, new Rng(123, i));
    const jpeg = await sharp(raw, { raw: { width: 500, height: 500, channels: 3 } })
      .resize(500, 375, { fit: 'fill' })
      .jpeg({ quality: 85 })
      .toBuffer();
    bytes += jpeg.length;
    await fs.writeFile(
      path.join(root, SHAPE_CLASSES[label]!, `${String(i).padStart(5, '0')}.jpg`),
      jpeg,
    );
  }
  return bytes;
}

function venvPython(): string | undefined {
  const p = path.join(
    process.env.RINGMASTER_CACHE ?? path.join(os.homedir(), '.cache', 'ringmaster'),
    'venv',
    'bin',
    'python',
  );
  return existsSync(p) ? p : undefined;
}

async function main(): Promise<void> {
  const bin = minioBinary();
  if (!bin) {
    console.log(
      'bench/data/loader: skipped (no MinIO binary: run .ci/setup.d/20-minio.sh or set MINIO_BIN)',
    );
    return;
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rm-bench-loader-'));
  const minio = await startMinio({ dir: path.join(dir, 'minio'), bin });
  try {
    await minio.createBucket('bench');
    const tree = path.join(dir, 'tree');
    const bytes = await makeImages(tree);
    console.log(
      `images: ${N} JPEGs 500×375, mean ${(bytes / N / 1024).toFixed(0)} KiB; batch ${BATCH}; ${os.cpus().length} cores`,
    );
    const storage = openStorage('s3://bench/train', {
      endpoint: minio.endpoint,
      credentials: minio.credentials,
    });
    await packImageFolder(tree, storage, { split: 'train', samplesPerShard: 64, verify: 'size' });
    const index = await readIndex(storage);
    const local = openStorage(path.join(dir, 'shards'));
    await packImageFolder(tree, local, { split: 'train', samplesPerShard: 64, verify: 'size' });

    // Raw ranged GETs, one member per request, 16 in flight: the I/O ceiling.
    const table = sampleTable(index);
    const perm = new Rng(1).permutation(N);
    let t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < N) {
          const id = perm[next++]!;
          await storage.getRange(
            table.shardNames[table.shard[id]!]!,
            table.offset[id]!,
            table.length[id]!,
          );
        }
      }),
    );
    const rawRate = N / ((performance.now() - t0) / 1000);
    console.log(
      `raw ranged GET from MinIO: ${rawRate.toFixed(0)} images/s (${((rawRate * bytes) / N / 1e6).toFixed(1)} MB/s)`,
    );

    const config = transformConfigFromRecipe(
      {
        trainCropSize: 176,
        valResizeSize: 232,
        valCropSize: 224,
        interpolation: 'bilinear',
        autoAugment: 'ta_wide',
        randomErase: 0.1,
      },
      'train',
    );
    const py = venvPython();
    const measure = async (
      source: typeof storage,
      workers: number,
      label: string,
    ): Promise<number> => {
      const loader = await DataLoader.create({
        storage: source,
        index,
        transform: { kind: 'preset', config },
        workers,
        prefetch: 2,
      });
      let rate = 0;
      try {
        for (let e = 0; e < EPOCHS; e++) {
          const indices = samplerFor('random', { n: N, seed: 0 }).indices(e);
          const requests = loader.fetchStats.requests;
          const cpu = process.cpuUsage();
          const mark = process.hrtime.bigint() / 1000n;
          t0 = performance.now();
          let n = 0;
          for await (const b of loader.epoch({ epoch: e, indices, batchSize: BATCH, seed: 0 }))
            n += b.batchSize;
          const ms = performance.now() - t0;
          rate = n / (ms / 1000);
          if (e === EPOCHS - 1) {
            const used = process.cpuUsage(cpu);
            // For --cpu-prof: the timed epoch's window on the profiles' clock (µs).
            if (process.env.BENCH_MARKS)
              console.log(
                `mark ${label} workers=${workers} ${mark} ${process.hrtime.bigint() / 1000n}`,
              );
            console.log(
              `  ${label}, ${workers} worker(s): ${rate.toFixed(1)} images/s; epoch ${ms.toFixed(0)} ms, ` +
                `process CPU ${((used.user + used.system) / 1000).toFixed(0)} ms (all threads), ` +
                `${loader.fetchStats.requests - requests} ranged reads, ` +
                `read-ahead peak ${((loader.readAheadStats?.peakHeldBytes ?? 0) / 2 ** 20).toFixed(1)} MiB`,
            );
          }
        }
      } finally {
        await loader.close();
      }
      return rate;
    };
    const rates: Record<string, number[]> = { ringmaster: [], torchvision: [] };
    for (const workers of [1, 2]) {
      const rate = await measure(storage, workers, 'MinIO');
      const localRate = await measure(local, workers, 'local shards');
      rates.ringmaster!.push(rate);
      let peer: number | undefined;
      if (py) {
        try {
          const out = execFileSync(
            py,
            ['-c', PEER, tree, String(workers), String(BATCH), String(EPOCHS)],
            {
              encoding: 'utf8',
              stdio: ['ignore', 'pipe', 'inherit'],
            },
          );
          peer = (JSON.parse(out.trim().split('\n').pop()!) as { imagesPerSecond: number })
            .imagesPerSecond;
        } catch (err) {
          console.log(`torchvision peer failed: ${(err as Error).message}`);
        }
      }
      if (peer !== undefined) rates.torchvision!.push(peer);
      const line =
        `workers=${workers}: ringmaster from MinIO ${rate.toFixed(1)} images/s, from local shards ${localRate.toFixed(1)} images/s` +
        (peer !== undefined
          ? `; torchvision ImageFolder DataLoader (local files, PIL) ${peer.toFixed(1)} images/s; ratio=${(rate / peer).toFixed(2)} (MinIO vs local files)`
          : '; torchvision peer not available (run bash test/oracle/setup.sh)');
      console.log(line);
    }
    const scale = (r: number[]) => (r.length === 2 ? `×${(r[1]! / r[0]!).toFixed(2)}` : 'n/a');
    console.log(
      `scaling 1→2 workers: ringmaster from MinIO ${scale(rates.ringmaster!)}, torchvision ${scale(rates.torchvision!)}`,
    );
    const [r2, p2] = [rates.ringmaster![1], rates.torchvision![1]];
    console.log(
      `ratio=${r2 !== undefined && p2 !== undefined ? (r2 / p2).toFixed(2) : 'n/a'} (2 workers, MinIO vs local files)`,
    );
    storage.close();
    local.close();
  } finally {
    await minio.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

await main();
