/**
 * SGD with momentum and per-group weight decay, with torch.optim.SGD's semantics (dampening 0):
 *   g ← grad + wd·p;  buf ← g if the parameter has no buffer yet, else momentum·buf + g;
 *   p ← p − lr·(nesterov ? g + momentum·buf : buf).
 * tfjs optimizers have no weight decay and key their state by position, so Ringmaster keeps
 * its own: momentum buffers are non-trainable tf.Variables keyed by the torchvision parameter
 * name, which is also what a checkpoint stores. "No buffer yet" is per parameter (a restored
 * checkpoint has buffers; a parameter that never had a gradient has none), as in torch.
 */
import * as tf from '@tensorflow/tfjs-core';

import { InputError, RingmasterError } from '../../common/errors.js';

export interface ParamGroup {
  readonly names: readonly string[];
  readonly weightDecay: number;
}

export interface SgdOptions {
  readonly momentum: number;
  readonly nesterov?: boolean;
}

/**
 * torchvision's set_weight_decay split: parameters owned directly by a normalization layer
 * get `normWeightDecay`, all others `weightDecay`. Without `normWeightDecay` (null/undefined)
 * there is one group, as train.py does when --norm-weight-decay is not given. Empty groups are
 * left out. Names keep their order.
 */
export function paramGroups(
  names: Iterable<string>,
  isNormParam: (name: string) => boolean,
  opts: { weightDecay: number; normWeightDecay?: number | null },
): ParamGroup[] {
  const all = [...names];
  if (opts.normWeightDecay === undefined || opts.normWeightDecay === null)
    return all.length ? [{ names: all, weightDecay: opts.weightDecay }] : [];
  const other = all.filter((n) => !isNormParam(n));
  const norm = all.filter((n) => isNormParam(n));
  const groups: ParamGroup[] = [];
  if (other.length) groups.push({ names: other, weightDecay: opts.weightDecay });
  if (norm.length) groups.push({ names: norm, weightDecay: opts.normWeightDecay });
  return groups;
}

/**
 * Whether a torchvision ResNet/ResNeXt parameter name belongs to a BatchNorm layer: `bn1.*`,
 * `layerX.Y.bnZ.*` and the downsample's norm `layerX.Y.downsample.1.*`.
 */
export function isResNetNormParam(name: string): boolean {
  return /(^|\.)bn\d+\.(weight|bias)$/.test(name) || /\.downsample\.1\.(weight|bias)$/.test(name);
}

export class SGD {
  private readonly groups: readonly ParamGroup[];
  private readonly momentum: number;
  private readonly nesterov: boolean;
  private readonly buffers = new Map<string, tf.Variable>();

  constructor(groups: readonly ParamGroup[], opts: SgdOptions) {
    const seen = new Set<string>();
    for (const [i, g] of groups.entries()) {
      if (!(g.weightDecay >= 0))
        throw new InputError(`SGD: weight decay of group ${i} must be ≥ 0`, [
          { path: `groups[${i}].weightDecay`, message: 'must be ≥ 0' },
        ]);
      for (const n of g.names) {
        if (seen.has(n))
          throw new InputError(`SGD: parameter ${n} is in two groups`, [
            { path: `groups[${i}].names`, message: `duplicate ${n}` },
          ]);
        seen.add(n);
      }
    }
    if (!(opts.momentum >= 0))
      throw new InputError('SGD: momentum must be ≥ 0', [
        { path: 'momentum', message: 'must be ≥ 0' },
      ]);
    if (opts.nesterov && opts.momentum <= 0)
      throw new InputError('SGD: Nesterov momentum requires a momentum > 0', [
        { path: 'nesterov', message: 'needs momentum > 0' },
      ]);
    this.groups = groups.map((g) => ({ names: [...g.names], weightDecay: g.weightDecay }));
    this.momentum = opts.momentum;
    this.nesterov = opts.nesterov ?? false;
  }

  /**
   * One update of every grouped parameter that has a gradient (others are skipped, as torch
   * skips p.grad None). The caller keeps ownership of `grads`. One tf.tidy: no tensor leaks.
   */
  step(
    params: ReadonlyMap<string, tf.Variable>,
    grads: ReadonlyMap<string, tf.Tensor>,
    lr: number,
  ): void {
    tf.tidy(() => {
      const negLr = tf.scalar(-lr);
      const mom = tf.scalar(this.momentum);
      for (const group of this.groups) {
        const wd = group.weightDecay !== 0 ? tf.scalar(group.weightDecay) : null;
        for (const name of group.names) {
          const grad = grads.get(name);
          if (grad === undefined) continue;
          const p = params.get(name);
          if (p === undefined)
            throw new RingmasterError(`SGD: parameter ${name} is grouped but not in the model`);
          let d: tf.Tensor = wd ? tf.add(grad, tf.mul(p, wd)) : grad;
          if (this.momentum !== 0) {
            const buf = this.buffers.get(name);
            if (buf === undefined) {
              // tf.variable shares d's data; tidy frees the other handles, not the variable.
              this.buffers.set(name, tf.variable(d, false));
              d = this.nesterov ? tf.add(d, tf.mul(d, mom)) : d;
            } else {
              buf.assign(tf.add(tf.mul(buf, mom), d));
              d = this.nesterov ? tf.add(d, tf.mul(buf, mom)) : buf;
            }
          }
          p.assign(tf.add(p, tf.mul(d, negLr)));
        }
      }
    });
  }

  /** Copies of the momentum buffers, by parameter name (for checkpoints). */
  state(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [name, buf] of this.buffers) out.set(name, Float32Array.from(buf.dataSync()));
    return out;
  }

  /**
   * Replace the momentum buffers by checkpointed ones; shapes come from `params`. Parameters
   * absent from `state` start without a buffer (their next step copies the gradient).
   */
  loadState(
    state: ReadonlyMap<string, Float32Array>,
    params: ReadonlyMap<string, tf.Variable>,
  ): void {
    const grouped = new Set(this.groups.flatMap((g) => g.names));
    const fresh = new Map<string, tf.Variable>();
    try {
      for (const [name, values] of state) {
        const p = params.get(name);
        if (!grouped.has(name) || p === undefined)
          throw new InputError(`SGD state has a buffer for unknown parameter ${name}`, [
            { path: name, message: 'not an optimized parameter' },
          ]);
        if (values.length !== p.size)
          throw new InputError(
            `SGD state for ${name} has ${values.length} values, the parameter ${p.size}`,
            [{ path: name, message: 'size mismatch' }],
          );
        fresh.set(
          name,
          tf.tidy(() => tf.variable(tf.tensor(values, p.shape, 'float32'), false)),
        );
      }
    } catch (e) {
      for (const v of fresh.values()) v.dispose();
      throw e;
    }
    this.disposeBuffers();
    for (const [k, v] of fresh) this.buffers.set(k, v);
  }

  /** Whether `name` has a momentum buffer (after its first step or a restore). */
  hasBuffer(name: string): boolean {
    return this.buffers.has(name);
  }

  dispose(): void {
    this.disposeBuffers();
  }

  private disposeBuffers(): void {
    for (const v of this.buffers.values()) v.dispose();
    this.buffers.clear();
  }
}
