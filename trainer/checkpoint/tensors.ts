/**
 * Named tensors ↔ safetensors bytes for the parts of a checkpoint that only Ringmaster reads
 * (optimizer momentum, per-rank BatchNorm buffers): tfjs layout, float32 and int32 as they
 * are in memory. The model and EMA go through models/weights.ts (torchvision layout).
 */
import * as tf from '@tensorflow/tfjs-core';
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from '../models/safetensors.js';

export type NamedTensors = Map<string, SafeTensor>;

export function encodeTensors(
  tensors: ReadonlyMap<string, tf.Tensor | { data: Float32Array; shape: number[] }>,
): Buffer {
  const out = new Map<string, SafeTensor>();
  for (const [name, t] of tensors) {
    if (t instanceof tf.Tensor) {
      const data = t.dataSync();
      out.set(
        name,
        t.dtype === 'int32'
          ? { dtype: 'I32', shape: [...t.shape], data: Int32Array.from(data) }
          : { dtype: 'F32', shape: [...t.shape], data: Float32Array.from(data) },
      );
    } else {
      out.set(name, { dtype: 'F32', shape: [...t.shape], data: t.data });
    }
  }
  const bytes = encodeSafetensors(out, { layout: 'tfjs' });
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function decodeTensors(buf: Uint8Array, source = 'checkpoint'): NamedTensors {
  return decodeSafetensors(buf, source).tensors;
}
