/**
 * PILToTensor → ConvertImageDtype(float) → Normalize(mean, std), fused: x/255 in float32,
 * minus mean, over std. There are only 256 inputs per channel, so a lookup table computes
 * each once with torch's float32 steps and the image pass is a table read per value.
 */
import type { RgbImage } from './image.js';
import { normalizeSimd } from './resample-simd.js';

export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

const f32 = Math.fround;
const lutCache = new Map<string, Float32Array>();

/** 3 × 256 table: value v of channel c → ((v/255) − mean_c) / std_c in float32. */
export function normalizeLut(
  mean: readonly [number, number, number],
  std: readonly [number, number, number],
): Float32Array {
  const key = `${mean.join(',')}/${std.join(',')}`;
  let lut = lutCache.get(key);
  if (!lut) {
    lut = new Float32Array(768);
    for (let c = 0; c < 3; c++) {
      for (let v = 0; v < 256; v++) {
        lut[c * 256 + v] = f32(f32(f32(v / 255) - f32(mean[c]!)) / f32(std[c]!));
      }
    }
    lutCache.set(key, lut);
  }
  return lut;
}

/** The normalized HWC float32 tensor of an RGB image. */
export function normalize(
  img: RgbImage,
  mean: readonly [number, number, number] = IMAGENET_MEAN,
  std: readonly [number, number, number] = IMAGENET_STD,
): Float32Array {
  const simd = normalizeSimd(img, mean, std);
  if (simd) return simd;
  return normalizeJs(img, mean, std);
}

/** The lookup-table version (no WebAssembly SIMD; also the reference in tests). */
export function normalizeJs(
  img: RgbImage,
  mean: readonly [number, number, number] = IMAGENET_MEAN,
  std: readonly [number, number, number] = IMAGENET_STD,
): Float32Array {
  const lut = normalizeLut(mean, std);
  const s = img.data;
  const out = new Float32Array(s.length);
  for (let i = 0; i < s.length; i += 3) {
    out[i] = lut[s[i]!]!;
    out[i + 1] = lut[256 + s[i + 1]!]!;
    out[i + 2] = lut[512 + s[i + 2]!]!;
  }
  return out;
}

/** The inverse, for display (contact sheets): back to 8-bit RGB, clamped. */
export function denormalize(
  data: Float32Array,
  width: number,
  height: number,
  mean: readonly [number, number, number] = IMAGENET_MEAN,
  std: readonly [number, number, number] = IMAGENET_STD,
): RgbImage {
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < out.length; i++) {
    const c = i % 3;
    const v = Math.round((data[i]! * std[c]! + mean[c]!) * 255);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return { data: out, width, height, channels: 3 };
}
