/**
 * What a finished run leaves in its output besides checkpoints (rank 0): the weights artifact
 * (the EMA weights when there are any, else the model's, plus meta.json) and report.html.
 */
import { writeWeights } from './checkpoint/weights.js';
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

/** Writes the weights and the report; returns their URIs. */
export async function publishRun(p: Publication): Promise<{ weights: string; report: string }> {
  const { out, arch, recipe, state } = p;
  const numClasses = state.model.numClasses;
  const averaged = state.averaged();
  const weights = await writeWeights(out, {
    model: averaged ?? state.model,
    recipe,
    categories: p.categories,
    metrics: p.history.at(-1) ?? null,
    arch,
    gflops: {
      train: countMacs(arch, recipe.trainCropSize, numClasses) / 1e9,
      val: countMacs(arch, recipe.valCropSize, numClasses) / 1e9,
    },
    checkpoint: p.lastCheckpoint,
    ema: averaged !== null,
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
