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
 * Prints both Acc@1 and EMA Acc@1 per epoch and ends with
 * `ratio=<ringmaster EMA Acc@1 / pytorch EMA Acc@1>` (target ≥ 0.99).
 *
 * Env: BENCH_EPOCHS, BENCH_SEED, BENCH_TRAIN (images), BENCH_VAL (images), BENCH_WORKERS (default: the
 * recipe's), BENCH_BACKEND (default wasm), BENCH_PYTHON (python with torch + torchvision;
 * default $RINGMASTER_CACHE/venv/bin/python, made by `bash test/oracle/setup.sh`),
 * BENCH_SKIP_TORCH=1 / BENCH_SKIP_RINGMASTER=1, BENCH_OUT (run directory; default a temp dir).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { FASHION_MNIST_DIR } from '../../trainer/data/fashion-mnist.js';
import { countParams, getArch } from '../../trainer/models/arch.js';
import { loadTrainingRecipeFile } from '../../trainer/recipe/load.js';
import type { EpochMetrics } from '../../trainer/report/metrics-log.js';

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

interface Row {
  epoch: number;
  acc1: number | null;
  emaAcc1: number | null;
  trainLoss: number;
}

function run(cmd: string, args: string[], onLine: (line: string) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env });
    createInterface({ input: child.stdout }).on('line', onLine);
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

const elapsed = (t0: number) => `${((Date.now() - t0) / 60_000).toFixed(1)} min`;
const pct = (v: number | null | undefined) =>
  v === null || v === undefined ? '   n/a' : v.toFixed(2).padStart(6);

async function main(): Promise<void> {
  const recipeFile = join(root, 'examples', 'fashion-mnist.yaml');
  const { spec } = await loadTrainingRecipeFile(recipeFile);
  const nTrain = intEnv('BENCH_TRAIN') ?? limitOf(spec.data.train);
  const nVal = intEnv('BENCH_VAL') ?? limitOf(spec.data.val);
  const recipe = {
    ...spec.recipe,
    epochs: intEnv('BENCH_EPOCHS') ?? spec.recipe.epochs,
    seed: env.BENCH_SEED ? Number(env.BENCH_SEED) : spec.recipe.seed,
  };
  const workers = intEnv('BENCH_WORKERS') ?? spec.workers;
  const backend = env.BENCH_BACKEND ?? 'wasm';
  const outDir = env.BENCH_OUT ?? (await mkdtemp(join(tmpdir(), 'ringmaster-bench-learning-')));
  const params = countParams(getArch(recipe.model), 10);
  process.stdout.write(
    `bench:learning — ${recipe.model} (${params} params) on Fashion-MNIST: ${nTrain} train / ${nVal} val images, ` +
      `${recipe.epochs} epochs, seed ${recipe.seed}, ${workers} worker(s) × batch ${recipe.batchSize}, lr ${recipe.lr}, ` +
      `crop ${recipe.trainCropSize} / eval ${recipe.valResizeSize}→${recipe.valCropSize}; run dir ${outDir}\n`,
  );

  // ---- PyTorch / torchvision
  const torchRows: Row[] = [];
  if (env.BENCH_SKIP_TORCH !== '1') {
    if (!existsSync(python)) {
      throw new Error(
        `no python with torch at ${python}: run bash test/oracle/setup.sh or set BENCH_PYTHON`,
      );
    }
    const cfgPath = join(outDir, 'torch-config.json');
    await writeFile(
      cfgPath,
      JSON.stringify({
        recipe,
        world_size: workers,
        n_train: nTrain,
        n_val: nVal,
        source: FASHION_MNIST_DIR,
        port: 20000 + Math.floor(Math.random() * 20000),
        threads: 1,
      }),
    );
    const t0 = Date.now();
    process.stdout.write('\n[pytorch] training…\n');
    const code = await run(
      python,
      [join(root, 'bench', 'learning', 'torch_recipe.py'), cfgPath],
      (line) => {
        if (!line.startsWith('{')) return process.stdout.write(`[pytorch] ${line}\n`) && undefined;
        const r = JSON.parse(line) as Row & { params: number };
        if (r.params !== params) {
          throw new Error(`model shapes differ: pytorch ${r.params} params, ringmaster ${params}`);
        }
        torchRows.push(r);
        process.stdout.write(
          `[pytorch] epoch ${r.epoch + 1}: loss ${r.trainLoss.toFixed(4)}  Acc@1 ${pct(r.acc1)}  EMA Acc@1 ${pct(r.emaAcc1)}  (${elapsed(t0)})\n`,
        );
      },
    );
    if (code !== 0) throw new Error(`torch_recipe.py exited with ${code}`);
  }

  // ---- Ringmaster
  let rmRows: Row[] = [];
  if (env.BENCH_SKIP_RINGMASTER !== '1') {
    const rmSpec = {
      ...spec,
      recipe,
      workers,
      data: {
        ...spec.data,
        train: `fashion-mnist:?limit=${nTrain}`,
        val: `fashion-mnist:?limit=${nVal}`,
      },
      output: join(outDir, 'ringmaster'),
    };
    const recipePath = join(outDir, 'ringmaster-recipe.json');
    await writeFile(recipePath, JSON.stringify(rmSpec, null, 2));
    const t0 = Date.now();
    process.stdout.write('\n[ringmaster] training…\n');
    const code = await run(
      process.execPath,
      [
        join(root, 'bin', 'ringmaster.js'),
        'train',
        recipePath,
        '--local',
        '--workers',
        String(workers),
        '--backend',
        backend,
      ],
      (line) => process.stdout.write(`[ringmaster] ${line}\n`),
    );
    if (code !== 0) throw new Error(`ringmaster train exited with ${code}`);
    const jsonl = await readFile(join(rmSpec.output, 'metrics.jsonl'), 'utf8');
    rmRows = jsonl
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as EpochMetrics);
    process.stdout.write(`[ringmaster] done in ${elapsed(t0)}\n`);
  }

  // ---- side by side
  process.stdout.write(
    '\nepoch │ pytorch Acc@1  EMA Acc@1 │ ringmaster Acc@1  EMA Acc@1\n' +
      '──────┼──────────────────────────┼────────────────────────────\n',
  );
  for (let e = 0; e < recipe.epochs; e++) {
    const p = torchRows.find((r) => r.epoch === e);
    const r = rmRows.find((x) => x.epoch === e);
    process.stdout.write(
      `${String(e + 1).padStart(5)} │ ${pct(p?.acc1)}        ${pct(p?.emaAcc1)}   │ ${pct(r?.acc1)}           ${pct(r?.emaAcc1)}\n`,
    );
  }
  const p = torchRows.at(-1);
  const r = rmRows.at(-1);
  process.stdout.write(
    `\npytorch    Acc@1 ${pct(p?.acc1)}  EMA Acc@1 ${pct(p?.emaAcc1)}\n` +
      `ringmaster Acc@1 ${pct(r?.acc1)}  EMA Acc@1 ${pct(r?.emaAcc1)}\n`,
  );
  if (p?.emaAcc1 && r?.emaAcc1 !== null && r?.emaAcc1 !== undefined) {
    process.stdout.write(`ratio=${(r.emaAcc1 / p.emaAcc1).toFixed(4)}\n`);
  } else {
    process.stdout.write('ratio=n/a (one side did not run)\n');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench:learning failed: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exitCode = 1;
});
