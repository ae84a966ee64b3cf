/**
 * `ringmaster eval --weights W [--registry URI] --data VAL [--resize-grid START:END[:STEP]] [--write-meta]
 * [--json]`: evaluates a finished model's weights on a validation split with its eval
 * transform (Acc@1/Acc@5 as torchvision's `evaluate` counts them). With --resize-grid it tunes
 * the inference resize without retraining (trainer/tune-resize.ts): half of the split
 * selects, the other half confirms; --write-meta records the choice in meta.json. W is a
 * weights directory or a registry name (trainer/registry/open.ts).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ProcessEnv, WorkerEnv } from '../../api/names.js';
import { InputError } from '../../common/errors.js';
import { intFlag } from '../../common/parse.js';
import { storageOptionsFromEnv } from '../../common/storage/storage.js';
import { openWeightsArg } from '../registry/open.js';
import { resolveDataUri } from '../data/resolve.js';
import { initBackend } from '../engine/backend.js';
import { evaluateWeights, formatTuning, parseResizeGrid, tuneResize } from '../tune-resize.js';

interface EvalFlags {
  weights: string;
  registry?: string;
  data: string;
  arch?: string;
  resizeGrid?: string;
  writeMeta?: boolean;
  batchSize: number;
  loaderThreads: number;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('eval')
    .description(
      'Acc@1/Acc@5 of trained weights on a validation split; --resize-grid tunes the inference resize',
    )
    .requiredOption(
      '--weights <path|name>',
      'weights directory (model.safetensors + meta.json) or a registry name',
    )
    .option(
      '--registry <uri>',
      `weights registry the --weights name is in (default: $${ProcessEnv.weightsRegistry})`,
    )
    .requiredOption(
      '--data <uri>',
      'validation split: a shard directory, s3://bucket/prefix, or synthetic:/fashion-mnist:',
    )
    .option('--arch <name>', 'architecture (default: from meta.json)')
    .option(
      '--resize-grid <start:end[:step]>',
      'tune the resize: even-indexed samples select, odd ones confirm (e.g. 224:256:8)',
    )
    .option('--write-meta', 'with --resize-grid: write the chosen resize into meta.json')
    .option('--batch-size <n>', 'images per batch', intFlag('--batch-size', { min: 1 }), 64)
    .option(
      '--loader-threads <n>',
      'decode threads',
      intFlag('--loader-threads', { min: 0, max: 64 }),
      1,
    )
    .option('--json', 'print JSON')
    .action(async (flags: EvalFlags) => {
      if (flags.writeMeta && !flags.resizeGrid) {
        throw new InputError('--write-meta needs --resize-grid', [
          { path: '--write-meta', message: 'only records a tuned resize' },
        ]);
      }
      await initBackend(process.env[WorkerEnv.backend]);
      const storage = storageOptionsFromEnv(process.env);
      const weights = await openWeightsArg({
        weights: flags.weights,
        ...(flags.registry ? { registry: flags.registry } : {}),
        ...(process.env[ProcessEnv.weightsRegistry]
          ? { defaultRegistry: process.env[ProcessEnv.weightsRegistry] }
          : {}),
        ...(flags.arch ? { arch: flags.arch } : {}),
        storage,
      });
      try {
        // Validated before any data is read or anything is written.
        const grid = flags.resizeGrid
          ? parseResizeGrid(flags.resizeGrid, weights.transforms.cropSize)
          : undefined;
        if (flags.writeMeta && weights.registry) {
          throw new InputError(`registry weights are read-only: ${weights.file}`, [
            {
              path: '--write-meta',
              message:
                'publish the tuned artifact under a new name instead (ringmaster weights publish)',
            },
          ]);
        }
        if (flags.writeMeta && weights.meta === null) {
          throw new InputError(`no meta.json next to ${weights.file} to record the resize in`, [
            { path: '--write-meta', message: 'needs a weights directory with meta.json' },
          ]);
        }
        const cacheDir =
          process.env[ProcessEnv.cache] ?? join(process.env.HOME ?? '/tmp', '.cache', 'ringmaster');
        const common = {
          weights,
          data: await resolveDataUri(flags.data, 'val', { cacheDir }),
          batchSize: flags.batchSize,
          loaderThreads: flags.loaderThreads,
          storage,
        };
        if (!grid) {
          const r = await evaluateWeights(common);
          process.stdout.write(
            flags.json
              ? `${JSON.stringify(r, null, 2)}\n`
              : `${r.count} samples at resize ${r.resize}: Acc@1 ${r.acc1.toFixed(2)}  Acc@5 ${r.acc5.toFixed(2)}\n`,
          );
          return;
        }
        const t = await tuneResize({ ...common, grid });
        process.stdout.write(flags.json ? `${JSON.stringify(t, null, 2)}\n` : formatTuning(t));
        if (flags.writeMeta) {
          const meta = {
            ...weights.meta,
            transforms: { ...weights.transforms, resizeSize: t.chosen },
            resizeTuning: {
              grid: t.grid,
              chosen: t.chosen,
              previous: t.current,
              confirmGain: t.confirmGain,
              split: t.split,
              data: flags.data,
              at: new Date().toISOString(),
            },
          };
          await writeFile(weights.metaPath, JSON.stringify(meta, null, 2));
          if (!flags.json)
            process.stdout.write(`wrote resizeSize ${t.chosen} to ${weights.metaPath}\n`);
        }
      } finally {
        weights.model.dispose();
      }
    });
}
