/**
 * Fetches the encoded bytes of samples by ranged reads of their shards: the samples of one
 * request are grouped by shard and sorted by offset, and neighbours closer than `maxGapBytes`
 * are read by one request (up to `maxRangeBytes`). Every member is checked against the
 * index (length, CRC-32) so a truncated or corrupt shard is reported with its shard and key.
 * With a cache directory, each shard is copied whole on first use and read locally after.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { RetryableError } from '../../common/errors.js';
import { LocalStorage } from '../../common/storage/local-storage.js';
import { withRetries } from '../../common/storage/retry.js';
import type { Storage } from '../../common/storage/storage.js';
import { CorruptSampleError, type SampleTable } from './shard-index.js';

export interface SampleReaderOptions {
  /** Largest hole between two members still read in one request. Default 64 KiB: adjacent
   * members (a tar header and a .cls member apart) merge, distant ones are not over-read. */
  maxGapBytes?: number;
  /** Largest single ranged read. Default 16 MiB. */
  maxRangeBytes?: number;
  /** Local directory holding whole shards copied on first use (absent: no cache). */
  cacheDir?: string;
  /** Retries of a whole read after the storage's own retries gave up. Default 2. */
  retries?: number;
}

/** One ranged read: bytes [begin, end) of a shard, holding the members `ids`. */
export interface PlannedRead {
  shard: number;
  begin: number;
  end: number;
  ids: number[];
}

export interface FetchStats {
  requests: number;
  bytes: number;
}

export class SampleReader {
  readonly stats: FetchStats = { requests: 0, bytes: 0 };
  private readonly cache: LocalStorage | undefined;
  private readonly cached = new Map<number, Promise<void>>();
  private readonly maxGap: number;
  private readonly maxRange: number;
  private readonly retries: number;

  constructor(
    private readonly storage: Storage,
    private readonly table: SampleTable,
    private readonly shardSha: readonly string[],
    opts: SampleReaderOptions = {},
  ) {
    this.maxGap = opts.maxGapBytes ?? 64 << 10;
    this.maxRange = opts.maxRangeBytes ?? 16 << 20;
    this.retries = opts.retries ?? 2;
    if (opts.cacheDir) {
      // One cache folder per source URI, so two datasets never share shard names.
      const tag = createHash('sha256').update(storage.uri).digest('hex').slice(0, 16);
      this.cache = new LocalStorage(`${opts.cacheDir}/${tag}`);
    }
  }

  /** Encoded bytes of each sample id, in the order asked. */
  async read(ids: ArrayLike<number>): Promise<Uint8Array[]> {
    const out = new Array<Uint8Array>(ids.length);
    const where = new Map<number, number[]>();
    for (let i = 0; i < ids.length; i++) {
      const list = where.get(ids[i]!);
      if (list) list.push(i);
      else where.set(ids[i]!, [i]);
    }
    await Promise.all(
      this.plan(ids).map(async (r) => {
        const buf = await this.fetch(r);
        for (const id of r.ids)
          for (const pos of where.get(id)!) out[pos] = this.member(buf, r.begin, id);
      }),
    );
    return out;
  }

  /**
   * The ranged reads that cover `ids` (duplicates read once): per shard, members sorted by
   * offset, neighbours closer than `maxGapBytes` merged into one read of at most
   * `maxRangeBytes` (a single larger member is read alone).
   */
  plan(ids: ArrayLike<number>): PlannedRead[] {
    const t = this.table;
    const byShard = new Map<number, Set<number>>();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const s = t.shard[id]!;
      let set = byShard.get(s);
      if (!set) byShard.set(s, (set = new Set()));
      set.add(id);
    }
    const reads: PlannedRead[] = [];
    for (const [shard, set] of byShard) {
      const sorted = [...set].sort((a, b) => t.offset[a]! - t.offset[b]!);
      let start = 0;
      while (start < sorted.length) {
        const first = sorted[start]!;
        const begin = t.offset[first]!;
        let end = begin + t.length[first]!;
        let stop = start + 1;
        while (stop < sorted.length) {
          const id = sorted[stop]!;
          const o = t.offset[id]!;
          const e = Math.max(end, o + t.length[id]!);
          if (o - end > this.maxGap || e - begin > this.maxRange) break;
          end = e;
          stop++;
        }
        reads.push({ shard, begin, end, ids: sorted.slice(start, stop) });
        start = stop;
      }
    }
    return reads;
  }

  /** The bytes of one planned read. */
  fetch(r: PlannedRead): Promise<Buffer> {
    return this.readRange(r.shard, r.begin, r.end - r.begin);
  }

  /**
   * One member's bytes out of a read that starts at `begin`, checked against the index
   * (length, CRC-32), as a fresh copy so the read's buffer can be freed and the bytes moved
   * to a worker.
   */
  member(buf: Buffer, begin: number, id: number): Uint8Array {
    const t = this.table;
    const from = t.offset[id]! - begin;
    const len = t.length[id]!;
    const shardUri = this.storage.uriOf(t.shardNames[t.shard[id]!]!);
    if (from + len > buf.length) {
      throw new CorruptSampleError(
        shardUri,
        t.keys[id]!,
        id,
        `truncated: the shard ends ${from + len - buf.length} bytes before the member does`,
      );
    }
    const bytes = buf.subarray(from, from + len);
    if (crc32(bytes) >>> 0 !== t.crc32[id]) {
      throw new CorruptSampleError(
        shardUri,
        t.keys[id]!,
        id,
        'CRC-32 mismatch: the bytes differ from what was packed',
      );
    }
    return new Uint8Array(bytes);
  }

  private async readRange(shard: number, offset: number, length: number): Promise<Buffer> {
    const name = this.table.shardNames[shard]!;
    const buf = await withRetries(
      async () => {
        if (this.cache) {
          await this.ensureCached(shard);
          return this.cache.getRange(name, offset, length);
        }
        return this.storage.getRange(name, offset, length);
      },
      { retries: this.retries, baseMs: 1000, capMs: 5000 },
      (err) => err instanceof RetryableError,
    );
    this.stats.requests++;
    this.stats.bytes += buf.length;
    return buf;
  }

  private ensureCached(shard: number): Promise<void> {
    let p = this.cached.get(shard);
    if (!p) {
      p = this.copyToCache(shard);
      // A failed copy is retried by the next read.
      p.catch(() => this.cached.delete(shard));
      this.cached.set(shard, p);
    }
    return p;
  }

  private async copyToCache(shard: number): Promise<void> {
    const name = this.table.shardNames[shard]!;
    const cache = this.cache!;
    const sha = this.shardSha[shard]!;
    if ((await cache.exists(name)) && (await cache.exists(`${name}.sha256`))) {
      if ((await cache.get(`${name}.sha256`)).toString() === sha) return;
    }
    const body = await this.storage.get(name);
    const got = createHash('sha256').update(body).digest('hex');
    if (got !== sha) {
      throw new CorruptSampleError(
        this.storage.uriOf(name),
        '*',
        -1,
        'shard SHA-256 differs from the index',
      );
    }
    await cache.put(name, body);
    // Written after the shard: its presence means the cached copy is complete and checked.
    await cache.put(`${name}.sha256`, Buffer.from(sha));
  }
}
