/**
 * One rank of the all-reduce benchmark: Ringmaster's gRPC group, then the same ring over
 * raw TCP, on the same sizes. Rank 0 prints one JSON line with the per-size times.
 */
import { connectGroup } from '../../trainer/comm/index.js';
import { Flat } from '../../trainer/comm/flat.js';
import { Kind } from '../../trainer/comm/frame.js';
import { ringAllGather, ringAllReduce, type Link } from '../../trainer/comm/ring.js';
import { TcpLink } from './tcp-link.js';

interface Cfg {
  rank: number;
  worldSize: number;
  port: number;
  sizes: number[];
  iters: number[];
  chunkBytes?: number;
  transports: ('ringmaster' | 'tcp')[];
}

const cfg = JSON.parse(process.argv[2]!) as Cfg;
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

/** medianS: wall time of the slowest rank; cpuS: CPU time (user+sys) of the busiest rank. */
type Timed = { bytes: number; iters: number; medianS: number; minS: number; cpuS: number };

async function measure(
  allReduce: (x: Float32Array) => Promise<void>,
  barrier: () => Promise<void>,
  gatherMax: (t: number[]) => Promise<number[]>,
): Promise<Timed[]> {
  const out: Timed[] = [];
  for (let k = 0; k < cfg.sizes.length; k++) {
    const bytes = cfg.sizes[k]!;
    const x = new Float32Array(bytes / 4).fill(1);
    await allReduce(x); // warm-up
    const times: number[] = [];
    const cpus: number[] = [];
    for (let i = 0; i < cfg.iters[k]!; i++) {
      await barrier();
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await allReduce(x);
      const t = Number(process.hrtime.bigint() - t0) / 1e9;
      const c = process.cpuUsage(c0);
      // A collective ends when its slowest rank ends.
      const [tMax, cMax] = await gatherMax([t, (c.user + c.system) / 1e6]);
      times.push(tMax!);
      cpus.push(cMax!);
    }
    out.push({
      bytes,
      iters: times.length,
      medianS: median(times),
      minS: Math.min(...times),
      cpuS: median(cpus),
    });
  }
  return out;
}

/** Element-wise maximum over ranks of float64 vectors gathered as bytes. */
function maxOver(pieces: Uint8Array[], n: number): number[] {
  const out = new Array<number>(n).fill(-Infinity);
  for (const p of pieces) {
    const v = new Float64Array(p.buffer, p.byteOffset, n);
    for (let i = 0; i < n; i++) out[i] = Math.max(out[i]!, v[i]!);
  }
  return out;
}

const result: Record<string, Timed[]> = {};
if (cfg.transports.includes('ringmaster')) {
  const g = await connectGroup({
    rank: cfg.rank,
    worldSize: cfg.worldSize,
    coordinator: `127.0.0.1:${cfg.port}`,
    listen: cfg.rank === 0 ? `127.0.0.1:${cfg.port}` : '127.0.0.1:0',
    token: 'bench',
    generation: 1,
    deadlines: { rendezvousMs: 60_000, opMs: 60_000 },
    ...(cfg.chunkBytes ? { chunkBytes: cfg.chunkBytes } : {}),
  });
  result.ringmaster = await measure(
    (x) => g.allReduce(x),
    () => g.barrier(),
    async (t) => maxOver(await g.allGather(new Uint8Array(new Float64Array(t).buffer)), t.length),
  );
  await g.close();
}
if (cfg.transports.includes('tcp')) {
  const N = cfg.worldSize;
  const base = cfg.port + 1;
  const { link, close } = await TcpLink.ring(base + cfg.rank, base + ((cfg.rank + 1) % N), 60_000);
  const ctx = {
    rank: cfg.rank,
    worldSize: N,
    generation: 1,
    chunkBytes: cfg.chunkBytes ?? 1 << 20,
  };
  let op = 0;
  const gather = (l: Link, bytes: Uint8Array) =>
    ringAllGather(l, ctx, ++op, bytes, Kind.allGatherU8);
  result.tcp = await measure(
    async (x) => {
      const flat = new Flat([x]);
      await ringAllReduce(link, ctx, ++op, flat, 0, x.length, x.length, false);
    },
    async () => {
      await gather(link, new Uint8Array(0));
    },
    async (t) => maxOver(await gather(link, new Uint8Array(new Float64Array(t).buffer)), t.length),
  );
  close();
}
if (cfg.rank === 0) process.stdout.write(JSON.stringify(result) + '\n');
