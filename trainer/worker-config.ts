/**
 * A worker's configuration, read once from its environment at the process edge
 * (pods get it from the operator, local runs from the launcher), then passed inward frozen.
 */
import { RING_PORT, WorkerEnv } from '../api/names.js';
import { MAX_LOADER_WORKERS, MAX_PREFETCH_BATCHES } from '../api/schema.js';
import { EnvReader } from '../common/parse.js';
import { storageOptionsFromEnv, type StorageOptions } from '../common/storage/storage.js';

export interface WorkerConfig {
  rank: number;
  worldSize: number;
  /** host:port of rank 0's rendezvous service. */
  coordinator: string;
  /** Address this rank's collective server binds to. */
  listen: string;
  /** Address the other ranks use to reach this one. */
  advertise: string;
  /** How frames travel between ranks (RINGMASTER_COMM_TRANSPORT, default tcp). */
  transport: 'tcp' | 'grpc';
  /** TCP connections per neighbour pair (RINGMASTER_COMM_CHANNELS); absent: the group's default. */
  commChannels: number | undefined;
  /** Where the TCP data plane listens (RINGMASTER_DATA_LISTEN; default: listen port + 1). */
  dataListen: string | undefined;
  token: string;
  /** Incremented by whoever restarts the group, so a stale member never mixes in. */
  generation: number;
  recipePath: string;
  backend: string | undefined;
  storage: StorageOptions;
  /** Scratch space for generated datasets and caches. */
  cacheDir: string;
  allowRecipeChange: boolean;
  /** Collective deadlines. */
  rendezvousTimeoutMs: number;
  opTimeoutMs: number;
  /**
   * Threads for the compute backend's pools (RINGMASTER_COMPUTE_THREADS); 0: the container's
   * CPU limit (engine/threads.ts). The local launcher divides the machine between its ranks.
   */
  computeThreads: number;
  /** SIGTERM → SIGKILL budget (RINGMASTER_TERMINATION_GRACE_SECONDS); 0 = unknown. */
  terminationGraceSeconds: number;
  /** runPolicy.hangTimeoutSeconds (RINGMASTER_HANG_TIMEOUT_SECONDS); undefined = derived. */
  hangTimeoutSeconds: number | undefined;
  /** Where a failing worker writes its verdict (RINGMASTER_TERMINATION_LOG); '' = nowhere. */
  terminationLog: string;
  /** The container's CPU request (RINGMASTER_CPU_REQUEST_MILLICORES); 0: not given. */
  cpuRequestMillicores: number;
  /** Where the cgroup filesystem is (RINGMASTER_CGROUP_ROOT); undefined: /sys/fs/cgroup. */
  cgroupRoot: string | undefined;
  /** spec.dataLoader as the operator passed it; undefined: derived (thread-plan.ts). */
  loaderWorkers: number | undefined;
  prefetchBatches: number | undefined;
  /** RINGMASTER_OVERLAP_ALLREDUCE: 'auto' (default) decides by backend (train.ts). */
  overlapAllReduce: 'on' | 'off' | 'auto';
}

export function workerConfigFromEnv(env: NodeJS.ProcessEnv): Readonly<WorkerConfig> {
  // Every variable is read before anything is thrown, so one error names all the bad ones.
  const r = new EnvReader(env);
  const rank = r.int(WorkerEnv.rank, 0, { min: 0 });
  const worldSize = r.int(WorkerEnv.worldSize, 1, { min: 1 });
  if (rank >= worldSize) {
    r.issue(WorkerEnv.rank, `must be < ${WorkerEnv.worldSize} (${worldSize})`);
  }
  const recipePath = env[WorkerEnv.recipe] ?? '';
  if (!recipePath) r.issue(WorkerEnv.recipe, 'is required (path of the resolved recipe)');
  const token = env[WorkerEnv.token] ?? '';
  if (worldSize > 1 && token.length < 16) {
    r.issue(
      WorkerEnv.token,
      `is required (at least 16 characters) when ${WorkerEnv.worldSize} > 1`,
    );
  }
  const port = r.int(WorkerEnv.port, RING_PORT, { min: 0, max: 65_535 });
  const coordinator = env[WorkerEnv.coordinator] ?? `127.0.0.1:${port}`;
  const listen = env[WorkerEnv.listen] ?? `0.0.0.0:${port}`;
  const advertise =
    env[WorkerEnv.advertise] ?? (env[WorkerEnv.podIp] ? `${env[WorkerEnv.podIp]}:${port}` : listen);
  const transport = env[WorkerEnv.transport] || 'tcp';
  if (transport !== 'tcp' && transport !== 'grpc') {
    r.issue(WorkerEnv.transport, `must be "tcp" or "grpc", got "${transport}"`);
  }
  const generation = r.int(WorkerEnv.generation, 0, { min: 0 });
  const allowRecipeChange = r.bool(WorkerEnv.allowRecipeChange, false);
  const rendezvousTimeoutMs = r.durationMs(WorkerEnv.rendezvousTimeoutMs, 300_000, {
    min: 1,
  });
  const opTimeoutMs = r.durationMs(WorkerEnv.opTimeoutMs, 120_000, { min: 1 });
  const computeThreads = r.int(WorkerEnv.computeThreads, 0, { min: 0 });
  const terminationGraceSeconds = r.int(WorkerEnv.terminationGraceSeconds, 0, { min: 0 });
  const hangTimeoutSeconds = env[WorkerEnv.hangTimeoutSeconds]
    ? r.int(WorkerEnv.hangTimeoutSeconds, 0, { min: 1 })
    : undefined;
  const cpuRequestMillicores = r.int(WorkerEnv.cpuRequestMillicores, 0, { min: 0 });
  const optionalInt = (name: string, bounds: { min: number; max: number }) =>
    r.text(name) === undefined ? undefined : r.int(name, 0, bounds);
  const loaderWorkers = optionalInt(WorkerEnv.loaderWorkers, { min: 0, max: MAX_LOADER_WORKERS });
  const prefetchBatches = optionalInt(WorkerEnv.prefetchBatches, {
    min: 1,
    max: MAX_PREFETCH_BATCHES,
  });
  const commChannels = optionalInt(WorkerEnv.commChannels, { min: 1, max: 16 });
  const overlapAllReduce = env[WorkerEnv.overlapAllReduce] || 'auto';
  if (!['on', 'off', 'auto'].includes(overlapAllReduce)) {
    r.issue(WorkerEnv.overlapAllReduce, `must be "on", "off" or "auto", got "${overlapAllReduce}"`);
  }
  r.check('invalid worker environment');
  return Object.freeze({
    rank,
    worldSize,
    coordinator,
    listen,
    advertise,
    transport: transport as 'tcp' | 'grpc',
    commChannels,
    dataListen: env[WorkerEnv.dataListen] || undefined,
    token,
    generation,
    recipePath,
    backend: env[WorkerEnv.backend] || undefined,
    storage: storageOptionsFromEnv(env),
    cacheDir: env[WorkerEnv.cacheDir] ?? `${env.TMPDIR ?? '/tmp'}/ringmaster-cache`,
    allowRecipeChange,
    rendezvousTimeoutMs,
    opTimeoutMs,
    computeThreads,
    terminationGraceSeconds,
    hangTimeoutSeconds,
    terminationLog: env[WorkerEnv.terminationLog] ?? '',
    cpuRequestMillicores,
    cgroupRoot: r.text(WorkerEnv.cgroupRoot),
    loaderWorkers,
    prefetchBatches,
    overlapAllReduce: overlapAllReduce as WorkerConfig['overlapAllReduce'],
  });
}
