/**
 * RandomErasing (torchvision.transforms.RandomErasing, value 0) on the normalized HWC
 * tensor: with probability p, up to 10 tries of an area U(scale)·H·W and a log-uniform
 * ratio; h = round(√(a·r)), w = round(√(a/r)); accepted when h < H and w < W, then a uniform
 * top-left. Ten misses erase nothing. The box is set to `value` in every channel (0 = the
 * mean colour after normalization).
 */
import { roundHalfEven } from './image.js';
import type { CropBox } from './resample.js';

export interface ErasingRng {
  random(): number;
  uniform(lo: number, hi: number): number;
  randint(lo: number, hi: number): number;
}

export const ERASE_SCALE: readonly [number, number] = [0.02, 0.33];
export const ERASE_RATIO: readonly [number, number] = [0.3, 3.3];

/** RandomErasing.get_params: the box, or null when all ten tries missed. */
export function erasingBox(
  height: number,
  width: number,
  rng: Pick<ErasingRng, 'uniform' | 'randint'>,
  scale: readonly [number, number] = ERASE_SCALE,
  ratio: readonly [number, number] = ERASE_RATIO,
): CropBox | null {
  const area = height * width;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const eraseArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const h = roundHalfEven(Math.sqrt(eraseArea * aspect));
    const w = roundHalfEven(Math.sqrt(eraseArea / aspect));
    if (!(h < height && w < width)) continue;
    const top = rng.randint(0, height - h + 1);
    const left = rng.randint(0, width - w + 1);
    return { top, left, height: h, width: w };
  }
  return null;
}

/** RandomErasing.forward's draw: first the Bernoulli(p), then the box. */
export function erasingParams(
  height: number,
  width: number,
  rng: ErasingRng,
  p: number,
): CropBox | null {
  if (!(rng.random() < p)) return null;
  return erasingBox(height, width, rng);
}

/** F.erase on an HWC float tensor, in place. */
export function erase(
  data: Float32Array,
  height: number,
  width: number,
  channels: number,
  box: CropBox,
  value = 0,
): void {
  if (
    box.top < 0 ||
    box.left < 0 ||
    box.top + box.height > height ||
    box.left + box.width > width
  ) {
    throw new RangeError('erase: box outside the image');
  }
  for (let y = box.top; y < box.top + box.height; y++) {
    const start = (y * width + box.left) * channels;
    data.fill(value, start, start + box.width * channels);
  }
}
