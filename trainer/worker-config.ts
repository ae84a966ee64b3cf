/**
 * A worker's configuration, read once from its environment at the process edge
 * (pods get it from the operator, local runs from the launcher), then passed inward frozen.
 */
import { EnvReader } from '../common/parse.js';
import { storageOptionsFromEnv, type StorageOptions } from '../common/storage/storage.js';

export const DEFAULT_RING_PORT = 29500;

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
}

export function workerConfigFromEnv(env: NodeJS.ProcessEnv): Readonly<WorkerConfig> {
  // Every variable is read before anything is thrown, so one error names all the bad ones.
  const r = new EnvReader(env);
  const rank = r.int('RINGMASTER_RANK', 0, { min: 0 });
  const worldSize = r.int('RINGMASTER_WORLD_SIZE', 1, { min: 1 });
  if (rank >= worldSize) {
    r.issue('RINGMASTER_RANK', `must be < RINGMASTER_WORLD_SIZE (${worldSize})`);
  }
  const recipePath = env.RINGMASTER_RECIPE ?? '';
  if (!recipePath) r.issue('RINGMASTER_RECIPE', 'is required (path of the resolved recipe)');
  const token = env.RINGMASTER_TOKEN ?? '';
  if (worldSize > 1 && token.length < 16) {
    r.issue(
      'RINGMASTER_TOKEN',
      'is required (at least 16 characters) when RINGMASTER_WORLD_SIZE > 1',
    );
  }
  const port = r.int('RINGMASTER_PORT', DEFAULT_RING_PORT, { min: 0, max: 65_535 });
  const coordinator = env.RINGMASTER_COORDINATOR ?? `127.0.0.1:${port}`;
  const listen = env.RINGMASTER_LISTEN ?? `0.0.0.0:${port}`;
  const advertise =
    env.RINGMASTER_ADVERTISE ??
    (env.RINGMASTER_POD_IP ? `${env.RINGMASTER_POD_IP}:${port}` : listen);
  const transport = env.RINGMASTER_COMM_TRANSPORT || 'tcp';
  if (transport !== 'tcp' && transport !== 'grpc') {
    r.issue('RINGMASTER_COMM_TRANSPORT', `must be "tcp" or "grpc", got "${transport}"`);
  }
  const generation = r.int('RINGMASTER_GENERATION', 0, { min: 0 });
  const allowRecipeChange = r.bool('RINGMASTER_ALLOW_RECIPE_CHANGE', false);
  const rendezvousTimeoutMs = r.durationMs('RINGMASTER_RENDEZVOUS_TIMEOUT_MS', 300_000, {
    min: 1,
  });
  const opTimeoutMs = r.durationMs('RINGMASTER_OP_TIMEOUT_MS', 120_000, { min: 1 });
  const computeThreads = r.int('RINGMASTER_COMPUTE_THREADS', 0, { min: 0 });
  r.check('invalid worker environment');
  return Object.freeze({
    rank,
    worldSize,
    coordinator,
    listen,
    advertise,
    transport: transport as 'tcp' | 'grpc',
    dataListen: env.RINGMASTER_DATA_LISTEN || undefined,
    token,
    generation,
    recipePath,
    backend: env.RINGMASTER_BACKEND || undefined,
    storage: storageOptionsFromEnv(env),
    cacheDir: env.RINGMASTER_CACHE_DIR ?? `${env.TMPDIR ?? '/tmp'}/ringmaster-cache`,
    allowRecipeChange,
    rendezvousTimeoutMs,
    opTimeoutMs,
    computeThreads,
  });
}
