/**
 * Names, labels and annotations of everything the operator creates for a recipe. One place,
 * so the pure planner, the node agent in tests and the Helm chart's NetworkPolicy agree.
 */
import { createHash } from 'node:crypto';

export const LABEL_RECIPE = 'ringmaster.dev/recipe';
export const LABEL_RANK = 'ringmaster.dev/rank';
export const LABEL_GENERATION = 'ringmaster.dev/generation';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'ringmaster-operator';

/** sha256 of the desired content of a child, so steady state needs no write to compare. */
export const ANNOTATION_SPEC_HASH = 'ringmaster.dev/spec-hash';
/** Optional recipe annotation: forces the worker's compute backend (RINGMASTER_BACKEND). */
export const ANNOTATION_BACKEND = 'ringmaster.dev/backend';

export const RING_PORT = 29500;
export const RING_PORT_NAME = 'ring';
/** The TCP data plane of the collectives: the worker's default, the ring port + 1. */
export const RING_DATA_PORT = RING_PORT + 1;
export const RING_DATA_PORT_NAME = 'ring-data';
export const WORKER_CONTAINER = 'worker';
export const RECIPE_MOUNT_DIR = '/etc/ringmaster';
export const RECIPE_FILE = 'recipe.json';
export const TOKEN_KEY = 'token';
export const SCRATCH_DIR = '/scratch';

export const names = {
  pod: (recipe: string, rank: number) => `${recipe}-worker-${rank}`,
  service: (recipe: string) => `${recipe}-ring`,
  networkPolicy: (recipe: string) => `${recipe}-ring`,
  configMap: (recipe: string) => `${recipe}-recipe`,
  secret: (recipe: string) => `${recipe}-ring-token`,
  /** The stable DNS name of a rank through the headless Service. */
  podHost: (recipe: string, namespace: string, rank: number) =>
    `${recipe}-worker-${rank}.${recipe}-ring.${namespace}.svc`,
};

/** Canonical JSON (sorted keys) so equal content always hashes equal. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function hashOf(value: unknown): string {
  return createHash('sha256').update(canonical(value)).digest('hex').slice(0, 16);
}
