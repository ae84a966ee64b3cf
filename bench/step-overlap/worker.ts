/**
 * One rank of bench:step-overlap: the trainer's `distributedStep` on resnet18 with the same
 * compute every turn: "compute" (no communication: both ranks step at the same time, each
 * alone), "fused" (the whole backward, then one all-reduce of every gradient) and "overlap"
 * (buckets all-reduced while the backward pass runs: the trainer's path on GPUs). Every step starts
 * after a barrier; a step's time is the slowest rank's. Rank 0 prints one JSON line: per mode,
 * the step times and the phase times of every step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { connectGroup, type Group } from '../../trainer/comm/index.js';
import { initBackend, type BackendName } from '../../trainer/engine/backend.js';
import { oneHotArray } from '../../trainer/data/mixup.js';
import { getArch } from '../../trainer/models/arch.js';
import { createResNet } from '../../trainer/models/resnet.js';
import { paramGroups, SGD } from '../../trainer/optim/sgd.js';
import { Rng } from '../../trainer/rng.js';
import { distributedStep, type StepPhases } from '../../trainer/step.js';

export interface WorkerCfg {
  rank: number;
  worldSize: number;
  port: number;
  /** Absent: tensorflow, else wasm. */
  backend?: BackendName;
  threads: number;
  arch: string;
  size: number;
  batch: number;
  steps: number;
  rounds: number;
  modes: string[];
}

export interface ModeResult {
  /** Wall time of each timed step, the slowest rank's, ms. */
  stepMs: number[];
  /** Phases of each timed step on the rank with the slowest step. */
  phases: StepPhases[];
}

const cfg = JSON.parse(process.argv[2]!) as WorkerCfg;
// The native backend, else wasm (the fallback); never the slow pure-JS cpu backend.
const backend = await initBackend(cfg.backend ?? 'tensorflow', { threads: cfg.threads }).catch(
  (err: unknown) => {
    if (cfg.backend) throw err;
    return initBackend('wasm', { threads: cfg.threads });
  },
);
const group: Group = await connectGroup({
  rank: cfg.rank,
  worldSize: cfg.worldSize,
  coordinator: `127.0.0.1:${cfg.port}`,
  listen: cfg.rank === 0 ? `127.0.0.1:${cfg.port}` : '127.0.0.1:0',
  dataListen: '127.0.0.1:0',
  token: 'bench-token-bench-token',
  generation: 1,
  deadlines: { rendezvousMs: 120_000, opMs: 300_000 },
});

const numClasses = 100;
const model = createResNet(getArch(cfg.arch as 'resnet18'), { numClasses, seed: 0 });
const sgd = new SGD(
  paramGroups(model.params.keys(), (n) => model.isNormParam(n), {
    weightDecay: 2e-5,
    normWeightDecay: 0,
  }),
  { momentum: 0.9 },
);
const rng = new Rng(cfg.rank + 1);
const side = cfg.size;
const images = Float32Array.from({ length: cfg.batch * side * side * 3 }, () => rng.normal());
const targets = oneHotArray(
  Int32Array.from({ length: cfg.batch }, (_, i) => i % numClasses),
  numClasses,
);

async function step(mode: string, phases: StepPhases): Promise<void> {
  await distributedStep({
    model,
    sgd,
    group: mode === 'compute' ? null : group,
    overlap: mode === 'overlap',
    images,
    targets,
    batch: cfg.batch,
    height: side,
    width: side,
    labelSmoothing: 0.1,
    lr: 0.01,
    phases,
  });
}

const results: Record<string, ModeResult> = {};
for (let round = 0; round < cfg.rounds; round++) {
  for (const mode of cfg.modes) {
    const r = (results[mode] ??= { stepMs: [], phases: [] });
    const zero = (): StepPhases => ({ computeMs: 0, toHostMs: 0, allReduceMs: 0, applyMs: 0 });
    await group.barrier();
    await step(mode, zero()); // warm-up: the mode's first step allocates
    for (let i = 0; i < cfg.steps; i++) {
      const phases = zero();
      await group.barrier();
      const t0 = performance.now();
      await step(mode, phases);
      const ms = performance.now() - t0;
      // The step's time is the slowest rank's; its phases are that rank's.
      const mine = new Float64Array([
        ms,
        phases.computeMs,
        phases.toHostMs,
        phases.allReduceMs,
        phases.applyMs,
      ]);
      const rows = (await group.allGather(new Uint8Array(mine.buffer))).map(
        (b) => new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)),
      );
      const p = rows.reduce((x, y) => (y[0]! > x[0]! ? y : x));
      const slowest = p[0];
      r.stepMs.push(slowest!);
      r.phases.push({ computeMs: p[1]!, toHostMs: p[2]!, allReduceMs: p[3]!, applyMs: p[4]! });
    }
  }
}
if (cfg.rank === 0) {
  console.log(JSON.stringify({ backend: backend.name, tensors: tf.memory().numTensors, results }));
}
await group.close();
model.dispose();
sgd.dispose();
process.exit(0);
