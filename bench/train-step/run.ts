/**
 * `npm run bench:train-step`: images/s of a full training step (forward in training mode,
 * backward, BN statistics, SGD with momentum and weight decay: the trainer's own
 * `distributedStep` for one process) on TensorFlow's native backend, on wasm, and optionally
 * on tfjs's pure-JS cpu backend, against PyTorch CPU (`torch_step.py`, the same torchvision
 * model and `torch.optim.SGD`) measured in the same run, turn by turn.
 *
 * Ends with `ratio=<native tensorflow images/s ÷ PyTorch images/s, resnet50 at 128², batch 16,
 * both at 2 threads>`.
 *
 * Env: BENCH_STEPS (timed steps per turn, default 3), BENCH_ROUNDS (turns per side, default 2;
 * the median is reported), BENCH_THREADS (threads for both sides, default 2), BENCH_SKIP_CPU
 * (default 1: skip the tfjs cpu backend, which needs tens of minutes), BENCH_SKIP_WASM=1,
 * BENCH_CPU_BATCH_DIVISOR (default 8), BENCH_PYTHON (python with torch; default
 * $RINGMASTER_CACHE/venv/bin/python, made by test/oracle/setup.sh).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir, loadavg } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '../../trainer/engine/backend.js';
import { syntheticStep, type StepRecipe } from '../../trainer/step-timing.js';

interface Config {
  arch: string;
  size: number;
  batch: number;
}

const configs: Config[] = [
  { arch: 'resnet18', size: 64, batch: 32 },
  { arch: 'resnet50', size: 128, batch: 16 },
];
const steps = Number(process.env.BENCH_STEPS ?? 3);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const threads = Number(process.env.BENCH_THREADS ?? 2);
const skipCpu = (process.env.BENCH_SKIP_CPU ?? '1') === '1';
const skipWasm = process.env.BENCH_SKIP_WASM === '1';
const cpuBatchDivisor = Number(process.env.BENCH_CPU_BATCH_DIVISOR ?? 8);
const cache = process.env.RINGMASTER_CACHE ?? join(homedir(), '.cache', 'ringmaster');
const python = process.env.BENCH_PYTHON ?? join(cache, 'venv', 'bin', 'python');

/** The trainer's step on `backend`: the median images/s of `turns` turns of `timedSteps`. */
async function ringmasterImagesPerSecond(
  backend: BackendName,
  c: Config,
  timedSteps: number,
  turns: number,
): Promise<number> {
  await initBackend(backend, { threads });
  const { step, dispose } = syntheticStep(
    {
      model: c.arch as StepRecipe['model'],
      seed: 0,
      trainCropSize: c.size,
      weightDecay: 2e-5,
      normWeightDecay: 0,
      momentum: 0.9,
      labelSmoothing: 0,
      lr: 0.01,
    },
    1000,
    c.batch,
  );
  await step(); // warm-up: kernel selection, memory growth
  const rates: number[] = [];
  for (let r = 0; r < turns; r++) {
    const t0 = performance.now();
    for (let i = 0; i < timedSteps; i++) await step();
    rates.push((c.batch * timedSteps) / ((performance.now() - t0) / 1000));
  }
  dispose();
  return median(rates);
}

function torchImagesPerSecond(c: Config, torchThreads: number): number | null {
  if (!existsSync(python)) return null;
  const out = execFileSync(
    python,
    [
      join(import.meta.dirname, 'torch_step.py'),
      c.arch,
      String(c.size),
      String(c.batch),
      String(torchThreads),
      String(steps),
    ],
    { encoding: 'utf8' },
  );
  return (JSON.parse(out.trim().split('\n').pop()!) as { images_per_s: number }).images_per_s;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const fmt = (v: number | null): string =>
  v === null ? 'n/a' : v < 1 ? v.toPrecision(3) : v.toFixed(2);
const ratio = (a: number | null, b: number | null): string =>
  a === null || b === null ? 'n/a' : (a / b).toFixed(2);

if (!existsSync(python))
  console.log(`(no PyTorch at ${python}: run test/oracle/setup.sh or set BENCH_PYTHON)`);
console.log(
  `conditions: ${threads} threads each side, ${steps} timed steps × ${rounds} turns ` +
    `(median), load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
);

let headline: number | null = null;
for (const c of configs) {
  const label = `${c.arch} ${c.size}x${c.size} batch ${c.batch}`;
  // Turn by turn, so that a phase of load on the shared machine hits both sides alike.
  const native: number[] = [];
  const torch: number[] = [];
  for (let r = 0; r < rounds; r++) {
    native.push(await ringmasterImagesPerSecond('tensorflow', c, steps, 1));
    const t = torchImagesPerSecond(c, threads);
    if (t !== null) torch.push(t);
  }
  const tfRate = median(native);
  const torchRate = torch.length ? median(torch) : null;
  console.log(
    `${label}: ringmaster tensorflow ${fmt(tfRate)} img/s [${native.map(fmt).join(', ')}], ` +
      `pytorch ${fmt(torchRate)} img/s [${torch.map(fmt).join(', ')}], ratio ${ratio(tfRate, torchRate)}`,
  );
  if (!skipWasm) {
    const wasm = await ringmasterImagesPerSecond('wasm', c, Math.max(1, Math.ceil(steps / 3)), 1);
    console.log(
      `${label}: ringmaster wasm ${fmt(wasm)} img/s (one thread); tensorflow / wasm = ${ratio(tfRate, wasm)}x`,
    );
  }
  if (!skipCpu) {
    const cpuBatch = Math.max(1, Math.floor(c.batch / cpuBatchDivisor));
    const cpu = await ringmasterImagesPerSecond('cpu', { ...c, batch: cpuBatch }, 1, 1);
    console.log(
      `${label}: tfjs cpu ${fmt(cpu)} img/s (one step at batch ${cpuBatch}); tensorflow / cpu = ${ratio(tfRate, cpu)}x`,
    );
  }
  tf.disposeVariables();
  if (c.arch === 'resnet50' && torchRate !== null) headline = tfRate / torchRate;
}
console.log(`ratio=${headline === null ? 'n/a' : headline.toFixed(3)}`);
