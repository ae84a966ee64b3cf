/**
 * `npm run bench:step-overlap`: how much of a data-parallel step the gradient all-reduce adds.
 * Two local workers (processes, the ring on loopback, each with half the machine's cores as
 * the local launcher gives them) run the trainer's `distributedStep` on resnet18 at 64² on the
 * native backend (wasm when it is not built), in turns: the same compute without
 * communication, then with the ring. Ends with
 * the exposed-communication share of each path ((with − alone) ÷ with) and
 * `ratio=<step time with communication ÷ step time of the same compute alone>` (goal ≤ 1.15)
 * for the path the trainer takes on this backend (overlapped on GPUs, fused elsewhere).
 *
 * Env: BENCH_BATCH (per worker, default 32), BENCH_STEPS (timed steps per turn, default 4),
 * BENCH_ROUNDS (turns per mode, default 3; medians over all timed steps), BENCH_BACKEND.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModeResult, WorkerCfg } from './worker.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const N = 2;
const MODES = ['compute', 'fused', 'overlap'];

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const median = (a: number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (x: number, d = 1): string => x.toFixed(d);
const load = (): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

const backend = process.env.BENCH_BACKEND as WorkerCfg['backend'];
const threads = Math.max(1, Math.floor(os.availableParallelism() / N));
const base = {
  worldSize: N,
  ...(backend ? { backend } : {}),
  threads,
  arch: 'resnet18',
  size: 64,
  batch: Number(process.env.BENCH_BATCH ?? 32),
  steps: Number(process.env.BENCH_STEPS ?? 4),
  rounds: Number(process.env.BENCH_ROUNDS ?? 3),
  modes: MODES,
};
console.log(
  `# step overlap: ${N} workers × ${threads} thread(s), ${base.arch} ${base.size}², ` +
    `batch ${base.batch}/worker; ${os.cpus().length} CPUs, load average ${load()}`,
);

const port = await freePort();
const procs = Array.from({ length: N }, (_, rank) =>
  spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(here, 'worker.ts'),
      JSON.stringify({ ...base, rank, port } satisfies WorkerCfg),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RINGMASTER_LOG_LEVEL: 'warn' } },
  ),
);
const outs = await Promise.all(
  procs.map(
    (p) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        let out = '';
        let err = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.stderr.on('data', (d: Buffer) => (err += d.toString()));
        p.on('exit', (code) => resolve({ code, out, err }));
      }),
  ),
);
outs.forEach((o, r) => {
  if (o.code !== 0) throw new Error(`rank ${r} exited ${o.code}: ${o.err.slice(-3000)}`);
});
const report = JSON.parse(outs[0]!.out.trim().split('\n').at(-1)!) as {
  backend: string;
  results: Record<string, ModeResult>;
};

console.log(`# backend: ${report.backend}`);
console.log('| mode | step (ms) | compute | to host | all-reduce | apply |');
console.log('|---|---|---|---|---|---|');
const steps: Record<string, number> = {};
for (const mode of MODES) {
  const r = report.results[mode]!;
  steps[mode] = median(r.stepMs);
  const ph = (k: keyof ModeResult['phases'][number]) => fmt(median(r.phases.map((p) => p[k])));
  console.log(
    `| ${mode} | ${fmt(steps[mode]!)} | ${ph('computeMs')} | ${ph('toHostMs')} | ` +
      `${ph('allReduceMs')} | ${ph('applyMs')} |`,
  );
}
const alone = steps.compute!;
for (const mode of ['fused', 'overlap']) {
  const t = steps[mode]!;
  console.log(
    `${mode}: exposed communication ${fmt(t - alone)} ms of ${fmt(t)} ms per step ` +
      `(${fmt((100 * (t - alone)) / t)}%), ${mode} ÷ compute alone = ${(t / alone).toFixed(3)}`,
  );
}
console.log(`# load average at the end: ${load()}`);
// The path the trainer takes on this backend (RINGMASTER_OVERLAP_ALLREDUCE=auto: overlap on
// GPUs, fused elsewhere) against the same compute without communication.
const trainerPath = report.backend === 'tensorflow-gpu' ? 'overlap' : 'fused';
console.log(`# ratio: the trainer's path on ${report.backend} (${trainerPath}) ÷ compute alone`);
console.log(`ratio=${(steps[trainerPath]! / alone).toFixed(3)}`);
