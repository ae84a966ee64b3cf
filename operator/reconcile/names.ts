/**
 * Names of what the operator creates for a recipe and only it uses: the children's names,
 * the worker container's layout, the content hash. Names the trainer or the chart must agree
 * on (labels, annotations, ports, environment) are the API's: api/names.ts.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../common/canonical-json.js';

export const WORKER_CONTAINER = 'worker';
export const RECIPE_MOUNT_DIR = '/etc/ringmaster';
export const RECIPE_FILE = 'recipe.json';
export const TOKEN_KEY = 'token';
export const SCRATCH_DIR = '/scratch';

export const names = {
  pod: (recipe: string, rank: number) => `${recipe}-worker-${rank}`,
  /**
   * A worker of a Kueue pod group: the generation is in the name because Kueue keeps the
   * finished pods of an earlier group (its finalizer) until their replacements exist. The
   * hostname stays `pod(recipe, rank)`, so the ranks' DNS names do not change.
   */
  groupPod: (recipe: string, rank: number, generation: number) =>
    `${recipe}-worker-${rank}-g${generation}`,
  /** A placeholder pod that holds a missing worker's resources until the group grows. */
  probe: (recipe: string, i: number) => `${recipe}-probe-${i}`,
  service: (recipe: string) => `${recipe}-ring`,
  networkPolicy: (recipe: string) => `${recipe}-ring`,
  configMap: (recipe: string) => `${recipe}-recipe`,
  secret: (recipe: string) => `${recipe}-ring-token`,
  /** The child TrainingRecipe of one seed of a recipe with spec.seeds. */
  seedRecipe: (recipe: string, seed: number) => `${recipe}-seed-${seed}`,
  /** A study's child TrainingRecipe of row i (full run). */
  studyRecipe: (study: string, i: number) => `${study}-${String(i).padStart(2, '0')}`,
  /** A study's child TrainingRecipe of row i's screening run. */
  studyScreenRecipe: (study: string, i: number) => `${study}-s${String(i).padStart(2, '0')}`,
  /** The stable DNS name of a rank through the headless Service. */
  podHost: (recipe: string, namespace: string, rank: number) =>
    `${recipe}-worker-${rank}.${recipe}-ring.${namespace}.svc`,
};

/** sha256 (16 hex digits) of the canonical JSON of a value: equal content, equal hash. */
export function hashOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}
