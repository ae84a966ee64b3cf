/**
 * From a weights artifact (a run's `weights/` or `weights/best/`, an export, or a torchvision
 * import written by docs/snippets/torchvision_weights.py) to a registry entry: everything
 * torchvision's `weights.meta` and `weights.transforms()` carry, computed or checked here
 * rather than trusted — the architecture against the tensors' shapes, the parameter count and
 * GFLOPs from the architecture, the recipe's hash from the recipe, the file's sha256.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { parseRecipe, recipeHash } from '../../api/load.js';
import { SEEDS_FILE, SEED_DIR_PREFIX } from '../../api/names.js';
import type { SeedRunStatus, SeedSummary } from '../../api/status.js';
import { InputError, NotFoundError } from '../../common/errors.js';
import { openStorage, type StorageOptions } from '../../common/storage/storage.js';
import { countMacs, countParams, getArch, isArchName } from '../models/arch.js';
import { decodeSafetensors } from '../models/safetensors.js';
import { classesOf, recogniseArch, stateMismatches } from '../models/state-shapes.js';
import {
  META_FILE,
  REGISTRY_FORMAT,
  TransformsSchema,
  WEIGHTS_FILE,
  type DatasetMetrics,
  type Transforms,
  type WeightsEntry,
} from './format.js';
import { Value } from '@sinclair/typebox/value';

export interface Artifact {
  /** URI of the artifact (directory or .safetensors file), for messages and the entry. */
  uri: string;
  weights: Buffer;
  /** meta.json as read (kept whole in the registry's copy). */
  meta: Record<string, unknown>;
  metaText: string;
}

/** Reads model.safetensors + meta.json from a directory, or a .safetensors file and the meta.json beside it. */
export async function readArtifact(uri: string, storage: StorageOptions = {}): Promise<Artifact> {
  const clean = uri.replace(/\/+$/, '');
  const isFile = clean.endsWith('.safetensors');
  const dir = isFile ? clean.slice(0, clean.lastIndexOf('/') + 1) || '.' : clean;
  const file = isFile ? clean.slice(clean.lastIndexOf('/') + 1) : WEIGHTS_FILE;
  const st = openStorage(dir, storage);
  try {
    if (!(await st.exists(file))) throw new NotFoundError(`no weights at ${st.uriOf(file)}`);
    if (!(await st.exists(META_FILE))) {
      throw new InputError(`no ${META_FILE} next to ${st.uriOf(file)}`, [
        {
          path: 'ARTIFACT',
          message:
            'publish a weights artifact (a run’s weights/, `ringmaster export`, or the torchvision import snippet), which carries meta.json',
        },
      ]);
    }
    const [weights, metaBuf] = await Promise.all([st.get(file), st.get(META_FILE)]);
    const metaText = metaBuf.toString('utf8');
    let meta: unknown;
    try {
      meta = JSON.parse(metaText);
    } catch (err) {
      throw new InputError(`${st.uriOf(META_FILE)} is not valid JSON`, [], { cause: err });
    }
    if (meta === null || typeof meta !== 'object' || Array.isArray(meta))
      throw new InputError(`${st.uriOf(META_FILE)} is not a JSON object`);
    return { uri: st.uriOf(file), weights, meta: meta as Record<string, unknown>, metaText };
  } finally {
    st.close();
  }
}

export const sha256 = (b: Uint8Array | string): string =>
  createHash('sha256').update(b).digest('hex');

/** The seeds.json of a run with seeds, when the artifact is `<out>/seed-<n>/weights[/best]`. */
export function seedsFileOf(artifactUri: string): { root: string; seed: number } | undefined {
  const m = new RegExp(
    `^(.*)/${SEED_DIR_PREFIX}(\\d+)/weights(?:/best)?(?:/${WEIGHTS_FILE.replace('.', '\\.')})?/*$`,
  ).exec(artifactUri);
  return m ? { root: m[1]!, seed: Number(m[2]) } : undefined;
}

/** The summary of seeds.json (path or URI of the file), checking that `seed` succeeded in it. */
export async function readSeedSummary(
  file: string,
  seed: number | undefined,
  storage: StorageOptions = {},
): Promise<SeedSummary> {
  const slash = file.lastIndexOf('/');
  const st = openStorage(slash > 0 ? file.slice(0, slash) : '.', storage);
  const key = file.slice(slash + 1);
  try {
    let obj: { seeds?: SeedRunStatus[]; summary?: SeedSummary };
    try {
      obj = JSON.parse((await st.get(key)).toString('utf8')) as typeof obj;
    } catch (err) {
      if (err instanceof NotFoundError) throw err;
      throw new InputError(`${file} is not valid JSON`, [], { cause: err });
    }
    if (!obj.summary || !Array.isArray(obj.seeds))
      throw new InputError(`${file} is not a ${SEEDS_FILE}`, [
        { path: '--seeds', message: 'no summary' },
      ]);
    if (seed !== undefined && !obj.seeds.some((s) => s.seed === seed && s.phase === 'Succeeded')) {
      throw new InputError(`seed ${seed} is not a succeeded seed of ${file}`, [
        { path: '--seeds', message: 'the summary must include the published weights’ run' },
      ]);
    }
    return obj.summary;
  } finally {
    st.close();
  }
}

