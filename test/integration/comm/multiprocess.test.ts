/**
 * Collectives between real processes on loopback (node --import tsx worker.ts), as the
 * trainer's pods use them: results against the exact sum, bit-identical repeats, and the
 * faults that only separate processes can produce (a killed peer, a stopped peer).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ExitCode } from '../../../api/names.js';
import { freePort } from './ports.js';
import type { WorkerConfig } from './worker.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url)).replace(/\.js$/, '.ts');

interface Outcome {
  rank: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: Record<string, unknown>[];
  stderr: string;
}

interface Running {
  procs: ChildProcess[];
  outcomes: Promise<Outcome[]>;
  /** Resolves when each of these ranks has printed a line with this key. */
  printed(key: string, ranks: number[]): Promise<void>;
}

/** Every child started by a test; afterEach kills what is left, so nothing outlives a failure. */
const children = new Set<ChildProcess>();

function launch(
  N: number,
  base: Omit<WorkerConfig, 'rank' | 'worldSize' | 'coordinator'>,
  port: number,
  per: (rank: number) => Partial<WorkerConfig> = () => ({}),
): Running {
  const lines: Record<string, unknown>[][] = Array.from({ length: N }, () => []);
  const waiters: (() => void)[] = [];
  const procs = Array.from({ length: N }, (_, rank) => {
    const cfg: WorkerConfig = {
      rank,
      worldSize: N,
      coordinator: `127.0.0.1:${port}`,
      ...base,
      ...per(rank),
    };
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(cfg)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RINGMASTER_LOG_LEVEL: 'warn' },
    });
    children.add(child);
    child.on('exit', () => children.delete(child));
    return child;
  });
  const outcomes = Promise.all(
    procs.map(
      (p, rank) =>
        new Promise<Outcome>((resolve) => {
          let out = '';
          let stderr = '';
          p.stdout!.on('data', (d: Buffer) => {
            out += d.toString();
            let i;
            while ((i = out.indexOf('\n')) >= 0) {
              lines[rank]!.push(JSON.parse(out.slice(0, i)) as Record<string, unknown>);
              out = out.slice(i + 1);
              waiters.forEach((w) => w());
            }
          });
          p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
          p.on('exit', (code, signal) =>
            resolve({ rank, code, signal, lines: lines[rank]!, stderr }),
          );
        }),
    ),
  );
  return {
    procs,
    outcomes,
    printed: (key, ranks) =>
      new Promise((resolve) => {
        const check = (): void => {
          if (ranks.every((r) => lines[r]!.some((x) => key in x))) resolve();
        };
        waiters.push(check);
        check();
      }),
  };
}

function last(o: Outcome): Record<string, unknown> {
  const l = o.lines.at(-1);
  assert.ok(l, `rank ${o.rank} printed nothing (code ${o.code}, signal ${o.signal}): ${o.stderr}`);
  return l;
}

async function runCollectives(
  N: number,
  sizes: number[],
  extra: Partial<WorkerConfig> = {},
): Promise<string[][]> {
  const port = await freePort();
  const run = launch(
    N,
    {
      token: 'job-token',
      generation: 1,
      rendezvousMs: 60_000,
      opMs: 30_000,
      scenario: 'collectives',
      sizes,
      ...extra,
    },
    port,
  );
  const outcomes = await run.outcomes;
  const hashes: string[][] = [];
  for (const o of outcomes) {
    const l = last(o);
    assert.equal(o.code, 0, `rank ${o.rank}: ${JSON.stringify(l)} ${o.stderr}`);
    assert.equal(l.ok, true);
    assert.deepEqual(l.checks, [], `rank ${o.rank} found wrong results`);
    hashes.push(l.hashes as string[]);
  }
  // Identical bytes on every rank.
  for (const h of hashes) assert.deepEqual(h, hashes[0]);
  return hashes;
}

