/**
 * The recipe's loss: cross-entropy on soft targets with label smoothing, as
 * torch.nn.CrossEntropyLoss(label_smoothing=ε) computes it for probability targets:
 * t' = (1−ε)·t + ε/C; loss = mean over the batch of −Σ_c t'_c · log_softmax(x)_c.
 * Built from differentiable tf ops so it can sit inside tf.variableGrads.
 */
import * as tf from '@tensorflow/tfjs-core';

import { InputError } from '../../common/errors.js';

/** One-hot float32 rows (B × numClasses) for integer labels. */
export function oneHot(labels: Int32Array | tf.Tensor1D, numClasses: number): tf.Tensor2D {
  return tf.tidy(() => {
    const idx =
      labels instanceof tf.Tensor ? tf.cast(labels, 'int32') : tf.tensor1d(labels, 'int32');
    return tf.cast(tf.oneHot(idx, numClasses), 'float32') as tf.Tensor2D;
  });
}

/**
 * Mean label-smoothed cross-entropy. `targets` are soft rows (B × C, each summing to 1, e.g.
 * after Mixup/CutMix) or integer class indices (B), which mean one-hot rows — the same number
 * torch gives for index targets.
 */
export function smoothedCrossEntropy(
  logits: tf.Tensor2D,
  targets: tf.Tensor2D | tf.Tensor1D,
  labelSmoothing: number,
): tf.Scalar {
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
    throw new InputError(`label smoothing must be in [0, 1], got ${labelSmoothing}`, [
      { path: 'labelSmoothing', message: 'must be in [0, 1]' },
    ]);
  const [B, C] = logits.shape;
  return tf.tidy(() => {
    const soft = targets.rank === 1 ? oneHot(targets as tf.Tensor1D, C) : targets;
    if (soft.shape[0] !== B || soft.shape[1] !== C)
      throw new InputError(
        `targets of shape [${soft.shape.join(', ')}] do not match logits [${B}, ${C}]`,
        [{ path: 'targets', message: 'shape mismatch' }],
      );
    const smoothed =
      labelSmoothing > 0 ? tf.add(tf.mul(soft, 1 - labelSmoothing), labelSmoothing / C) : soft;
    const logProbs = tf.logSoftmax(logits, 1);
    return tf.div(tf.neg(tf.sum(tf.mul(smoothed, logProbs))), B) as tf.Scalar;
  });
}