export interface DescribeOptions {
  name: string;
  /** Key of the metrics: the dataset the figures were measured on. */
  dataset: string;
  seeds?: SeedSummary;
  publishedAt?: string;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function transformsOf(meta: Record<string, unknown>, where: string): Transforms {
  const t = meta.transforms;
  if (!Value.Check(TransformsSchema, t)) {
    throw new InputError(`${where}: meta.json has no valid eval transforms`, [
      {
        path: 'transforms',
        message:
          'needs resizeSize, cropSize, interpolation, mean[3], std[3] (what eval and predict apply)',
      },
    ]);
  }
  return { ...t, mean: [...t.mean], std: [...t.std] };
}

/** The registry entry for an artifact, every derived figure computed and checked here. */
export function describeArtifact(a: Artifact, o: DescribeOptions): WeightsEntry {
  const meta = a.meta;
  const archName = meta.arch;
  if (typeof archName !== 'string' || !isArchName(archName)) {
    throw new InputError(`${a.uri}: meta.json names no known architecture`, [
      { path: 'arch', message: `got ${JSON.stringify(archName)}; must be a Ringmaster model name` },
    ]);
  }
  const arch = getArch(archName);
  const tensors = decodeSafetensors(a.weights, a.uri).tensors;
  const shapes = new Map([...tensors].map(([k, t]) => [k, t.shape] as const));
  const numClasses = classesOf(shapes);
  const bad = stateMismatches(arch, shapes);
  if (numClasses === undefined || bad.length > 0) {
    const actual = recogniseArch(shapes);
    throw new InputError(
      `${a.uri} does not hold ${arch.name} weights, as its meta.json says: ` +
        (actual
          ? `by its tensors it is ${actual} with ${numClasses} classes`
          : 'its tensors match no Ringmaster architecture'),
      bad.map((m) => ({ path: m.split(' ')[0]!, message: m })),
    );
  }
  const categories = Array.isArray(meta.categories)
    ? (meta.categories as unknown[]).map(String)
    : Array.from({ length: numClasses }, (_, i) => String(i));
  if (categories.length !== numClasses) {
    throw new InputError(
      `${a.uri}: meta.json names ${categories.length} categories, the weights classify ${numClasses}`,
      [{ path: 'categories', message: `must have ${numClasses} names` }],
    );
  }
  const transforms = transformsOf(meta, a.uri);
  const ema = typeof meta.ema === 'boolean' ? meta.ema : undefined;
  const m = (meta.metrics ?? {}) as Record<string, unknown>;
  // The figures of these weights: the EMA's when the artifact holds the EMA weights.
  const figures: DatasetMetrics = ema
    ? { acc1: num(m.emaAcc1), acc5: num(m.emaAcc5) }
    : { acc1: num(m.acc1), acc5: num(m.acc5) };
  if (o.seeds) figures.seeds = o.seeds;

  let recipe: WeightsEntry['recipe'] = null;
  if (meta.recipe !== undefined) {
    const spec = parseRecipe(meta.recipe, `${a.uri} meta.json recipe`);
    const hash = recipeHash(spec);
    if (typeof meta.recipeHash === 'string' && meta.recipeHash !== hash) {
      throw new InputError(`${a.uri}: meta.json's recipeHash does not match its recipe`, [
        { path: 'recipeHash', message: `${meta.recipeHash} recorded, ${hash} computed` },
      ]);
    }
    recipe = { spec: { ...spec } as Record<string, unknown>, sha256: hash };
  }
  const source: WeightsEntry['source'] = { artifact: a.uri };
  if (ema !== undefined) source.ema = ema;
  if (typeof meta.epoch === 'number') source.epoch = meta.epoch;
  const sel = meta.selectedBy as { metric?: unknown; value?: unknown } | undefined;
  if (sel && typeof sel.metric === 'string' && typeof sel.value === 'number')
    source.selectedBy = { metric: sel.metric, value: sel.value };
  if (typeof meta.checkpoint === 'string' || meta.checkpoint === null)
    source.checkpoint = meta.checkpoint as string | null;
  if (meta.origin && typeof meta.origin === 'object')
    source.origin = meta.origin as Record<string, unknown>;

  return {
    format: REGISTRY_FORMAT,
    name: o.name,
    arch: arch.name,
    numClasses,
    categories,
    numParams: countParams(arch, numClasses),
    gflops: countMacs(arch, transforms.cropSize, numClasses) / 1e9,
    transforms,
    metrics: { [o.dataset]: figures },
    recipe,
    source,
    file: { sha256: sha256(a.weights), bytes: a.weights.length },
    publishedAt: o.publishedAt ?? new Date().toISOString(),
  };
}

/** The dataset key when --dataset is not given: meta.json's `dataset`, else "validation". */
export function datasetOf(meta: Record<string, unknown>): string {
  return typeof meta.dataset === 'string' && meta.dataset.length > 0 ? meta.dataset : 'validation';
}

export const artifactDir = (name: string, id: string): string => posix.join('weights', name, id);
