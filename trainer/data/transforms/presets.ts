/**
 * The two per-image pipelines of torchvision's references/classification/presets.py, on
 * encoded images:
 *
 * train (ClassificationPresetTrain): decode → RandomResizedCrop(cropSize) → horizontal flip
 *   (hflipProb) → TrivialAugmentWide → to float, Normalize → RandomErasing(randomErase);
 * eval (ClassificationPresetEval): decode → Resize(resizeSize) → CenterCrop(cropSize) →
 *   to float, Normalize.
 *
 * The config is plain JSON so a loader can post it to worker threads and build the
 * transform there. Every random draw comes from the `Rng` passed per image, in the order
 * torchvision draws: crop, flip, op, bin, sign, erase probability, erase box.
 */
import type { Rng } from '../../rng.js';
import { decodeRgb } from './decode.js';
import { evalResizeCrop } from './eval.js';
import { flipParams, hflip } from './flip.js';
import { IMAGENET_MEAN, IMAGENET_STD, normalize } from './normalize.js';
import { erase, erasingParams } from './random-erasing.js';
import { randomResizedCrop, rrcParams } from './random-resized-crop.js';
import type { Interpolation } from './resample.js';
import { trivialAugmentWide } from './trivial-augment-wide.js';

export type AutoAugmentPolicy = 'ta_wide';

export interface TransformConfig {
  readonly mode: 'train' | 'eval';
  /** Train: RandomResizedCrop size. Eval: CenterCrop size. */
  readonly cropSize: number;
  /** Eval: Resize of the shorter side. Train: unused (kept equal to cropSize). */
  readonly resizeSize: number;
  readonly interpolation: Interpolation;
  readonly hflipProb: number;
  readonly autoAugment: AutoAugmentPolicy | null;
  /** RandomErasing probability; 0 = off. */
  readonly randomErase: number;
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

/** The recipe fields this needs (trainer/recipe/schema.ts `Recipe`, typed structurally). */
export interface TransformRecipeFields {
  readonly trainCropSize: number;
  readonly valResizeSize: number;
  readonly valCropSize: number;
  readonly interpolation: Interpolation;
  readonly autoAugment: string | null | undefined;
  readonly randomErase: number;
}

export interface TransformedImage {
  /** HWC, normalized. */
  readonly data: Float32Array;
  readonly height: number;
  readonly width: number;
}

export type ImageTransform = (encoded: Uint8Array, rng: Rng) => Promise<TransformedImage>;

export function transformConfigFromRecipe(
  recipe: TransformRecipeFields,
  mode: 'train' | 'eval',
): TransformConfig {
  const common = {
    interpolation: recipe.interpolation,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
  };
  if (mode === 'eval') {
    return Object.freeze({
      ...common,
      mode,
      cropSize: recipe.valCropSize,
      resizeSize: recipe.valResizeSize,
      hflipProb: 0,
      autoAugment: null,
      randomErase: 0,
    });
  }
  const aa = recipe.autoAugment;
  if (aa !== 'ta_wide' && aa !== 'none' && aa !== null && aa !== undefined) {
    throw new RangeError(`unsupported autoAugment policy ${aa}`);
  }
  return Object.freeze({
    ...common,
    mode,
    cropSize: recipe.trainCropSize,
    resizeSize: recipe.trainCropSize,
    hflipProb: 0.5,
    autoAugment: aa === 'ta_wide' ? 'ta_wide' : null,
    randomErase: recipe.randomErase,
  });
}

/** Affine ops of TA-wide take the pipeline's interpolation; bicubic affine is not built. */
function affineInterpolation(i: Interpolation): 'bilinear' | 'nearest' {
  return i === 'nearest' ? 'nearest' : 'bilinear';
}

export function makeTrainTransform(cfg: TransformConfig): ImageTransform {
  const { cropSize, interpolation, hflipProb, autoAugment, randomErase, mean, std } = cfg;
  const taInterp = affineInterpolation(interpolation);
  return async (encoded, rng) => {
    const img = await decodeRgb(encoded);
    const box = rrcParams(img.width, img.height, rng);
    let out = randomResizedCrop(img, box, cropSize, interpolation);
    if (hflipProb > 0 && flipParams(rng, hflipProb)) out = hflip(out);
    if (autoAugment === 'ta_wide') out = trivialAugmentWide(out, rng, taInterp);
    const data = normalize(out, mean, std);
    if (randomErase > 0) {
      const eraseBox = erasingParams(out.height, out.width, rng, randomErase);
      if (eraseBox) erase(data, out.height, out.width, 3, eraseBox, 0);
    }
    return { data, height: out.height, width: out.width };
  };
}

export function makeEvalTransform(cfg: TransformConfig): ImageTransform {
  const { cropSize, resizeSize, interpolation, mean, std } = cfg;
  return async (encoded) => {
    const img = await decodeRgb(encoded);
    const out = evalResizeCrop(img, resizeSize, cropSize, interpolation);
    return { data: normalize(out, mean, std), height: out.height, width: out.width };
  };
}

export function makeTransform(cfg: TransformConfig): ImageTransform {
  return cfg.mode === 'train' ? makeTrainTransform(cfg) : makeEvalTransform(cfg);
}
