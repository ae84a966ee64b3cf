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
 * Prints one table: per row the exact expected value (computed from torchvision's definitions
 * alone, `exactValues`), n and mean ± sd per side, and the differences in standard errors
 * z = (mean_a − mean_b) / √(se_a² + se_b²): Ringmaster − torchvision, Ringmaster − exact,
 * torchvision − exact. About one row in twenty shows |z| > 2 by chance (the table has 42); a
 * real difference shows as |z| ≫ 3 and grows with √n. Ringmaster's draws are ~30× cheaper than
 * torchvision's, so `--r-images` / `--r-batches` can make its side much larger (its R − exact
 * column then resolves differences of a few 1e-4).
 *
 * usage: node --import tsx bench/learning/aug_params.ts [--images N] [--batches N] [--seed S]
 *        [--r-images N] [--r-batches N] [--json]  (--json: Ringmaster's statistics and the
 *        exact values only, no python)
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
import { incompleteBeta } from '../../common/stats.js';

/** trainer/train.ts's MIX_STREAM (not exported there; keep in step). */
const MIX_STREAM = 0x6d1c;
const SIZE = 28;
const CROP = 24;
/** examples/fashion-mnist.yaml: train limit 4096 (positions per epoch), 2 ranks. */
const EPOCH_IMAGES = 4096;
const RANKS = 2;
const SIGNED = new Set(['ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate']);
for (const op of ['Brightness', 'Color', 'Contrast', 'Sharpness']) SIGNED.add(op);

/** The recipe's label smoothing and class count (Fashion-MNIST). */
const SMOOTHING = 0.1;
const CLASSES = 10;

/**
 * The entropy of the smoothed target of a sample mixed with weight λ with a sample of another
 * class: the least cross-entropy any prediction can reach on it, so the mixing strength in
 * the units of the training loss.
 */
function targetEntropy(lam: number): number {
  const base = SMOOTHING / CLASSES;
  const pa = (1 - SMOOTHING) * lam + base;
  const pb = (1 - SMOOTHING) * (1 - lam) + base;
  return -(pa * Math.log(pa) + pb * Math.log(pb) + (CLASSES - 2) * base * Math.log(base));
}

type Summary = Record<string, Stat>;
type Stat = [n: number, mean: number, sd: number];

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
    // Bin 0 is 0 either way (−0 < 0 is false): count the sign where it shows.
    if (SIGNED.has(op) && magnitude !== 0) obs.add('ta.negative', magnitude < 0);
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
    obs.add(`${m.applied}.targetEntropy`, targetEntropy(lam));
    obs.add('mix.minority', Math.min(lam, 1 - lam));
    obs.add('mix.targetEntropy', targetEntropy(lam));
  }
}

const LN = Math.log;

/**
 * Uniform target area A ∈ [aLo, aHi] and log ratio t ∈ [tLo, tHi]; p = round(√(A·e^t)),
 * q = round(√(A/e^t)). For each t (midpoint rule, `steps` points) the A axis is cut where p or q
 * changes, so the inner integral is exact; the outer integrand is continuous in t, so the
 * midpoint rule's error is O(steps⁻²). Returns P(accept) and E[f | accept] for each f.
 */
