/** What one data-parallel step takes and gives (step.ts, overlapped-step.ts). */
import type { Group } from './comm/index.js';
import type { ResNetModel } from './models/resnet.js';
import type { TopkCounts } from './optim/metrics.js';
import type { SGD } from './optim/sgd.js';

export interface StepInput {
  model: ResNetModel;
  sgd: SGD;
  /** null (or a group of one) for a single process. */
  group: Group | null;
  /** NHWC images, B·H·W·3. */
  images: Float32Array;
  /** Soft targets, B·numClasses. */
  targets: Float32Array;
  batch: number;
  height: number;
  width: number;
  labelSmoothing: number;
  lr: number;
  /** Averaged with the gradients (e.g. a stop flag); read back after the step. */
  shared?: Float32Array;
  /** Called when this rank's gradients are ready, before it waits on its peers. */
  onGradientsReady?: () => void;
  /** Filled with the time of each phase when given (bench:step-overlap reads it). */
  phases?: StepPhases;
  /**
   * All-reduce gradient buckets while the backward pass runs (overlapped-step.ts); absent: on.
   * The trainer passes its choice (RINGMASTER_OVERLAP_ALLREDUCE, 'auto': on GPUs only). Off:
   * the whole backward, then one fused all-reduce. Both give the same update at N=2.
   */
  overlap?: boolean;
  /** Bucket size of the overlapped all-reduce (default grad-buckets.ts DEFAULT_BUCKET_BYTES). */
  bucketBytes?: number;
}

/** Milliseconds of the phases of one step, on this rank's clock. */
export interface StepPhases {
  /** Forward, backward and the loss read-back. */
  computeMs: number;
  /** Gradients fused and copied to the host. */
  toHostMs: number;
  /** The all-reduce: exposed communication, nothing else runs meanwhile. */
  allReduceMs: number;
  /** The averaged gradients back on the backend, and SGD. */
  applyMs: number;
}

export interface StepResult {
  /** The loss averaged over the ranks. */
  loss: number;
  /** This rank's hits of the training-mode logits against the targets' argmax. */
  counts: TopkCounts;
  /** Time spent in the all-reduce (mostly waiting for the slowest rank), ms. */
  reduceMs: number;
}
