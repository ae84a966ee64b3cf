/**
 * The photometric TrivialAugmentWide ops as Pillow computes them (torchvision's PIL backend
 * calls ImageEnhance and ImageOps). ImageEnhance.* is `Image.blend(degenerate, image, f)`,
 * and Blend.c works in single precision with a C float factor and truncates to 8 bits
 * (clamping only when extrapolating, f > 1); Math.fround reproduces that arithmetic.
 */
import { allocImage, type RgbImage } from './image.js';
import { lut3Wasm } from './resample-simd.js';

const f32 = Math.fround;

/** One channel of Image.blend(in1 = degenerate, in2 = image, alpha). */
function blendValue(d: number, v: number, alpha: number, extrapolate: boolean): number {
  const t = f32(d + f32(alpha * (v - d)));
  if (!extrapolate) return Math.trunc(t);
  return t <= 0 ? 0 : t >= 255 ? 255 : Math.trunc(t);
}

function blendLut(degenerate: number, factor: number): Uint8Array {
  const alpha = f32(factor);
  const extrapolate = !(alpha >= 0 && alpha <= 1);
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = blendValue(degenerate, v, alpha, extrapolate);
  return lut;
}

function applyLut(img: RgbImage, lut0: Uint8Array, lut1 = lut0, lut2 = lut0): RgbImage {
  return lut3Wasm(img, lut0, lut1, lut2) ?? applyLutJs(img, lut0, lut1, lut2);
}

export function applyLutJs(img: RgbImage, lut0: Uint8Array, lut1 = lut0, lut2 = lut0): RgbImage {
  const out = allocImage(img.width, img.height);
  const s = img.data;
  const d = out.data;
  for (let i = 0; i < s.length; i += 3) {
    d[i] = lut0[s[i]!]!;
    d[i + 1] = lut1[s[i + 1]!]!;
    d[i + 2] = lut2[s[i + 2]!]!;
  }
  return out;
}

/** Pillow's RGB → L: ITU-R 601-2 luma in 16-bit fixed point, rounded. */
export function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
}

function blendImages(degenerate: RgbImage, img: RgbImage, factor: number): RgbImage {
  const alpha = f32(factor);
  if (alpha === 0) return { ...degenerate, data: degenerate.data.slice() };
  if (alpha === 1) return { ...img, data: img.data.slice() };
  const extrapolate = !(alpha >= 0 && alpha <= 1);
  const out = allocImage(img.width, img.height);
  const a = degenerate.data;
  const b = img.data;
  const o = out.data;
  for (let i = 0; i < b.length; i++) o[i] = blendValue(a[i]!, b[i]!, alpha, extrapolate);
  return out;
}

/** ImageEnhance.Brightness: blend with black. */
export function adjustBrightness(img: RgbImage, factor: number): RgbImage {
  if (f32(factor) === 1) return { ...img, data: img.data.slice() };
  return applyLut(img, blendLut(0, factor));
}

/** ImageEnhance.Color (saturation): blend with the image's grayscale (L, back to RGB). */
export function adjustSaturation(img: RgbImage, factor: number): RgbImage {
  const alpha = f32(factor);
  if (alpha === 1) return { ...img, data: img.data.slice() };
  const extrapolate = !(alpha >= 0 && alpha <= 1);
  const out = allocImage(img.width, img.height);
  const s = img.data;
  const o = out.data;
  for (let i = 0; i < s.length; i += 3) {
    const l = luma(s[i]!, s[i + 1]!, s[i + 2]!);
    o[i] = blendValue(l, s[i]!, alpha, extrapolate);
    o[i + 1] = blendValue(l, s[i + 1]!, alpha, extrapolate);
    o[i + 2] = blendValue(l, s[i + 2]!, alpha, extrapolate);
  }
  return out;
}

/** ImageEnhance.Contrast: blend with a flat image at the rounded mean of the luma. */
export function adjustContrast(img: RgbImage, factor: number): RgbImage {
  const s = img.data;
  let sum = 0;
  for (let i = 0; i < s.length; i += 3) sum += luma(s[i]!, s[i + 1]!, s[i + 2]!);
  const mean = Math.trunc(sum / (img.width * img.height) + 0.5);
  if (f32(factor) === 1) return { ...img, data: img.data.slice() };
  return applyLut(img, blendLut(mean, factor));
}

/**
 * ImageFilter.SMOOTH, as ImagingFilter3x3 applies it: kernel [[1,1,1],[1,5,1],[1,1,1]]/13
 * in single precision plus ½, truncated; the one-pixel border is copied unchanged.
 * The sum is taken in double precision, which differs from C's float sum by < 2e-4; only
 * when that could move the truncation (a sum that close to an integer) is the float
 * arithmetic replayed exactly.
 */