function integrateBox(
  aLo: number,
  aHi: number,
  tLo: number,
  tHi: number,
  accept: (p: number, q: number) => boolean,
  fs: ReadonlyArray<(p: number, q: number) => number>,
  steps = 4000,
): { pAccept: number; means: number[] } {
  let acc = 0;
  const sums = fs.map(() => 0);
  for (let i = 0; i < steps; i++) {
    const r = Math.exp(tLo + ((i + 0.5) * (tHi - tLo)) / steps);
    const cuts = [aLo, aHi];
    // p changes at A = (k + ½)²/r, q at A = (k + ½)²·r.
    for (let k = 0; ; k++) {
      const a = ((k + 0.5) * (k + 0.5)) / r;
      if (a >= aHi) break;
      if (a > aLo) cuts.push(a);
    }
    for (let k = 0; ; k++) {
      const a = (k + 0.5) * (k + 0.5) * r;
      if (a >= aHi) break;
      if (a > aLo) cuts.push(a);
    }
    cuts.sort((x, y) => x - y);
    for (let j = 0; j + 1 < cuts.length; j++) {
      const len = cuts[j + 1]! - cuts[j]!;
      if (len <= 0) continue;
      const mid = (cuts[j]! + cuts[j + 1]!) / 2;
      const p = Math.round(Math.sqrt(mid * r));
      const q = Math.round(Math.sqrt(mid / r));
      if (!accept(p, q)) continue;
      const wgt = len / (aHi - aLo) / steps;
      acc += wgt;
      fs.forEach((f, n) => (sums[n]! += wgt * f(p, q)));
    }
  }
  return { pAccept: acc, means: sums.map((x) => x / acc) };
}

/** Mean of torch.linspace(a, b, n) (in doubles; float32 moves it by < 1e-6). */
function linspaceMean(a: number, b: number, n: number): number {
  let t = 0;
  for (let i = 0; i < n; i++) t += a + ((b - a) * i) / (n - 1);
  return t / n;
}

/**
 * The expected value of every row, from torchvision's definitions alone (neither sampler is
 * used): RandomResizedCrop and RandomErasing by integration over their (area, log ratio)
 * draw with ten tries, TrivialAugmentWide from its magnitude tables, CutMix by enumerating
 * the half size trunc(12·√(1−λ)) (λ ~ U(0,1)) and the centre, Mixup from the Beta(0.2, 0.2)
 * incomplete beta function: E[min(λ, 1−λ)] = I_½(α+1, α).
 */
