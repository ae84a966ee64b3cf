/**
 * `npm run bench:allreduce`: ring all-reduce between N processes on this machine, for
 * Ringmaster (its TCP data plane, the default), Ringmaster with frames on the gRPC Pull
 * stream, torch.distributed + gloo (the peer) and raw TCP moving the same bytes with no
 * arithmetic (the ceiling), in one run. Prints time, algbw and busbw (nccl-tests definitions: algbw = S/t,
 * busbw = algbw·2(N−1)/N) and ends with `ratio=<Ringmaster busbw / gloo busbw, N=2, 100 MiB>`.
 *
 * Env: RINGMASTER_PYTHON (a python with torch; default $RINGMASTER_CACHE/venv/bin/python),
 * BENCH_WORLD (e.g. "2,4"), BENCH_ITERS_LARGE / BENCH_ITERS_SMALL, BENCH_CHUNK (frame bytes),
 * BENCH_CHANNELS (connections per neighbour pair of the 'ringmaster' row; default the group's),
 * BENCH_IMPLS (Node rows, default "ringmaster,ringmaster-2ch,ringmaster-grpc,tcp"), BENCH_ROUNDS (default 3:
 * the implementations take turns, round after round, so a slow spell of the machine does not
 * land on one of them; each figure is the median over rounds of the per-round medians).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;
// 4 bytes: one float, to measure the per-step latency the scaling model needs.
const sizes = [100 * MiB, 4 * MiB, 4];
const iters = [
  Number(process.env.BENCH_ITERS_LARGE ?? 5),
  Number(process.env.BENCH_ITERS_SMALL ?? 20),
  Number(process.env.BENCH_ITERS_SMALL ?? 20),
];
const worlds = (process.env.BENCH_WORLD ?? '2,4').split(',').map(Number);
const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));

interface Timed {
  bytes: number;
  iters: number;
  medianS: number;
  minS: number;
  cpuS: number;
}
type Results = Record<string, Timed[]>;

async function freePort(): Promise<number> {
  for (;;) {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    if (port < 65000) return port; // the worker also uses port+1 … port+4+N
  }
}

function findPython(): string | undefined {
  const cache = process.env.RINGMASTER_CACHE ?? path.join(os.homedir(), '.cache', 'ringmaster');
  const candidates = [process.env.RINGMASTER_PYTHON, path.join(cache, 'venv', 'bin', 'python')];
  for (const c of candidates) {
    if (
      c &&
      existsSync(c) &&
      spawnSync(c, ['-c', 'import torch.distributed'], { stdio: 'ignore' }).status === 0
    ) {
      return c;
    }
  }
  return undefined;
}

/** Runs one command per rank; returns rank 0's JSON line. */
async function runRanks(N: number, argv: (rank: number) => [string, string[]]): Promise<Results> {
  const procs = Array.from({ length: N }, (_, rank) => {
    const [cmd, args] = argv(rank);
    return spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RINGMASTER_LOG_LEVEL: 'warn', OMP_NUM_THREADS: '1' },
    });
  });
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
    if (o.code !== 0) throw new Error(`rank ${r} exited ${o.code}: ${o.err.slice(-2000)}`);
  });
  return JSON.parse(outs[0]!.out.trim().split('\n').at(-1)!) as Results;
}

const fmt = (x: number, d = 2): string => x.toFixed(d);
const sizeLabel = (b: number): string => (b >= MiB ? `${b / MiB} MiB` : `${b} B`);
const rows: { impl: string; N: number; t: Timed }[] = [];
const perRound = new Map<string, { impl: string; N: number; ts: Timed[] }>();
const record = (impl: string, N: number, t: Timed): void => {
  const key = `${impl}/${N}/${t.bytes}`;
  if (!perRound.has(key)) perRound.set(key, { impl, N, ts: [] });
  perRound.get(key)!.ts.push(t);
};
const med = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

const python = findPython();
console.log(
  `# all-reduce benchmark: ${os.cpus().length} CPUs, load average ${os
    .loadavg()
    .map((l) => fmt(l))
    .join(' ')}`,
);
console.log(
  `# sizes ${sizes.map(sizeLabel).join(', ')}; iterations ${iters.join(', ')} per round, ${rounds} rounds; ` +
    `median over rounds of the median of per-iteration max over ranks`,
);
for (let round = 0; round < rounds; round++)
  for (const N of worlds) {
    const port = await freePort();
    const node = await runRanks(N, (rank) => [
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(here, 'worker.ts'),
        JSON.stringify({
          rank,
          worldSize: N,
          port,
          sizes,
          iters,
          transports: (
            process.env.BENCH_IMPLS ?? 'ringmaster,ringmaster-2ch,ringmaster-grpc,tcp'
          ).split(','),
          ...(process.env.BENCH_CHUNK ? { chunkBytes: Number(process.env.BENCH_CHUNK) } : {}),
          ...(process.env.BENCH_CHANNELS ? { channels: Number(process.env.BENCH_CHANNELS) } : {}),
        }),
      ],
    ]);
    for (const [impl, list] of Object.entries(node)) for (const t of list) record(impl, N, t);
    if (python) {
      const gport = await freePort();
      const gloo = await runRanks(N, (rank) => [
        python,
        [
          path.join(here, 'gloo.py'),
          String(rank),
          String(N),
          String(gport),
          JSON.stringify(sizes),
          JSON.stringify(iters),
        ],
      ]);
      for (const t of gloo.gloo!) record('gloo', N, t);
    }
  }
