import { allocImage, type RgbImage } from './image.js';

/** Mirror left–right (RandomHorizontalFlip's op; PIL's FLIP_LEFT_RIGHT). */
export function hflip(img: RgbImage): RgbImage {
  const { width: w, height: h, data: src } = img;
  const out = allocImage(w, h);
  const dst = out.data;
  for (let y = 0; y < h; y++) {
    const row = y * w * 3;
    for (let x = 0, xr = (w - 1) * 3; x < w * 3; x += 3, xr -= 3) {
      dst[row + xr] = src[row + x]!;
      dst[row + xr + 1] = src[row + x + 1]!;
      dst[row + xr + 2] = src[row + x + 2]!;
    }
  }
  return out;
}

/** RandomHorizontalFlip(p): one Bernoulli draw from `rng` decides. */
export function flipParams(rng: { random(): number }, p: number): boolean {
  return rng.random() < p;
}
