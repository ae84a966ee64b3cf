/**
 * Train-transform throughput on ImageNet-sized JPEGs, one core: Ringmaster's train preset
 * (decode → RandomResizedCrop 176 → flip → TrivialAugmentWide → normalize → erasing) vs
 * torchvision's ClassificationPresetTrain with PIL, on the same files in the same run.
 * Both run sequentially (one image at a time), pinned to one CPU when `taskset` exists,
 * torch with one thread and libuv/libvips with one thread. Rounds alternate between the two
 * so that load from other processes hits both alike. Ends with `ratio=<ringmaster/torchvision>`.
 *
 * Usage: npm run bench:data   (env: BENCH_SECONDS per round, default 6; BENCH_ROUNDS, default 3;
 * BENCH_SHRINK=0 turns JPEG shrink-on-load off)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { Rng } from '../../trainer/rng.js';
import {
  makeTrainTransform,
  transformConfigFromRecipe,
} from '../../trainer/data/transforms/presets.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

// One libuv thread for sharp's async work: must be in the environment before the pool
// starts, so re-run ourselves with it (and pinned to one CPU) if it is not.
if (process.env.UV_THREADPOOL_SIZE !== '1') {
  const args = [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)];
  const env = { ...process.env, UV_THREADPOOL_SIZE: '1' };
  const pin = hasTaskset() ? ['taskset', '-c', '0'] : [];
  const r = spawnSync(
    pin[0] ?? process.execPath,
    pin.length ? [...pin.slice(1), process.execPath, ...args] : args,
    {
      env,
      stdio: 'inherit',
    },
  );
  process.exit(r.status ?? 1);
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return true;
  } catch {
    return false;
  }
}

/** A photo-like scene: sky gradient, value-noise terrain texture, houses with edges. */
function syntheticPhoto(width: number, height: number, seed: number): Uint8Array {
  const rng = new Rng(seed, 7);
  const grid = (cell: number) => {
    const gw = Math.ceil(width / cell) + 2;
    const gh = Math.ceil(height / cell) + 2;
    const g = new Float32Array(gw * gh);
    for (let i = 0; i < g.length; i++) g[i] = rng.random() - 0.5;
    return (x: number, y: number) => {
      const fx = x / cell;
      const fy = y / cell;
      const x0 = Math.floor(fx);
      const y0 = Math.floor(fy);
      const dx = fx - x0;
      const dy = fy - y0;
      const a = g[y0 * gw + x0]! * (1 - dx) + g[y0 * gw + x0 + 1]! * dx;
      const b = g[(y0 + 1) * gw + x0]! * (1 - dx) + g[(y0 + 1) * gw + x0 + 1]! * dx;
      return a * (1 - dy) + b * dy;
    };
  };
  const n1 = grid(40);
  const n2 = grid(9);
  const n3 = grid(2.5);
  const phase = rng.uniform(0, 6.28);
  const out = new Uint8Array(width * height * 3);
  const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const horizon = height * (0.5 + 0.12 * Math.sin((x / width) * 6.28 + phase) + 0.1 * n1(x, y));
      const t = n2(x, y) * 70 + n3(x, y) * 110 + (rng.random() - 0.5) * 44;
      if (y < horizon) {
        out[i] = clamp(70 + (110 * y) / height + t * 0.2);
        out[i + 1] = clamp(120 + (80 * y) / height + t * 0.2);
        out[i + 2] = clamp(235 - (50 * y) / height + t * 0.2);
      } else {
        out[i] = clamp(80 + t + 60 * n1(x + 999, y));
        out[i + 1] = clamp(110 + 1.2 * t);
        out[i + 2] = clamp(50 + 0.6 * t);
      }
    }
  }
  for (let k = 0; k < 6; k++) {
    const w = Math.round(width * rng.uniform(0.06, 0.2));
    const h = Math.round(height * rng.uniform(0.08, 0.25));
    const x0 = rng.randint(0, width - w);
    const y0 = rng.randint(Math.round(height * 0.3), height - h);
    const col = [rng.randint(20, 235), rng.randint(20, 235), rng.randint(20, 235)];
    for (let y = y0; y < y0 + h; y++) {
      for (let x = x0; x < x0 + w; x++) {
        const i = (y * width + x) * 3;
        const edge = y === y0 || x === x0 || y === y0 + h - 1 || x === x0 + w - 1;
        const shade = (rng.random() - 0.5) * 12;
        for (let c = 0; c < 3; c++) out[i + c] = edge ? 25 : clamp(col[c]! + shade);
      }
    }
  }
  return out;
}

const SIZES: Array<[number, number]> = [
  [500, 375],
  [375, 500],
  [500, 333],
  [500, 400],
  [450, 350],
];

