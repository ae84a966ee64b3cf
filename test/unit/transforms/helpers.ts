import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { RgbImage } from '../../../trainer/data/transforms/image.js';

const here = dirname(fileURLToPath(import.meta.url));
export const IMAGES = join(here, '..', '..', 'fixtures', 'images');
export const ORACLE = join(here, '..', '..', 'fixtures', 'oracle', 'transforms');

/** Lossless decode of a committed PNG (or any image) to RGB. */
export async function loadRgb(path: string): Promise<RgbImage> {
  const { data, info } = await sharp(path)
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 };
}

export async function loadF32(path: string): Promise<Float32Array> {
  const buf = await readFile(path);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

export interface Diff {
  maxAbs: number;
  meanAbs: number;
  /** Fraction of values that differ at all. */
  fracDiff: number;
}

export function diff(a: ArrayLike<number>, b: ArrayLike<number>): Diff {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  let sum = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d > max) max = d;
    sum += d;
    if (d !== 0) n++;
  }
  return { maxAbs: max, meanAbs: sum / a.length, fracDiff: n / a.length };
}

export async function loadManifest(): Promise<OracleManifest> {
  return JSON.parse(await readFile(join(ORACLE, 'manifest.json'), 'utf8')) as OracleManifest;
}

export interface Box {
  top: number;
  left: number;
  height: number;
  width: number;
}

export interface OracleManifest {
  torchvision: string;
  taSpace: Record<string, { magnitudes: number[] | null; signed: boolean }>;
  ta: Array<{
    image: string;
    op: string;
    magnitude: number;
    interpolation?: 'bilinear' | 'bicubic';
    output: string;
  }>;
  rrc: Array<{
    image: string;
    box: Box;
    size: number;
    interpolation: 'bilinear' | 'bicubic' | 'nearest';
    output: string;
  }>;
  eval: Array<{
    image: string;
    resizeSize: number;
    cropSize: number;
    output: string;
    tensor: string | null;
  }>;
  normalized: string;
  erase: Array<{ image: string; box: Box; tensor: string }>;
  drawStats: {
    rrc: Array<{
      width: number;
      height: number;
      n: number;
      meanW: number;
      meanH: number;
      stdW: number;
      stdH: number;
      meanArea: number;
      fullFrac: number;
    }>;
    erase: Array<{
      width: number;
      height: number;
      n: number;
      meanW: number;
      meanH: number;
      stdW: number;
      stdH: number;
      missFrac: number;
    }>;
  };
}
