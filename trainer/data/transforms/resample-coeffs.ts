/**
 * Pillow's resampling coefficients (Resample.c `precompute_coeffs` + `normalize_coeffs_8bpc`):
 * per output pixel the first source index and tap count, and 22-bit fixed-point weights
 * normalized to sum to one. Shared by the JavaScript and WebAssembly passes.
 */
export type Interpolation = 'bilinear' | 'bicubic' | 'nearest';

export const PRECISION_BITS = 32 - 8 - 2;
const ONE = 1 << PRECISION_BITS;
export const HALF = 1 << (PRECISION_BITS - 1);

function bilinearFilter(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

function bicubicFilter(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

export interface Coeffs {
  readonly ksize: number;
  /** Per output pixel: first source index (relative to the crop) and tap count. */
  readonly bounds: Int32Array;
  /** outSize × ksize fixed-point weights. */
  readonly kk: Int32Array;
  /**
   * The same weights laid out with exactly ksize taps per output (zeros padded in, the start
   * moved left where needed), so the horizontal pass can run fixed-length straight-line code.
   * Null when the input is narrower than ksize.
   */
  readonly padStart: Int32Array | null;
  readonly padKk: Int32Array | null;
}

const coeffCache = new Map<string, Coeffs>();

export function precomputeCoeffs(
  inSize: number,
  outSize: number,
  interpolation: Interpolation,
  in0 = 0,
  in1 = inSize,
): Coeffs {
  const key = `${interpolation}:${inSize}:${outSize}:${in0}:${in1}`;
  const cached = coeffCache.get(key);
  if (cached) return cached;
  const filter = interpolation === 'bicubic' ? bicubicFilter : bilinearFilter;
  const baseSupport = interpolation === 'bicubic' ? 2 : 1;
  // [in0, in1) is the sampled window (Pillow's float `box`); taps are clamped to [0, inSize).
  const scale = (in1 - in0) / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = baseSupport * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    // C's (int) cast truncates toward zero, as here.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < ksize; x++) {
      const v = x < xmax && ww !== 0 ? k[x]! / ww : x < xmax ? k[x]! : 0;
      kk[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  let padStart: Int32Array | null = null;
  let padKk: Int32Array | null = null;
  if (inSize >= ksize) {
    padStart = new Int32Array(outSize);
    padKk = new Int32Array(outSize * ksize);
    for (let xx = 0; xx < outSize; xx++) {
      const xmin = bounds[xx * 2]!;
      const xmax = bounds[xx * 2 + 1]!;
      const start = Math.min(xmin, inSize - ksize);
      padStart[xx] = start;
      for (let x = 0; x < xmax; x++) padKk[xx * ksize + (xmin - start) + x] = kk[xx * ksize + x]!;
    }
  }
  const out = { ksize, bounds, kk, padStart, padKk };
  if (coeffCache.size > 4096) coeffCache.clear();
  coeffCache.set(key, out);
  return out;
}
