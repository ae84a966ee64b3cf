/** `ringmaster pack SRC DEST`: an ImageFolder tree → WebDataset shards + index.json. */
import type { Command } from 'commander';
import { intFlag } from '../../common/parse.js';
import { InputError } from '../../common/errors.js';
import { packImageFolder, parseByteSize } from '../data/pack.js';
import { ProgressBar } from '../data/progress.js';
import { openStorage, storageOptionsFromEnv } from '../../common/storage/storage.js';

interface PackFlags {
  split: string;
  shardSize?: string;
  samplesPerShard?: number;
  endpoint?: string;
  verify: string;
}

export function register(program: Command): void {
  program
    .command('pack')
    .description(
      'Pack an ImageFolder tree (class folders of images) into tar shards + index.json, locally or in S3. Re-running resumes.',
    )
    .argument('<src>', 'ImageFolder root: one sub-directory per class')
    .argument('<dest>', 'output directory or s3://bucket/prefix (one split per destination)')
    .option('--split <name>', 'split name (train, val, …): names the shards and the index', 'train')
    .option('--shard-size <size>', 'target shard size, e.g. 256MB, 1GiB', '256MB')
    .option(
      '--samples-per-shard <n>',
      'fixed number of samples per shard (overrides --shard-size)',
      intFlag('--samples-per-shard', { min: 1 }),
    )
    .option('--endpoint <url>', 'S3-compatible endpoint (default: $RINGMASTER_S3_ENDPOINT)')
    .option('--verify <mode>', 'full (read every shard back, compare SHA-256) or size', 'full')
    .action(async (src: string, dest: string, flags: PackFlags) => {
      if (!/^[A-Za-z0-9_]+$/.test(flags.split)) {
        throw new InputError('invalid --split', [
          { path: '--split', message: 'letters, digits and _ only' },
        ]);
      }
      if (flags.verify !== 'full' && flags.verify !== 'size') {
        throw new InputError('invalid --verify', [{ path: '--verify', message: 'full or size' }]);
      }
      const samplesPerShard = flags.samplesPerShard;
      const env = storageOptionsFromEnv(process.env);
      const storage = openStorage(dest, {
        ...env,
        ...(flags.endpoint ? { endpoint: flags.endpoint } : {}),
      });
      const bar = new ProgressBar(process.stderr, `pack ${flags.split}`);
      try {
        const res = await packImageFolder(src, storage, {
          split: flags.split,
          shardSizeBytes: parseByteSize(flags.shardSize ?? '256MB'),
          ...(samplesPerShard !== undefined ? { samplesPerShard } : {}),
          verify: flags.verify,
          onProgress: (p) =>
            bar.update(
              p.samplesDone,
              p.samplesTotal,
              `shard ${p.shardsDone}/${p.shardsTotal}${p.shardsSkipped ? ` (${p.shardsSkipped} skipped)` : ''}`,
            ),
        });
        bar.finish(
          `packed ${res.index.numSamples} samples of ${res.index.classes.length} classes into ${res.index.shards.length} shards at ${storage.uri} ` +
            `(${res.shardsWritten} written, ${res.shardsSkipped} already there and verified)`,
        );
      } finally {
        storage.close();
      }
    });
}
