/**
 * TrivialAugmentWide (torchvision.transforms.autoaugment): one op drawn uniformly from 14,
 * one magnitude bin uniformly from 31, signed ops negated with probability ½; geometric ops
 * use the pipeline's interpolation (the reference passes bilinear) and fill 0.
 *
 * Shear convention: that of the torchvision we test against (0.29; since 0.13 or so): shear
 * about the top-left corner (center = [0, 0]) by the angle atan(m), i.e. factor m. The
 * recipe's 2022 version sheared about the centre by the angle m; RECIPE.md accepts either
 * when documented (docs/transforms.md, ADR 0081).
 */
import {
  affineTransform,
  inverseAffineMatrix,
  rotateMatrix,
  type AffineInterpolation,
} from './affine.js';
import {
  adjustBrightness,
  adjustContrast,
  adjustSaturation,
  adjustSharpness,
  autocontrast,
  equalize,
  posterize,
  solarize,
} from './color.js';
import type { RgbImage } from './image.js';

export const TA_WIDE_OPS = [
  'Identity',
  'ShearX',
  'ShearY',
  'TranslateX',
  'TranslateY',
  'Rotate',
  'Brightness',
  'Color',
  'Contrast',
  'Sharpness',
  'Posterize',
  'Solarize',
  'AutoContrast',
  'Equalize',
] as const;
export type TaWideOp = (typeof TA_WIDE_OPS)[number];

export const TA_WIDE_BINS = 31;

const f32 = Math.fround;

/**
 * torch.linspace(start, end, steps) in float32, as ATen's CPU kernel computes it: the first
 * half counted up from start, the second half down from end, each value one fused
 * multiply-add (the compiler contracts `start + step * i`), so one rounding. This matters:
 * bin 15 of TranslateX is 15.999999 in torch, which `int()` truncates to 15.
 */
