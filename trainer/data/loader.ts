/**
 * The data loader: this rank's sample indices for an epoch → ranged reads of shard members,
 * a window of batches at a time within `readAheadBytes` (ReadAhead, SampleReader) → decode +
 * transform in worker threads (TransformPool), written into the batch's shared memory →
 * batches of NHWC float32 images. Batches are produced `prefetch` ahead of the consumer:
 * memory held ≈ readAheadBytes of encoded ranges + (prefetch + 1) decoded batches. Deterministic for a given
 * (seed, epoch, rank, world size, indices) and resumable from any step: a batch depends only on
 * its own samples and their global positions.
 */
import { log } from '../../common/log.js';
import type { Storage } from '../../common/storage/storage.js';
import { stepsPerEpoch } from './epoch-length.js';
import { ReadAhead, type ReadAheadStats } from './read-ahead.js';
import { SampleReader, type FetchStats } from './sample-reader.js';
import {
  CorruptSampleError,
  readIndex,
  sampleTable,
  type SampleTable,
  type ShardIndex,
} from './shard-index.js';
import type { TransformSpec } from './transform-spec.js';
import type { TransformTask } from './transform-task.js';
import { TransformPool } from './worker-pool.js';

export const DEFAULT_READ_AHEAD_BYTES = 128 << 20;

export interface Batch {
  epoch: number;
  /** Step index inside the epoch. */
  step: number;
  /** B·H·W·3, NHWC, normalized. */
  images: Float32Array;
  labels: Int32Array;
  sampleIds: Uint32Array;
  batchSize: number;
  height: number;
  width: number;
}

export interface DataLoaderOptions {
  /** Storage opened on the split's URI (holding index.json and the shards). */
  storage: Storage;
  /** The split's index; read from storage when absent. */
  index?: ShardIndex;
  transform: TransformSpec;
  /** Transform worker threads; 0 runs transforms on this thread. Default 2. */
  workers?: number;
  /** Batches prepared ahead of the consumer. Default 2. */
  prefetch?: number;
  /**
   * Encoded bytes read ahead of the batches, at most (ReadAhead): reads for a window of
   * batches are merged and the next window is read while this one is used. Default 128 MiB.
   */
  readAheadBytes?: number;
  /** Local directory for whole-shard copies (absent: ranged reads every time). */
  cacheDir?: string;
  maxGapBytes?: number;
  maxRangeBytes?: number;
}

export interface EpochOptions {
  epoch: number;
  /** This rank's dataset indices for the epoch (a sampler's `indices(epoch)`). */
  indices: Uint32Array;
  batchSize: number;
  seed: number;
  rank?: number;
  worldSize?: number;
  /** First step to produce (resume mid-epoch). Default 0. */
  startStep?: number;
  /** Drop a last partial batch. torchvision's reference keeps it (DataLoader default). */
  dropLast?: boolean;
}

export class DataLoader {
  readonly table: SampleTable;
  private readonly reader: SampleReader;
  private readAhead: ReadAhead | undefined;
  /** Floats per image of the last batch: the next batch's shared buffer is sized by it. */
  private imageFloats = 0;
  private readonly log = log.child({ component: 'loader' });

  private constructor(
    readonly index: ShardIndex,
    private readonly storage: Storage,
    private readonly pool: TransformPool,
    private readonly opts: DataLoaderOptions,
  ) {
    this.table = sampleTable(index);
    // The presets always give cropSize² pixels; other transforms are learned from a batch.
    if (opts.transform.kind === 'preset')
      this.imageFloats = opts.transform.config.cropSize ** 2 * 3;
    this.reader = new SampleReader(
      storage,
      this.table,
      index.shards.map((s) => s.sha256),
      {
        ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
        ...(opts.maxGapBytes !== undefined ? { maxGapBytes: opts.maxGapBytes } : {}),
        ...(opts.maxRangeBytes !== undefined ? { maxRangeBytes: opts.maxRangeBytes } : {}),
      },
    );
  }

  static async create(opts: DataLoaderOptions): Promise<DataLoader> {
    const index = opts.index ?? (await readIndex(opts.storage));
    const pool = await TransformPool.create(opts.transform, opts.workers ?? 2);
    return new DataLoader(index, opts.storage, pool, opts);
  }

  get numSamples(): number {
    return this.index.numSamples;
  }

  get classes(): readonly string[] {
    return this.index.classes;
  }

  get fetchStats(): FetchStats {
    return this.reader.stats;
  }

  /** Read-ahead figures of the current (or last) epoch. */
  get readAheadStats(): ReadAheadStats | undefined {
    return this.readAhead?.stats;
  }

