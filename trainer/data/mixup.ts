/**
 * Mixup / CutMix on one per-worker batch, as torchvision's reference recipe applies them
 * (references/classification/transforms.py RandomMixup / RandomCutmix, chosen by a
 * RandomChoice over the enabled ones, each with p = 1.0).
 *
 * It runs on plain NHWC Float32Arrays before any tensor is made: the batch has already been
 * normalized and erased per image, and the result goes to the device in one upload.
 * Randomness comes from Ringmaster's Rng (torch's stream cannot be reproduced), drawn in
 * torchvision's order: transform choice, λ, then CutMix's centre x, centre y.
 */
import { InputError } from '../../common/errors.js';
import type { Rng } from '../rng.js';

export type MixKind = 'mixup' | 'cutmix' | 'none';

export interface MixupCutmixOptions {
  /** Beta(α, α) for Mixup; 0 disables it. */
  readonly mixupAlpha: number;
  /** Beta(α, α) for CutMix; 0 disables it. */
  readonly cutmixAlpha: number;
  /**
   * Overwrite `images` instead of returning a new array (saves a batch-sized allocation and
   * copy, ≈ half the time on a 128×176×176×3 batch). Default false.
   */
  readonly inPlace?: boolean;
}

export interface MixedBatch {
  /** B·H·W·C, NHWC. A new array, or the input itself with `inPlace`. */
  readonly images: Float32Array;
  /** B·numClasses soft targets (one-hot when nothing was applied). */
  readonly targets: Float32Array;
  readonly applied: MixKind;
  /** The weight of each sample's own label (1 when nothing was applied). */
  readonly lambda: number;
  /** The pasted box (CutMix only), end-exclusive: rows y1..y2-1, columns x1..x2-1. */
  readonly box?: CutmixBox;
}

export interface CutmixBox {
  readonly x1: number;
  readonly y1: number;
  readonly x2: number;
  readonly y2: number;
  /** 1 − box area / image area: the label weight after pasting. */
  readonly lambda: number;
}

/**
 * torchvision's CutMix box for a drawn λ and centre (rx in [0, W), ry in [0, H)):
 * half sizes trunc(0.5·√(1−λ)·W) and trunc(0.5·√(1−λ)·H), clamped to the image, and the
 * adjusted λ = 1 − area / (H·W). The box can be empty (λ = 1).
 */
export function cutmixBox(lambda: number, rx: number, ry: number, H: number, W: number): CutmixBox {
  const r = 0.5 * Math.sqrt(1 - lambda);
  const rwHalf = Math.trunc(r * W);
  const rhHalf = Math.trunc(r * H);
  const x1 = Math.max(rx - rwHalf, 0);
  const y1 = Math.max(ry - rhHalf, 0);
  const x2 = Math.min(rx + rwHalf, W);
  const y2 = Math.min(ry + rhHalf, H);
  return { x1, y1, x2, y2, lambda: 1 - ((x2 - x1) * (y2 - y1)) / (W * H) };
}

/** One-hot rows (B·numClasses) for integer labels. */
export function oneHotArray(labels: Int32Array, numClasses: number): Float32Array {
  const out = new Float32Array(labels.length * numClasses);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i]!;
    if (!(c >= 0 && c < numClasses))
      throw new InputError(`label ${c} of sample ${i} is outside 0..${numClasses - 1}`, [
        { path: `labels[${i}]`, message: 'out of range' },
      ]);
    out[i * numClasses + c] = 1;
  }
  return out;
}

/**
 * Mix each row with the previous one (row 0 with the last: torch's roll(1) along the batch):
 * out = λ·x + (1−λ)·x_paired. Both factors are rounded to float32 and each product and the sum
 * are rounded as torch's float32 kernels do, so the result is bit-identical for the same λ.
 * With `out === data` it works in place (rows from the last down, the last row saved first).
 */
