/**
 * One rank of the all-reduce benchmark: Ringmaster's group with its TCP data plane (the
 * default), the same group with frames on the gRPC Pull stream, and the raw-TCP ceiling, on
 * the same sizes. Rank 0 prints one JSON line with the per-size times.
 */
import { connectGroup, type Group } from '../../trainer/comm/index.js';
import { ceilingRing } from './tcp-link.js';

interface Cfg {
  rank: number;
  worldSize: number;
  port: number;
  sizes: number[];
  iters: number[];
  chunkBytes?: number;
  /** Channels of the 'ringmaster' row (absent: the group's default). */
  channels?: number;
  transports: ('ringmaster' | 'ringmaster-2ch' | 'ringmaster-grpc' | 'tcp')[];
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
const group = (transport: 'tcp' | 'grpc', port: number, channels?: number): Promise<Group> =>
  connectGroup({
    rank: cfg.rank,
    worldSize: cfg.worldSize,
    coordinator: `127.0.0.1:${port}`,
    listen: cfg.rank === 0 ? `127.0.0.1:${port}` : '127.0.0.1:0',
    dataListen: '127.0.0.1:0',
    token: 'bench-token-bench-token',
    generation: 1,
    transport,
    deadlines: { rendezvousMs: 60_000, opMs: 60_000 },
    ...(cfg.chunkBytes ? { chunkBytes: cfg.chunkBytes } : {}),
    ...(channels ? { channels } : {}),
  });
const gatherMaxOn =
  (g: Group) =>
  async (t: number[]): Promise<number[]> =>
    maxOver(await g.allGather(new Uint8Array(new Float64Array(t).buffer)), t.length);

// Each implementation gets a group of its own (ports: base … base+2 for the coordinators;
// the ceiling's sockets follow). 'ringmaster' uses the default channel count (1, ADR 0093)
// unless BENCH_CHANNELS says otherwise, 'ringmaster-2ch' two connections per neighbour pair.
const impls = [
  ['ringmaster', 'tcp', cfg.channels, 0],
  ['ringmaster-grpc', 'grpc', undefined, 1],
  ['ringmaster-2ch', 'tcp', 2, 3 + cfg.worldSize],
] as const;
for (const [name, transport, channels, at] of impls) {
  if (!cfg.transports.includes(name)) continue;
  const g = await group(transport, cfg.port + at, channels);
  result[name] = await measure(
    (x) => g.allReduce(x),
    () => g.barrier(),
    gatherMaxOn(g),
  );
  await g.close();
}
if (cfg.transports.includes('tcp')) {
  // The ceiling moves bytes only; a Ringmaster group times it (barrier, max over ranks).
  const N = cfg.worldSize;
  const g = await group('tcp', cfg.port + 2);
  const base = cfg.port + 3;
  const ring = await ceilingRing(N, base + cfg.rank, base + ((cfg.rank - 1 + N) % N));
  result.tcp = await measure(
    (x) => ring.move(x.byteLength),
    () => g.barrier(),
    gatherMaxOn(g),
  );
  ring.close();
  await g.close();
}
if (cfg.rank === 0) process.stdout.write(JSON.stringify(result) + '\n');
