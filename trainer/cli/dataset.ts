/** `ringmaster dataset synthetic|fashion-mnist DEST`: make a dataset as ImageFolder trees or shards. */
import type { Command } from 'commander';
import { intFlag } from '../../common/parse.js';
import { InputError } from '../../common/errors.js';
import { importFashionMnistImageFolder, packFashionMnist } from '../data/fashion-mnist.js';
import { packSynthetic, SYNTHETIC_DEFAULTS, writeSyntheticImageFolder } from '../data/synthetic.js';
import { joinUri, openStorage, storageOptionsFromEnv } from '../../common/storage/storage.js';

interface SyntheticFlags {
  format: string;
  train: number;
  val: number;
  size: number;
  seed: number;
  endpoint?: string;
}

interface FashionMnistFlags {
  format: string;
  limit?: number;
  source: string;
  endpoint?: string;
}

function format(v: string): 'folder' | 'shards' {
  if (v !== 'folder' && v !== 'shards')
    throw new InputError('invalid --format', [{ path: '--format', message: 'folder or shards' }]);
  return v;
}

export function register(program: Command): void {
  const ds = program
    .command('dataset')
    .description(
      'Make a dataset: DEST/train and DEST/val, as ImageFolder trees or as shards + index.json',
    );

  ds.command('synthetic')
    .description(
      'Ten classes of shapes with random colour, size, position and noisy backgrounds (JPEG)',
    )
    .argument('<dest>', 'output directory (or s3://… with --format shards)')
    .option('--format <f>', 'folder (ImageFolder tree) or shards', 'shards')
    .option(
      '--train <n>',
      'training images',
      intFlag('--train', { min: 1 }),
      SYNTHETIC_DEFAULTS.train,
    )
    .option('--val <n>', 'validation images', intFlag('--val', { min: 1 }), SYNTHETIC_DEFAULTS.val)
    .option(
      '--size <px>',
      'image side in pixels',
      intFlag('--size', { min: 8 }),
      SYNTHETIC_DEFAULTS.size,
    )
    .option('--seed <n>', 'generator seed', intFlag('--seed', { min: 0 }), SYNTHETIC_DEFAULTS.seed)
    .option('--endpoint <url>', 'S3-compatible endpoint')
    .action(async (dest: string, f: SyntheticFlags) => {
      const opts = { train: f.train, val: f.val, size: f.size, seed: f.seed };
      if (format(f.format) === 'folder') {
        await writeSyntheticImageFolder(dest, opts);
      } else {
        for (const split of ['train', 'val'] as const) {
          const st = openStorage(joinUri(dest, split), {
            ...storageOptionsFromEnv(process.env),
            ...(f.endpoint ? { endpoint: f.endpoint } : {}),
          });
          try {
            await packSynthetic(split, st, opts);
          } finally {
            st.close();
          }
        }
      }
      process.stderr.write(
        `synthetic shapes: ${opts.train} train + ${opts.val} val images at ${dest}\n`,
      );
    });

  ds.command('fashion-mnist')
    .description(
      "Import Fashion-MNIST from Debian's dataset-fashion-mnist package (3-channel PNGs)",
    )
    .argument('<dest>', 'output directory (or s3://… with --format shards)')
    .option('--format <f>', 'folder (ImageFolder tree) or shards', 'shards')
    .option(
      '--limit <n>',
      'keep only the first N images of each split',
      intFlag('--limit', { min: 1 }),
    )
    .option('--source <dir>', 'directory of the IDX files', '/usr/share/datasets/fashion-mnist')
    .option('--endpoint <url>', 'S3-compatible endpoint')
    .action(async (dest: string, f: FashionMnistFlags) => {
      const opts = { sourceDir: f.source, ...(f.limit ? { limit: f.limit } : {}) };
      if (format(f.format) === 'folder') {
        await importFashionMnistImageFolder(dest, opts);
      } else {
        for (const split of ['train', 'val'] as const) {
          const st = openStorage(joinUri(dest, split), {
            ...storageOptionsFromEnv(process.env),
            ...(f.endpoint ? { endpoint: f.endpoint } : {}),
          });
          try {
            await packFashionMnist(split, st, opts);
          } finally {
            st.close();
          }
        }
      }
      process.stderr.write(`fashion-mnist imported to ${dest}\n`);
    });
}
