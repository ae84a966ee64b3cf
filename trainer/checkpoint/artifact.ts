/**
 * Opening a weights artifact for inference (`predict`, `eval`): a weights directory
 * (model.safetensors + meta.json, as a run writes it) or a .safetensors file (meta.json beside
 * it used when present). The eval transform comes from meta.json, else torchvision's defaults
 * for the ResNet weights: resize 232, center crop 224, bilinear, ImageNet mean/std.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InputError, NotFoundError } from '../../common/errors.js';
import { openStorage, type Storage, type StorageOptions } from '../../common/storage/storage.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/transforms/normalize.js';
import type { TransformConfig } from '../data/transforms/presets.js';
import type { Interpolation } from '../data/transforms/resample.js';
import { getArch, type ResNetArch } from '../models/arch.js';
import { createResNet, type ResNetModel } from '../models/resnet.js';
import { decodeSafetensors, readSafetensors, type SafeTensor } from '../models/safetensors.js';
import { classesOf, recogniseArch } from '../models/state-shapes.js';
import { loadStateDict } from '../models/weights.js';

export interface EvalTransforms {
  resizeSize: number;
  cropSize: number;
  interpolation: string;
  mean: readonly number[];
  std: readonly number[];
}

/** meta.json as far as inference reads it (the rest is kept as is when it is rewritten). */
export interface ArtifactMeta {
  arch?: string;
  categories?: string[];
  ema?: boolean;
  transforms?: EvalTransforms;
  [key: string]: unknown;
}

/** torchvision's ImageClassification defaults for the ResNet weights (IMAGENET1K_V2). */
export const DEFAULT_EVAL_TRANSFORMS: Readonly<EvalTransforms> = Object.freeze({
  resizeSize: 232,
  cropSize: 224,
  interpolation: 'bilinear',
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
});

export interface OpenedWeights {
  /** The .safetensors file (for registry weights: the name and the file's URI). */
  file: string;
  /** Set when the weights came from a registry: they are read-only there. */
  registry?: { name: string; uri: string };
  /** meta.json's path (whether or not it exists). */
  metaPath: string;
  meta: ArtifactMeta | null;
  arch: ResNetArch;
  numClasses: number;
  model: ResNetModel;
  transforms: EvalTransforms;
}

async function locate(
  path: string,
): Promise<{ file: string; metaPath: string; meta: ArtifactMeta | null }> {
  if (!existsSync(path)) throw new NotFoundError(`weights not found: ${path}`);
  const isDir = statSync(path).isDirectory();
  const file = isDir ? join(path, 'model.safetensors') : path;
  if (!existsSync(file)) throw new NotFoundError(`no model.safetensors in ${path}`);
  const metaPath = join(isDir ? path : dirname(path), 'meta.json');
  if (!existsSync(metaPath)) return { file, metaPath, meta: null };
  try {
    return { file, metaPath, meta: JSON.parse(await readFile(metaPath, 'utf8')) as ArtifactMeta };
  } catch (err) {
    throw new InputError(`${metaPath} is not valid JSON`, [], { cause: err });
  }
}

/**
 * A model of `arch` holding `tensors` (the caller disposes it). When they do not fit, the
 * InputError names both sides: the architecture asked for, and what the tensors are.
 */
export function buildModel(
  tensors: ReadonlyMap<string, SafeTensor>,
  arch: ResNetArch,
  source: string,
): { model: ResNetModel; numClasses: number } {
  const shapes = new Map([...tensors].map(([k, t]) => [k, t.shape] as const));
  const numClasses = classesOf(shapes);
  if (numClasses === undefined)
    throw new InputError(`${source} has no fc.weight: not a ResNet state_dict`);
  const model = createResNet(arch, { numClasses, seed: 0, init: 'zeros' });
  try {
    loadStateDict(model, tensors);
  } catch (err) {
    model.dispose();
    if (!(err instanceof InputError)) throw err;
    const actual = recogniseArch(shapes);
    throw new InputError(
      `${source} does not fit ${arch.name}: ` +
        (actual
          ? `its tensors are ${actual} with ${numClasses} classes`
          : 'its tensors match no Ringmaster architecture'),
      err.issues,
      { cause: err },
    );
  }
  return { model, numClasses };
}

