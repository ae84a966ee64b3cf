/**
 * torchvision state_dicts ↔ Ringmaster models. On disk (safetensors): torchvision names and
 * PyTorch layouts — conv OIHW, fc.weight [out, in], num_batches_tracked int64 scalars.
 * In tfjs: conv HWIO, fc.weight [in, out], num_batches_tracked int32.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InputError, type InputIssue } from '../../common/errors.js';
import type { ResNetModel } from './resnet.js';
import type { SafeTensor } from './safetensors.js';

export type StateDict = Map<string, SafeTensor>;

function toTorch(name: string, t: tf.Tensor): tf.Tensor {
  if (t.rank === 4) return tf.transpose(t, [3, 2, 0, 1]);
  if (name === 'fc.weight') return tf.transpose(t);
  return t.clone();
}

function fromTorch(name: string, t: tf.Tensor): tf.Tensor {
  if (t.rank === 4) return tf.transpose(t, [2, 3, 1, 0]);
  if (name === 'fc.weight') return tf.transpose(t);
  return t.clone();
}

/** The PyTorch shape of a model tensor. */
export function torchShape(name: string, v: tf.Variable): number[] {
  const s = v.shape;
  if (s.length === 4) return [s[3]!, s[2]!, s[0]!, s[1]!];
  if (name === 'fc.weight') return [s[1]!, s[0]!];
  return [...s];
}

/** The model's params and buffers as a torchvision state_dict (copies). */
export function stateDict(model: ResNetModel): StateDict {
  const out: StateDict = new Map();
  for (const name of model.stateNames) {
    const v = model.params.get(name) ?? model.buffers.get(name)!;
    if (v.dtype === 'int32') {
      const vals = v.dataSync() as Int32Array;
      out.set(name, {
        dtype: 'I64',
        shape: [...v.shape],
        data: BigInt64Array.from(vals, (x) => BigInt(x)),
      });
      continue;
    }
    const t = tf.tidy(() => toTorch(name, v));
    out.set(name, { dtype: 'F32', shape: [...t.shape], data: t.dataSync() as Float32Array });
    t.dispose();
  }
  return out;
}

export interface LoadOptions {
  /** Reject missing and unexpected names (torch's strict=True). Shapes are always checked. */
  strict?: boolean;
}

function asFloat32(t: SafeTensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.data instanceof BigInt64Array) return Float32Array.from(t.data, (x) => Number(x));
  return Float32Array.from(t.data);
}

/**
 * Copies a torchvision state_dict into the model. Everything is validated before anything is
 * assigned, so a mismatch leaves the model untouched; the InputError names each bad tensor.
 */
export function loadStateDict(
  model: ResNetModel,
  dict: ReadonlyMap<string, SafeTensor>,
  options: LoadOptions = {},
): void {
  const strict = options.strict ?? true;
  const issues: InputIssue[] = [];
  const todo: Array<[tf.Variable, string, SafeTensor]> = [];
  for (const name of model.stateNames) {
    const v = model.params.get(name) ?? model.buffers.get(name)!;
    const t = dict.get(name);
    if (t === undefined) {
      if (strict) issues.push({ path: name, message: 'missing' });
      continue;
    }
    const want = torchShape(name, v);
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      issues.push({
        path: name,
        message: `shape [${t.shape.join(', ')}], expected [${want.join(', ')}]`,
      });
      continue;
    }
    todo.push([v, name, t]);
  }
  if (strict) {
    const known = new Set(model.stateNames);
    for (const name of dict.keys())
      if (!known.has(name)) issues.push({ path: name, message: 'unexpected' });
  }
  if (issues.length > 0) {
    throw new InputError(
      `weights do not fit ${model.arch.name} with ${model.numClasses} classes (${issues.length} tensors)`,
      issues,
    );
  }
  for (const [v, name, t] of todo) {
    tf.tidy(() => {
      if (v.dtype === 'int32') {
        v.assign(tf.tensor(Int32Array.from(asFloat32(t)), v.shape, 'int32'));
      } else {
        v.assign(fromTorch(name, tf.tensor(asFloat32(t), t.shape, 'float32')));
      }
    });
  }
}
