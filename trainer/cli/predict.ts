/**
 * `ringmaster predict --weights PATH|NAME [--registry URI] [--arch NAME] [--json] [--logits]
 * IMAGE...`: top-5 classes of each image with probabilities. PATH is a weights directory
 * (model.safetensors + meta.json, as a run writes it) or a .safetensors file (then meta.json
 * beside it is used if present); NAME is a registry name (trainer/registry/open.ts). The eval
 * transform comes from the registry entry or meta.json, else the architecture's defaults:
 * resize 232, center crop 224, bilinear, ImageNet mean/std.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../engine/backend.js';
import { ProcessEnv, WorkerEnv } from '../../api/names.js';
import { InputError, NotFoundError } from '../../common/errors.js';
import type { ResNetArch } from '../models/arch.js';
import { makeEvalTransform } from '../data/transforms/presets.js';
import { evalTransformConfig } from '../checkpoint/artifact.js';
import { openWeightsArg } from '../registry/open.js';
import { storageOptionsFromEnv, type StorageOptions } from '../../common/storage/storage.js';
import { Rng } from '../rng.js';

export interface PredictOptions {
  weights: string;
  /** `weights` is a name in this registry. */
  registry?: string;
  /** RINGMASTER_WEIGHTS_REGISTRY: used when `weights` is no local path. */
  defaultRegistry?: string;
  storage?: StorageOptions;
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
  const opened = await openWeightsArg(options);
  const { model, numClasses } = opened;
  const categories = opened.meta?.categories ?? [];
  const transform = makeEvalTransform(evalTransformConfig(opened.transforms));
  try {
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
  registry?: string;
  arch?: string;
  json?: boolean;
  logits?: boolean;
}

export function register(program: Command): void {
  program
    .command('predict')
    .description('top-5 classes of images with trained (or torchvision-exported) weights')
    .requiredOption(
      '--weights <path|name>',
      'weights directory (model.safetensors + meta.json), a .safetensors file, or a registry name',
    )
    .option(
      '--registry <uri>',
      `weights registry the --weights name is in (default: $${ProcessEnv.weightsRegistry})`,
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
        ...(flags.registry ? { registry: flags.registry } : {}),
        ...(process.env[ProcessEnv.weightsRegistry]
          ? { defaultRegistry: process.env[ProcessEnv.weightsRegistry] }
          : {}),
        storage: storageOptionsFromEnv(process.env),
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
