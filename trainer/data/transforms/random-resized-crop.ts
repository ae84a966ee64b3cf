/**
 * RandomResizedCrop, split as torchvision splits it: `rrcParams` is `get_params` (the draw),
 * `randomResizedCrop` is `F.resized_crop` on the PIL backend (integer crop, then PIL's
 * antialiased resize of the crop).
 */
import { roundHalfEven, type RgbImage } from './image.js';
import { resize, type CropBox, type Interpolation } from './resample.js';

export interface RrcRng {
  uniform(lo: number, hi: number): number;
  randint(lo: number, hi: number): number;
}

export const RRC_SCALE: readonly [number, number] = [0.08, 1.0];
export const RRC_RATIO: readonly [number, number] = [3 / 4, 4 / 3];

/**
 * RandomResizedCrop.get_params: up to 10 tries of a target area U(scale)·W·H and a
 * log-uniform aspect ratio; w = round(√(area·r)), h = round(√(area/r)) (half to even);
 * accepted when 0 < w ≤ W and 0 < h ≤ H, then a uniform top-left. Otherwise a central
 * crop with the ratio clamped into range.
 */
export function rrcParams(
  width: number,
  height: number,
  rng: RrcRng,
  scale: readonly [number, number] = RRC_SCALE,
  ratio: readonly [number, number] = RRC_RATIO,
): CropBox & { readonly fallback: boolean } {
  const area = width * height;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.randint(0, height - h + 1);
      const left = rng.randint(0, width - w + 1);
      return { top, left, height: h, width: w, fallback: false };
    }
  }
  const inRatio = width / height;
  const rMin = Math.min(ratio[0], ratio[1]);
  const rMax = Math.max(ratio[0], ratio[1]);
  let w: number;
  let h: number;
  if (inRatio < rMin) {
    w = width;
    h = roundHalfEven(w / rMin);
  } else if (inRatio > rMax) {
    h = height;
    w = roundHalfEven(h * rMax);
  } else {
    w = width;
    h = height;
  }
  return {
    top: Math.floor((height - h) / 2),
    left: Math.floor((width - w) / 2),
    height: h,
    width: w,
    fallback: true,
  };
}

/** F.resized_crop(img, top, left, height, width, [size, size], interpolation, antialias=True). */
export function randomResizedCrop(
  img: RgbImage,
  box: CropBox,
  size: number | readonly [number, number],
  interpolation: Interpolation = 'bilinear',
): RgbImage {
  const [outH, outW] = typeof size === 'number' ? [size, size] : size;
  return resize(img, outW, outH, interpolation, box);
}