  /** The batches of one epoch from `startStep` on, prepared `prefetch` ahead. */
  async *epoch(e: EpochOptions): AsyncGenerator<Batch, void, undefined> {
    const { indices, batchSize } = e;
    const rank = e.rank ?? 0;
    const worldSize = e.worldSize ?? 1;
    const steps = stepsPerEpoch(indices.length, batchSize, e.dropLast ?? false);
    const start = e.startStep ?? 0;
    const ahead = Math.max(1, this.opts.prefetch ?? 2);
    const idsOf = (step: number): Uint32Array =>
      indices.subarray(step * batchSize, Math.min(indices.length, (step + 1) * batchSize));
    const reads = new ReadAhead(
      this.reader,
      idsOf,
      start,
      steps,
      this.opts.readAheadBytes ?? DEFAULT_READ_AHEAD_BYTES,
    );
    this.readAhead = reads;
    const inflight: Promise<Batch>[] = [];
    let next = start;
    const fill = () => {
      while (inflight.length < ahead && next < steps) {
        const p = this.makeBatch(e, next++, rank, worldSize, reads);
        // Rejections are handled when the batch is awaited; avoid an unhandled-rejection crash meanwhile.
        p.catch(() => {});
        inflight.push(p);
      }
    };
    try {
      fill();
      while (inflight.length > 0) {
        const batch = await inflight.shift()!;
        fill();
        yield batch;
      }
    } finally {
      reads.close();
    }
  }

  private async makeBatch(
    e: EpochOptions,
    step: number,
    rank: number,
    worldSize: number,
    reads: ReadAhead,
  ): Promise<Batch> {
    const from = step * e.batchSize;
    const to = Math.min(e.indices.length, from + e.batchSize);
    const ids = e.indices.slice(from, to);
    const n = ids.length;
    // Position in the epoch's global order: local position i of rank r is i·R + r.
    const positions = Array.from({ length: n }, (_, k) => (from + k) * worldSize + rank);
    const images = await reads.take(step);
    const chunks = Math.max(1, Math.min(n, this.pool.size * 2 || 1));
    const per = Math.ceil(n / chunks);
    // Workers write images of the expected size straight into the batch's shared memory, so
    // this thread copies nothing (it did ~2.5 ms per image of copying and page faults here).
    const stride = this.imageFloats;
    const shared = stride > 0 ? new SharedArrayBuffer(n * stride * 4) : undefined;
    const tasks: { first: number; task: TransformTask }[] = [];
    for (let c = 0; c * per < n; c++) {
      const a = c * per;
      const b = Math.min(n, a + per);
      tasks.push({
        first: a,
        task: {
          seed: e.seed,
          epoch: e.epoch,
          positions: positions.slice(a, b),
          images: images.slice(a, b),
          ...(shared ? { out: { buffer: shared, first: a, stride } } : {}),
        },
      });
    }
    const results = await Promise.all(tasks.map((t) => this.pool.run(t.task)));
    let height = 0;
    let width = 0;
    let out: Float32Array | undefined;
    results.forEach((r, c) => {
      const first = tasks[c]!.first;
      if (!r.ok) {
        const id = ids[first + r.index]!;
        const t = this.table;
        throw new CorruptSampleError(
          this.storage.uriOf(t.shardNames[t.shard[id]!]!),
          t.keys[id]!,
          id,
          r.message,
        );
      }
      if (!out) {
        height = r.height;
        width = r.width;
        const size = height * width * 3;
        out = shared && size === stride ? new Float32Array(shared) : new Float32Array(n * size);
      } else if (r.height !== height || r.width !== width) {
        throw new CorruptSampleError(
          this.storage.uriOf(this.table.shardNames[this.table.shard[ids[first]!]!]!),
          this.table.keys[ids[first]!]!,
          ids[first]!,
          `transform gave ${r.width}×${r.height}, the batch is ${width}×${height}`,
        );
      }
      const size = height * width * 3;
      r.data.forEach((d, k) => {
        if (d.length > 0) out!.set(d, (first + k) * size);
      });
    });
    this.imageFloats = height * width * 3;
    const labels = new Int32Array(n);
    for (let k = 0; k < n; k++) labels[k] = this.table.label[ids[k]!]!;
    return {
      epoch: e.epoch,
      step,
      images: out!,
      labels,
      sampleIds: ids,
      batchSize: n,
      height,
      width,
    };
  }

  async close(): Promise<void> {
    await this.pool.close();
    this.log.debug({ fetch: this.reader.stats }, 'loader closed');
  }
}
