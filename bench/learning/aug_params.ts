/**
 * `npm run bench:aug-params`: do Ringmaster's augmentations draw their random parameters from
 * the same distributions as torchvision's? Each transform is tested bit for bit given its
 * parameters (test/oracle); this compares the draws themselves, for the recipe of
 * examples/fashion-mnist.yaml (28×28 images, RandomResizedCrop 24 with the default scale and
 * ratio, flip 0.5, TrivialAugmentWide, RandomErasing 0.1, Mixup 0.2 / CutMix 1.0 per batch).
 *
 * Ringmaster side: the functions the trainer calls, in the order and with the Rng streams it
 * uses — per image Rng(seed, AUGMENT_STREAM, epoch, position) into rrcParams, flipParams,
 * taWideParams, erasingParams (trainer/data/transforms/presets.ts makeTrainTransform), per
 * batch `mixupCutmix` itself on a 2-image batch with Rng(seed, MIX_STREAM, epoch, step, rank)
 * (trainer/train.ts). PyTorch side: bench/learning/aug_params.py, the real torchvision
 * transforms with their parameters read off as they are drawn.
 *
 * Prints one table: n, mean and sd per side and z = (mean_R − mean_T) / √(se_R² + se_T²).
 * With 20,000 draws a side about one row in twenty should show |z| > 2 by chance alone (the
 * table has ≈ 50 rows); a real difference shows as |z| ≫ 3 and grows with --images.
 *
 * usage: node --import tsx bench/learning/aug_params.ts [--images N] [--batches N] [--seed S]
 *        [--json]  (only Ringmaster's statistics, as JSON)
 * Env: BENCH_PYTHON (python with torch + torchvision; default $RINGMASTER_CACHE/venv/bin/python,
 * made by `bash test/oracle/setup.sh`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mixupCutmix } from '../../trainer/data/mixup.js';
import { AUGMENT_STREAM } from '../../trainer/data/transform-task.js';
import { flipParams } from '../../trainer/data/transforms/flip.js';
import { erasingParams } from '../../trainer/data/transforms/random-erasing.js';
import { rrcParams } from '../../trainer/data/transforms/random-resized-crop.js';
import { TA_WIDE_OPS, taWideParams } from '../../trainer/data/transforms/trivial-augment-wide.js';
import { Rng } from '../../trainer/rng.js';

/** trainer/train.ts's MIX_STREAM (not exported there; keep in step). */
const MIX_STREAM = 0x6d1c;
const SIZE = 28;
const CROP = 24;
/** examples/fashion-mnist.yaml: train limit 4096 (positions per epoch), 2 ranks. */
const EPOCH_IMAGES = 4096;
const RANKS = 2;
const SIGNED = new Set(['ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate']);
for (const op of ['Brightness', 'Color', 'Contrast', 'Sharpness']) SIGNED.add(op);

type Summary = Record<string, [n: number, mean: number, sd: number]>;

class Obs {
  private readonly data = new Map<string, number[]>();
  add(key: string, x: number | boolean): void {
    let xs = this.data.get(key);
    if (!xs) this.data.set(key, (xs = []));
    xs.push(Number(x));
  }
  summary(): Summary {
    const out: Summary = {};
    for (const [k, xs] of this.data) {
      const n = xs.length;
      let m = 0;
      for (const x of xs) m += x;
      m /= n;
      let ss = 0;
      for (const x of xs) ss += (x - m) * (x - m);
      out[k] = [n, m, n > 1 ? Math.sqrt(ss / (n - 1)) : 0];
    }
    return out;
  }
}

