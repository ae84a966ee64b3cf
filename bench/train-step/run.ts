/**
 * `npm run bench:train-step`: images/s of a full training step (forward, backward, SGD with
 * momentum) — Ringmaster on wasm vs tfjs's pure-JS cpu backend vs PyTorch CPU at 1 and 2
 * threads, measured in the same run. Ends with `ratio=<ringmaster / pytorch 1 thread, resnet18>`.
 *
 * Env: BENCH_STEPS (timed steps on wasm, default 3), BENCH_SKIP_CPU=1 (skip the slow tfjs cpu
 * backend), BENCH_CPU_BATCH_DIVISOR (default 8: the cpu backend runs one step at batch/8 —
 * its images/s hardly depends on the batch, and a full-batch step takes tens of minutes on a
 * loaded machine), BENCH_PYTHON (python with torch; default $RINGMASTER_CACHE/venv/bin/python).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend } from '../../trainer/engine/backend.js';
import { getArch } from '../../trainer/models/arch.js';
import { createResNet, type ResNetModel } from '../../trainer/models/resnet.js';
import { trainStepGrads } from '../../trainer/models/train-step.js';

interface Config {
  arch: string;
  size: number;
  batch: number;
}

const configs: Config[] = [
  { arch: 'resnet18', size: 64, batch: 32 },
  { arch: 'resnet50', size: 128, batch: 8 },
];
const steps = Number(process.env.BENCH_STEPS ?? 3);
const skipCpu = process.env.BENCH_SKIP_CPU === '1';
const cpuBatchDivisor = Number(process.env.BENCH_CPU_BATCH_DIVISOR ?? 8);
const cache = process.env.RINGMASTER_CACHE ?? join(homedir(), '.cache', 'ringmaster');
const python = process.env.BENCH_PYTHON ?? join(cache, 'venv', 'bin', 'python');

/** Plain SGD with momentum 0.9 and weight decay, as the recipe's optimizer does it. */
class MiniSgd {
  private readonly bufs = new Map<string, tf.Tensor>();
  constructor(
    private readonly model: ResNetModel,
    private readonly lr = 0.01,
    private readonly wd = 2e-5,
  ) {}
  step(grads: Map<string, tf.Tensor>): void {
    for (const [name, g] of grads) {
      const p = this.model.params.get(name)!;
      const next = tf.tidy(() => {
        const d = tf.add(g, tf.mul(p, this.wd));
        const old = this.bufs.get(name);
        return old ? tf.add(tf.mul(old, 0.9), d) : d;
      });
      this.bufs.get(name)?.dispose();
      this.bufs.set(name, next);
      tf.tidy(() => p.assign(tf.sub(p, tf.mul(next, this.lr))));
      g.dispose();
    }
  }
  dispose(): void {
    tf.dispose([...this.bufs.values()]);
  }
}

function tfjsImagesPerSecond(c: Config, timedSteps: number, warmup: boolean): number {
  const model = createResNet(getArch(c.arch), { numClasses: 1000, seed: 0 });
  const sgd = new MiniSgd(model);
  const x = tf.randomNormal([c.batch, c.size, c.size, 3]) as tf.Tensor4D;
  const labels = tf.tensor1d(
    Array.from({ length: c.batch }, (_, i) => (i * 37) % 1000),
    'int32',
  );
  const y = tf.cast(tf.oneHot(labels, 1000), 'float32') as tf.Tensor2D;
  const lossFn = (logits: tf.Tensor2D): tf.Scalar =>
    tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1))) as tf.Scalar);
  const step = (): void => sgd.step(trainStepGrads(model, x, lossFn).grads);
  if (warmup) step(); // XNNPACK operator setup, wasm memory growth
  const t0 = performance.now();
  for (let i = 0; i < timedSteps; i++) step();
  const dt = (performance.now() - t0) / 1000 / timedSteps;
  sgd.dispose();
  model.dispose();
  tf.dispose([x, labels, y]);
  return c.batch / dt;
}

function torchImagesPerSecond(c: Config, threads: number): number | null {
  if (!existsSync(python)) return null;
  const out = execFileSync(
    python,
    [
      join(import.meta.dirname, 'torch_step.py'),
      c.arch,
      String(c.size),
      String(c.batch),
      String(threads),
      String(steps),
    ],
    { encoding: 'utf8' },
  );
  return (JSON.parse(out.trim().split('\n').pop()!) as { images_per_s: number }).images_per_s;
}

const fmt = (v: number | null): string =>
  v === null ? 'n/a' : v < 1 ? v.toPrecision(3) : v.toFixed(2);
const ratio = (a: number | null, b: number | null): string =>
  a === null || b === null ? 'n/a' : (a / b).toFixed(2);

let headline: number | null = null;
for (const c of configs) {
  const label = `${c.arch} ${c.size}x${c.size} batch ${c.batch}`;
  await initBackend('wasm');
  const wasm = tfjsImagesPerSecond(c, steps, true);
  console.log(`${label}: ringmaster wasm ${fmt(wasm)} img/s`);
  let cpu: number | null = null;
  if (!skipCpu) {
    await initBackend('cpu');
    // One step, no warm-up: the cpu backend has nothing to warm up and a step takes minutes.
    const cpuBatch = Math.max(1, Math.floor(c.batch / cpuBatchDivisor));
    cpu = tfjsImagesPerSecond({ ...c, batch: cpuBatch }, 1, false);
    console.log(
      `${label}: tfjs cpu ${fmt(cpu)} img/s (one step at batch ${cpuBatch}; ringmaster ${ratio(wasm, cpu)}x)`,
    );
  }
  const t1 = torchImagesPerSecond(c, 1);
  const t2 = torchImagesPerSecond(c, 2);
  console.log(`${label}: pytorch 1 thread ${fmt(t1)} img/s, 2 threads ${fmt(t2)} img/s`);
  console.log(
    `${label}: ringmaster / pytorch 1 thread = ${ratio(wasm, t1)}, / 2 threads = ${ratio(wasm, t2)}`,
  );
  if (c.arch === 'resnet18' && t1 !== null) headline = wasm / t1;
}
console.log(`ratio=${headline === null ? 'n/a' : headline.toFixed(3)}`);
