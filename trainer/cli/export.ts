/**
 * `ringmaster export --output URI [--checkpoint NAME] [--to URI]`: the weights artifact
 * (weights/model.safetensors + meta.json, as written at the end of a run) from any checkpoint
 * of a run — the latest intact one by default. The EMA weights are exported when the
 * checkpoint holds them, else the model's.
 *
 * A checkpoint does not carry the recipe itself, only its hash: the recipe comes from
 * `<output>/recipe.json` (written by `ringmaster train --local`) or from `--recipe FILE`, and
 * must hash to what the checkpoint recorded, so meta.json never describes another recipe.
 */
import type { Command } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointStore, type Checkpoint } from '../checkpoint/store.js';
import { writeWeights, type WeightsMeta } from '../checkpoint/weights.js';
import { initBackend } from '../engine/backend.js';
import { InputError, NotFoundError } from '../../common/errors.js';
import { countMacs, getArch } from '../models/arch.js';
import { createResNet } from '../models/resnet.js';
import { decodeSafetensors } from '../models/safetensors.js';
import { loadStateDict } from '../models/weights.js';
import { loadTrainingRecipeFile, parseRecipe, recipeHash } from '../../api/load.js';
import type { Recipe } from '../../api/schema.js';
import type { EpochMetrics } from '../report/metrics-log.js';
import {
  openStorage,
  storageOptionsFromEnv,
  type Storage,
  type StorageOptions,
} from '../../common/storage/storage.js';

export interface ExportOptions {
  /** The run's output URI (local path or s3://bucket/prefix): where checkpoints/ lives. */
  output: string;
  /** A checkpoint directory name (e.g. epoch-000004); default: the latest intact one. */
  checkpoint?: string;
  /** Where weights/ goes; default: the run's output. */
  to?: string;
  /** The recipe, when the output has no recipe.json. */
  recipe?: Readonly<Recipe>;
  /** Export even when the recipe's hash differs from the checkpoint's. */
  allowRecipeChange?: boolean;
  storage?: StorageOptions;
}

export interface ExportResult {
  /** URI of the weights directory written. */
  weights: string;
  /** URI of the checkpoint the weights came from. */
  checkpoint: string;
  meta: WeightsMeta;
}

const RECIPE_FILE = 'recipe.json';

/** The recipe of a run: `recipe.json` holds a resolved spec ({recipe, …}) or a bare recipe. */
async function recipeOfRun(out: Storage): Promise<Readonly<Recipe> | null> {
  if (!(await out.exists(RECIPE_FILE))) return null;
  const where = out.uriOf(RECIPE_FILE);
  let obj: unknown;
  try {
    obj = JSON.parse((await out.get(RECIPE_FILE)).toString('utf8'));
  } catch (err) {
    throw new InputError(`${where} is not valid JSON: ${String(err)}`);
  }
  const inner =
    obj !== null && typeof obj === 'object' && 'recipe' in obj
      ? (obj as { recipe: unknown }).recipe
      : obj;
  return parseRecipe(inner, where);
}

function categoriesOf(ckpt: Checkpoint, numClasses: number, where: string): string[] {
  const c = ckpt.state.extra.categories;
  if (c === undefined) {
    // Older or foreign checkpoints: index names keep meta.json usable by `predict`.
    return Array.from({ length: numClasses }, (_, i) => String(i));
  }
  if (!Array.isArray(c) || !c.every((x) => typeof x === 'string')) {
    throw new InputError(`checkpoint ${where} has malformed categories in state.json`, [
      { path: 'extra.categories', message: 'must be an array of strings' },
    ]);
  }
  if (c.length !== numClasses) {
    throw new InputError(
      `checkpoint ${where} names ${c.length} categories but its classifier has ${numClasses} outputs`,
    );
  }
  return c as string[];
}

function lastMetrics(ckpt: Checkpoint): EpochMetrics | null {
  const m = ckpt.state.extra.metrics;
  if (!Array.isArray(m) || m.length === 0) return null;
  return m[m.length - 1] as EpochMetrics;
}

