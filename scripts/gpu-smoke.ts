/**
 * One training step of a ResNet on the backend RINGMASTER_BACKEND names, for
 * scripts/gpu-smoke.sh, which runs it twice in separate processes (tfjs-node-gpu and tfjs-node
 * both register the backend 'tensorflow', so they cannot share one) and compares:
 *
 *   node --import tsx scripts/gpu-smoke.ts run <out.json>      # RINGMASTER_BACKEND=tensorflow-gpu
 *   node --import tsx scripts/gpu-smoke.ts run <out.json>      # RINGMASTER_BACKEND=tensorflow
 *   node --import tsx scripts/gpu-smoke.ts compare <gpu.json> <cpu.json>
 *
 * `run`: seed-generated weights (createResNet, seed 0) and batch (Rng(1) normals, labels
 * (37·i) mod classes) — the same on every backend — then one step (trainStepGrads with the
 * recipe's cross-entropy, no smoothing) at those weights: its loss, logits and gradient norm
 * go to <out.json>. Then SMOKE_STEPS more steps with SGD (momentum 0.9), timed: images/s.
 * `compare`: prints the two side by side and exits 1 if the loss differs by more than
 * SMOKE_LOSS_RTOL (1e-3) relative, or the logits (relative L2) or the gradient norm by more
 * than SMOKE_RTOL (5e-2: TF32 rounding on Ampere and later stays far below it; a wrong kernel
 * does not). Exit 2 when the backend cannot load (e.g. no GPU), as the trainer does.
 *
 * Env: SMOKE_ARCH (resnet50), SMOKE_SIZE (224), SMOKE_BATCH (64), SMOKE_CLASSES (1000),
 * SMOKE_STEPS (timed steps after the compared one, default 5; 0 on the reference side).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { describeBackend, initBackend } from '../trainer/engine/backend.js';
import { describeError, exitCodeOf } from '../common/errors.js';
import { getArch } from '../trainer/models/arch.js';
import { createResNet } from '../trainer/models/resnet.js';
import { trainStepGrads } from '../trainer/models/train-step.js';
import { smoothedCrossEntropy } from '../trainer/optim/loss.js';
import { paramGroups, SGD } from '../trainer/optim/sgd.js';
import { Rng } from '../trainer/rng.js';

interface StepResult {
  backend: string;
  /** This process (scripts/gpu-smoke.sh finds its GPU memory in nvidia-smi by it). */
  pid: number;
  arch: string;
  size: number;
  batch: number;
  loss: number;
  gradNorm: number;
  logits: number[];
  /** Seconds of the first step (kernel selection, memory growth included). */
  firstStepSeconds: number;
  timedSteps: number;
  imagesPerSecond: number | null;
}

