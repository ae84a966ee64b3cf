/**
 * A plan and a run agree on the length of an epoch: samples per rank and steps per epoch as
 * the plan computes them equal what torch's samplers would give (transcribed in
 * torch-samplers.ts), what our samplers return, and how many batches the DataLoader yields —
 * over odd dataset sizes, world sizes, batch sizes, RA repeats, padding and drop-last.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { samplesPerRank, stepsPerEpoch } from '../../../trainer/data/epoch-length.js';
import { DataLoader } from '../../../trainer/data/loader.js';
import { samplerFor, samplerKindFor } from '../../../trainer/data/sampler.js';
import { packSynthetic } from '../../../trainer/data/synthetic.js';
import { planRecipe } from '../../../trainer/plan.js';
import { parseTrainingRecipe } from '../../../api/load.js';
import { LocalStorage } from '../../../common/storage/local-storage.js';
import { dsReference, raReference } from './torch-samplers.js';

/** torch's DataLoader over a list of indices: the sizes of the batches it yields. */
function batchSizes(numIndices: number, batchSize: number, dropLast: boolean): number[] {
  const out: number[] = [];
  for (let from = 0; from < numIndices; from += batchSize) {
    const size = Math.min(batchSize, numIndices - from);
    if (size < batchSize && dropLast) break;
    out.push(size);
  }
  return out;
}

const SIZES = [1, 2, 7, 255, 256, 257, 511, 1000, 1001, 1283];
const WORLD_SIZES = [1, 2, 3, 5, 8];
const BATCHES = [1, 3, 32, 100];
const REPS = [1, 2, 3, 4];

function plan(n: number, valN: number, workers: number, batchSize: number, ra: boolean, reps = 4) {
  const { spec } = parseTrainingRecipe({
    workers,
    data: { train: 's3://b/t', val: 's3://b/v' },
    output: 's3://b/o',
    recipe: { batchSize, raSampler: ra, raReps: reps },
  });
  return planRecipe(spec, { trainSamples: n, valSamples: valN, numClasses: 10 });
}

describe('epoch length: plan, samplers and loader agree', () => {
  it('DistributedSampler: padded or cut to a multiple of R, as torch', () => {
    for (const n of SIZES)
      for (const R of WORLD_SIZES)
        for (const dropLast of [false, true]) {
          if (dropLast && n < R) continue;
          const want = samplesPerRank('distributed', { n, worldSize: R, dropLast });
          for (let rank = 0; rank < R; rank++) {
            const at = `n=${n} R=${R} rank=${rank} dropLast=${dropLast}`;
            assert.equal(dsReference(n, R, rank, true, dropLast, 0, 0).length, want, at);
            const s = samplerFor('distributed', { n, rank, worldSize: R, dropLast });
            assert.equal(s.indices(0).length, want, at);
          }
        }
  });

  it('RASampler: repeats, padding and the cut to floor(n/256)·256 / R, as torchvision', () => {
    for (const n of SIZES.filter((x) => x >= 256))
      for (const R of WORLD_SIZES)
        for (const reps of REPS) {
          const want = samplesPerRank('ra', { n, worldSize: R, reps });
          for (let rank = 0; rank < R; rank++) {
            const at = `n=${n} R=${R} rank=${rank} reps=${reps}`;
            assert.equal(raReference(n, R, rank, reps, 0, 0).length, want, at);
            const s = samplerFor('ra', { n, rank, worldSize: R, reps });
            assert.equal(s.indices(0).length, want, at);
          }
        }
  });

  it('steps per epoch = the batches torch’s DataLoader makes of those indices', () => {
    for (let numIndices = 0; numIndices <= 300; numIndices++)
      for (const b of BATCHES)
        for (const dropLast of [false, true])
          assert.equal(
            stepsPerEpoch(numIndices, b, dropLast),
            batchSizes(numIndices, b, dropLast).length,
            `${numIndices} indices, batch ${b}, dropLast=${dropLast}`,
          );
  });

  it('the plan counts the indices and steps every rank of the run takes', () => {
    for (const n of SIZES)
      for (const R of WORLD_SIZES)
        for (const b of BATCHES)
          for (const ra of [false, true])
            for (const reps of ra ? REPS : [4]) {
              const kind = samplerKindFor('train', R, ra ? reps : 0);
              if (kind === 'ra' && n < 256) continue; // both refuse: see plan.test.ts
              const p = plan(n, n, R, b, ra, reps);
              const at = `n=${n} R=${R} batch=${b} ra=${ra} reps=${reps}`;
              assert.equal(p.sampler, kind, at);
              for (let rank = 0; rank < R; rank++) {
                const idx = samplerFor(kind, { n, rank, worldSize: R, reps }).indices(1);
                assert.equal(p.samplesPerRank, idx.length, at);
                assert.equal(p.itersPerEpoch, batchSizes(idx.length, b, false).length, at);
                const val = samplerFor(samplerKindFor('val', R, 0), { n, rank, worldSize: R });
                assert.equal(p.valSamplesPerRank, val.indices(0).length, at);
              }
              assert.equal(p.totalSteps, p.itersPerEpoch * p.epochs, at);
              assert.equal(p.valPadding, p.valSamplesPerRank! * R - n, at);
            }
  });

  describe('against the real DataLoader', function () {
    this.timeout(120_000);
    let dir: string;
    let loader: DataLoader;
    const N = 263; // odd, not a multiple of 256 or of any world size below
    before(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rm-epoch-length-'));
      const storage = new LocalStorage(path.join(dir, 'train'));
      await packSynthetic('train', storage, { train: N, size: 8 }, { verify: 'size' });
      loader = await DataLoader.create({
        storage,
        workers: 0,
        transform: {
          kind: 'preset',
          config: {
            mode: 'eval',
            cropSize: 8,
            resizeSize: 8,
            interpolation: 'bilinear',
            mean: [0, 0, 0],
            std: [1, 1, 1],
            hflipProb: 0,
            autoAugment: null,
            randomErase: 0,
          },
        },
      });
    });
    after(async () => {
      await loader?.close();
      await fs.rm(dir, { recursive: true, force: true });
    });

    it('yields as many batches as the plan promises (and stepsPerEpoch says with dropLast)', async () => {
      for (const R of [1, 2, 3])
        for (const ra of [false, true])
          for (const b of [7, 64]) {
            const p = plan(N, N, R, b, ra, 3);
            const rank = R - 1;
            const kind = samplerKindFor('train', R, ra ? 3 : 0);
            const indices = samplerFor(kind, { n: N, rank, worldSize: R, reps: 3 }).indices(0);
            for (const dropLast of [false, true]) {
              const at = `R=${R} ra=${ra} batch=${b} dropLast=${dropLast}`;
              const sizes: number[] = [];
              for await (const batch of loader.epoch({
                epoch: 0,
                indices,
                batchSize: b,
                seed: 0,
                rank,
                worldSize: R,
                dropLast,
              }))
                sizes.push(batch.batchSize);
              assert.deepEqual(sizes, batchSizes(indices.length, b, dropLast), at);
              assert.equal(sizes.length, stepsPerEpoch(indices.length, b, dropLast), at);
              if (!dropLast) assert.equal(sizes.length, p.itersPerEpoch, at);
            }
          }
    });
  });
});
