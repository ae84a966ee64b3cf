/**
 * A synthetic image-classification dataset for the local demo and fast tests: ten classes of
 * shapes drawn with random colour, size, position, rotation and line width on noisy, shaded
 * backgrounds, encoded as JPEG. Learnable (the shape decides the class) but not trivially
 * (colour, position and background carry no label information; JPEG and noise blur edges).
 * Deterministic: image i of a split is a function of (seed, split, i) only.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../rng.js';
import type { Storage } from '../../common/storage/storage.js';
import {
  packSamples,
  sampleKey,
  type PackOptions,
  type PackResult,
  type PackSample,
} from './pack.js';

/** Sorted, so an ImageFolder of these folders gets labels in this order. */
export const SHAPE_CLASSES = [
  'checker',
  'circle',
  'cross',
  'diamond',
  'frame',
  'ring',
  'square',
  'stripes',
  'triangle',
  'xcross',
] as const;

export interface SyntheticOptions {
  train?: number;
  val?: number;
  /** Image side in pixels. */
  size?: number;
  seed?: number;
  /** JPEG quality. */
  quality?: number;
}

/**
 * Bumped whenever the rendering changes, so caches of generated datasets are never stale
 * (it is part of the cache directory's name).
 */
export const SYNTHETIC_VERSION = 3;

export const SYNTHETIC_DEFAULTS = {
  train: 2000,
  val: 500,
  size: 64,
  seed: 0,
  quality: 90,
} as const;

const SPLIT_STREAM = { train: 1, val: 2 } as const;

/** Renders image `i` of a split: raw RGB bytes, side × side × 3. */
export function renderShape(label: number, side: number, rng: Rng): Uint8Array {
  const px = new Uint8Array(side * side * 3);
  // Background: a gentle linear gradient around a random dark colour plus per-pixel noise.
  // The shape is always the brighter of the two: with both polarities a small network needs
  // several times more steps to learn the shapes (measured against PyTorch), too many for a
  // demo on two cores.
  const bg0 = [rng.uniform(0, 110), rng.uniform(0, 110), rng.uniform(0, 110)];
  const bg1 = bg0.map((c) => Math.max(0, Math.min(255, c + rng.uniform(-50, 50))));
  const gAngle = rng.uniform(0, 2 * Math.PI);
  const noise = rng.uniform(3, 15);
  // Foreground: a bright colour far enough from the background everywhere to be visible.
  let fg: number[];
  do fg = [rng.uniform(150, 255), rng.uniform(150, 255), rng.uniform(150, 255)];
  while (
    Math.hypot(
      fg[0]! - (bg0[0]! + bg1[0]!) / 2,
      fg[1]! - (bg0[1]! + bg1[1]!) / 2,
      fg[2]! - (bg0[2]! + bg1[2]!) / 2,
    ) < 130
  );
  const r = side * rng.uniform(0.22, 0.38); // shape "radius"
  const cx = rng.uniform(r, side - r);
  const cy = rng.uniform(r, side - r);
  const rot = rng.uniform(-0.35, 0.35);
  const lw = r * rng.uniform(0.25, 0.4); // line width of outline shapes
  const period = r * rng.uniform(0.35, 0.6);
  const stripeAngle = rng.uniform(0, Math.PI);
  const cos = Math.cos(rot);
  const sin = Math.sin(rot);
  const inside = (x: number, y: number): boolean => {
    const dx = x - cx;
    const dy = y - cy;
    const u = cos * dx + sin * dy; // rotated frame
    const v = -sin * dx + cos * dy;
    const d = Math.hypot(dx, dy);
    switch (SHAPE_CLASSES[label]) {
      case 'circle':
        return d <= r;
      case 'ring':
        return d <= r && d >= r - lw;
      case 'square':
        return Math.abs(u) <= r * 0.85 && Math.abs(v) <= r * 0.85;
      case 'frame':
        return (
          Math.max(Math.abs(u), Math.abs(v)) <= r * 0.85 &&
          Math.max(Math.abs(u), Math.abs(v)) >= r * 0.85 - lw
        );
      case 'diamond':
        return Math.abs(u) + Math.abs(v) <= r;
      case 'triangle':
        // Apex up at v = −r, base at v = r/2: an equilateral triangle inscribed in radius r.
        return v >= -r && v <= r / 2 && Math.abs(u) <= ((v + r) / (1.5 * r)) * r * 0.866;
      case 'cross':
        return (
          (Math.abs(u) <= lw / 2 && Math.abs(v) <= r) || (Math.abs(v) <= lw / 2 && Math.abs(u) <= r)
        );
      case 'xcross': {
        const a = (u + v) / Math.SQRT2;
        const b = (u - v) / Math.SQRT2;
        return (
          (Math.abs(a) <= lw / 2 && Math.abs(b) <= r) || (Math.abs(b) <= lw / 2 && Math.abs(a) <= r)
        );
      }
      case 'stripes': {
        if (d > r) return false;
        const t = Math.cos(stripeAngle) * dx + Math.sin(stripeAngle) * dy;
        return ((Math.floor(t / period) % 2) + 2) % 2 === 0;
      }
      case 'checker': {
        if (Math.abs(u) > r * 0.85 || Math.abs(v) > r * 0.85) return false;
        const q = (r * 1.7) / 4;
        return (Math.floor((u + r) / q) + Math.floor((v + r) / q)) % 2 === 0;
      }
      default:
        return false;
    }
  };
  const gx = Math.cos(gAngle);
  const gy = Math.sin(gAngle);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const t = Math.min(1, Math.max(0, 0.5 + ((x / side - 0.5) * gx + (y / side - 0.5) * gy)));
      const on = inside(x + 0.5, y + 0.5);
      for (let c = 0; c < 3; c++) {
        const base = on ? fg[c]! : bg0[c]! * (1 - t) + bg1[c]! * t;
        px[(y * side + x) * 3 + c] = Math.max(
          0,
          Math.min(255, Math.round(base + rng.normal(0, noise))),
        );
      }
    }
  }
  return px;
}

