import * as tf from '@tensorflow/tfjs-core';
import type { ResNetModel } from './resnet.js';

export interface StepGrads {
  loss: number;
  /** d loss / d param for every trainable param, keyed like model.params (same order). */
  grads: Map<string, tf.Tensor>;
}

/**
 * Forward in training mode, backward, and the BN running-stat update (PyTorch updates them
 * during the forward; they do not feed the gradient, so the order is immaterial). The caller
 * owns (and must dispose) the returned gradients.
 */
export function trainStepGrads(
  model: ResNetModel,
  x: tf.Tensor4D,
  lossFn: (logits: tf.Tensor2D) => tf.Scalar,
): StepGrads {
  const names = [...model.params.keys()];
  const vars = [...model.params.values()];
  let stats: ReturnType<ResNetModel['forward']>['bnStats'];
  const { value, grads } = tf.variableGrads(() => {
    const out = model.forward(x, true);
    stats = out.bnStats;
    return lossFn(out.logits);
  }, vars);
  if (stats) model.updateBnStats(stats);
  const loss = value.dataSync()[0]!;
  value.dispose();
  const byName = new Map<string, tf.Tensor>();
  names.forEach((n, i) => byName.set(n, grads[vars[i]!.name]!));
  return { loss, grads: byName };
}