export function linspaceF32(start: number, end: number, steps: number): Float64Array {
  const out = new Float64Array(steps);
  const s = f32(start);
  const e = f32(end);
  const step = f32(f32(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  // step·i is exact in a double (24 + 5 bits), so f32(s + step·i) rounds once, like an FMA.
  for (let i = 0; i < steps; i++) {
    out[i] = i < halfway ? f32(s + step * i) : f32(e - step * (steps - i - 1));
  }
  return out;
}

export interface OpSpace {
  /** The magnitudes of the bins; null for ops without a magnitude (always 0). */
  readonly magnitudes: Float64Array | null;
  readonly signed: boolean;
}

/** `TrivialAugmentWide._augmentation_space(numBins)`. */
export function augmentationSpace(numBins = TA_WIDE_BINS): Readonly<Record<TaWideOp, OpSpace>> {
  const unit = linspaceF32(0, 0.99, numBins);
  const posterizeBits = new Float64Array(numBins);
  const div = f32((numBins - 1) / 6);
  for (let i = 0; i < numBins; i++) posterizeBits[i] = 8 - roundHalfEvenF(f32(i / div));
  return {
    Identity: { magnitudes: null, signed: false },
    ShearX: { magnitudes: unit, signed: true },
    ShearY: { magnitudes: unit, signed: true },
    TranslateX: { magnitudes: linspaceF32(0, 32, numBins), signed: true },
    TranslateY: { magnitudes: linspaceF32(0, 32, numBins), signed: true },
    Rotate: { magnitudes: linspaceF32(0, 135, numBins), signed: true },
    Brightness: { magnitudes: unit, signed: true },
    Color: { magnitudes: unit, signed: true },
    Contrast: { magnitudes: unit, signed: true },
    Sharpness: { magnitudes: unit, signed: true },
    Posterize: { magnitudes: posterizeBits, signed: false },
    Solarize: { magnitudes: linspaceF32(255, 0, numBins), signed: false },
    AutoContrast: { magnitudes: null, signed: false },
    Equalize: { magnitudes: null, signed: false },
  };
}

function roundHalfEvenF(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const SPACE = augmentationSpace();

export interface TaWideChoice {
  readonly op: TaWideOp;
  /** The signed magnitude as torchvision passes it to `_apply_op`. */
  readonly magnitude: number;
  /** The bin drawn (−1 for ops without magnitude). */
  readonly bin: number;
}

/** The draw of TrivialAugmentWide.forward, in its order: op, bin, sign. */
export function taWideParams(rng: { randint(lo: number, hi: number): number }): TaWideChoice {
  const op = TA_WIDE_OPS[rng.randint(0, TA_WIDE_OPS.length)]!;
  const { magnitudes, signed } = SPACE[op];
  let magnitude = 0;
  let bin = -1;
  if (magnitudes) {
    bin = rng.randint(0, magnitudes.length);
    magnitude = magnitudes[bin]!;
  }
  if (signed && rng.randint(0, 2) === 1) magnitude = -magnitude;
  return { op, magnitude, bin };
}

/** The valid signed-magnitude range of each op (for `ringmaster augment --op`). */
export const TA_WIDE_MAGNITUDE_RANGE: Readonly<Record<TaWideOp, readonly [number, number]>> = {
  Identity: [0, 0],
  ShearX: [-0.99, 0.99],
  ShearY: [-0.99, 0.99],
  TranslateX: [-32, 32],
  TranslateY: [-32, 32],
  Rotate: [-135, 135],
  Brightness: [-0.99, 0.99],
  Color: [-0.99, 0.99],
  Contrast: [-0.99, 0.99],
  Sharpness: [-0.99, 0.99],
  Posterize: [1, 8],
  Solarize: [0, 255],
  AutoContrast: [0, 0],
  Equalize: [0, 0],
};

const DEG_PER_RAD = 180 / Math.PI;

/** torchvision's `_apply_op` for one op on the PIL backend. */
export function applyTaOp(
  img: RgbImage,
  op: TaWideOp,
  magnitude: number,
  interpolation: AffineInterpolation = 'bilinear',
  fill: readonly [number, number, number] = [0, 0, 0],
): RgbImage {
  const { width: w, height: h } = img;
  switch (op) {
    case 'Identity':
      return img;
    case 'ShearX':
      return affineTransform(
        img,
        inverseAffineMatrix([0, 0], 0, [0, 0], 1, [Math.atan(magnitude) * DEG_PER_RAD, 0]),
        interpolation,
        fill,
      );
    case 'ShearY':
      return affineTransform(
        img,
        inverseAffineMatrix([0, 0], 0, [0, 0], 1, [0, Math.atan(magnitude) * DEG_PER_RAD]),
        interpolation,
        fill,
      );
    case 'TranslateX':
      return affineTransform(
        img,
        inverseAffineMatrix([w * 0.5, h * 0.5], 0, [Math.trunc(magnitude), 0], 1, [0, 0]),
        interpolation,
        fill,
      );
    case 'TranslateY':
      return affineTransform(
        img,
        inverseAffineMatrix([w * 0.5, h * 0.5], 0, [0, Math.trunc(magnitude)], 1, [0, 0]),
        interpolation,
        fill,
      );
    case 'Rotate':
      if (((magnitude % 360) + 360) % 360 === 0) return img;
      return affineTransform(img, rotateMatrix(w, h, magnitude), interpolation, fill);
    case 'Brightness':
      return adjustBrightness(img, 1 + magnitude);
    case 'Color':
      return adjustSaturation(img, 1 + magnitude);
    case 'Contrast':
      return adjustContrast(img, 1 + magnitude);
    case 'Sharpness':
      return adjustSharpness(img, 1 + magnitude);
    case 'Posterize':
      return posterize(img, Math.trunc(magnitude));
    case 'Solarize':
      return solarize(img, magnitude);
    case 'AutoContrast':
      return autocontrast(img);
    case 'Equalize':
      return equalize(img);
  }
}

/** TrivialAugmentWide.forward: draw, then apply. */
export function trivialAugmentWide(
  img: RgbImage,
  rng: { randint(lo: number, hi: number): number },
  interpolation: AffineInterpolation = 'bilinear',
): RgbImage {
  const { op, magnitude } = taWideParams(rng);
  return applyTaOp(img, op, magnitude, interpolation);
}