describe('comm: collectives between processes (loopback)', function () {
  this.timeout(120_000);

  afterEach(() => {
    for (const c of children) c.kill('SIGKILL');
    children.clear();
  });

  it('N=2: 1 element up to 100 MiB, exact sums and means', async () => {
    await runCollectives(2, [1, 2, 3, 1_000_003, 26_214_400], { bucketBytes: 64 << 20 });
  });

  it('N=3: sizes not divisible by 3, small chunks and buckets; repeat runs are bit-identical', async () => {
    const extra = { chunkBytes: 16 << 10, bucketBytes: 1 << 20 };
    const a = await runCollectives(3, [1, 2, 4, 1001, 300_001], extra);
    const b = await runCollectives(3, [1, 2, 4, 1001, 300_001], extra);
    assert.deepEqual(a, b);
  });

  it('N=2 and N=3 with frames on the gRPC Pull stream: up to 100 MiB, small chunks, bit-identical', async () => {
    await runCollectives(2, [1, 3, 1_000_003, 26_214_400], {
      bucketBytes: 64 << 20,
      transport: 'grpc',
    });
    const extra = { chunkBytes: 16 << 10, bucketBytes: 1 << 20, transport: 'grpc' as const };
    const a = await runCollectives(3, [1, 2, 1001, 300_001], extra);
    // The same collectives over one TCP connection give the same bytes: transports never
    // change results (the channel count does: it fixes where the ring segments fall).
    const b = await runCollectives(3, [1, 2, 1001, 300_001], {
      ...extra,
      transport: 'tcp',
      channels: 1,
    });
    assert.deepEqual(a, b);
  });

  it('N=4: up to 4 MiB', async () => {
    await runCollectives(4, [1, 3, 5, 1_048_579]);
  });

  it('N=4 on 3 channels: the fixed per-channel ring order, bit-identical across runs', async () => {
    // Small chunks and buckets, so every channel's ring pipelines several frames per segment.
    const extra = { channels: 3, chunkBytes: 4 << 10, bucketBytes: 256 << 10 };
    const a = await runCollectives(4, [1, 2, 7, 100_003], extra);
    const b = await runCollectives(4, [1, 2, 7, 100_003], extra);
    assert.deepEqual(a, b);
  });

  it('N=8', async () => {
    await runCollectives(8, [1, 7, 9, 100_003], { chunkBytes: 8 << 10 });
  });

  it('a late joiner (rank 0 last, others retrying the coordinator) still forms the group', async () => {
    const port = await freePort();
    const run = launch(
      3,
      {
        token: 't',
        generation: 2,
        rendezvousMs: 30_000,
        opMs: 10_000,
        scenario: 'collectives',
        sizes: [5],
      },
      port,
      (r) => (r === 0 ? { delayMs: 1500 } : {}),
    );
    for (const o of await run.outcomes) {
      assert.equal(o.code, 0, JSON.stringify(last(o)));
      assert.deepEqual(last(o).checks, []);
    }
  });

  for (const transport of ['tcp', 'grpc'] as const) {
    it(`a killed peer makes the others exit 75 promptly, naming it (${transport})`, async () => {
      const port = await freePort();
      // opMs is long: a death must be noticed from the broken streams, not by the timeout.
      const run = launch(
        3,
        {
          token: 't',
          generation: 1,
          rendezvousMs: 30_000,
          opMs: 20_000,
          scenario: 'loop',
          transport,
        },
        port,
      );
      await run.printed('looping', [0, 1, 2]);
      const t0 = Date.now();
      run.procs[1]!.kill('SIGKILL');
      const outcomes = await run.outcomes;
      const elapsed = Date.now() - t0;
      assert.equal(outcomes[1]!.signal, 'SIGKILL');
      for (const o of [outcomes[0]!, outcomes[2]!]) {
        const l = last(o);
        assert.equal(o.code, ExitCode.retryable, JSON.stringify(l));
        assert.equal(l.ok, false);
        assert.match(String(l.error), /rank 1 \(127\.0\.0\.1:\d+\)/);
        assert.ok((l.closeMs as number) < 6000, `close took ${String(l.closeMs)} ms`);
      }
      assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
    });
  }

  it('a stopped (stalled) peer makes the others exit 75 within the deadline, naming it', async () => {
    const port = await freePort();
    const opMs = 2_000;
    const run = launch(
      3,
      { token: 't', generation: 1, rendezvousMs: 30_000, opMs, scenario: 'stall', stallRank: 2 },
      port,
    );
    try {
      await run.printed('stalling', [2]);
      const t0 = Date.now();
      const survivors = await Promise.race([
        run.outcomes,
        // The stopped rank never exits by itself: wait for the other two only.
        new Promise<Outcome[]>((resolve) => {
          const done: Outcome[] = [];
          for (const r of [0, 1]) {
            run.procs[r]!.on('exit', (code, signal) => {
              done.push({ rank: r, code, signal, lines: [], stderr: '' });
              if (done.length === 2) resolve(done);
            });
          }
        }),
      ]);
      const elapsed = Date.now() - t0;
      // opMs to notice, up to a second for the verdict, then close and exit (slow under load).
      assert.ok(elapsed < opMs + 8_000, `took ${elapsed} ms`);
      for (const o of survivors) assert.equal(o.code, ExitCode.retryable);
    } finally {
      run.procs[2]!.kill('SIGKILL');
    }
    const outcomes = await run.outcomes;
    for (const o of [outcomes[0]!, outcomes[1]!]) {
      const l = last(o);
      assert.equal(l.ok, false);
      assert.match(String(l.error), /rank 2 \(127\.0\.0\.1:\d+\)/, String(l.error));
    }
  });

  it('a wrong token is refused at once; stale generation refused', async () => {
    const port = await freePort();
    const run = launch(
      3,
      {
        token: 't',
        generation: 7,
        rendezvousMs: 3_000,
        opMs: 2_000,
        scenario: 'collectives',
        sizes: [1],
      },
      port,
      (r) => (r === 1 ? { token: 'wrong' } : r === 2 ? { generation: 6, delayMs: 300 } : {}),
    );
    const [o0, o1, o2] = await run.outcomes;
    assert.equal(o1!.code, ExitCode.invalidInput);
    assert.match(String(last(o1!).error), /refused the job token/);
    assert.equal(last(o2!).name, 'StaleGenerationError');
    assert.match(String(last(o2!).error), /stale generation/);
    assert.equal(o0!.code, ExitCode.retryable);
    assert.match(String(last(o0!).error), /rank\(s\) 1, 2 never joined/);
  });
});