/** The per-image draws of makeTrainTransform, in its order, from the trainer's streams. */
function ringmasterImages(obs: Obs, n: number, seed: number): void {
  for (let i = 0; i < n; i++) {
    const rng = new Rng(seed, AUGMENT_STREAM, Math.floor(i / EPOCH_IMAGES), i % EPOCH_IMAGES);
    const box = rrcParams(SIZE, SIZE, rng);
    obs.add('rrc.area', (box.width * box.height) / (SIZE * SIZE));
    obs.add('rrc.logRatio', Math.log(box.width / box.height));
    obs.add('rrc.fallback', box.fallback);
    obs.add('flip', flipParams(rng, 0.5));
    const { op, magnitude } = taWideParams(rng);
    for (const o of TA_WIDE_OPS) obs.add(`ta.op.${o}`, o === op);
    if (SIGNED.has(op) || op === 'Posterize' || op === 'Solarize')
      obs.add(`ta.mag.${op}`, Math.abs(magnitude));
    if (SIGNED.has(op)) obs.add('ta.negative', magnitude < 0);
    // erasingParams folds "not fired" and "ten misses" into null; split them with a replay.
    const state = rng.state();
    const erased = erasingParams(CROP, CROP, rng, 0.1);
    const fired = Rng.fromState(state).random() < 0.1;
    const area = erased ? (erased.width * erased.height) / (CROP * CROP) : 0;
    obs.add('erase.fired', fired);
    if (fired) {
      obs.add('erase.noFit', erased === null);
      obs.add('erase.areaIfFired', area);
    }
    obs.add('erase.area', area);
  }
}

/** The per-batch draw: mixupCutmix itself, with the trainer's stream keys. */
function ringmasterBatches(obs: Obs, n: number, seed: number): void {
  const B = 2;
  const images = new Float32Array(B * CROP * CROP * 3);
  const labels = Int32Array.from([0, 1]);
  const stepsPerEpoch = EPOCH_IMAGES / RANKS / 32;
  for (let i = 0; i < n; i++) {
    const rank = i % RANKS;
    const k = Math.floor(i / RANKS);
    const epoch = Math.floor(k / stepsPerEpoch);
    const step = k % stepsPerEpoch;
    const rng = new Rng(seed, MIX_STREAM, epoch, step, rank);
    // The Beta draw for CutMix, before its box: replay the stream (choice, then λ).
    const replay = Rng.fromState(rng.state());
    const m = mixupCutmix(
      images,
      labels,
      10,
      { mixupAlpha: 0.2, cutmixAlpha: 1 },
      rng,
      CROP,
      CROP,
      3,
    );
    const lam = m.lambda;
    obs.add('mix.cutmix', m.applied === 'cutmix');
    if (m.applied === 'cutmix') {
      replay.randint(0, 2);
      obs.add('cutmix.lambdaDrawn', replay.beta(1, 1));
      const b = m.box!;
      const area = ((b.x2 - b.x1) * (b.y2 - b.y1)) / (CROP * CROP);
      obs.add('cutmix.lambda', lam);
      obs.add('cutmix.boxArea', area);
      obs.add('cutmix.emptyBox', area === 0);
    } else {
      obs.add('mixup.lambda', lam);
      obs.add('mixup.minority', Math.min(lam, 1 - lam));
    }
    obs.add('mix.minority', Math.min(lam, 1 - lam));
  }
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  return a !== 0 && (a >= 1000 || a < 0.001) ? x.toExponential(3) : x.toFixed(4);
}

