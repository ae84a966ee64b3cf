/**
 * The weights artifact: `<output>/weights/model.safetensors` (torchvision names and layouts,
 * the EMA weights when the recipe keeps an EMA) and `meta.json` — the analogue of
 * torchvision's `weights.meta` and `weights.transforms()`.
 */
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/transforms/normalize.js';
import type { ResNetArch } from '../models/arch.js';
import { countParams } from '../models/arch.js';
import type { ResNetModel } from '../models/resnet.js';
import { encodeSafetensors } from '../models/safetensors.js';
import { stateDict } from '../models/weights.js';
import type { Recipe } from '../../api/schema.js';
import { recipeHash } from '../../api/load.js';
import type { EpochMetrics } from '../report/metrics-log.js';
import type { Storage } from '../../common/storage/storage.js';

export interface WeightsMeta {
  arch: string;
  numClasses: number;
  categories: string[];
  /** Which weights these are: the EMA's or the model's. */
  ema: boolean;
  metrics: {
    acc1: number | null;
    acc5: number | null;
    emaAcc1: number | null;
    emaAcc5: number | null;
  };
  params: number;
  gflops: { train: number; val: number };
  transforms: {
    resizeSize: number;
    cropSize: number;
    interpolation: string;
    mean: readonly number[];
    std: readonly number[];
  };
  recipe: Recipe;
  recipeHash: string;
  checkpoint: string | null;
  createdAt: string;
  /** The epoch (0-based) whose end these weights are. */
  epoch?: number;
  /** In weights/best/: which metric picked this epoch, and its value. */
  selectedBy?: { metric: string; value: number };
  /** In the last weights' meta.json: the best epoch's weights beside them (weights/best/). */
  best?: { epoch: number; metric: string; value: number; weights: string };
}

export interface WeightsInput {
  model: ResNetModel;
  arch: ResNetArch;
  recipe: Readonly<Recipe>;
  categories: readonly string[];
  metrics: EpochMetrics | null;
  gflops: { train: number; val: number };
  checkpoint: string | null;
  ema: boolean;
  /** Added to meta.json as is (epoch, selectedBy, best). */
  extra?: Pick<WeightsMeta, 'epoch' | 'selectedBy' | 'best'>;
}

/** Where a run's weights go: weights/ (the last epoch's) and weights/best/. */
export const WEIGHTS_DIR = 'weights';
export const BEST_WEIGHTS_DIR = 'weights/best';

export function weightsMeta(w: WeightsInput): WeightsMeta {
  return {
    arch: w.arch.name,
    numClasses: w.model.numClasses,
    categories: [...w.categories],
    ema: w.ema,
    metrics: {
      acc1: w.metrics?.acc1 ?? null,
      acc5: w.metrics?.acc5 ?? null,
      emaAcc1: w.metrics?.emaAcc1 ?? null,
      emaAcc5: w.metrics?.emaAcc5 ?? null,
    },
    params: countParams(w.arch, w.model.numClasses),
    gflops: w.gflops,
    transforms: {
      resizeSize: w.recipe.valResizeSize,
      cropSize: w.recipe.valCropSize,
      interpolation: w.recipe.interpolation,
      mean: IMAGENET_MEAN,
      std: IMAGENET_STD,
    },
    recipe: { ...w.recipe },
    recipeHash: recipeHash(w.recipe),
    checkpoint: w.checkpoint,
    createdAt: new Date().toISOString(),
    ...w.extra,
  };
}

/** Writes <dir>/model.safetensors and <dir>/meta.json (dir: weights/); returns its URI. */
export async function writeWeights(
  out: Storage,
  w: WeightsInput,
  dir: string = WEIGHTS_DIR,
): Promise<string> {
  const meta = weightsMeta(w);
  await out.put(
    `${dir}/model.safetensors`,
    Buffer.from(encodeSafetensors(stateDict(w.model), { format: 'pt', arch: meta.arch })),
  );
  // meta.json last: its presence means the weights beside it are complete.
  await out.put(`${dir}/meta.json`, Buffer.from(JSON.stringify(meta, null, 2)), {
    contentType: 'application/json',
  });
  return out.uriOf(dir);
}
