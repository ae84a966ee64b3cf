/**
 * One unit of work for a transform worker: some samples of one batch. Each sample's random
 * stream is Rng(seed, AUGMENT_STREAM, epoch, position) where position is the sample's place in
 * the epoch's global (all ranks) order, so augmentations depend on what is sampled where,
 * never on thread scheduling, worker count or which rank runs it.
 */
import { Rng } from '../rng.js';
import type { ImageTransform } from './transforms/presets.js';

/** Separates augmentation streams from the sampler's Rng(seed, epoch). */
export const AUGMENT_STREAM = 0x617567; // 'aug'

export interface TransformTask {
  seed: number;
  epoch: number;
  /** Global positions, one per image. */
  positions: number[];
  images: Uint8Array[];
  /**
   * The batch's shared memory: image i goes to floats [(first + i)·stride, …+stride) when its
   * size is `stride` floats (the worker writes it there, no copy back through the loader's
   * thread); an image of another size comes back in `data` instead.
   */
  out?: { buffer: SharedArrayBuffer; first: number; stride: number };
}

export type TransformResult =
  /** data[i] is empty when image i went into the task's shared `out`. */
  | { ok: true; data: Float32Array[]; height: number; width: number }
  | { ok: false; index: number; message: string };

export async function runTransformTask(
  t: ImageTransform,
  task: TransformTask,
): Promise<TransformResult> {
  const data: Float32Array[] = [];
  let height = 0;
  let width = 0;
  for (let i = 0; i < task.images.length; i++) {
    try {
      const out = await t(
        task.images[i]!,
        new Rng(task.seed, AUGMENT_STREAM, task.epoch, task.positions[i]!),
      );
      if (i > 0 && (out.height !== height || out.width !== width)) {
        return {
          ok: false,
          index: i,
          message: `image is ${out.width}×${out.height}, the batch's ${width}×${height}`,
        };
      }
      height = out.height;
      width = out.width;
      const o = task.out;
      if (o && out.data.length === o.stride) {
        new Float32Array(o.buffer, (o.first + i) * o.stride * 4, o.stride).set(out.data);
        data.push(new Float32Array(0));
      } else {
        data.push(out.data);
      }
    } catch (err) {
      return { ok: false, index: i, message: (err as Error).message };
    }
  }
  return { ok: true, data, height, width };
}
