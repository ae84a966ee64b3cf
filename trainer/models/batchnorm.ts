/**
 * BatchNorm with PyTorch semantics (eps 1e-5; running ← 0.9·running + 0.1·batch with the
 * UNBIASED batch variance for running_var) over the channel axis of NHWC tensors.
 *
 * Training mode is one custom-gradient op: tfjs's own composition (moments, sub, div, sqrt…)
 * records about ten full-size ops on the tape; here the forward is x·scale + shift and the
 * backward dx = dy·k1 + x·k2 + k3 with per-channel k's — five full-size passes in all.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  CHANNEL_GRAD_SUMS,
  CHANNEL_MOMENTS,
  hasChannelSums,
} from '../engine/kernels/channel_sums.js';

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

/** The batch statistics of one training-mode BN call, kept for the running-stat update. */
export interface BnBatchStats {
  /** Index of the BN layer in the model. */
  layer: number;
  mean: tf.Tensor1D;
  /** Biased batch variance (what normalises the batch). */
  variance: tf.Tensor1D;
  /** Elements per channel (N·H·W), for the unbiased correction. */
  count: number;
}

/**
 * y = γ·(x − μ)/√(σ² + ε) + β with batch μ, σ² (biased). The returned stats are kept out of
 * every tidy scope: the caller must dispose them (applyBnUpdate does).
 */
export function batchNormTrain(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
): { y: tf.Tensor4D; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  let mean: tf.Tensor1D | undefined;
  let variance: tf.Tensor1D | undefined;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x4, g, b, save] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    let m: tf.Tensor1D;
    let v: tf.Tensor1D;
    if (hasChannelSums()) {
      const mv = tf.engine().runKernel(CHANNEL_MOMENTS, { x: x4 }) as tf.Tensor2D;
      [m, v] = tf.unstack(mv) as [tf.Tensor1D, tf.Tensor1D];
    } else {
      m = tf.mean(x4, [0, 1, 2]) as tf.Tensor1D;
      v = tf.mean(tf.square(tf.sub(x4, m)), [0, 1, 2]) as tf.Tensor1D;
    }
    const rstd = tf.rsqrt(tf.add(v, BN_EPS)) as tf.Tensor1D;
    const scale = tf.mul(g, rstd);
    const shift = tf.sub(b, tf.mul(m, scale));
    const y = tf.add(tf.mul(x4, scale), shift) as tf.Tensor4D;
    mean = tf.keep(m);
    variance = tf.keep(v);
    save([x4, g, m, rstd]);
    return {
      value: y,
      gradFunc: (d: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [xs, gs, ms, rs] = saved as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        const n = xs.size / xs.shape[3];
        let sumDy: tf.Tensor1D;
        let sumDyX: tf.Tensor1D;
        if (hasChannelSums()) {
          const sums = tf.engine().runKernel(CHANNEL_GRAD_SUMS, { dy: d, x: xs }) as tf.Tensor2D;
          [sumDy, sumDyX] = tf.unstack(sums) as [tf.Tensor1D, tf.Tensor1D];
        } else {
          sumDy = tf.sum(d, [0, 1, 2]);
          sumDyX = tf.sum(tf.mul(d, xs), [0, 1, 2]);
        }
        // Σ dy·x̂ = rstd·(Σ dy·x − μ·Σ dy)
        const sumDyXhat = tf.mul(rs, tf.sub(sumDyX, tf.mul(ms, sumDy)));
        const k1 = tf.mul(gs, rs);
        // dx = k1·(dy − Σdy/n − x̂·Σdy·x̂/n), expanded so that x enters linearly.
        const k2 = tf.neg(tf.div(tf.mul(tf.mul(k1, rs), sumDyXhat), n));
        const k3 = tf.sub(tf.neg(tf.div(tf.mul(k1, sumDy), n)), tf.mul(k2, ms));
        const dx = tf.add(tf.add(tf.mul(d, k1), tf.mul(xs, k2)), k3);
        return [dx, sumDyXhat, sumDy];
      },
    };
  });
  const y = op(x, gamma, beta) as tf.Tensor4D;
  return { y, mean: mean!, variance: variance! };
}

/** Inference-mode BN with the running statistics. */
export function batchNormEval(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  runningMean: tf.Tensor1D,
  runningVar: tf.Tensor1D,
): tf.Tensor4D {
  return tf.batchNorm4d(x, runningMean, runningVar, beta, gamma, BN_EPS);
}

/** running ← (1 − m)·running + m·batch, with the unbiased variance; num_batches_tracked += 1. */
export function applyBnUpdate(
  stats: BnBatchStats,
  runningMean: tf.Variable,
  runningVar: tf.Variable,
  numBatchesTracked: tf.Variable,
): void {
  tf.tidy(() => {
    const unbiased = stats.count > 1 ? stats.count / (stats.count - 1) : 1;
    runningMean.assign(
      tf.add(tf.mul(runningMean, 1 - BN_MOMENTUM), tf.mul(stats.mean, BN_MOMENTUM)),
    );
    runningVar.assign(
      tf.add(tf.mul(runningVar, 1 - BN_MOMENTUM), tf.mul(stats.variance, BN_MOMENTUM * unbiased)),
    );
    numBatchesTracked.assign(tf.add(numBatchesTracked, tf.scalar(1, 'int32')));
  });
  stats.mean.dispose();
  stats.variance.dispose();
}
