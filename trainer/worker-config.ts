/**
 * A worker's configuration, read once from its environment at the process edge
 * (pods get it from the operator, local runs from the launcher), then passed inward frozen.
 */
import { InputError, type InputIssue } from './errors.js';
import { storageOptionsFromEnv, type StorageOptions } from './storage/storage.js';

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
}

function int(env: NodeJS.ProcessEnv, name: string, issues: InputIssue[], dflt?: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    if (dflt !== undefined) return dflt;
    issues.push({ path: name, message: 'is required' });
    return 0;
  }
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0)
    issues.push({ path: name, message: `must be a non-negative integer, got "${raw}"` });
  return v;
}

export function workerConfigFromEnv(env: NodeJS.ProcessEnv): Readonly<WorkerConfig> {
  const issues: InputIssue[] = [];
  const rank = int(env, 'RINGMASTER_RANK', issues, 0);
  const worldSize = int(env, 'RINGMASTER_WORLD_SIZE', issues, 1);
  if (worldSize < 1) issues.push({ path: 'RINGMASTER_WORLD_SIZE', message: 'must be ≥ 1' });
  if (rank >= worldSize) {
    issues.push({
      path: 'RINGMASTER_RANK',
      message: `must be < RINGMASTER_WORLD_SIZE (${worldSize})`,
    });
  }
  const recipePath = env.RINGMASTER_RECIPE ?? '';
  if (!recipePath)
    issues.push({
      path: 'RINGMASTER_RECIPE',
      message: 'is required (path of the resolved recipe)',
    });
  const token = env.RINGMASTER_TOKEN ?? '';
  if (worldSize > 1 && token.length < 16) {
    issues.push({
      path: 'RINGMASTER_TOKEN',
      message: 'is required (at least 16 characters) when RINGMASTER_WORLD_SIZE > 1',
    });
  }
  const port = int(env, 'RINGMASTER_PORT', issues, DEFAULT_RING_PORT);
  const coordinator = env.RINGMASTER_COORDINATOR ?? `127.0.0.1:${port}`;
  const listen = env.RINGMASTER_LISTEN ?? `0.0.0.0:${port}`;
  const advertise =
    env.RINGMASTER_ADVERTISE ??
    (env.RINGMASTER_POD_IP ? `${env.RINGMASTER_POD_IP}:${port}` : listen);
  const transport = env.RINGMASTER_COMM_TRANSPORT || 'tcp';
  if (transport !== 'tcp' && transport !== 'grpc') {
    issues.push({
      path: 'RINGMASTER_COMM_TRANSPORT',
      message: `must be "tcp" or "grpc", got "${transport}"`,
    });
  }
  if (issues.length) throw new InputError('invalid worker environment', issues);
  return Object.freeze({
    rank,
    worldSize,
    coordinator,
    listen,
    advertise,
    transport: transport as 'tcp' | 'grpc',
    dataListen: env.RINGMASTER_DATA_LISTEN || undefined,
    token,
    generation: int(env, 'RINGMASTER_GENERATION', issues, 0),
    recipePath,
    backend: env.RINGMASTER_BACKEND || undefined,
    storage: storageOptionsFromEnv(env),
    cacheDir: env.RINGMASTER_CACHE_DIR ?? `${env.TMPDIR ?? '/tmp'}/ringmaster-cache`,
    allowRecipeChange: env.RINGMASTER_ALLOW_RECIPE_CHANGE === '1',
    rendezvousTimeoutMs: int(env, 'RINGMASTER_RENDEZVOUS_TIMEOUT_MS', issues, 300_000),
    opTimeoutMs: int(env, 'RINGMASTER_OP_TIMEOUT_MS', issues, 120_000),
  });
}
