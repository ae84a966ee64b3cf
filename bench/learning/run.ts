/**
 * `npm run bench:learning`: does Ringmaster learn as well as PyTorch with the same recipe?
 *
 * examples/fashion-mnist.yaml (every ingredient on: TrivialAugmentWide, RA sampler,
 * mixup/cutmix, label smoothing, random erasing, EMA, warmup + cosine) is trained twice in
 * this run, on the same Fashion-MNIST images (Debian's dataset-fashion-mnist, the first N of
 * the training set, the first V of the test set as validation) with the same world size:
 *   1. PyTorch/torchvision (bench/learning/torch_recipe.py: torchvision's reference recipe,
 *      gloo DDP with one process per rank),
 *   2. Ringmaster (`ringmaster train … --local --workers W`).
 * One seed tells nothing (seed-to-seed sd is 4–5 points at this size), so both sides are trained
 * for every seed of BENCH_SEEDS (default 0–5), one after the other (never two trainings at once:
 * each already uses the machine's two cores), each seed in `<out>/seed-<N>/`. Per-seed lines are
 * printed as each finishes; at the end a per-seed table, mean ± sd per side, the ratio of the
 * means, Welch's t and df and a 95% interval of the difference (bench/learning/summary.ts), also
 * written to `<out>/summary.json` (rewritten after every seed, so a stopped run keeps what it
 * had). Last line: `ratio=<mean ringmaster EMA Acc@1 / mean pytorch EMA Acc@1>` (target ≥ 0.99).
 *
 * Env: BENCH_SEEDS (comma-separated, default 0–11; BENCH_SEED=N is shorthand for one),
 * BENCH_EPOCHS, BENCH_TRAIN (images), BENCH_VAL (images), BENCH_WORKERS (default: the recipe's),
 * BENCH_BACKEND (default tensorflow, the native backend: npm run setup:tensorflow), BENCH_PYTHON (python with torch + torchvision; default
 * $RINGMASTER_CACHE/venv/bin/python, made by `bash test/oracle/setup.sh`),
 * BENCH_SKIP_TORCH=1 / BENCH_SKIP_RINGMASTER=1, BENCH_OUT (run directory; default a temp dir).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { FASHION_MNIST_DIR } from '../../trainer/data/fashion-mnist.js';
import { countParams, getArch } from '../../trainer/models/arch.js';
import { loadTrainingRecipeFile, trainData } from '../../api/load.js';
import { parseMetricsJsonl } from '../../trainer/report/metrics-log.js';
import type { EpochRow, SeedResult, SideResult } from './summary.js';
import {
  emaRatio,
  formatSummary,
  parseSeeds,
  sideResult,
  summarize,
  summaryJson,
} from './summary.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cache = process.env.RINGMASTER_CACHE ?? join(homedir(), '.cache', 'ringmaster');
const python = process.env.BENCH_PYTHON ?? join(cache, 'venv', 'bin', 'python');
const env = process.env;

function intEnv(name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
}

function limitOf(uri: string): number {
  const m = /[?&]limit=(\d+)/.exec(uri);
  if (!m) throw new Error(`expected a fashion-mnist:?limit=N URI, got ${uri}`);
  return Number(m[1]);
}

function run(cmd: string, args: string[], onLine: (line: string) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env });
    createInterface({ input: child.stdout }).on('line', onLine);
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

const minutesSince = (t0: number) => (Date.now() - t0) / 60_000;
const elapsed = (t0: number) => `${minutesSince(t0).toFixed(1)} min`;
const pct = (v: number | null | undefined) =>
  v === null || v === undefined ? '   n/a' : v.toFixed(2).padStart(6);
const brief = (s: SideResult) =>
  `Acc@1 ${pct(s.acc1)}  EMA Acc@1 ${pct(s.emaAcc1)}  loss ${s.trainLoss?.toFixed(3) ?? 'n/a'}  (${s.minutes.toFixed(1)} min)`;

type Recipe = Awaited<ReturnType<typeof loadTrainingRecipeFile>>['spec']['recipe'];
type Spec = Awaited<ReturnType<typeof loadTrainingRecipeFile>>['spec'];

interface Setup {
  spec: Spec;
  recipe: Recipe;
  nTrain: number;
  nVal: number;
  workers: number;
  backend: string;
  params: number;
}

async function trainTorch(s: Setup, dir: string): Promise<SideResult> {
  if (!existsSync(python)) {
    throw new Error(
      `no python with torch at ${python}: run bash test/oracle/setup.sh or set BENCH_PYTHON`,
    );
  }
  const cfgPath = join(dir, 'torch-config.json');
  await writeFile(
    cfgPath,
    JSON.stringify({
      recipe: s.recipe,
      world_size: s.workers,
      n_train: s.nTrain,
      n_val: s.nVal,
      source: FASHION_MNIST_DIR,
      port: 20000 + Math.floor(Math.random() * 20000),
      threads: 1,
    }),
  );
  const rows: EpochRow[] = [];
  let mismatch: string | undefined;
  const t0 = Date.now();
  process.stdout.write(`\n[seed ${s.recipe.seed}] [pytorch] training…\n`);
  const code = await run(
    python,
    [join(root, 'bench', 'learning', 'torch_recipe.py'), cfgPath],
    (line) => {
      if (!line.startsWith('{')) {
        process.stdout.write(`[pytorch] ${line}\n`);
        return;
      }
      const r = JSON.parse(line) as Partial<EpochRow> & { params?: number };
      if (typeof r.epoch !== 'number') return;
      if (r.params !== s.params) {
        mismatch = `model shapes differ: pytorch ${r.params} params, ringmaster ${s.params}`;
        return;
      }
      const row: EpochRow = {
        epoch: r.epoch,
        acc1: r.acc1 ?? null,
        emaAcc1: r.emaAcc1 ?? null,
        trainLoss: r.trainLoss ?? NaN,
      };
      rows.push(row);
      process.stdout.write(
        `[pytorch] epoch ${row.epoch + 1}: loss ${row.trainLoss.toFixed(4)}  Acc@1 ${pct(row.acc1)}  EMA Acc@1 ${pct(row.emaAcc1)}  (${elapsed(t0)})\n`,
      );
    },
  );
  if (mismatch) throw new Error(mismatch);
  if (code !== 0) throw new Error(`torch_recipe.py exited with ${code}`);
  await writeFile(
    join(dir, 'pytorch-metrics.jsonl'),
    rows.map((r) => JSON.stringify(r) + '\n').join(''),
  );
  return sideResult(rows, minutesSince(t0));
}

async function trainRingmaster(s: Setup, dir: string): Promise<SideResult> {
  const rmSpec = {
    ...s.spec,
    recipe: s.recipe,
    workers: s.workers,
    data: {
      ...s.spec.data,
      train: `fashion-mnist:?limit=${s.nTrain}`,
      val: `fashion-mnist:?limit=${s.nVal}`,
    },
    output: join(dir, 'ringmaster'),
  };
  const recipePath = join(dir, 'ringmaster-recipe.json');
  await writeFile(recipePath, JSON.stringify(rmSpec, null, 2));
  const t0 = Date.now();
  process.stdout.write(`\n[seed ${s.recipe.seed}] [ringmaster] training…\n`);
  const code = await run(
    process.execPath,
    [
      join(root, 'bin', 'ringmaster.js'),
      'train',
      recipePath,
      '--local',
      '--workers',
      String(s.workers),
      '--backend',
      s.backend,
    ],
    (line) => process.stdout.write(`[ringmaster] ${line}\n`),
  );
  if (code !== 0) throw new Error(`ringmaster train exited with ${code}`);
  const rows = parseMetricsJsonl(await readFile(join(rmSpec.output, 'metrics.jsonl'), 'utf8')).map(
    (m): EpochRow => ({ epoch: m.epoch, acc1: m.acc1, emaAcc1: m.emaAcc1, trainLoss: m.trainLoss }),
  );
  return sideResult(rows, minutesSince(t0));
}

function epochTable(r: SeedResult, epochs: number): string {
  let out =
    `\n[seed ${r.seed}] epoch │ pytorch Acc@1  EMA Acc@1 │ ringmaster Acc@1  EMA Acc@1\n` +
    `[seed ${r.seed}] ──────┼──────────────────────────┼────────────────────────────\n`;
  for (let e = 0; e < epochs; e++) {
    const p = r.pytorch?.epochs.find((x) => x.epoch === e);
    const q = r.ringmaster?.epochs.find((x) => x.epoch === e);
    out += `[seed ${r.seed}] ${String(e + 1).padStart(5)} │ ${pct(p?.acc1)}        ${pct(p?.emaAcc1)}   │ ${pct(q?.acc1)}           ${pct(q?.emaAcc1)}\n`;
  }
  return out;
}

async function main(): Promise<void> {
  const recipeFile = join(root, 'examples', 'fashion-mnist.yaml');
  const { spec } = await loadTrainingRecipeFile(recipeFile);
  const seeds = parseSeeds(env.BENCH_SEEDS, env.BENCH_SEED);
  const nTrain = intEnv('BENCH_TRAIN') ?? limitOf(trainData(spec));
  const nVal = intEnv('BENCH_VAL') ?? limitOf(spec.data.val);
  const epochs = intEnv('BENCH_EPOCHS') ?? spec.recipe.epochs;
  // Ringmaster refuses this recipe (and torch's CosineAnnealingLR would divide by zero): say so
  // before spending a PyTorch run on it.
  if (epochs <= spec.recipe.lrWarmupEpochs) {
    throw new Error(
      `BENCH_EPOCHS must exceed the recipe's lrWarmupEpochs (${spec.recipe.lrWarmupEpochs})`,
    );
  }
  const workers = intEnv('BENCH_WORKERS') ?? spec.workers;
  const backend = env.BENCH_BACKEND ?? 'tensorflow';
  const skipTorch = env.BENCH_SKIP_TORCH === '1';
  const skipRingmaster = env.BENCH_SKIP_RINGMASTER === '1';
  const outDir = env.BENCH_OUT ?? (await mkdtemp(join(tmpdir(), 'ringmaster-bench-learning-')));
  await mkdir(outDir, { recursive: true });
  const base = { ...spec.recipe, epochs };
  const params = countParams(getArch(base.model), 10);
  process.stdout.write(
    `bench:learning — ${base.model} (${params} params) on Fashion-MNIST: ${nTrain} train / ${nVal} val images, ` +
      `${epochs} epochs, seeds ${seeds.join(',')}, ${workers} worker(s) × batch ${base.batchSize}, lr ${base.lr}, ` +
      `crop ${base.trainCropSize} / eval ${base.valResizeSize}→${base.valCropSize}; run dir ${outDir}\n`,
  );
  const config = {
    model: base.model,
    params,
    nTrain,
    nVal,
    epochs,
    workers,
    backend,
    seeds,
    skipTorch,
    skipRingmaster,
    outDir,
  };

  const t0 = Date.now();
  const results: SeedResult[] = [];
  const summaryPath = join(outDir, 'summary.json');
  for (const seed of seeds) {
    const dir = join(outDir, `seed-${seed}`);
    await mkdir(dir, { recursive: true });
    const setup: Setup = {
      spec,
      recipe: { ...base, seed },
      nTrain,
      nVal,
      workers,
      backend,
      params,
    };
    const pytorch = skipTorch ? null : await trainTorch(setup, dir);
    const ringmaster = skipRingmaster ? null : await trainRingmaster(setup, dir);
    const result: SeedResult = {
      seed,
      dir,
      pytorch,
      ringmaster,
      emaRatio: emaRatio(pytorch, ringmaster),
    };
    results.push(result);
    process.stdout.write(epochTable(result, epochs));
    if (pytorch) process.stdout.write(`[seed ${seed}] pytorch    ${brief(pytorch)}\n`);
    if (ringmaster) process.stdout.write(`[seed ${seed}] ringmaster ${brief(ringmaster)}\n`);
    process.stdout.write(
      `[seed ${seed}] EMA ratio ${result.emaRatio?.toFixed(4) ?? 'n/a'}   ` +
        `(${results.length}/${seeds.length} seeds, ${elapsed(t0)})\n`,
    );
    await writeFile(summaryPath, summaryJson(summarize(results), config));
  }

  const summary = summarize(results);
  await writeFile(summaryPath, summaryJson(summary, config));
  const report = formatSummary(summary);
  // summary.json's path goes before the report so that `ratio=` stays the last line.
  process.stdout.write(`\nsummary: ${summaryPath}\n${report}`);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench:learning failed: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exitCode = 1;
});