/** The side-by-side table; z is the difference of the means in standard errors. */
function formatTable(r: Summary, t: Summary, keys: readonly string[]): string {
  const head = ['parameter', 'n R', 'Ringmaster mean ± sd', 'n T', 'torchvision mean ± sd', 'z'];
  const rows = keys.map((k) => {
    const a = r[k];
    const b = t[k];
    let z = NaN;
    if (a && b) {
      const se = Math.sqrt((a[2] * a[2]) / a[0] + (b[2] * b[2]) / b[0]);
      z = se > 0 ? (a[1] - b[1]) / se : a[1] === b[1] ? 0 : Infinity;
    }
    const side = (s: Summary[string] | undefined) =>
      s ? [String(s[0]), `${fmt(s[1])} ± ${fmt(s[2])}`] : ['0', '—'];
    const zs = Number.isNaN(z)
      ? '—'
      : `${z >= 0 ? '+' : ''}${z.toFixed(2)}${Math.abs(z) > 3 ? ' !' : ''}`;
    return [k, ...side(a), ...side(b), zs];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Table order: the pipeline's, ops in torchvision's order. */
function tableKeys(r: Summary, t: Summary): string[] {
  const order = [
    'rrc.',
    'flip',
    'ta.op.',
    'ta.mag.',
    'ta.negative',
    'erase.',
    'mix.',
    'mixup.',
    'cutmix.',
  ];
  const all = [...new Set([...Object.keys(r), ...Object.keys(t)])];
  const rank = (k: string) => {
    const g = order.findIndex((p) => k.startsWith(p));
    const op = TA_WIDE_OPS.findIndex((o) => k.endsWith(`.${o}`));
    return g * 100 + (op >= 0 ? op : 50);
  };
  return all.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

function main(): void {
  const { values } = parseArgs({
    options: {
      images: { type: 'string', default: '20000' },
      batches: { type: 'string', default: '20000' },
      seed: { type: 'string', default: '0' },
      json: { type: 'boolean', default: false },
    },
  });
  const images = Number(values.images);
  const batches = Number(values.batches);
  const seed = Number(values.seed);
  for (const [name, v] of [
    ['--images', images],
    ['--batches', batches],
  ] as const) {
    if (!Number.isInteger(v) || v < 2) throw new Error(`${name} must be an integer ≥ 2`);
  }
  if (!Number.isInteger(seed) || seed < 0) throw new Error('--seed must be an integer ≥ 0');

  const t0 = performance.now();
  const obs = new Obs();
  ringmasterImages(obs, images, seed);
  ringmasterBatches(obs, batches, seed);
  const r = obs.summary();
  const msR = performance.now() - t0;
  if (values.json) {
    console.log(JSON.stringify({ stats: r }));
    return;
  }

  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const cache = process.env.RINGMASTER_CACHE ?? join(homedir(), '.cache', 'ringmaster');
  const python = process.env.BENCH_PYTHON ?? join(cache, 'venv', 'bin', 'python');
  if (!existsSync(python))
    throw new Error(
      `no python with torch at ${python}: run bash test/oracle/setup.sh or set BENCH_PYTHON`,
    );
  const t1 = performance.now();
  const res = spawnSync(
    python,
    [
      join(root, 'bench', 'learning', 'aug_params.py'),
      '--images',
      String(images),
      '--batches',
      String(batches),
      '--seed',
      String(seed),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 },
  );
  if (res.status !== 0) throw new Error(`aug_params.py exited ${res.status ?? res.signal}`);
  const torch = JSON.parse(res.stdout) as { torchvision: string; stats: Summary };
  const msT = performance.now() - t1;

  console.log(
    `augmentation parameters, examples/fashion-mnist.yaml recipe: ${images} images, ${batches} batches a side, seed ${seed}`,
  );
  console.log(
    `Ringmaster ${(msR / 1000).toFixed(1)} s; torchvision ${torch.torchvision} ${(msT / 1000).toFixed(1)} s (incl. start-up)\n`,
  );
  const keys = tableKeys(r, torch.stats);
  console.log(formatTable(r, torch.stats, keys));
  const zs = keys
    .map((k) => {
      const a = r[k];
      const b = torch.stats[k];
      if (!a || !b) return NaN;
      const se = Math.sqrt((a[2] * a[2]) / a[0] + (b[2] * b[2]) / b[0]);
      return se > 0 ? (a[1] - b[1]) / se : a[1] === b[1] ? 0 : Infinity;
    })
    .filter((z) => !Number.isNaN(z));
  const over2 = zs.filter((z) => Math.abs(z) > 2).length;
  const over3 = zs.filter((z) => Math.abs(z) > 3).length;
  console.log(
    `\n${zs.length} rows compared: |z| > 2 in ${over2} (≈ ${(zs.length * 0.0455).toFixed(1)} expected by chance), |z| > 3 in ${over3} (≈ ${(zs.length * 0.0027).toFixed(2)} expected)`,
  );
}

main();