async function ensureImages(dir: string, count: number): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const have = readdirSync(dir).filter((f) => f.endsWith('.jpg'));
  if (have.length >= count)
    return have
      .sort()
      .slice(0, count)
      .map((f) => join(dir, f));
  for (let i = 0; i < count; i++) {
    const [w, h] = SIZES[i % SIZES.length]!;
    const raw = syntheticPhoto(w, h, i);
    const jpg = await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
      .jpeg({ quality: 95 })
      .toBuffer();
    writeFileSync(join(dir, `img_${String(i).padStart(3, '0')}.jpg`), jpg);
  }
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, count)
    .map((f) => join(dir, f));
}

interface Rate {
  /** Images per second of wall-clock time. */
  wall: number;
  /** Images per second of CPU time (all threads of the process): robust to other load. */
  cpu: number;
}

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function ringmasterRound(blobs: Uint8Array[], seconds: number, seed: number): Promise<Rate> {
  const cfg = transformConfigFromRecipe(
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
  // BENCH_SHRINK=0: decode at full size always (bit-exact to PIL's pixels).
  const transform = makeTrainTransform({ ...cfg, shrinkOnLoad: process.env.BENCH_SHRINK !== '0' });
  let n = 0;
  let sink = 0;
  const cpu0 = cpuSeconds();
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    for (let i = 0; i < blobs.length; i++) {
      const out = await transform(blobs[i]!, new Rng(seed, n));
      sink += out.data[0]!;
      n++;
    }
  }
  if (Number.isNaN(sink)) console.log('');
  return { wall: n / ((performance.now() - start) / 1000), cpu: n / (cpuSeconds() - cpu0) };
}

function torchvisionRound(dir: string, seconds: number): Rate | null {
  const venvPython = join(
    process.env.RINGMASTER_CACHE ?? join(process.env.HOME ?? '', '.cache', 'ringmaster'),
    'venv',
    'bin',
    'python',
  );
  if (!existsSync(venvPython)) return null;
  const pin = hasTaskset() ? ['taskset', '-c', '0'] : [];
  const cmd = [...pin, venvPython, join(here, 'transforms_torchvision.py'), dir, String(seconds)];
  const r = spawnSync(cmd[0]!, cmd.slice(1), {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
  });
  if (r.status !== 0) {
    console.error(r.stderr);
    return null;
  }
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    imagesPerSecond: number;
    imagesPerCpuSecond: number;
  };
  return { wall: j.imagesPerSecond, cpu: j.imagesPerCpuSecond };
}

async function main(): Promise<void> {
  sharp.concurrency(1);
  sharp.cache(false);
  const seconds = Number(process.env.BENCH_SECONDS ?? 6);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const dir = join(process.env.RINGMASTER_CACHE ?? tmpdir(), 'bench-transforms-jpeg-v3');
  const files = await ensureImages(dir, 40);
  const blobs = files.map((f) => new Uint8Array(readFileSync(f)));
  const meanKB = blobs.reduce((a, b) => a + b.length, 0) / blobs.length / 1024;
  console.log(
    `transforms bench: ${blobs.length} JPEGs ~500×375 (mean ${meanKB.toFixed(0)} KB) in ${dir}`,
  );
  console.log(
    `one core${hasTaskset() ? ' (taskset -c 0)' : ''}, UV_THREADPOOL_SIZE=1, sharp.concurrency(1), torch threads 1`,
  );
  await ringmasterRound(blobs, 1, 99); // warm-up (JIT, coefficient caches)
  const rm: Rate[] = [];
  const tv: Rate[] = [];
  const fmt = (r: Rate) => `${r.cpu.toFixed(1)} img/s per CPU-second (wall ${r.wall.toFixed(1)})`;
  for (let r = 0; r < rounds; r++) {
    rm.push(await ringmasterRound(blobs, seconds, r));
    const t = torchvisionRound(dir, seconds);
    if (t !== null) tv.push(t);
    console.log(`round ${r + 1}: ringmaster ${fmt(rm[r]!)}` + (t ? `; torchvision ${fmt(t)}` : ''));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rmCpu = median(rm.map((r) => r.cpu));
  console.log(`ringmaster: ${rmCpu.toFixed(1)} img/s on one core (median of CPU-time rates)`);
  if (tv.length === 0) {
    console.log(
      'torchvision peer unavailable (run `bash test/oracle/setup.sh` for the venv); ratio=n/a',
    );
    return;
  }
  const tvCpu = median(tv.map((r) => r.cpu));
  console.log(`torchvision: ${tvCpu.toFixed(1)} img/s on one core (median of CPU-time rates)`);
  console.log(
    `wall-clock medians: ringmaster ${median(rm.map((r) => r.wall)).toFixed(1)}, torchvision ${median(tv.map((r) => r.wall)).toFixed(1)} img/s`,
  );
  console.log(`ratio=${(rmCpu / tvCpu).toFixed(2)}`);
}

await main();
void root;
