/**
 * `ringmaster predict --weights PATH [--arch NAME] [--json] [--logits] IMAGE...`: top-5 classes
 * of each image with probabilities. PATH is a weights directory (model.safetensors + meta.json,
 * as a run writes it) or a .safetensors file (then meta.json beside it is used if present).
 * The eval transform comes from meta.json, else the architecture's defaults: resize 232,
 * center crop 224, bilinear, ImageNet mean/std.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../engine/backend.js';
import { WorkerEnv } from '../../api/names.js';
import { InputError, NotFoundError } from '../../common/errors.js';
import { getArch, type ResNetArch } from '../models/arch.js';
import { createResNet } from '../models/resnet.js';
import { readSafetensors } from '../models/safetensors.js';
import { loadStateDict } from '../models/weights.js';
import { makeEvalTransform, type TransformConfig } from '../data/transforms/presets.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/transforms/normalize.js';
import type { Interpolation } from '../data/transforms/resample.js';
import { Rng } from '../rng.js';

export interface PredictOptions {
  weights: string;
  /** Overrides meta.json's arch; required when there is no meta.json. (An object: tests.) */
  arch?: string | ResNetArch;
  /** Include each image's full logit vector. */
  logits?: boolean;
  topk?: number;
}

export interface Prediction {
  image: string;
  top: Array<{ index: number; label: string; probability: number }>;
  logits?: number[];
}

interface MetaFile {
  arch?: string;
  categories?: string[];
  transforms?: {
    resizeSize: number;
    cropSize: number;
    interpolation: string;
    mean: readonly number[];
    std: readonly number[];
  };
}

/** torchvision's ImageClassification defaults for the ResNet weights (IMAGENET1K_V2). */
export const DEFAULT_EVAL_TRANSFORMS = Object.freeze({
  resizeSize: 232,
  cropSize: 224,
  interpolation: 'bilinear',
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
});

async function locate(path: string): Promise<{ file: string; meta: MetaFile | null }> {
  if (!existsSync(path)) throw new NotFoundError(`weights not found: ${path}`);
  const isDir = statSync(path).isDirectory();
  const file = isDir ? join(path, 'model.safetensors') : path;
  if (!existsSync(file)) throw new NotFoundError(`no model.safetensors in ${path}`);
  const metaPath = join(isDir ? path : dirname(path), 'meta.json');
  if (!existsSync(metaPath)) return { file, meta: null };
  try {
    return { file, meta: JSON.parse(await readFile(metaPath, 'utf8')) as MetaFile };
  } catch (err) {
    throw new InputError(`${metaPath} is not valid JSON`, [], { cause: err });
  }
}

function softmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const p = Float64Array.from(logits, (v) => Math.exp(v - max));
  const sum = p.reduce((a, b) => a + b, 0);
  return p.map((v) => v / sum);
}

export async function predict(
  images: readonly string[],
  options: PredictOptions,
): Promise<Prediction[]> {
  const { file, meta } = await locate(options.weights);
  const weights = await readSafetensors(file);
  const archName = options.arch ?? meta?.arch ?? weights.metadata.arch;
  if (archName === undefined) {
    throw new InputError('which architecture? no meta.json next to the weights', [
      { path: '--arch', message: 'required when the weights have no meta.json' },
    ]);
  }
  const arch = typeof archName === 'string' ? getArch(archName) : archName;
  const fc = weights.tensors.get('fc.weight');
  if (fc === undefined) throw new InputError(`${file} has no fc.weight: not a ResNet state_dict`);
  const numClasses = fc.shape[0]!;
  const categories = meta?.categories ?? [];
  const t = meta?.transforms ?? DEFAULT_EVAL_TRANSFORMS;
  const cfg: TransformConfig = {
    mode: 'eval',
    cropSize: t.cropSize,
    resizeSize: t.resizeSize,
    interpolation: t.interpolation as Interpolation,
    hflipProb: 0,
    autoAugment: null,
    randomErase: 0,
    mean: [t.mean[0]!, t.mean[1]!, t.mean[2]!],
    std: [t.std[0]!, t.std[1]!, t.std[2]!],
    shrinkOnLoad: false,
  };
  const transform = makeEvalTransform(cfg);
  const model = createResNet(arch, { numClasses, seed: 0, init: 'zeros' });
  try {
    loadStateDict(model, weights.tensors);
    const k = Math.min(options.topk ?? 5, numClasses);
    const out: Prediction[] = [];
    for (const image of images) {
      if (!existsSync(image)) throw new NotFoundError(`image not found: ${image}`);
      let x;
      try {
        x = await transform(await readFile(image), new Rng(0));
      } catch (err) {
        throw new InputError(`cannot read image ${image}: ${(err as Error).message}`, [], {
          cause: err,
        });
      }
      const logits = tf.tidy(() => {
        const input = tf.tensor4d(x.data, [1, x.height, x.width, 3]);
        return model.forward(input, false).logits.dataSync() as Float32Array;
      });
      const p = softmax(logits);
      const order = [...p.keys()].sort((a, b) => p[b]! - p[a]!).slice(0, k);
      out.push({
        image,
        top: order.map((i) => ({
          index: i,
          label: categories[i] ?? String(i),
          probability: p[i]!,
        })),
        ...(options.logits ? { logits: Array.from(logits) } : {}),
      });
    }
    return out;
  } finally {
    model.dispose();
  }
}

export function formatPredictions(preds: readonly Prediction[]): string {
  return preds
    .map(
      (p) =>
        `${basename(p.image)}\n` +
        p.top
          .map((t, i) => `  ${i + 1}. ${t.label.padEnd(24)} ${(100 * t.probability).toFixed(2)}%`)
          .join('\n'),
    )
    .join('\n')
    .concat('\n');
}

interface PredictFlags {
  weights: string;
  arch?: string;
  json?: boolean;
  logits?: boolean;
}

export function register(program: Command): void {
  program
    .command('predict')
    .description('top-5 classes of images with trained (or torchvision-exported) weights')
    .requiredOption(
      '--weights <path>',
      'weights directory (model.safetensors + meta.json) or a .safetensors file',
    )
    .option('--arch <name>', 'architecture (default: from meta.json)')
    .option('--json', 'print JSON')
    .option('--logits', 'add each image’s full logit vector to the JSON')
    .argument('<images...>', 'image files (JPEG, PNG, …)')
    .action(async (images: string[], flags: PredictFlags) => {
      // The CLI edge is where the environment is read; everything inward gets the value.
      await initBackend(process.env[WorkerEnv.backend]);
      const preds = await predict(images, {
        weights: flags.weights,
        ...(flags.arch ? { arch: flags.arch } : {}),
        logits: flags.logits ?? false,
      });
      process.stdout.write(
        flags.json || flags.logits
          ? `${JSON.stringify(preds, null, 2)}\n`
          : formatPredictions(preds),
      );
    });
}