for (const { impl, N, ts } of perRound.values()) {
  rows.push({
    impl,
    N,
    t: {
      bytes: ts[0]!.bytes,
      iters: ts.reduce((a, t) => a + t.iters, 0),
      medianS: med(ts.map((t) => t.medianS)),
      minS: Math.min(...ts.map((t) => t.minS)),
      cpuS: med(ts.map((t) => t.cpuS)),
    },
  });
}
const implOrder = ['ringmaster', 'ringmaster-2ch', 'ringmaster-grpc', 'tcp', 'gloo'];
rows.sort(
  (a, b) =>
    a.N - b.N || implOrder.indexOf(a.impl) - implOrder.indexOf(b.impl) || b.t.bytes - a.t.bytes,
);

const busbw = (r: { N: number; t: Timed }): number =>
  (r.t.bytes / r.t.medianS / 1e9) * ((2 * (r.N - 1)) / r.N);
/** The busbw if CPU were the only limit: bus bytes per CPU-second of the busiest rank. */
const cpuBusbw = (r: { N: number; t: Timed }): number =>
  (r.t.bytes / r.t.cpuS / 1e9) * ((2 * (r.N - 1)) / r.N);
console.log(
  'impl             N  size       time(ms)  algbw(GB/s)  busbw(GB/s)  cpu/rank(ms)  busbw@cpu(GB/s)',
);
for (const r of rows) {
  const algbw = r.t.bytes / r.t.medianS / 1e9;
  console.log(
    [
      r.impl.padEnd(15),
      String(r.N).padStart(2),
      sizeLabel(r.t.bytes).padEnd(8),
      fmt(r.t.medianS * 1000, 1).padStart(10),
      fmt(algbw, 3).padStart(11),
      fmt(busbw(r), 3).padStart(11),
      fmt(r.t.cpuS * 1000, 1).padStart(12),
      fmt(cpuBusbw(r), 3).padStart(15),
    ].join('  '),
  );
}
console.log(
  `# load average after: ${os
    .loadavg()
    .map((l) => fmt(l))
    .join(' ')}`,
);
const pick = (impl: string, N = 2): number | undefined => {
  const r = rows.find((x) => x.impl === impl && x.N === N && x.t.bytes === 100 * MiB);
  return r ? busbw(r) : undefined;
};
const rm = pick('ringmaster');
const gl = pick('gloo');
if (!python)
  console.log('# gloo: skipped — no python with torch (run `bash test/oracle/setup.sh`)');
const pickCpu = (impl: string): number | undefined => {
  const r = rows.find((x) => x.impl === impl && x.N === 2 && x.t.bytes === 100 * MiB);
  return r ? cpuBusbw(r) : undefined;
};
const rc = pickCpu('ringmaster');
const gc = pickCpu('gloo');
if (rc !== undefined && gc !== undefined) {
  console.log(
    `# CPU-only view (load-independent), N=2, 100 MiB: ringmaster/gloo = ${fmt(rc / gc, 3)}`,
  );
}
// Scaling model from the measured per-step costs (docs/collectives.md): each of the 2(N−1)
// steps moves S/N bytes per rank and costs α + (S/N)/min(B_link, B_cpu), where B_cpu is the
// bytes a rank can push through per CPU-second (its CPU time at N=2, 100 MiB) and α the
// per-step latency (the 4-byte all-reduce at N=2 takes 2 steps).
const RESNET50_BYTES = 25_557_032 * 4;
const linkGbE = [25, 100];
const modelWorlds = [8, 64, 256];
console.log(
  `# scaling model, all-reduce of ResNet50 gradients (${fmt(RESNET50_BYTES / 1e6, 1)} MB), seconds:`,
);
console.log(
  `impl             B_cpu(GB/s)  alpha(ms)  ${modelWorlds.flatMap((n) => linkGbE.map((g) => `N=${n}@${g}GbE`.padStart(12))).join(' ')}`,
);
const ideal = (n: number, gbe: number): number =>
  ((2 * (n - 1)) / n) * (RESNET50_BYTES / ((gbe * 1e9) / 8));
console.log(
  `${'ideal'.padEnd(15)}  ${'-'.padStart(11)}  ${'-'.padStart(9)}  ${modelWorlds.flatMap((n) => linkGbE.map((g) => fmt(ideal(n, g), 3).padStart(12))).join(' ')}`,
);
for (const impl of ['ringmaster', 'ringmaster-grpc', 'tcp', 'gloo']) {
  const big = rows.find((x) => x.impl === impl && x.N === 2 && x.t.bytes === 100 * MiB);
  const tiny = rows.find((x) => x.impl === impl && x.N === 2 && x.t.bytes === 4);
  if (!big || !tiny) continue;
  const bCpu = cpuBusbw(big) * 1e9; // bytes per CPU-second, per rank, per direction
  const alpha = tiny.t.medianS / 2;
  const model = (n: number, gbe: number): number =>
    2 * (n - 1) * (alpha + RESNET50_BYTES / n / Math.min((gbe * 1e9) / 8, bCpu));
  console.log(
    `${impl.padEnd(15)}  ${fmt(bCpu / 1e9, 3).padStart(11)}  ${fmt(alpha * 1000, 2).padStart(9)}  ${modelWorlds.flatMap((n) => linkGbE.map((g) => fmt(model(n, g), 3).padStart(12))).join(' ')}`,
  );
}
for (const impl of ['ringmaster', 'ringmaster-2ch']) {
  const r4 = pick(impl, 4);
  const g4 = pick('gloo', 4);
  if (r4 !== undefined && g4 !== undefined)
    console.log(`# N=4, 100 MiB: ${impl}/gloo busbw = ${fmt(r4 / g4, 3)}`);
}
console.log(`ratio=${rm !== undefined && gl !== undefined ? fmt(rm / gl, 3) : 'n/a'}`);
