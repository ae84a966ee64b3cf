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
import { InputError } from '../../../common/errors.js';
import type { AffineInterpolation } from './affine.js';
import { decodeImage, decodeJpegSync, decodeRgb, peekImageSize } from './decode.js';
import { evalResizeCrop } from './eval.js';
import { flipParams } from './flip.js';
import type { RgbImage } from './image.js';
import { IMAGENET_MEAN, IMAGENET_STD, normalize } from './normalize.js';
import { erase, erasingParams } from './random-erasing.js';
import { rrcParams } from './random-resized-crop.js';
import { resize, type CropBox, type Interpolation } from './resample.js';
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
  /**
   * Decode JPEGs at 1/2, 1/4 or 1/8 scale (DCT domain) when the crop stays at least the
   * output size: much less work, not bit-exact to PIL (which decodes at full size). Default:
   * on for train, off for eval.
   */
  readonly shrinkOnLoad?: boolean;
}

/** The recipe fields this needs (api/schema.ts `Recipe`, typed structurally). */
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
      shrinkOnLoad: false,
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
    shrinkOnLoad: true,
  });
}

/** Affine ops of TA-wide take the pipeline's interpolation, as the reference passes it. */
function affineInterpolation(i: Interpolation): AffineInterpolation {
  return i;
}

/** The largest DCT scale 1/d that keeps the crop at least `size` in both dimensions. */
export function shrinkFactor(box: CropBox, size: number): 1 | 2 | 4 | 8 {
  for (const d of [8, 4, 2] as const) {
    if (Math.floor(box.width / d) >= size && Math.floor(box.height / d) >= size) return d;
  }
  return 1;
}

/**
 * A crop box in a 1/d-scale decode: the whole scaled pixels it touches, with the exact
 * (fractional) crop as the sampling window, so the output is not shifted by rounding.
 */
function scaleBox(box: CropBox, d: number, width: number, height: number): CropBox {
  const left = Math.min(width - 1, Math.floor(box.left / d));
  const top = Math.min(height - 1, Math.floor(box.top / d));
  const right = Math.min(width, Math.max(left + 1, Math.ceil((box.left + box.width) / d)));
  const bottom = Math.min(height, Math.max(top + 1, Math.ceil((box.top + box.height) / d)));
  const w = right - left;
  const h = bottom - top;
  const x0 = box.left / d - left;
  const y0 = box.top / d - top;
  return {
    left,
    top,
    width: w,
    height: h,
    window: { x0, x1: Math.min(w, x0 + box.width / d), y0, y1: Math.min(h, y0 + box.height / d) },
  };
}

export function makeTrainTransform(cfg: TransformConfig): ImageTransform {
  const { cropSize, interpolation, hflipProb, autoAugment, randomErase, mean, std } = cfg;
  const shrink = cfg.shrinkOnLoad ?? true;
  const taInterp = affineInterpolation(interpolation);
  return async (encoded, rng) => {
    // The crop is drawn from the header's size, before decoding, so the decode can shrink.
    const size = peekImageSize(encoded);
    let img: RgbImage;
    let box: CropBox;
    if (size && size.width > 0 && size.height > 0) {
      box = rrcParams(size.width, size.height, rng);
      const d = shrink ? shrinkFactor(box, cropSize) : 1;
      // Synchronous TurboJPEG into the reused buffer: nothing else runs before the crop
      // below has copied what it needs out of it.
      const fast = decodeJpegSync(encoded, d, true);
      const { image, scale } = fast ? { image: fast, scale: d } : await decodeImage(encoded, d);
      if (
        image.width !== Math.ceil(size.width / scale) ||
        image.height !== Math.ceil(size.height / scale)
      ) {
        throw new InputError(
          `image header says ${size.width}×${size.height}, decoded ${image.width}×${image.height}`,
        );
      }
      img = image;
      if (scale !== 1) box = scaleBox(box, scale, image.width, image.height);
    } else {
      img = await decodeRgb(encoded);
      box = rrcParams(img.width, img.height, rng);
    }
    const flip = hflipProb > 0 && flipParams(rng, hflipProb);
    let out = resize(img, cropSize, cropSize, interpolation, box, flip);
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
  const shrink = cfg.shrinkOnLoad ?? false;
  return async (encoded) => {
    let img: RgbImage;
    const size = shrink ? peekImageSize(encoded) : null;
    if (size) {
      // Shrink only while the shorter side stays at least resizeSize.
      const short = Math.min(size.width, size.height);
      let d: 1 | 2 | 4 | 8 = 1;
      for (const k of [8, 4, 2] as const) {
        if (Math.floor(short / k) >= resizeSize) {
          d = k;
          break;
        }
      }
      // Synchronous TurboJPEG into the reused buffer, consumed before any await (as in train).
      img = decodeJpegSync(encoded, d, true) ?? (await decodeImage(encoded, d)).image;
    } else {
      img = decodeJpegSync(encoded, 1, true) ?? (await decodeRgb(encoded));
    }
    const out = evalResizeCrop(img, resizeSize, cropSize, interpolation);
    return { data: normalize(out, mean, std), height: out.height, width: out.width };
  };
}

export function makeTransform(cfg: TransformConfig): ImageTransform {
  return cfg.mode === 'train' ? makeTrainTransform(cfg) : makeEvalTransform(cfg);
}