const num = (key: string, def: number): number => {
  const raw = process.env[key];
  const n = raw === undefined || raw === '' ? def : Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${key} must be a number ≥ 0 (got ${raw})`);
  return n;
};

async function run(out: string): Promise<void> {
  const arch = process.env.SMOKE_ARCH || 'resnet50';
  const size = num('SMOKE_SIZE', 224);
  const batch = num('SMOKE_BATCH', 64);
  const classes = num('SMOKE_CLASSES', 1000);
  const steps = num('SMOKE_STEPS', 5);
  const choice = await initBackend(process.env.RINGMASTER_BACKEND);
  console.log(describeBackend(choice));

  const model = createResNet(getArch(arch), { numClasses: classes, seed: 0 });
  const rng = new Rng(1);
  const x = tf.tensor4d(
    Float32Array.from({ length: batch * size * size * 3 }, () => rng.normal()),
    [batch, size, size, 3],
  );
  const labels = tf.tensor1d(
    Int32Array.from({ length: batch }, (_, i) => (i * 37) % classes),
    'int32',
  );
  let logits: Float32Array | undefined;
  const loss = (l: tf.Tensor2D) => {
    logits ??= l.dataSync().slice() as Float32Array;
    return smoothedCrossEntropy(l, labels, 0);
  };

  let t0 = performance.now();
  const first = trainStepGrads(model, x, loss);
  const sumOfSquares = tf.tidy(() =>
    tf.addN([...first.grads.values()].map((g) => tf.sum(tf.square(g)))),
  );
  const gradNorm = Math.sqrt(sumOfSquares.dataSync()[0]!);
  sumOfSquares.dispose();
  const firstStepSeconds = (performance.now() - t0) / 1000;
  console.log(`first step: loss ${first.loss.toFixed(6)}, ${firstStepSeconds.toFixed(1)} s`);

  let imagesPerSecond: number | null = null;
  if (steps > 0) {
    const sgd = new SGD(
      paramGroups(model.params.keys(), (n) => model.isNormParam(n), {
        weightDecay: 1e-4,
        normWeightDecay: 0,
      }),
      { momentum: 0.9 },
    );
    sgd.step(model.params, first.grads, 0.01);
    t0 = performance.now();
    for (let i = 0; i < steps; i++) {
      const { grads } = trainStepGrads(model, x, loss);
      sgd.step(model.params, grads, 0.01);
      for (const g of grads.values()) g.dispose();
    }
    // The updates run asynchronously on a GPU: wait for the last one.
    model.params.values().next().value!.dataSync();
    imagesPerSecond = (batch * steps) / ((performance.now() - t0) / 1000);
    console.log(`${steps} step${steps === 1 ? '' : 's'}: ${imagesPerSecond.toFixed(1)} images/s`);
    sgd.dispose();
  }
  for (const g of first.grads.values()) g.dispose();

  const result: StepResult = {
    backend: choice.name,
    pid: process.pid,
    arch,
    size,
    batch,
    loss: first.loss,
    gradNorm,
    logits: Array.from(logits!),
    firstStepSeconds,
    timedSteps: steps,
    imagesPerSecond,
  };
  writeFileSync(out, JSON.stringify(result));
}

function compare(aFile: string, bFile: string): boolean {
  const a = JSON.parse(readFileSync(aFile, 'utf8')) as StepResult;
  const b = JSON.parse(readFileSync(bFile, 'utf8')) as StepResult;
  if (a.arch !== b.arch || a.size !== b.size || a.batch !== b.batch)
    throw new Error(`not the same step: ${aFile} and ${bFile} differ in arch, size or batch`);
  const lossTol = num('SMOKE_LOSS_RTOL', 1e-3);
  const tol = num('SMOKE_RTOL', 5e-2);
  const rel = (p: number, q: number) => Math.abs(p - q) / Math.max(Math.abs(q), 1e-12);
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < b.logits.length; i++) {
    diff += (a.logits[i]! - b.logits[i]!) ** 2;
    ref += b.logits[i]! ** 2;
  }
  const logitsRel = Math.sqrt(diff / Math.max(ref, 1e-30));
  const rows: Array<[string, string, string, number, number]> = [
    ['loss', a.loss.toFixed(6), b.loss.toFixed(6), rel(a.loss, b.loss), lossTol],
    [
      'gradient norm',
      a.gradNorm.toPrecision(7),
      b.gradNorm.toPrecision(7),
      rel(a.gradNorm, b.gradNorm),
      tol,
    ],
    ['logits (relative L2)', '', '', logitsRel, tol],
  ];
  console.log(`${a.arch} ${a.size}x${a.size} batch ${a.batch}, same weights and batch:`);
  console.log(
    `  ${''.padEnd(22)}${a.backend.padEnd(16)}${b.backend.padEnd(16)}relative difference`,
  );
  let ok = true;
  for (const [what, va, vb, d, limit] of rows) {
    const pass = d <= limit;
    ok &&= pass;
    console.log(
      `  ${what.padEnd(22)}${va.padEnd(16)}${vb.padEnd(16)}${d.toExponential(2)} ${pass ? '≤' : '>'} ${limit.toExponential(0)}${pass ? '' : '  FAIL'}`,
    );
  }
  return ok;
}

const [mode, ...files] = process.argv.slice(2);
try {
  if (mode === 'run' && files.length === 1) await run(files[0]!);
  else if (mode === 'compare' && files.length === 2)
    process.exitCode = compare(files[0]!, files[1]!) ? 0 : 1;
  else {
    console.error('usage: gpu-smoke.ts run <out.json> | compare <a.json> <b.json>');
    process.exitCode = 2;
  }
} catch (err) {
  console.error(`gpu-smoke: ${describeError(err)}`);
  process.exitCode = exitCodeOf(err);
}
