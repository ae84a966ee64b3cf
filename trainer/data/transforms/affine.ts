/**
 * Geometric ops as torchvision's PIL backend runs them: torchvision builds the inverse
 * affine matrix (output pixel → input position, `_get_inverse_affine_matrix`) and PIL's
 * `Image.transform(AFFINE)` samples the input at a[0..5]·(x + ½, y + ½, 1). With BILINEAR
 * PIL clamps the 2×2 neighbourhood at the borders, truncates (not rounds) the result to
 * 8 bits, and leaves the fill colour wherever the sample point falls outside the image.
 */
import { allocImage, type RgbImage } from './image.js';

export type AffineMatrix = readonly [number, number, number, number, number, number];
export type AffineInterpolation = 'bilinear' | 'nearest';

// As CPython: math.radians multiplies by the constant pi/180.
const DEG_TO_RAD = Math.PI / 180;
const rad = (deg: number) => deg * DEG_TO_RAD;

/**
 * torchvision.transforms.functional._get_inverse_affine_matrix (inverted = true): the
 * matrix PIL wants, for rotation `angle` and shear (sx, sy) in degrees about `center`.
 */
export function inverseAffineMatrix(
  center: readonly [number, number],
  angle: number,
  translate: readonly [number, number],
  scale: number,
  shear: readonly [number, number],
): AffineMatrix {
  const rot = rad(angle);
  const sx = rad(shear[0]);
  const sy = rad(shear[1]);
  const [cx, cy] = center;
  const [tx, ty] = translate;
  const a = Math.cos(rot - sy) / Math.cos(sy);
  const b = (-Math.cos(rot - sy) * Math.tan(sx)) / Math.cos(sy) - Math.sin(rot);
  const c = Math.sin(rot - sy) / Math.cos(sy);
  const d = (-Math.sin(rot - sy) * Math.tan(sx)) / Math.cos(sy) + Math.cos(rot);
  const m = [d, -b, 0, -c, a, 0].map((v) => v / scale) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

/** Python's round(x, 15), which PIL applies to cos/sin in Image.rotate. */
function round15(x: number): number {
  return Number(x.toFixed(15));
}

/** PIL's Image.rotate(angle) matrix (no expand, default centre, no translate). */
export function rotateMatrix(width: number, height: number, angle: number): AffineMatrix {
  const cx = width / 2;
  const cy = height / 2;
  const t = -rad(angle);
  const m: [number, number, number, number, number, number] = [
    round15(Math.cos(t)),
    round15(Math.sin(t)),
    0,
    round15(-Math.sin(t)),
    round15(Math.cos(t)),
    0,
  ];
  m[2] = m[0] * -cx + m[1] * -cy + cx;
  m[5] = m[3] * -cx + m[4] * -cy + cy;
  return m;
}

/** PIL's Image.transform(size, AFFINE, matrix, resample, fillcolor=fill), same output size. */
export function affineTransform(
  img: RgbImage,
  m: AffineMatrix,
  interpolation: AffineInterpolation,
  fill: readonly [number, number, number] = [0, 0, 0],
): RgbImage {
  const { width: W, height: H, data: src } = img;
  const out = allocImage(W, H);
  const dst = out.data;
  const [a0, a1, a2, a3, a4, a5] = m;
  const stride = W * 3;
  let o = 0;
  for (let y = 0; y < H; y++) {
    const yc = y + 0.5;
    for (let x = 0; x < W; x++, o += 3) {
      const xc = x + 0.5;
      let xin = a0 * xc + a1 * yc + a2;
      let yin = a3 * xc + a4 * yc + a5;
      if (!(xin >= 0 && xin < W && yin >= 0 && yin < H)) {
        dst[o] = fill[0];
        dst[o + 1] = fill[1];
        dst[o + 2] = fill[2];
        continue;
      }
      if (interpolation === 'nearest') {
        const p = Math.trunc(yin) * stride + Math.trunc(xin) * 3;
        dst[o] = src[p]!;
        dst[o + 1] = src[p + 1]!;
        dst[o + 2] = src[p + 2]!;
        continue;
      }
      xin -= 0.5;
      yin -= 0.5;
      const xi = Math.floor(xin);
      const yi = Math.floor(yin);
      const dx = xin - xi;
      const dy = yin - yi;
      const x0 = (xi < 0 ? 0 : xi) * 3;
      const x1 = (xi + 1 < W ? xi + 1 : W - 1) * 3;
      const r0 = (yi < 0 ? 0 : yi) * stride;
      const hasY1 = yi + 1 >= 0 && yi + 1 < H;
      const r1 = hasY1 ? (yi + 1) * stride : r0;
      for (let c = 0; c < 3; c++) {
        const p00 = src[r0 + x0 + c]!;
        const v1 = p00 + (src[r0 + x1 + c]! - p00) * dx;
        const p10 = src[r1 + x0 + c]!;
        const v2 = hasY1 ? p10 + (src[r1 + x1 + c]! - p10) * dx : v1;
        dst[o + c] = Math.trunc(v1 + (v2 - v1) * dy);
      }
    }
  }
  return out;
}
