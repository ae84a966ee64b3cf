import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Rng } from '../../../trainer/rng.js';
import { samplerFor, samplerKindFor } from '../../../trainer/data/sampler.js';
import { dsReference, raReference } from './torch-samplers.js';

describe('samplers', () => {
  it('RASampler equals the torchvision algorithm (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 256, max: 3000 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 5 }),
        fc.nat(1000),
        fc.nat(20),
        (n, R, reps, seed, epoch) => {
          for (let rank = 0; rank < R; rank++) {
            const s = samplerFor('ra', { n, rank, worldSize: R, reps, seed });
            const got = s.indices(epoch);
            assert.equal(s.numSamples, Math.floor((Math.floor(n / 256) * 256) / R));
            assert.equal(got.length, s.numSamples);
            assert.deepEqual(Array.from(got), raReference(n, R, rank, reps, seed, epoch));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('RASampler puts the copies of an image on consecutive ranks', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 256, max: 2000 }),
        fc.integer({ min: 2, max: 8 }),
        fc.nat(100),
        (n, R, seed) => {
          const reps = 4;
          const lists = Array.from({ length: R }, (_, r) =>
            samplerFor('ra', { n, rank: r, worldSize: R, reps, seed }).indices(3),
          );
          // Interleave back to the global order: position p = i·R + r.
          const global: number[] = [];
          for (let i = 0; i < lists[0]!.length; i++)
            for (let r = 0; r < R; r++) global.push(lists[r]![i]!);
          // Every full group of `reps` consecutive global positions holds one image, on
          // ranks (p mod R), (p+1 mod R), …: consecutive ranks.
          for (let g = 0; g + reps <= global.length; g += reps) {
            for (let k = 1; k < reps; k++) assert.equal(global[g + k], global[g]);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('RASampler: the ImageNet numbers of RECIPE.md', () => {
    const s = samplerFor('ra', { n: 1_281_167, rank: 3, worldSize: 8, reps: 4, seed: 0 });
    assert.equal(s.numSamples, 160_128);
    assert.equal(Math.ceil(s.numSamples / 128), 1251);
    const idx = s.indices(0);
    assert.equal(idx.length, 160_128);
    assert.ok(idx.every((i) => i < 1_281_167));
  });

  it('RASampler refuses datasets smaller than 256 with a clear error', () => {
    assert.throws(
      () => samplerFor('ra', { n: 200, worldSize: 2, rank: 0 }),
      (e: any) => /at least 256/.test(e.issues[0].message),
    );
  });

  it('DistributedSampler equals torch (property), padding by repeating the start', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 1, max: 16 }),
        fc.boolean(),
        fc.boolean(),
        fc.nat(1000),
        (n, R, shuffle, dropLast, seed) => {
          fc.pre(!(dropLast && n < R));
          let count = 0;
          const seen = new Set<number>();
          for (let rank = 0; rank < R; rank++) {
            const s = samplerFor('distributed', { n, rank, worldSize: R, shuffle, dropLast, seed });
            const got = Array.from(s.indices(2));
            assert.deepEqual(got, dsReference(n, R, rank, shuffle, dropLast, seed, 2));
            assert.equal(
              s.numSamples,
              dropLast && n % R !== 0 ? Math.ceil((n - R) / R) : Math.ceil(n / R),
            );
            count += got.length;
            got.forEach((i) => seen.add(i));
          }
          if (!dropLast) {
            assert.equal(count, Math.ceil(n / R) * R);
            assert.equal(seen.size, n, 'every sample is visited');
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('validation split: rank r takes r, r+R, … of the unshuffled, padded list', () => {
    const lists = [0, 1, 2].map((r) =>
      Array.from(
        samplerFor('distributed', { n: 7, rank: r, worldSize: 3, shuffle: false }).indices(0),
      ),
    );
    assert.deepEqual(lists, [
      [0, 3, 6],
      [1, 4, 0],
      [2, 5, 1],
    ]);
  });

  it('single process: a seeded permutation per epoch, the identity for validation', () => {
    const a = samplerFor('random', { n: 100, seed: 7 });
    assert.deepEqual(Array.from(a.indices(1)), Array.from(new Rng(7, 1).permutation(100)));
    assert.notDeepEqual(Array.from(a.indices(1)), Array.from(a.indices(2)));
    assert.deepEqual(
      Array.from(a.indices(1)).sort((x, y) => x - y),
      Array.from({ length: 100 }, (_, i) => i),
    );
    assert.deepEqual(Array.from(samplerFor('sequential', { n: 5 }).indices(3)), [0, 1, 2, 3, 4]);
    assert.equal(samplerKindFor('train', 8, 4), 'ra');
    assert.equal(samplerKindFor('train', 8, 0), 'distributed');
    assert.equal(samplerKindFor('train', 1, 4), 'random');
    assert.equal(samplerKindFor('val', 8, 4), 'distributed');
    assert.equal(samplerKindFor('val', 1, 4), 'sequential');
  });

  it('rejects a rank outside the world', () => {
    assert.throws(
      () => samplerFor('distributed', { n: 10, rank: 2, worldSize: 2 }),
      (e: any) => e.issues[0].path === 'rank',
    );
  });
});