export function smooth(img: RgbImage): RgbImage {
  const { width: W, height: H, data: s } = img;
  const out = { ...img, data: s.slice() } as RgbImage;
  const o = out.data;
  const k1 = f32(1 / 13);
  const k5 = f32(5 / 13);
  const stride = W * 3;
  for (let y = 1; y < H - 1; y++) {
    const rowEnd = y * stride + (W - 1) * 3;
    for (let p = y * stride + 3; p < rowEnd; p++) {
      const up = p - stride;
      const dn = p + stride;
      const ring =
        s[dn - 3]! + s[dn]! + s[dn + 3]! + s[p - 3]! + s[p + 3]! + s[up - 3]! + s[up]! + s[up + 3]!;
      const ss = 0.5 + ring * k1 + s[p]! * k5;
      const frac = ss - Math.floor(ss);
      if (frac > 2e-4 && frac < 1 - 2e-4) {
        o[p] = ss >= 255 ? 255 : ss;
        continue;
      }
      // Same summation order as the C macro: the row below, this row, the row above.
      let e = 0.5;
      e = f32(e + f32(f32(f32(s[dn - 3]! * k1) + f32(s[dn]! * k1)) + f32(s[dn + 3]! * k1)));
      e = f32(e + f32(f32(f32(s[p - 3]! * k1) + f32(s[p]! * k5)) + f32(s[p + 3]! * k1)));
      e = f32(e + f32(f32(f32(s[up - 3]! * k1) + f32(s[up]! * k1)) + f32(s[up + 3]! * k1)));
      o[p] = e <= 0 ? 0 : e >= 255 ? 255 : Math.trunc(e);
    }
  }
  return out;
}

/** ImageEnhance.Sharpness: blend with the SMOOTH-filtered image. */
export function adjustSharpness(img: RgbImage, factor: number): RgbImage {
  if (f32(factor) === 1) return { ...img, data: img.data.slice() };
  return blendImages(smooth(img), img, factor);
}

/** ImageOps.posterize: keep the top `bits` bits of each channel. */
export function posterize(img: RgbImage, bits: number): RgbImage {
  if (!(bits >= 1 && bits <= 8) || !Number.isInteger(bits)) {
    throw new RangeError(`posterize: bits must be an integer in 1..8, got ${bits}`);
  }
  const mask = ~(2 ** (8 - bits) - 1) & 0xff;
  const lut = new Uint8Array(256);
  for (let i = 0; i < 256; i++) lut[i] = i & mask;
  return applyLut(img, lut);
}

/** ImageOps.solarize: invert every value ≥ threshold. */
export function solarize(img: RgbImage, threshold: number): RgbImage {
  const lut = new Uint8Array(256);
  for (let i = 0; i < 256; i++) lut[i] = i < threshold ? i : 255 - i;
  return applyLut(img, lut);
}

function histograms(img: RgbImage): [Uint32Array, Uint32Array, Uint32Array] {
  const h: [Uint32Array, Uint32Array, Uint32Array] = [
    new Uint32Array(256),
    new Uint32Array(256),
    new Uint32Array(256),
  ];
  const s = img.data;
  for (let i = 0; i < s.length; i += 3) {
    h[0][s[i]!]!++;
    h[1][s[i + 1]!]!++;
    h[2][s[i + 2]!]!++;
  }
  return h;
}

/** ImageOps.autocontrast (cutoff 0): stretch each channel's [min, max] to [0, 255]. */
export function autocontrast(img: RgbImage): RgbImage {
  const luts = histograms(img).map((h) => {
    const lut = new Uint8Array(256);
    let lo = 0;
    while (lo < 255 && h[lo] === 0) lo++;
    let hi = 255;
    while (hi > 0 && h[hi] === 0) hi--;
    if (hi <= lo) {
      for (let i = 0; i < 256; i++) lut[i] = i;
      return lut;
    }
    const scale = 255 / (hi - lo);
    const offset = -lo * scale;
    for (let i = 0; i < 256; i++) {
      const v = Math.trunc(i * scale + offset);
      lut[i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
    return lut;
  });
  return applyLut(img, luts[0]!, luts[1]!, luts[2]!);
}

/** ImageOps.equalize: per channel, Pillow's cumulative-histogram lookup table. */
export function equalize(img: RgbImage): RgbImage {
  const luts = histograms(img).map((h) => {
    const lut = new Uint8Array(256);
    let total = 0;
    let last = 0;
    let nonzero = 0;
    for (let i = 0; i < 256; i++) {
      if (h[i]! > 0) {
        total += h[i]!;
        last = h[i]!;
        nonzero++;
      }
    }
    const step = nonzero <= 1 ? 0 : Math.floor((total - last) / 255);
    if (step === 0) {
      for (let i = 0; i < 256; i++) lut[i] = i;
      return lut;
    }
    let n = Math.floor(step / 2);
    for (let i = 0; i < 256; i++) {
      const v = Math.floor(n / step);
      lut[i] = v > 255 ? 255 : v;
      n += h[i]!;
    }
    return lut;
  });
  return applyLut(img, luts[0]!, luts[1]!, luts[2]!);
}