export interface GeneratedImage {
  label: number;
  /** File name inside the class folder. */
  file: string;
  jpeg: Buffer;
}

/** The images of one split, in ImageFolder order (class, then file name). */
export async function generateSplit(
  split: 'train' | 'val',
  opts: SyntheticOptions = {},
): Promise<GeneratedImage[]> {
  const o = { ...SYNTHETIC_DEFAULTS, ...opts };
  const n = split === 'train' ? o.train : o.val;
  const out: GeneratedImage[] = [];
  for (let i = 0; i < n; i++) {
    const label = i % SHAPE_CLASSES.length;
    const raw = renderShape(label, o.size, new Rng(o.seed, SPLIT_STREAM[split], i));
    const jpeg = await sharp(raw, { raw: { width: o.size, height: o.size, channels: 3 } })
      .jpeg({ quality: o.quality })
      .toBuffer();
    out.push({ label, file: `${String(i).padStart(6, '0')}.jpg`, jpeg });
  }
  return out.sort((a, b) => a.label - b.label || (a.file < b.file ? -1 : 1));
}

/** Writes `<dest>/<split>/<class>/<file>.jpg` for both splits. */
export async function writeSyntheticImageFolder(
  dest: string,
  opts: SyntheticOptions = {},
): Promise<void> {
  for (const split of ['train', 'val'] as const) {
    for (const c of SHAPE_CLASSES) await fs.mkdir(path.join(dest, split, c), { recursive: true });
    for (const img of await generateSplit(split, opts)) {
      await fs.writeFile(path.join(dest, split, SHAPE_CLASSES[img.label]!, img.file), img.jpeg);
    }
  }
}

/** Packs one generated split straight into shards + index.json on `dest`. */
export async function packSynthetic(
  split: 'train' | 'val',
  dest: Storage,
  opts: SyntheticOptions = {},
  pack: Partial<PackOptions> = {},
): Promise<PackResult> {
  const images = await generateSplit(split, opts);
  const samples: PackSample[] = images.map((img, i) => ({
    key: sampleKey(i, img.file),
    label: img.label,
    ext: 'jpg',
    size: img.jpeg.length,
    read: async () => img.jpeg,
  }));
  return packSamples(SHAPE_CLASSES, samples, dest, { samplesPerShard: 1000, ...pack, split });
}
