/**
 * Imports Fashion-MNIST from the IDX files of Debian's `dataset-fashion-mnist` package into an
 * ImageFolder tree or straight into shards. Images become 3-channel PNGs (lossless; the RGB
 * pipeline applies unchanged). Folder names carry the label index ("0-T-shirt_top", …) so
 * ImageFolder's sorted-folder labels equal Fashion-MNIST's own labels; the index's class
 * names are torchvision's FashionMNIST.classes. The test set becomes the "val" split.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import { InputError, NotFoundError } from '../../common/errors.js';
import type { Storage } from '../../common/storage/storage.js';
import {
  packSamples,
  sampleKey,
  type PackOptions,
  type PackResult,
  type PackSample,
} from './pack.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

export function folderName(label: number): string {
  return `${label}-${FASHION_MNIST_CLASSES[label]!.replace(/[/ ]/g, '_')}`;
}

export interface FashionMnistOptions {
  /** Directory of the *-idx*-ubyte(.gz) files. Default: the Debian package's. */
  sourceDir?: string;
  /** Keep only the first `limit` images of each split. */
  limit?: number;
}

export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  pixels: Uint8Array;
  labels: Uint8Array;
}

async function readIdx(dir: string, base: string): Promise<Buffer> {
  for (const name of [`${base}.gz`, base]) {
    const p = path.join(dir, name);
    try {
      const raw = await fs.readFile(p);
      return name.endsWith('.gz') ? gunzipSync(raw) : raw;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  throw new NotFoundError(
    `Fashion-MNIST file ${base}(.gz) not found in ${dir} (Debian: apt-get install dataset-fashion-mnist)`,
  );
}

/** Parses one split's IDX image and label files (big-endian headers, magic 2051 / 2049). */
export async function readFashionMnist(
  split: 'train' | 'val',
  opts: FashionMnistOptions = {},
): Promise<IdxImages> {
  const dir = opts.sourceDir ?? FASHION_MNIST_DIR;
  const stem = split === 'train' ? 'train' : 't10k';
  const img = await readIdx(dir, `${stem}-images-idx3-ubyte`);
  const lab = await readIdx(dir, `${stem}-labels-idx1-ubyte`);
  if (img.readUInt32BE(0) !== 2051 || lab.readUInt32BE(0) !== 2049) {
    throw new InputError(`not Fashion-MNIST IDX files in ${dir} (bad magic numbers)`);
  }
  const total = img.readUInt32BE(4);
  const rows = img.readUInt32BE(8);
  const cols = img.readUInt32BE(12);
  if (lab.readUInt32BE(4) !== total || img.length < 16 + total * rows * cols) {
    throw new InputError(
      `Fashion-MNIST ${split} files in ${dir} disagree on the image count or are truncated`,
    );
  }
  const count = Math.min(total, opts.limit ?? total);
  return {
    count,
    rows,
    cols,
    pixels: new Uint8Array(img.buffer, img.byteOffset + 16, count * rows * cols),
    labels: new Uint8Array(lab.buffer, lab.byteOffset + 8, count),
  };
}

async function toPng(d: IdxImages, i: number): Promise<Buffer> {
  const plane = d.pixels.subarray(i * d.rows * d.cols, (i + 1) * d.rows * d.cols);
  const rgb = Buffer.alloc(plane.length * 3);
  for (let k = 0; k < plane.length; k++) rgb[3 * k] = rgb[3 * k + 1] = rgb[3 * k + 2] = plane[k]!;
  return sharp(rgb, { raw: { width: d.cols, height: d.rows, channels: 3 } })
    .png()
    .toBuffer();
}

/** ImageFolder order: by label, then by original index (the file name). */
function folderOrder(d: IdxImages): number[] {
  return Array.from({ length: d.count }, (_, i) => i).sort(
    (a, b) => d.labels[a]! - d.labels[b]! || a - b,
  );
}

function fileName(i: number): string {
  return `${String(i).padStart(5, '0')}.png`;
}

/** Writes `<dest>/<split>/<label-folder>/<index>.png` for both splits. */
export async function importFashionMnistImageFolder(
  dest: string,
  opts: FashionMnistOptions = {},
): Promise<void> {
  for (const split of ['train', 'val'] as const) {
    const d = await readFashionMnist(split, opts);
    for (let c = 0; c < FASHION_MNIST_CLASSES.length; c++) {
      await fs.mkdir(path.join(dest, split, folderName(c)), { recursive: true });
    }
    for (let i = 0; i < d.count; i++) {
      await fs.writeFile(
        path.join(dest, split, folderName(d.labels[i]!), fileName(i)),
        await toPng(d, i),
      );
    }
  }
}

/** Packs one split straight into shards + index.json. */
export async function packFashionMnist(
  split: 'train' | 'val',
  dest: Storage,
  opts: FashionMnistOptions = {},
  pack: Partial<PackOptions> = {},
): Promise<PackResult> {
  const d = await readFashionMnist(split, opts);
  const order = folderOrder(d);
  const pngs = await Promise.all(order.map((i) => toPng(d, i)));
  const samples: PackSample[] = order.map((i, k) => ({
    key: sampleKey(k, fileName(i)),
    label: d.labels[i]!,
    ext: 'png',
    size: pngs[k]!.length,
    read: async () => pngs[k]!,
  }));
  return packSamples(FASHION_MNIST_CLASSES, samples, dest, {
    samplesPerShard: 5000,
    ...pack,
    split,
  });
}
