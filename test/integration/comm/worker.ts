/**
 * One rank of a multi-process collectives test. Usage: node --import tsx worker.ts '<json>'.
 * Prints one JSON line (the outcome) on stdout and exits with the code the trainer would.
 */
import { createHash } from 'node:crypto';
import { connectGroup, type Group } from '../../../trainer/comm/index.js';
import { DEFAULT_CHANNELS } from '../../../trainer/comm/options.js';
import { describeError, exitCodeOf } from '../../../common/errors.js';
import { firstMismatch, intInput, randomInput, ringOrderSum } from '../../unit/comm/reference.js';

export interface WorkerConfig {
  rank: number;
  worldSize: number;
  coordinator: string;
  token: string;
  generation: number;
  rendezvousMs: number;
  opMs: number;
  chunkBytes?: number;
  bucketBytes?: number;
  /** The data plane (default: the group's default, tcp). */
  transport?: 'tcp' | 'grpc';
  /** TCP connections per neighbour pair (default: the group's default). */
  channels?: number;
  /** Sleep this long before connecting (a late joiner). */
  delayMs?: number;
  scenario: 'collectives' | 'loop' | 'stall';
  /** collectives: element counts to all-reduce. */
  sizes?: number[];
  /** stall: this rank stops itself (SIGSTOP) after the first all-reduce. */
  stallRank?: number;
}

const hash = (a: Float32Array): string =>
  createHash('sha256')
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest('hex');

async function collectives(g: Group, cfg: WorkerConfig): Promise<Record<string, unknown>> {
  const N = cfg.worldSize;
  const checks: string[] = [];
  const hashes: string[] = [];
  const fail = (what: string, why: string | undefined): void => {
    if (why) checks.push(`${what}: ${why}`);
  };
  for (const n of cfg.sizes ?? []) {
    // Exact sum of integers.
    const x = intInput(cfg.rank, n);
    await g.allReduce(x, 'sum');
    const want = new Float32Array(n);
    for (let r = 0; r < N; r++) {
      const y = intInput(r, n);
      for (let i = 0; i < n; i++) want[i]! += y[i]!;
    }
    fail(`sum n=${n}`, firstMismatch(x, want));
    // Mean: the exact sum divided once.
    const m = intInput(cfg.rank, n);
    await g.allReduce([m], 'mean');
    for (let i = 0; i < n; i++) want[i] = want[i]! / N;
    fail(`mean n=${n}`, firstMismatch(m, want));
    // Random floats: the documented fixed order, bit for bit.
    if (n <= 100_003) {
      const v = randomInput(cfg.rank, n, 7);
      await g.allReduce(v, 'sum');
      const inputs = Array.from({ length: N }, (_, r) => randomInput(r, n, 7));
      fail(
        `ring order n=${n}`,
        firstMismatch(
          v,
          ringOrderSum(
            inputs,
            n,
            (cfg.bucketBytes ?? 64 << 20) / 4,
            cfg.transport === 'grpc' ? 1 : (cfg.channels ?? DEFAULT_CHANNELS),
          ),
        ),
      );
      hashes.push(hash(v));
    }
  }
  // Many tensors fused, split across several bucket passes (bucketBytes is small in tests).
  const shapes = [1, 5, 300, 4097, 3, 20_000, 2];
  const parts = shapes.map((n, k) => intInput(cfg.rank + k, n));
  await g.allReduce(parts, 'sum');
  shapes.forEach((n, k) => {
    const want = new Float32Array(n);
    for (let r = 0; r < N; r++) {
      const y = intInput(r + k, n);
      for (let i = 0; i < n; i++) want[i]! += y[i]!;
    }
    fail(`fused tensor ${k}`, firstMismatch(parts[k]!, want));
  });
  // Broadcast from the last rank into differently-initialised arrays.
  const root = N - 1;
  const b = shapes.map((n, k) => (cfg.rank === root ? intInput(100 + k, n) : new Float32Array(n)));
  await g.broadcast(b, root);
  shapes.forEach((n, k) => fail(`broadcast ${k}`, firstMismatch(b[k]!, intInput(100 + k, n))));
  // All-gather with a different size per rank (rank r contributes r*3+1 elements; rank 0 also bytes).
  const gathered = await g.allGather(intInput(cfg.rank, cfg.rank * 3 + 1));
  for (let r = 0; r < N; r++)
    fail(`allGather ${r}`, firstMismatch(gathered[r]!, intInput(r, r * 3 + 1)));
  const bytes = await g.allGather(new TextEncoder().encode(`rank-${cfg.rank}`));
  for (let r = 0; r < N; r++) {
    const s = new TextDecoder().decode(bytes[r]);
    if (s !== `rank-${r}`) checks.push(`allGather bytes ${r}: ${s}`);
  }
  await g.barrier();
  return { checks, hashes };
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]!) as WorkerConfig;
  if (cfg.delayMs) await new Promise((r) => setTimeout(r, cfg.delayMs));
  const t0 = Date.now();
  let g: Group | undefined;
  try {
    g = await connectGroup({
      rank: cfg.rank,
      worldSize: cfg.worldSize,
      coordinator: cfg.coordinator,
      listen: cfg.rank === 0 ? cfg.coordinator : '127.0.0.1:0',
      dataListen: '127.0.0.1:0',
      ...(cfg.transport ? { transport: cfg.transport } : {}),
      ...(cfg.channels ? { channels: cfg.channels } : {}),
      token: cfg.token,
      generation: cfg.generation,
      deadlines: { rendezvousMs: cfg.rendezvousMs, opMs: cfg.opMs },
      ...(cfg.chunkBytes ? { chunkBytes: cfg.chunkBytes } : {}),
      ...(cfg.bucketBytes ? { bucketBytes: cfg.bucketBytes } : {}),
    });
    let result: Record<string, unknown> = {};
    if (cfg.scenario === 'collectives') {
      result = await collectives(g, cfg);
    } else {
      const x = new Float32Array(100_000);
      for (let i = 0; ; i++) {
        x.fill(1);
        await g.allReduce(x);
        if (cfg.scenario === 'stall' && cfg.rank === cfg.stallRank && i === 0) {
          process.stdout.write(JSON.stringify({ stalling: true }) + '\n');
          process.kill(process.pid, 'SIGSTOP');
        }
        if (i === 0 && cfg.scenario === 'loop') {
          process.stdout.write(JSON.stringify({ looping: true }) + '\n');
        }
        if (x[0] !== cfg.worldSize) throw new Error(`bad sum ${x[0]}`);
      }
    }
    await g.close();
    process.stdout.write(JSON.stringify({ ok: true, ms: Date.now() - t0, ...result }) + '\n');
  } catch (e) {
    const closeStart = Date.now();
    await g?.close();
    process.stdout.write(
      JSON.stringify({
        ok: false,
        error: describeError(e),
        name: (e as Error).name,
        exitCode: exitCodeOf(e),
        ms: Date.now() - t0,
        closeMs: Date.now() - closeStart,
      }) + '\n',
    );
    process.exitCode = exitCodeOf(e);
  }
}

await main();
