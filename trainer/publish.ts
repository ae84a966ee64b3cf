/**
 * What a finished run leaves in its output besides checkpoints (rank 0): the weights artifact
 * (the EMA weights when there are any, else the model's, plus meta.json) and report.html.
 */
import { BEST_WEIGHTS_DIR, writeWeights, type WeightsInput } from './checkpoint/weights.js';
import { bestEpoch, bestMetricOf } from './best.js';
import { countMacs, type ResNetArch } from './models/arch.js';
import type { Recipe } from '../api/schema.js';
import { renderReport } from './report/html.js';
import type { EpochMetrics } from './report/metrics-log.js';
import type { Storage } from '../common/storage/storage.js';
import type { TrainState } from './train-state.js';

export interface Publication {
  out: Storage;
  output: string;
  arch: ResNetArch;
  recipe: Readonly<Recipe>;
  state: TrainState;
  categories: readonly string[];
  history: readonly EpochMetrics[];
  lastCheckpoint: string | null;
  workers: number;
  backend: string;
}

/** What both artifacts share: architecture, recipe, categories, GFLOPs. */
function artifactInput(
  p: Pick<Publication, 'arch' | 'recipe' | 'categories'> & { numClasses: number },
): Pick<WeightsInput, 'arch' | 'recipe' | 'categories' | 'gflops'> {
  return {
    arch: p.arch,
    recipe: p.recipe,
    categories: p.categories,
    gflops: {
      train: countMacs(p.arch, p.recipe.trainCropSize, p.numClasses) / 1e9,
      val: countMacs(p.arch, p.recipe.valCropSize, p.numClasses) / 1e9,
    },
  };
}

/**
 * weights/best/: the weights of `row`'s epoch, picked by `recipe.bestMetric` (trainer/best.ts).
 * Called on rank 0 when an epoch is the best so far, before its checkpoint.
 */
export async function writeBestWeights(
  p: Pick<Publication, 'out' | 'arch' | 'recipe' | 'state' | 'categories'> & {
    row: EpochMetrics;
    checkpoint: string | null;
  },
): Promise<string | null> {
  const { metric, ema } = bestMetricOf(p.recipe);
  const value = p.row[metric];
  const model = ema ? p.state.averaged() : p.state.model;
  if (model === null || value === null) return null;
  return writeWeights(
    p.out,
    {
      ...artifactInput({ ...p, numClasses: p.state.model.numClasses }),
      model,
      metrics: p.row,
      checkpoint: p.checkpoint,
      ema,
      extra: { epoch: p.row.epoch, selectedBy: { metric, value } },
    },
    BEST_WEIGHTS_DIR,
  );
}

/** Writes the weights and the report; returns their URIs. */
export async function publishRun(p: Publication): Promise<{ weights: string; report: string }> {
  const { out, arch, recipe, state } = p;
  const averaged = state.averaged();
  const last = p.history.at(-1) ?? null;
  const best = bestEpoch(p.history, bestMetricOf(recipe).metric);
  const bestOnDisk = best !== null && (await out.exists(`${BEST_WEIGHTS_DIR}/meta.json`));
  const weights = await writeWeights(out, {
    ...artifactInput({
      arch,
      recipe,
      categories: p.categories,
      numClasses: state.model.numClasses,
    }),
    model: averaged ?? state.model,
    metrics: last,
    checkpoint: p.lastCheckpoint,
    ema: averaged !== null,
    extra: {
      ...(last ? { epoch: last.epoch } : {}),
      ...(best && bestOnDisk
        ? {
            best: {
              epoch: best.epoch,
              metric: bestMetricOf(recipe).metric,
              value: best.value,
              weights: out.uriOf(BEST_WEIGHTS_DIR),
            },
          }
        : {}),
    },
  });
  const html = renderReport(p.history, {
    title: `Ringmaster run: ${arch.name}`,
    facts: {
      model: arch.name,
      workers: p.workers,
      'batch per worker': recipe.batchSize,
      'global batch': recipe.batchSize * p.workers,
      epochs: recipe.epochs,
      backend: p.backend,
      output: p.output,
    },
  });
  await out.put('report.html', Buffer.from(html), { contentType: 'text/html' });
  return { weights, report: out.uriOf('report.html') };
}