/** Reads the weights into a model (the caller disposes `model`). */
export async function openWeights(
  path: string,
  opts: { arch?: string | ResNetArch } = {},
): Promise<OpenedWeights> {
  const { file, metaPath, meta } = await locate(path);
  const weights = await readSafetensors(file);
  const archName = opts.arch ?? meta?.arch ?? weights.metadata.arch;
  if (archName === undefined) {
    throw new InputError('which architecture? no meta.json next to the weights', [
      { path: '--arch', message: 'required when the weights have no meta.json' },
    ]);
  }
  const arch = typeof archName === 'string' ? getArch(archName) : archName;
  const { model, numClasses } = buildModel(weights.tensors, arch, file);
  const transforms = meta?.transforms ?? DEFAULT_EVAL_TRANSFORMS;
  return { file, metaPath, meta, arch, numClasses, model, transforms };
}

/** The eval preset for these transforms, with `resizeSize` overridden when given. */
export function evalTransformConfig(t: EvalTransforms, resizeSize = t.resizeSize): TransformConfig {
  return {
    mode: 'eval',
    cropSize: t.cropSize,
    resizeSize,
    interpolation: t.interpolation as Interpolation,
    hflipProb: 0,
    autoAugment: null,
    randomErase: 0,
    mean: [t.mean[0]!, t.mean[1]!, t.mean[2]!],
    std: [t.std[0]!, t.std[1]!, t.std[2]!],
    shrinkOnLoad: false,
  };
}

/** One set of weights an artifact holds: the model's, or its EMA's. */
export interface WeightSet {
  name: 'model' | 'ema';
  model: ResNetModel;
}

/**
 * What `eval` scores, read through the storage layer (s3:// or a local path): a weights
 * directory (model.safetensors + meta.json: one set, the EMA's when meta.json says so) or a
 * checkpoint directory (state.json, model.safetensors and ema.safetensors: both sets).
 */
export interface EvalArtifact {
  uri: string;
  kind: 'weights' | 'checkpoint';
  /** The directory, for writing meta.json back (`--write-meta`, spec.eval.writeMeta); null: read-only (registry). */
  storage: Storage | null;
  /** meta.json's key in `storage`, and its content; null when there is none. */
  metaKey: string;
  meta: ArtifactMeta | null;
  arch: ResNetArch;
  numClasses: number;
  transforms: EvalTransforms;
  /** The model first, then the EMA, as far as the artifact holds them. */
  sets: WeightSet[];
  dispose(): void;
}

export interface OpenArtifactOptions {
  storage?: StorageOptions;
  /** Architecture when there is no meta.json (a checkpoint): --arch, or spec.recipe.model. */
  arch?: string;
  /** Where `arch` came from, for the error that asks for it. */
  archFlag?: string;
  /** Eval transforms when there is no meta.json (default: torchvision's). */
  transforms?: EvalTransforms;
}

/** Opens a weights or checkpoint directory (or a .safetensors file) for `eval`. */
export async function openArtifact(
  uri: string,
  o: OpenArtifactOptions = {},
): Promise<EvalArtifact> {
  const trimmed = uri.replace(/\/+$/, '');
  const file = trimmed.endsWith('.safetensors') ? basename(trimmed) : 'model.safetensors';
  const dir =
    file === 'model.safetensors' && !trimmed.endsWith(file) ? trimmed : dirnameOf(trimmed);
  const storage = openStorage(dir, o.storage ?? {});
  try {
    return await readArtifact(storage, file, o);
  } catch (err) {
    storage.close();
    throw err;
  }
}

function dirnameOf(uri: string): string {
  const i = uri.lastIndexOf('/');
  return i <= 0 ? '.' : uri.slice(0, i);
}

