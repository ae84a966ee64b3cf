/** `ringmaster dataset synthetic|fashion-mnist DEST`: make a dataset as ImageFolder trees or shards. */
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { importFashionMnistImageFolder, packFashionMnist } from '../data/fashion-mnist.js';
import { packSynthetic, SYNTHETIC_DEFAULTS, writeSyntheticImageFolder } from '../data/synthetic.js';
import { joinUri, openStorage, storageOptionsFromEnv } from '../storage/storage.js';

function int(flag: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new InputError(`invalid ${flag}`, [{ path: flag, message: `an integer >= ${min}` }]);
  return n;
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
    .option('--train <n>', 'training images', String(SYNTHETIC_DEFAULTS.train))
    .option('--val <n>', 'validation images', String(SYNTHETIC_DEFAULTS.val))
    .option('--size <px>', 'image side in pixels', String(SYNTHETIC_DEFAULTS.size))
    .option('--seed <n>', 'generator seed', String(SYNTHETIC_DEFAULTS.seed))
    .option('--endpoint <url>', 'S3-compatible endpoint')
    .action(async (dest: string, f: Record<string, string>) => {
      const opts = {
        train: int('--train', f.train, 1)!,
        val: int('--val', f.val, 1)!,
        size: int('--size', f.size, 8)!,
        seed: int('--seed', f.seed, 0)!,
      };
      if (format(f.format!) === 'folder') {
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
    .option('--limit <n>', 'keep only the first N images of each split')
    .option('--source <dir>', 'directory of the IDX files', '/usr/share/datasets/fashion-mnist')
    .option('--endpoint <url>', 'S3-compatible endpoint')
    .action(async (dest: string, f: Record<string, string>) => {
      const limit = int('--limit', f.limit, 1);
      const opts = { sourceDir: f.source!, ...(limit ? { limit } : {}) };
      if (format(f.format!) === 'folder') {
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