export function mixRows(
  data: Float32Array,
  rows: number,
  lambda: number,
  out: Float32Array = new Float32Array(data.length),
): Float32Array {
  const n = data.length / rows;
  const lam = Math.fround(lambda);
  const rest = Math.fround(1 - lambda);
  const last = data.slice((rows - 1) * n, rows * n);
  for (let i = rows - 1; i >= 0; i--) {
    const own = i * n;
    const src = i === 0 ? last : data;
    const paired = i === 0 ? 0 : (i - 1) * n;
    for (let j = 0; j < n; j++)
      out[own + j] = Math.fround(lam * data[own + j]!) + Math.fround(rest * src[paired + j]!);
  }
  return out;
}

/**
 * Paste the box of each image's paired image (the previous one in the batch). Into a copy, or
 * into `images` itself with `inPlace` (images from the last down, the last one's box saved).
 */
export function pasteBox(
  images: Float32Array,
  B: number,
  H: number,
  W: number,
  C: number,
  box: CutmixBox,
  inPlace = false,
): Float32Array {
  const out = inPlace ? images : new Float32Array(images);
  const rowLen = (box.x2 - box.x1) * C;
  if (rowLen <= 0 || box.y2 <= box.y1 || B === 0) return out;
  const plane = H * W * C;
  const last = images.slice((B - 1) * plane, B * plane);
  for (let i = B - 1; i >= 0; i--) {
    const own = i * plane;
    const src = i === 0 ? last : images;
    const paired = i === 0 ? 0 : (i - 1) * plane;
    for (let y = box.y1; y < box.y2; y++) {
      const off = (y * W + box.x1) * C;
      out.set(src.subarray(paired + off, paired + off + rowLen), own + off);
    }
  }
  return out;
}

/**
 * The recipe's batch transform: with both enabled, Mixup or CutMix with probability ½ each;
 * with one enabled, that one on every batch; with none, one-hot targets and the images as
 * they were.
 */
export function mixupCutmix(
  images: Float32Array,
  labels: Int32Array,
  numClasses: number,
  opts: MixupCutmixOptions,
  rng: Rng,
  H: number,
  W: number,
  C: number,
): MixedBatch {
  const B = labels.length;
  if (images.length !== B * H * W * C)
    throw new InputError(
      `mixup: images hold ${images.length} values, expected B·H·W·C = ${B}·${H}·${W}·${C}`,
      [{ path: 'images', message: 'size does not match the batch' }],
    );
  if (!(opts.mixupAlpha >= 0) || !(opts.cutmixAlpha >= 0))
    throw new InputError('mixup: alphas must be ≥ 0 (0 disables)', [
      { path: opts.mixupAlpha >= 0 ? 'cutmixAlpha' : 'mixupAlpha', message: 'must be ≥ 0' },
    ]);
  const oneHot = oneHotArray(labels, numClasses);
  const enabled: Array<'mixup' | 'cutmix'> = [];
  if (opts.mixupAlpha > 0) enabled.push('mixup');
  if (opts.cutmixAlpha > 0) enabled.push('cutmix');
  const inPlace = opts.inPlace ?? false;
  if (enabled.length === 0 || B === 0)
    return {
      images: inPlace ? images : new Float32Array(images),
      targets: oneHot,
      applied: 'none',
      lambda: 1,
    };

  const kind = enabled.length === 1 ? enabled[0]! : enabled[rng.randint(0, enabled.length)]!;
  if (kind === 'mixup') {
    const lambda = rng.beta(opts.mixupAlpha, opts.mixupAlpha);
    return {
      images: mixRows(images, B, lambda, inPlace ? images : undefined),
      targets: mixRows(oneHot, B, lambda),
      applied: 'mixup',
      lambda,
    };
  }
  const drawn = rng.beta(opts.cutmixAlpha, opts.cutmixAlpha);
  const rx = rng.randint(0, W);
  const ry = rng.randint(0, H);
  const box = cutmixBox(drawn, rx, ry, H, W);
  return {
    images: pasteBox(images, B, H, W, C, box, inPlace),
    targets: mixRows(oneHot, B, box.lambda),
    applied: 'cutmix',
    lambda: box.lambda,
    box,
  };
}