function exactValues(): Record<string, number> {
  const x: Record<string, number> = {};
  const all = SIZE * SIZE;
  const rrc = integrateBox(
    0.08 * all,
    all,
    LN(3 / 4),
    LN(4 / 3),
    (w, h) => w > 0 && w <= SIZE && h > 0 && h <= SIZE,
    [(w, h) => (w * h) / all, (w, h) => LN(w / h)],
  );
  const fb = (1 - rrc.pAccept) ** 10;
  x['rrc.fallback'] = fb;
  x['rrc.area'] = (1 - fb) * rrc.means[0]! + fb; // the fallback is the whole (square) image
  x['rrc.logRatio'] = (1 - fb) * rrc.means[1]!;
  x['flip'] = 0.5;
  for (const o of TA_WIDE_OPS) x[`ta.op.${o}`] = 1 / TA_WIDE_OPS.length;
  for (const o of ['ShearX', 'ShearY', 'Brightness', 'Color', 'Contrast', 'Sharpness'])
    x[`ta.mag.${o}`] = linspaceMean(0, 0.99, 31);
  x['ta.mag.TranslateX'] = x['ta.mag.TranslateY'] = linspaceMean(0, 32, 31);
  x['ta.mag.Rotate'] = linspaceMean(0, 135, 31);
  x['ta.mag.Solarize'] = linspaceMean(255, 0, 31);
  let bits = 0;
  for (let i = 0; i < 31; i++) bits += 8 - Math.round(i / 5); // i/5 is never a tie
  x['ta.mag.Posterize'] = bits / 31;
  x['ta.negative'] = 0.5;
  const ce = CROP * CROP;
  const er = integrateBox(0.02 * ce, 0.33 * ce, LN(0.3), LN(3.3), (h, w) => h < CROP && w < CROP, [
    (h, w) => (h * w) / ce,
  ]);
  const noFit = (1 - er.pAccept) ** 10;
  x['erase.fired'] = 0.1;
  x['erase.noFit'] = noFit;
  x['erase.areaIfFired'] = (1 - noFit) * er.means[0]!;
  x['erase.area'] = 0.1 * x['erase.areaIfFired'];
  // CutMix: half = trunc(12·√u), u = 1 − λ ~ U(0, 1): P(half = k) = ((k+1)² − k²)/144.
  const halfMax = CROP / 2;
  let lam = 0;
  let minority = 0;
  let empty = 0;
  let entropy = 0;
  for (let k = 0; k < halfMax; k++) {
    const pk = ((k + 1) ** 2 - k ** 2) / halfMax ** 2;
    for (let rx = 0; rx < CROP; rx++) {
      for (let ry = 0; ry < CROP; ry++) {
        const wx = Math.min(rx + k, CROP) - Math.max(rx - k, 0);
        const wy = Math.min(ry + k, CROP) - Math.max(ry - k, 0);
        const l = 1 - (wx * wy) / ce;
        const pr = pk / ce;
        lam += pr * l;
        minority += pr * Math.min(l, 1 - l);
        entropy += pr * targetEntropy(l);
        if (wx * wy === 0) empty += pr;
      }
    }
  }
  x['cutmix.lambdaDrawn'] = 0.5;
  x['cutmix.lambda'] = lam;
  x['cutmix.boxArea'] = 1 - lam;
  x['cutmix.emptyBox'] = empty;
  x['mix.cutmix'] = 0.5;
  x['mixup.lambda'] = 0.5;
  x['mixup.minority'] = incompleteBeta(0.5, 1.2, 0.2);
  x['mix.minority'] = 0.5 * x['mixup.minority'] + 0.5 * minority;
  x['cutmix.targetEntropy'] = entropy;
  // Mixup: E[g(λ)] = g(1) − ∫ g′(λ)·F(λ) dλ with F the Beta(0.2, 0.2) CDF (by parts: F is
  // bounded where the density is not), g′(λ) = (1−ε)·(ln p_b − ln p_a), midpoint rule.
  const steps = 20000;
  let integral = 0;
  for (let i = 0; i < steps; i++) {
    const l = (i + 0.5) / steps;
    const base = SMOOTHING / CLASSES;
    const pa = (1 - SMOOTHING) * l + base;
    const pb = (1 - SMOOTHING) * (1 - l) + base;
    integral += (1 - SMOOTHING) * (Math.log(pb) - Math.log(pa)) * incompleteBeta(l, 0.2, 0.2);
  }
  x['mixup.targetEntropy'] = targetEntropy(1) - integral / steps;
  x['mix.targetEntropy'] = 0.5 * x['mixup.targetEntropy'] + 0.5 * entropy;
  return x;
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  return a !== 0 && (a >= 1000 || a < 0.001) ? x.toExponential(3) : x.toFixed(4);
}

/** (mean_a − mean_b) / √(se_a² + se_b²); an exact value is a side with no error. */
function zOf(a: Stat | undefined, b: Stat | number | undefined): number {
  if (!a || b === undefined || Number.isNaN(b)) return NaN;
  const [bm, bv] = typeof b === 'number' ? [b, 0] : [b[1], (b[2] * b[2]) / b[0]];
  let se = Math.sqrt((a[2] * a[2]) / a[0] + bv);
  // A rare event never seen (rate 0, sd 0) against its exact rate p: the binomial se.
  if (se === 0 && typeof b === 'number' && b > 0 && b < 1) se = Math.sqrt((b * (1 - b)) / a[0]);
  const d = a[1] - bm;
  // Zero variance on both sides (e.g. a rate of exactly 0): equal, or infinitely far apart.
  if (se === 0) return Math.abs(d) < 1e-12 ? 0 : Infinity;
  return d / se;
}

function fmtZ(z: number): string {
  if (Number.isNaN(z)) return '—';
  return `${z >= 0 ? '+' : ''}${z.toFixed(2)}${Math.abs(z) > 3 ? ' !' : ''}`;
}

/**
 * The side-by-side table: the expected value, both sides' n and mean ± sd, and the differences
 * in standard errors: Ringmaster − torchvision, Ringmaster − exact, torchvision − exact.
 */
