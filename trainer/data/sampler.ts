/**
 * Which indices this rank visits in an epoch, as torchvision's reference training picks them:
 * training with repeated augmentation → RASampler; training without → DistributedSampler
 * (shuffled); validation → DistributedSampler with shuffle off; one process → a plain seeded
 * permutation (RandomSampler) for training and the identity (SequentialSampler) for validation.
 */
import { InputError } from '../../common/errors.js';
import { Rng } from '../rng.js';
import { DistributedSampler, identity } from './distributed-sampler.js';
import type { SamplerKind } from './epoch-length.js';
import { RASampler } from './ra-sampler.js';

export interface Sampler {
  /** This rank's dataset indices for the epoch, in order. */
  indices(epoch: number): Uint32Array;
  /** How many indices every call returns. */
  readonly numSamples: number;
}

export type { SamplerKind } from './epoch-length.js';

export interface SamplerOptions {
  /** Dataset size. */
  n: number;
  rank?: number;
  worldSize?: number;
  seed?: number;
  /** Repeats per image (RASampler). */
  reps?: number;
  shuffle?: boolean;
  /** DistributedSampler's drop_last (torch default false). */
  dropLast?: boolean;
}

class PermutationSampler implements Sampler {
  constructor(
    readonly numSamples: number,
    private readonly seed: number,
    private readonly shuffle: boolean,
  ) {}
  indices(epoch: number): Uint32Array {
    return this.shuffle
      ? new Rng(this.seed, epoch).permutation(this.numSamples)
      : identity(this.numSamples);
  }
}

export function samplerFor(kind: SamplerKind, opts: SamplerOptions): Sampler {
  const o = {
    n: opts.n,
    rank: opts.rank ?? 0,
    worldSize: opts.worldSize ?? 1,
    seed: opts.seed ?? 0,
    reps: opts.reps ?? 4,
    shuffle: opts.shuffle ?? kind !== 'sequential',
    dropLast: opts.dropLast ?? false,
  };
  const issues = [];
  if (!Number.isInteger(o.n) || o.n < 1)
    issues.push({ path: 'n', message: `dataset size must be >= 1, got ${o.n}` });
  if (!Number.isInteger(o.worldSize) || o.worldSize < 1)
    issues.push({ path: 'worldSize', message: `must be >= 1` });
  if (!Number.isInteger(o.rank) || o.rank < 0 || o.rank >= o.worldSize) {
    issues.push({ path: 'rank', message: `must be in [0, ${o.worldSize}), got ${o.rank}` });
  }
  if (!Number.isInteger(o.reps) || o.reps < 1)
    issues.push({ path: 'reps', message: 'must be >= 1' });
  if (issues.length > 0) throw new InputError(`invalid ${kind} sampler options`, issues);
  switch (kind) {
    case 'random':
      return new PermutationSampler(o.n, o.seed, true);
    case 'sequential':
      return new PermutationSampler(o.n, o.seed, false);
    case 'distributed':
      return new DistributedSampler(o);
    case 'ra': {
      const s = new RASampler(o);
      if (s.numSamples === 0) {
        throw new InputError(`RASampler gives rank ${o.rank} no samples`, [
          {
            path: 'n',
            message: `floor(floor(${o.n}/256)·256/${o.worldSize}) = 0: RASampler needs at least 256 images`,
          },
        ]);
      }
      return s;
    }
  }
}

/** The sampler kind torchvision's train.py would use. */
export function samplerKindFor(
  split: 'train' | 'val',
  worldSize: number,
  raReps: number,
): SamplerKind {
  if (split === 'val') return worldSize > 1 ? 'distributed' : 'sequential';
  if (worldSize === 1) return 'random';
  return raReps > 0 ? 'ra' : 'distributed';
}

/** This rank's training and validation samplers for a recipe, as train.py's load_data sets them up. */
export function recipeSamplers(
  recipe: { raSampler: boolean; raReps: number; seed: number },
  o: { trainSamples: number; valSamples: number; rank: number; worldSize: number },
): { train: Sampler; val: Sampler } {
  const { rank, worldSize } = o;
  const trainKind = samplerKindFor('train', worldSize, recipe.raSampler ? recipe.raReps : 0);
  return {
    train: samplerFor(trainKind, {
      n: o.trainSamples,
      rank,
      worldSize,
      seed: recipe.seed,
      reps: recipe.raReps,
    }),
    val: samplerFor(samplerKindFor('val', worldSize, 0), {
      n: o.valSamples,
      rank,
      worldSize,
      shuffle: false,
    }),
  };
}
