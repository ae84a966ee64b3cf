/**
 * RASampler of torchvision's references/classification/sampler.py (repeated augmentation,
 * Hoffer et al. / DeiT): each index of the epoch's permutation repeated `reps` times in a row,
 * padded from the start to a multiple of the world size, dealt round-robin to the ranks (so
 * the copies of one image land on consecutive ranks), then each rank keeps only
 * floor(floor(N/256)·256 / R) samples, the count of an epoch without repetition.
 */
import { Rng } from '../rng.js';
import type { Sampler, SamplerOptions } from './sampler.js';
import { identity } from './distributed-sampler.js';
import { samplesPerRank } from './epoch-length.js';

export class RASampler implements Sampler {
  /** Samples per rank before the final truncation: ceil(N·reps / R). */
  readonly perRankPadded: number;
  readonly totalSize: number;
  readonly numSamples: number;
  constructor(
    private readonly o: Required<
      Pick<SamplerOptions, 'n' | 'rank' | 'worldSize' | 'seed' | 'shuffle' | 'reps'>
    >,
  ) {
    const { n, worldSize, reps } = o;
    this.perRankPadded = Math.ceil((n * reps) / worldSize);
    this.totalSize = this.perRankPadded * worldSize;
    this.numSamples = samplesPerRank('ra', o);
  }

  indices(epoch: number): Uint32Array {
    const { n, rank, worldSize, seed, shuffle, reps } = this.o;
    const perm = shuffle ? new Rng(seed, epoch).permutation(n) : identity(n);
    const repeated = n * reps;
    const out = new Uint32Array(this.numSamples);
    for (let i = 0; i < this.numSamples; i++) {
      // Position in the padded, repeated list; padding copies that list from its start.
      const p = (rank + i * worldSize) % repeated;
      out[i] = perm[Math.floor(p / reps)]!;
    }
    return out;
  }
}
