/**
 * torch.utils.data.DistributedSampler: the recipe's validation sampler (shuffle off) and the
 * training sampler when repeated augmentation is off. Same counts and padding as torch;
 * the permutation comes from Rng(seed, epoch) because torch's generator cannot be matched.
 */
import { Rng } from '../rng.js';
import { samplesPerRank } from './epoch-length.js';
import type { Sampler, SamplerOptions } from './sampler.js';

export class DistributedSampler implements Sampler {
  readonly numSamples: number;
  readonly totalSize: number;
  constructor(
    private readonly o: Required<
      Pick<SamplerOptions, 'n' | 'rank' | 'worldSize' | 'seed' | 'shuffle' | 'dropLast'>
    >,
  ) {
    this.numSamples = samplesPerRank('distributed', o);
    this.totalSize = this.numSamples * o.worldSize;
  }

  indices(epoch: number): Uint32Array {
    const { n, rank, worldSize, seed, shuffle } = this.o;
    const base = shuffle ? new Rng(seed, epoch).permutation(n) : identity(n);
    const out = new Uint32Array(this.numSamples);
    // Padding repeats the list from its start (as often as needed when it is shorter than
    // the padding); drop_last truncates instead. Position p of the padded list is base[p % n].
    for (let i = 0; i < this.numSamples; i++) out[i] = base[(rank + i * worldSize) % n]!;
    return out;
  }
}

export function identity(n: number): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}
