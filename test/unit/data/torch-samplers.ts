/**
 * torch's and torchvision's samplers transcribed list operation by list operation, as
 * references for ours (trainer/data/*-sampler.ts) and for their lengths (epoch-length.ts).
 */
import assert from 'node:assert/strict';
import { Rng } from '../../../trainer/rng.js';

/** torchvision's RASampler.__iter__, transcribed list operation by list operation. */
export function raReference(
  n: number,
  R: number,
  rank: number,
  reps: number,
  seed: number,
  epoch: number,
): number[] {
  const numSamples = Math.ceil((n * reps) / R);
  const total = numSamples * R;
  const selected = Math.floor((Math.floor(n / 256) * 256) / R);
  let idx = Array.from(new Rng(seed, epoch).permutation(n));
  idx = idx.flatMap((e) => Array.from({ length: reps }, () => e));
  idx = idx.concat(idx.slice(0, total - idx.length));
  assert.equal(idx.length, total);
  const mine = idx.filter((_, i) => i >= rank && (i - rank) % R === 0);
  assert.equal(mine.length, numSamples);
  return mine.slice(0, selected);
}

/** torch.utils.data.DistributedSampler.__iter__ (drop_last false/true). */
export function dsReference(
  n: number,
  R: number,
  rank: number,
  shuffle: boolean,
  dropLast: boolean,
  seed: number,
  epoch: number,
): number[] {
  const numSamples = dropLast && n % R !== 0 ? Math.ceil((n - R) / R) : Math.ceil(n / R);
  const total = numSamples * R;
  let idx = shuffle
    ? Array.from(new Rng(seed, epoch).permutation(n))
    : Array.from({ length: n }, (_, i) => i);
  if (!dropLast) {
    const pad = total - idx.length;
    if (pad <= idx.length) idx = idx.concat(idx.slice(0, pad));
    else {
      let rep: number[] = [];
      for (let k = 0; k < Math.ceil(pad / idx.length); k++) rep = rep.concat(idx);
      idx = idx.concat(rep.slice(0, pad));
    }
  } else idx = idx.slice(0, total);
  return idx.filter((_, i) => i >= rank && (i - rank) % R === 0);
}