function formatTable(
  r: Summary,
  t: Summary,
  exact: Record<string, number>,
  keys: readonly string[],
): string {
  const head = [
    'parameter',
    'exact',
    'n R',
    'Ringmaster mean ± sd',
    'n T',
    'torchvision mean ± sd',
    'z R−T',
    'z R−x',
    'z T−x',
  ];
  const side = (s: Stat | undefined) =>
    s ? [String(s[0]), `${fmt(s[1])} ± ${fmt(s[2])}`] : ['0', '—'];
  const rows = keys.map((k) => [
    k,
    exact[k] === undefined ? '—' : fmt(exact[k]),
    ...side(r[k]),
    ...side(t[k]),
    fmtZ(zOf(r[k], t[k])),
    fmtZ(zOf(r[k], exact[k])),
    fmtZ(zOf(t[k], exact[k])),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function tally(name: string, zs: number[]): string {
  const ok = zs.filter((z) => !Number.isNaN(z));
  const over2 = ok.filter((z) => Math.abs(z) > 2).length;
  const over3 = ok.filter((z) => Math.abs(z) > 3).length;
  return `${name}: ${ok.length} rows, |z| > 2 in ${over2} (≈ ${(ok.length * 0.0455).toFixed(1)} by chance), |z| > 3 in ${over3} (≈ ${(ok.length * 0.0027).toFixed(2)})`;
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
      // Ringmaster's side is ~30× cheaper: more draws there sharpen the R − exact column.
      'r-images': { type: 'string' },
      'r-batches': { type: 'string' },
      seed: { type: 'string', default: '0' },
      json: { type: 'boolean', default: false },
    },
  });
  const count = (name: string, v: string | undefined, dflt: number) => {
    const n = v === undefined ? dflt : Number(v);
    if (!Number.isInteger(n) || n < 2) throw new Error(`--${name} must be an integer ≥ 2`);
    return n;
  };
  const images = count('images', values.images, 20000);
  const batches = count('batches', values.batches, 20000);
  const rImages = count('r-images', values['r-images'], images);
  const rBatches = count('r-batches', values['r-batches'], batches);
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new Error('--seed must be an integer ≥ 0');

  const t0 = performance.now();
  const obs = new Obs();
  ringmasterImages(obs, rImages, seed);
  ringmasterBatches(obs, rBatches, seed);
  const r = obs.summary();
  const msR = performance.now() - t0;
  const exact = exactValues();
  if (values.json) {
    console.log(JSON.stringify({ stats: r, exact }));
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
  const script = join(root, 'bench', 'learning', 'aug_params.py');
  const args = ['--images', String(images), '--batches', String(batches), '--seed', String(seed)];
  const res = spawnSync(python, [script, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  });
  if (res.status !== 0) throw new Error(`aug_params.py exited ${res.status ?? res.signal}`);
  const torch = JSON.parse(res.stdout) as { torchvision: string; stats: Summary };
  const msT = performance.now() - t1;

  console.log(
    `augmentation parameters, examples/fashion-mnist.yaml recipe, seed ${seed}: Ringmaster ${rImages} images / ${rBatches} batches (${(msR / 1000).toFixed(1)} s), torchvision ${torch.torchvision} ${images} / ${batches} (${(msT / 1000).toFixed(1)} s incl. start-up)\n`,
  );
  const keys = tableKeys(r, torch.stats);
  console.log(formatTable(r, torch.stats, exact, keys));
  console.log('');
  console.log(
    tally(
      'R−T',
      keys.map((k) => zOf(r[k], torch.stats[k])),
    ),
  );
  console.log(
    tally(
      'R−exact',
      keys.map((k) => zOf(r[k], exact[k])),
    ),
  );
  console.log(
    tally(
      'T−exact',
      keys.map((k) => zOf(torch.stats[k], exact[k])),
    ),
  );
}

main();
