/**
 * How long one rank's epoch is: torch's `len(sampler)` and `len(data_loader)`. The samplers,
 * the loader, the training loop and the plan (trainer/plan.ts) all take these two numbers
 * from here, so a plan and a run cannot disagree about them.
 */

/** The samplers torchvision's train.py picks from (see sampler.ts). */
export type SamplerKind = 'random' | 'sequential' | 'distributed' | 'ra';

/** RASampler keeps a multiple of this many samples per epoch (torchvision's sampler.py). */
export const RA_SELECTED_ROUND_TO = 256;

export interface SamplerSize {
  /** Dataset size. */
  n: number;
  /** Default 1. */
  worldSize?: number;
  /** Repeats per image (RASampler). Default 4. */
  reps?: number;
  /** DistributedSampler's drop_last. Default false. */
  dropLast?: boolean;
}

/** Indices one rank visits per epoch: what `samplerFor(kind, …).indices(epoch)` returns. */
export function samplesPerRank(kind: SamplerKind, s: SamplerSize): number {
  const { n } = s;
  const R = s.worldSize ?? 1;
  switch (kind) {
    case 'random':
    case 'sequential':
      return n;
    case 'distributed':
      // Padded up to a multiple of R, or (drop_last) cut down to one.
      return s.dropLast && n % R !== 0 ? Math.ceil((n - R) / R) : Math.ceil(n / R);
    case 'ra': {
      // Each rank holds ceil(n·reps/R) indices but uses only the first
      // floor(floor(n/256)·256 / R): one epoch still covers about n samples in all.
      const held = Math.ceil((n * (s.reps ?? 4)) / R);
      const selected = Math.floor(
        (Math.floor(n / RA_SELECTED_ROUND_TO) * RA_SELECTED_ROUND_TO) / R,
      );
      return Math.min(held, selected);
    }
  }
}

/** Batches (optimizer steps) a rank takes over `numIndices` indices; the last may be partial. */
export function stepsPerEpoch(numIndices: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(numIndices / batchSize) : Math.ceil(numIndices / batchSize);
}