/** Writes the weights artifact from a checkpoint of the run at `opts.output`. */
export async function exportWeights(opts: ExportOptions): Promise<ExportResult> {
  const src = openStorage(opts.output, opts.storage);
  const dest = opts.to === undefined ? src : openStorage(opts.to, opts.storage);
  try {
    const recipe = opts.recipe ?? (await recipeOfRun(src));
    if (!recipe) {
      throw new InputError(
        `no recipe for the run at ${src.uri}: ${src.uriOf(RECIPE_FILE)} does not exist; pass --recipe FILE`,
      );
    }
    const store = new CheckpointStore(src);
    const loadOpts = {
      expectedRecipeHash: recipeHash(recipe),
      allowRecipeMismatch: Boolean(opts.allowRecipeChange),
      required: ['model.safetensors'],
    };
    const ckpt =
      opts.checkpoint !== undefined
        ? await store.load(opts.checkpoint, loadOpts)
        : await store.loadLatest(loadOpts);
    if (!ckpt) {
      throw new NotFoundError(
        `no intact checkpoint under ${src.uriOf('checkpoints')} (run at ${src.uri}); nothing to export`,
      );
    }
    const where = store.uri(ckpt.name);
    const emaFile = ckpt.files.get('ema.safetensors');
    const weights = decodeSafetensors(
      emaFile ?? ckpt.files.get('model.safetensors')!,
      `${where}/${emaFile ? 'ema' : 'model'}.safetensors`,
    ).tensors;
    const fc = weights.get('fc.weight');
    if (!fc || fc.shape.length !== 2) {
      throw new InputError(`checkpoint ${where} has no classifier weight (fc.weight)`);
    }
    const numClasses = fc.shape[0]!;
    const categories = categoriesOf(ckpt, numClasses, where);

    // Only transposes happen here: any backend will do, the cpu one needs no setup.
    if (!tf.engine().backendName) await initBackend('cpu');
    const arch = getArch(recipe.model);
    const model = createResNet(arch, { numClasses, seed: recipe.seed, init: 'zeros' });
    try {
      loadStateDict(model, weights);
      const uri = await writeWeights(dest, {
        model,
        arch,
        recipe,
        categories,
        metrics: lastMetrics(ckpt),
        gflops: {
          train: countMacs(arch, recipe.trainCropSize, numClasses) / 1e9,
          val: countMacs(arch, recipe.valCropSize, numClasses) / 1e9,
        },
        checkpoint: where,
        ema: emaFile !== undefined,
      });
      const meta = JSON.parse(
        (await dest.get('weights/meta.json')).toString('utf8'),
      ) as WeightsMeta;
      return { weights: uri, checkpoint: where, meta };
    } finally {
      model.dispose();
    }
  } finally {
    src.close();
    if (dest !== src) dest.close();
  }
}

interface ExportFlags {
  output: string;
  checkpoint?: string;
  to?: string;
  recipe?: string;
  allowRecipeChange?: boolean;
}

export function register(program: Command): void {
  program
    .command('export')
    .description('write the weights artifact (safetensors + meta.json) from a run’s checkpoint')
    .requiredOption('--output <uri>', 'the run’s output (local path or s3://bucket/prefix)')
    .option('--checkpoint <name>', 'checkpoint directory name, e.g. epoch-000004 (default: latest)')
    .option('--to <uri>', 'where to write weights/ (default: the run’s output)')
    .option('--recipe <file>', 'the run’s recipe, when the output holds no recipe.json')
    .option('--allow-recipe-change', 'export even if the recipe differs from the checkpoint’s')
    .action(async (flags: ExportFlags) => {
      const recipe = flags.recipe
        ? (await loadTrainingRecipeFile(flags.recipe)).spec.recipe
        : undefined;
      const res = await exportWeights({
        output: flags.output,
        ...(flags.checkpoint !== undefined ? { checkpoint: flags.checkpoint } : {}),
        ...(flags.to !== undefined ? { to: flags.to } : {}),
        ...(recipe ? { recipe } : {}),
        allowRecipeChange: Boolean(flags.allowRecipeChange),
        storage: storageOptionsFromEnv(process.env),
      });
      const pct = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(2)}%`);
      const m = res.meta.metrics;
      process.stdout.write(
        `exported ${res.meta.ema ? 'EMA' : 'model'} weights of ${res.meta.arch} ` +
          `(${res.meta.params} params, ${res.meta.numClasses} classes) from ${res.checkpoint}\n` +
          `Acc@1 ${pct(m.acc1)}, EMA Acc@1 ${pct(m.emaAcc1)}\n` +
          `weights: ${res.weights}\n`,
      );
    });
}
