/** Inputs and expected results shared by the collectives tests (unit and multi-process). */
import { Rng } from '../../../trainer/rng.js';

/** Small integers: every partial sum is exact in float32, so any order gives the exact sum. */
export function intInput(rank: number, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = ((i * 7 + rank * 13) % 1001) - 500;
  return a;
}

export function exactSum(inputs: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(inputs[0]!.length);
  for (const x of inputs) for (let i = 0; i < out.length; i++) out[i]! += x[i]!;
  return out;
}

export function randomInput(rank: number, n: number, seed: number): Float32Array {
  const rng = new Rng(seed, rank);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

/**
 * The documented order: each bucket pass of `bucketElems` is cut into `channels` parts (one
 * ring per TCP connection of a neighbour pair, ADR 0093), each part into N segments, and
 * segment s is summed starting at rank s, around the ring: ((x_s + x_s+1) + x_s+2) + ...
 */
export function ringOrderSum(
  inputs: readonly Float32Array[],
  n: number,
  bucketElems = Infinity,
  channels = 1,
): Float32Array {
  const N = inputs.length;
  const out = new Float32Array(n);
  for (let bucket = 0; bucket < n; bucket += bucketElems) {
    const blen = Math.min(bucketElems, n - bucket);
    for (let c = 0; c < channels; c++) {
      const base = bucket + Math.floor((c * blen) / channels);
      const len = bucket + Math.floor(((c + 1) * blen) / channels) - base;
      for (let s = 0; s < N; s++) {
        const a = base + Math.floor((s * len) / N);
        const b = base + Math.floor(((s + 1) * len) / N);
        for (let i = a; i < b; i++) {
          let acc = inputs[s]![i]!;
          for (let j = 1; j < N; j++) acc = Math.fround(inputs[(s + j) % N]![i]! + acc);
          out[i] = acc;
        }
      }
    }
  }
  return out;
}

/** Index and values of the first difference (bitwise, so -0/NaN count), or undefined. */
export function firstMismatch(got: Float32Array, want: Float32Array): string | undefined {
  if (got.length !== want.length) return `length ${got.length} != ${want.length}`;
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) return `element ${i}: ${got[i]} != ${want[i]}`;
  }
  return undefined;
}
