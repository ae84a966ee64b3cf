/**
 * `ringmaster eval --weights W --data VAL [--resize-grid START:END[:STEP]] [--write-meta]
 * [--split all|even|odd] [--json]`: evaluates a finished model's weights (a weights or
 * checkpoint directory, local or s3://; model and EMA when a checkpoint holds both) on a
 * validation split with its eval transform (Acc@1/Acc@5 as torchvision's `evaluate` counts them).
 * An eval-only recipe (spec.mode: eval, trainer/eval-run.ts) runs the same on its workers. With --resize-grid it tunes
 * the inference resize without retraining (trainer/tune-resize.ts): half of the split
 * selects, the other half confirms; --write-meta records the choice in meta.json.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ProcessEnv, WorkerEnv } from '../../api/names.js';
import { InputError } from '../../common/errors.js';
import { intFlag } from '../../common/parse.js';
import { storageOptionsFromEnv, type StorageOptions } from '../../common/storage/storage.js';
import { EVAL_SPLITS } from '../../api/schema.js';
import type { EvalStatus } from '../../api/status.js';
import { openArtifact, type EvalArtifact } from '../checkpoint/artifact.js';
import { openRegistryWeights } from '../registry/open.js';
import { resolveDataUri } from '../data/resolve.js';
import { initBackend } from '../engine/backend.js';
import { formatEval, writeMeta } from '../eval-run.js';
import { evaluateSets, parseResizeGrid, tuneResize, type EvalSplit } from '../tune-resize.js';

interface EvalFlags {
  weights: string;
  registry?: string;
  data: string;
  arch?: string;
  resizeGrid?: string;
  writeMeta?: boolean;
  split: string;
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
      '--weights <uri|name>',
      'weights directory (model.safetensors + meta.json), checkpoint directory (model and EMA), a path or s3://; or a registry name',
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
    .option(
      '--split <which>',
      'samples scored: all, or the even- or odd-indexed half (index.json order)',
      'all',
    )
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
      if (!(EVAL_SPLITS as readonly string[]).includes(flags.split)) {
        throw new InputError(`invalid --split "${flags.split}"`, [
          { path: '--split', message: `must be one of ${EVAL_SPLITS.join(', ')}` },
        ]);
      }
      if (flags.resizeGrid && flags.split !== 'all') {
        throw new InputError('--resize-grid uses both halves (even selects, odd confirms)', [
          { path: '--split', message: 'leave it all with --resize-grid' },
        ]);
      }
      const started = Date.now();
      await initBackend(process.env[WorkerEnv.backend]);
      const storage = storageOptionsFromEnv(process.env);
      const artifact = await openEvalWeights(flags, storage);
      try {
        if (flags.writeMeta && artifact.registry) {
          throw new InputError(`registry weights are read-only: ${artifact.uri}`, [
            {
              path: '--write-meta',
              message:
                'publish the tuned artifact under a new name instead (ringmaster weights publish)',
            },
          ]);
        }
        // Validated before any data is read or anything is written.
        const grid = flags.resizeGrid
          ? parseResizeGrid(flags.resizeGrid, artifact.transforms.cropSize)
          : undefined;
        if (flags.writeMeta && artifact.meta === null) {
          throw new InputError(`no meta.json at ${artifact.uri} to record the resize in`, [
            { path: '--write-meta', message: 'needs a weights directory with meta.json' },
          ]);
        }
        const cacheDir =
          process.env[ProcessEnv.cache] ?? join(process.env.HOME ?? '/tmp', '.cache', 'ringmaster');
        const common = {
          data: await resolveDataUri(flags.data, 'val', { cacheDir }),
          batchSize: flags.batchSize,
          loaderThreads: flags.loaderThreads,
          storage,
        };
        const scored = await evaluateSets({
          ...common,
          sets: artifact.sets,
          numClasses: artifact.numClasses,
          transforms: artifact.transforms,
          split: flags.split as EvalSplit,
          file: artifact.uri,
          arch: artifact.arch,
        });
        const tuned = artifact.sets.at(-1)!;
        const tuning = grid
          ? await tuneResize({
              ...common,
              weights: { ...artifact, file: artifact.uri, model: tuned.model },
              grid,
            })
          : undefined;
        const metaWritten =
          tuning && flags.writeMeta
            ? await writeMeta(artifact, tuning, { data: { val: flags.data } })
            : null;
        const status: EvalStatus = {
          weights: artifact.uri,
          split: flags.split,
          resize: scored.resize,
          crop: artifact.transforms.cropSize,
          ...(scored.scores.model ? { model: scored.scores.model } : {}),
          ...(scored.scores.ema ? { ema: scored.scores.ema } : {}),
          ...(scored.biased ? { biased: true } : {}),
          ...(tuning
            ? {
                tuning: {
                  weights: tuned.name,
                  grid: tuning.grid,
                  chosen: tuning.chosen,
                  current: tuning.current,
                  ...(tuning.confirmGain !== null ? { confirmGain: tuning.confirmGain } : {}),
                  split: tuning.split,
                  ...(metaWritten ? { metaWritten } : {}),
                },
              }
            : {}),
          workers: 1,
          seconds: Math.round((Date.now() - started) / 100) / 10,
        };
        process.stdout.write(
          flags.json ? `${JSON.stringify(status, null, 2)}\n` : formatEval(status, tuning),
        );
      } finally {
        artifact.dispose();
      }
    });
}

/**
 * --weights: a registry name (in --registry, or in RINGMASTER_WEIGHTS_REGISTRY when no such
 * local path exists) — one set of weights with its entry's transforms, read-only — else a
 * weights or checkpoint directory, local or s3://.
 */
async function openEvalWeights(
  flags: EvalFlags,
  storage: StorageOptions,
): Promise<EvalArtifact & { registry?: string }> {
  const fallback = process.env[ProcessEnv.weightsRegistry];
  const registry =
    flags.registry ??
    (existsSync(flags.weights) || flags.weights.startsWith('s3://') ? undefined : fallback);
  if (registry === undefined) {
    return openArtifact(flags.weights, { storage, ...(flags.arch ? { arch: flags.arch } : {}) });
  }
  if (flags.arch !== undefined) {
    throw new InputError('--arch does not apply to registry weights', [
      { path: '--arch', message: `the entry of "${flags.weights}" names its architecture` },
    ]);
  }
  const w = await openRegistryWeights(flags.weights, registry, storage);
  return {
    uri: w.file,
    kind: 'weights',
    storage: null,
    metaKey: 'meta.json',
    meta: w.meta,
    arch: w.arch,
    numClasses: w.numClasses,
    transforms: w.transforms,
    sets: [{ name: w.meta?.ema ? 'ema' : 'model', model: w.model }],
    dispose: () => w.model.dispose(),
    registry,
  };
}
