/**
 * Gradients all-reduced in buckets while the backward pass still runs (DDP's design): each
 * gradient is copied to the host as soon as it is final, gradients are grouped in arrival
 * order (reverse layer order) into buckets of about `bucketBytes`, and a bucket's all-reduce
 * starts the moment it is full. The ring sums every element in a fixed order (ADR 0041) and
 * the bucket layout follows the tape, which is the same every step, so results are
 * bit-identical from run to run.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Group } from './comm/index.js';

/** DDP starts with small buckets for the same reason: the first one goes out early. */
export const DEFAULT_BUCKET_BYTES = 4 * 1024 * 1024;

export class GradientBuckets {
  /** Host copies of the gradients, by variable index. */
  readonly host: (Float32Array | undefined)[];
  private bucket: Float32Array[] = [];
  private bucketBytes = 0;
  private readonly inflight: Promise<void>[] = [];
  /** Milliseconds spent copying gradients to the host. */
  copyMs = 0;

  constructor(
    private readonly group: Group,
    count: number,
    private readonly limitBytes = DEFAULT_BUCKET_BYTES,
  ) {
    this.host = new Array<Float32Array | undefined>(count);
  }

  /** Takes (and disposes) the final gradient of variable `index`. */
  add(index: number, grad: tf.Tensor): void {
    const t0 = performance.now();
    // dataSync hands us a fresh array: the ring may reduce it in place.
    const a = grad.dataSync() as Float32Array;
    grad.dispose();
    this.copyMs += performance.now() - t0;
    this.host[index] = a;
    this.bucket.push(a);
    this.bucketBytes += a.byteLength;
    if (this.bucketBytes >= this.limitBytes) this.launch([]);
  }

  /** Launches the last bucket with `extra` arrays (loss, shared flags) and waits for all. */
  async finish(extra: Float32Array[]): Promise<void> {
    const missing = this.host.findIndex((a) => a === undefined);
    if (missing >= 0) {
      throw new Error(`variable ${missing} got no gradient: the model does not use it`);
    }
    this.launch(extra);
    await Promise.all(this.inflight);
  }

  private launch(extra: Float32Array[]): void {
    const arrays = [...this.bucket, ...extra];
    this.bucket = [];
    this.bucketBytes = 0;
    if (arrays.length === 0) return;
    const p = this.group.allReduce(arrays, 'mean');
    // Awaited in finish(); no unhandled rejection meanwhile.
    p.catch(() => {});
    this.inflight.push(p);
  }
}