async function readArtifact(
  storage: Storage,
  file: string,
  o: OpenArtifactOptions,
): Promise<EvalArtifact> {
  const where = storage.uriOf(file);
  if (!(await storage.exists(file))) {
    throw new NotFoundError(
      `no ${file} at ${storage.uri}: expected a weights directory (model.safetensors + ` +
        'meta.json) or a checkpoint directory (state.json, model.safetensors, ema.safetensors)',
    );
  }
  const kind = (await storage.exists('state.json')) ? 'checkpoint' : 'weights';
  let meta: ArtifactMeta | null = null;
  // Checkpoints written since eval-only recipes record the architecture and eval transforms.
  const saved: { arch?: string; transforms?: EvalTransforms } = {};
  if (kind === 'checkpoint') {
    try {
      const state = JSON.parse((await storage.get('state.json')).toString('utf8')) as {
        extra?: { arch?: unknown; transforms?: unknown };
      };
      if (typeof state.extra?.arch === 'string') saved.arch = state.extra.arch;
      if (isTransforms(state.extra?.transforms)) saved.transforms = state.extra.transforms;
    } catch (err) {
      throw new InputError(`${storage.uriOf('state.json')} is not valid JSON`, [], { cause: err });
    }
  }
  if (kind === 'weights' && (await storage.exists('meta.json'))) {
    try {
      meta = JSON.parse((await storage.get('meta.json')).toString('utf8')) as ArtifactMeta;
    } catch (err) {
      throw new InputError(`${storage.uriOf('meta.json')} is not valid JSON`, [], { cause: err });
    }
  }
  const files: Array<[WeightSet['name'], string]> =
    kind === 'checkpoint'
      ? [
          ['model', 'model.safetensors'],
          ['ema', 'ema.safetensors'],
        ]
      : [[meta?.ema ? 'ema' : 'model', file]];
  const decoded: Array<[WeightSet['name'], ReturnType<typeof decodeSafetensors>]> = [];
  for (const [name, f] of files) {
    if (name === 'ema' && kind === 'checkpoint' && !(await storage.exists(f))) continue;
    decoded.push([name, decodeSafetensors(await storage.get(f), storage.uriOf(f))]);
  }
  const first = decoded[0]![1];
  const archName = meta?.arch ?? first.metadata.arch ?? saved.arch ?? o.arch;
  if (archName === undefined) {
    throw new InputError(`which architecture? ${where} has no meta.json`, [
      { path: o.archFlag ?? '--arch', message: 'required when the weights have no meta.json' },
    ]);
  }
  const arch = getArch(archName);
  const sets: WeightSet[] = [];
  const dispose = () => sets.forEach((s) => s.model.dispose());
  let numClasses = 0;
  try {
    for (const [name, weights] of decoded) {
      const built = buildModel(
        weights.tensors,
        arch,
        storage.uriOf(files.find((f) => f[0] === name)![1]),
      );
      sets.push({ name, model: built.model });
      numClasses = built.numClasses;
    }
  } catch (err) {
    dispose();
    throw err;
  }
  return {
    uri: storage.uri,
    kind,
    storage,
    metaKey: 'meta.json',
    meta,
    arch,
    numClasses,
    transforms: meta?.transforms ?? saved.transforms ?? o.transforms ?? DEFAULT_EVAL_TRANSFORMS,
    sets,
    dispose: () => {
      dispose();
      storage.close();
    },
  };
}

function isTransforms(v: unknown): v is EvalTransforms {
  if (!v || typeof v !== 'object') return false;
  const t = v as Record<string, unknown>;
  const triple = (x: unknown) =>
    Array.isArray(x) && x.length === 3 && x.every((n) => typeof n === 'number');
  return (
    Number.isInteger(t.resizeSize) &&
    Number.isInteger(t.cropSize) &&
    typeof t.interpolation === 'string' &&
    triple(t.mean) &&
    triple(t.std)
  );
}
