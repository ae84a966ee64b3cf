/**
 * An exponential moving average of a model's parameters and BatchNorm buffers, as torchvision's
 * reference recipe keeps it (utils.py ExponentialMovingAverage = torch AveragedModel with
 * use_buffers=True, driven by train.py):
 *  - `update` copies the model when nothing has been averaged yet (nAveraged = 0), otherwise
 *    ema ← decay·ema + (1−decay)·model; then nAveraged += 1.
 *  - train.py updates after the optimizer step when the step index inside the epoch i has
 *    i mod modelEmaSteps = 0, and during the LR warmup epochs sets nAveraged back to 0 after
 *    each update — so every warmup update is a copy, and so is the first update after warmup.
 *  - Integer buffers (num_batches_tracked) are averaged in float32 and truncated back to an
 *    integer, as torch's copy_ into an int64 tensor does.
 * The decay itself (adjusted for batch size and update interval) is trainer/optim/ema-decay.ts.
 */
import * as tf from '@tensorflow/tfjs-core';

import { InputError, RingmasterError } from '../../common/errors.js';

export interface EmaState {
  readonly nAveraged: number;
  /** The averaged tensors by name (parameters and buffers together); int32 for integer buffers. */
  readonly tensors: ReadonlyMap<string, Float32Array | Int32Array>;
}

/** train.py's condition for an EMA update after the optimizer step `stepInEpoch` (0-based). */
export function shouldUpdateEma(stepInEpoch: number, modelEmaSteps: number): boolean {
  return stepInEpoch % modelEmaSteps === 0;
}

export class ModelEma {
  private readonly avgParams = new Map<string, tf.Variable>();
  private readonly avgBuffers = new Map<string, tf.Variable>();
  private averaged = 0;

  constructor(readonly decay: number) {
    if (!(decay >= 0 && decay <= 1))
      throw new InputError(`EMA decay must be in [0, 1], got ${decay}`, [
        { path: 'decay', message: 'must be in [0, 1]' },
      ]);
  }

  /** The averaged parameters by name (empty before the first update). Read, do not dispose. */
  get params(): ReadonlyMap<string, tf.Variable> {
    return this.avgParams;
  }

  /** The averaged buffers by name (empty before the first update). Read, do not dispose. */
  get buffers(): ReadonlyMap<string, tf.Variable> {
    return this.avgBuffers;
  }

  /** Updates counted since the last copy (torch's n_averaged). */
  get nAveraged(): number {
    return this.averaged;
  }

  /** Fold the model's current parameters and buffers in (a copy when nAveraged is 0). */
  update(params: ReadonlyMap<string, tf.Tensor>, buffers: ReadonlyMap<string, tf.Tensor>): void {
    const copy = this.averaged === 0;
    if (!copy) {
      this.checkSameNames(params, this.avgParams, 'parameters');
      this.checkSameNames(buffers, this.avgBuffers, 'buffers');
    }
    tf.tidy(() => {
      const keep = tf.scalar(this.decay);
      const take = tf.scalar(1 - this.decay);
      const fold = (
        source: ReadonlyMap<string, tf.Tensor>,
        target: Map<string, tf.Variable>,
      ): void => {
        for (const [name, t] of source) {
          const avg = target.get(name);
          if (copy || avg === undefined) {
            const c = t.clone();
            if (avg === undefined) target.set(name, tf.variable(c, false));
            else avg.assign(c);
            continue;
          }
          if (t.dtype === 'float32') {
            avg.assign(tf.add(tf.mul(avg, keep), tf.mul(t, take)));
          } else {
            // torch: int64 * float → float32, then copy_ truncates towards zero.
            const f = tf.add(
              tf.mul(tf.cast(avg, 'float32'), keep),
              tf.mul(tf.cast(t, 'float32'), take),
            );
            avg.assign(tf.cast(f, avg.dtype));
          }
        }
      };
      fold(params, this.avgParams);
      fold(buffers, this.avgBuffers);
    });
    this.averaged += 1;
  }

  /** Make the next update a copy (train.py's n_averaged.fill_(0) during warmup). */
  restartAveraging(): void {
    this.averaged = 0;
  }

  /**
   * train.py's whole rule after optimizer step `stepInEpoch` of `epoch` (both 0-based):
   * update on every modelEmaSteps-th step, and during warmup epochs restart averaging after
   * the update. Returns whether an update happened.
   */
  afterStep(
    at: { epoch: number; stepInEpoch: number; modelEmaSteps: number; lrWarmupEpochs: number },
    params: ReadonlyMap<string, tf.Tensor>,
    buffers: ReadonlyMap<string, tf.Tensor>,
  ): boolean {
    if (!shouldUpdateEma(at.stepInEpoch, at.modelEmaSteps)) return false;
    this.update(params, buffers);
    if (at.epoch < at.lrWarmupEpochs) this.restartAveraging();
    return true;
  }

  /** A copy of the averages and the counter, for checkpoints. */
  state(): EmaState {
    const tensors = new Map<string, Float32Array | Int32Array>();
    for (const [name, v] of [...this.avgParams, ...this.avgBuffers]) {
      const data = v.dataSync();
      tensors.set(name, v.dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data));
    }
    return { nAveraged: this.averaged, tensors };
  }

  /**
   * Restore from a checkpoint; shapes and dtypes come from the model's `params` and `buffers`
   * (which of the names are parameters and which buffers, too). Every name must be present.
   */
  loadState(
    state: EmaState,
    params: ReadonlyMap<string, tf.Tensor>,
    buffers: ReadonlyMap<string, tf.Tensor>,
  ): void {
    const build = (source: ReadonlyMap<string, tf.Tensor>, into: Map<string, tf.Variable>) => {
      for (const [name, t] of source) {
        const values = state.tensors.get(name);
        if (values === undefined)
          throw new InputError(`EMA state has no tensor ${name}`, [
            { path: name, message: 'missing' },
          ]);
        if (values.length !== t.size)
          throw new InputError(
            `EMA state for ${name} has ${values.length} values, expected ${t.size}`,
            [{ path: name, message: 'size mismatch' }],
          );
        into.set(
          name,
          tf.tidy(() => tf.variable(tf.tensor(values, t.shape, t.dtype), false)),
        );
      }
    };
    const p = new Map<string, tf.Variable>();
    const b = new Map<string, tf.Variable>();
    try {
      build(params, p);
      build(buffers, b);
      if (state.tensors.size !== p.size + b.size)
        throw new InputError('EMA state has tensors the model does not have', [
          { path: 'tensors', message: 'unknown names' },
        ]);
    } catch (e) {
      for (const v of [...p.values(), ...b.values()]) v.dispose();
      throw e;
    }
    this.dispose();
    for (const [k, v] of p) this.avgParams.set(k, v);
    for (const [k, v] of b) this.avgBuffers.set(k, v);
    this.averaged = state.nAveraged;
  }

  dispose(): void {
    for (const v of [...this.avgParams.values(), ...this.avgBuffers.values()]) v.dispose();
    this.avgParams.clear();
    this.avgBuffers.clear();
  }

  private checkSameNames(
    model: ReadonlyMap<string, tf.Tensor>,
    avg: ReadonlyMap<string, tf.Variable>,
    what: string,
  ): void {
    if (model.size !== avg.size || [...model.keys()].some((k) => !avg.has(k)))
      throw new RingmasterError(`EMA: the model's ${what} differ from the averaged ones`);
  }
}
