/**
 * Opening a weights artifact for inference (`predict`, `eval`): a weights directory
 * (model.safetensors + meta.json, as a run writes it) or a .safetensors file (meta.json beside
 * it used when present). The eval transform comes from meta.json, else torchvision's defaults
 * for the ResNet weights: resize 232, center crop 224, bilinear, ImageNet mean/std.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InputError, NotFoundError } from '../../common/errors.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/transforms/normalize.js';
import type { TransformConfig } from '../data/transforms/presets.js';
import type { Interpolation } from '../data/transforms/resample.js';
import { getArch, type ResNetArch } from '../models/arch.js';
import { createResNet, type ResNetModel } from '../models/resnet.js';
import { readSafetensors, type SafeTensor } from '../models/safetensors.js';
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
