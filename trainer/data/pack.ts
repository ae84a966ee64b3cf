/**
 * Packs samples into WebDataset tar shards plus index.json. Resumable: every finished and
 * verified shard leaves a small record under `.pack/`, and a re-run skips shards whose record
 * matches the plan and whose object has the recorded size. The plan (which sample goes into
 * which shard) depends only on the samples' order and sizes, so a re-run computes the same one.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { InputError, RingmasterError } from '../../common/errors.js';
import type { Storage } from '../../common/storage/storage.js';
import { scanImageFolder } from './image-folder.js';
import {
  INDEX_FILE,
  INDEX_VERSION,
  readIndex,
  type ShardIndex,
  type ShardInfo,
  type ShardMember,
} from './shard-index.js';
import { BLOCK, memberSpan, paddedSize, tarHeader } from './tar.js';

export interface PackSample {
  key: string;
  label: number;
  /** Extension of the image member without dot, e.g. 'jpg'. */
  ext: string;
  /** Byte size of the image (used to plan shards before reading). */
  size: number;
  read(): Promise<Buffer>;
}

export interface PackOptions {
  split: string;
  /** Target tar size in bytes (default 256 MB); ignored when samplesPerShard is set. */
  shardSizeBytes?: number;
  samplesPerShard?: number;
  /** 'full' reads every shard back and compares its SHA-256 (default); 'size' checks sizes only. */
  verify?: 'full' | 'size';
  /** Shards in progress at once (memory: about this many shards' bytes, twice). Default 2. */
  shardConcurrency?: number;
  /** Image files read at once while building a shard. Default 16. */
  readConcurrency?: number;
  onProgress?: (p: PackProgress) => void;
}

export interface PackProgress {
  samplesDone: number;
  samplesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  shardsDone: number;
  shardsTotal: number;
  shardsSkipped: number;
}

export interface PackResult {
  index: ShardIndex;
  shardsWritten: number;
  shardsSkipped: number;
}

const RECORD_DIR = '.pack';
const END_OF_ARCHIVE = 2 * BLOCK;

export function parseByteSize(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$/i.exec(s);
  if (!m)
    throw new InputError(`invalid size "${s}"`, [
      { path: 'size', message: 'e.g. 256MB, 1GiB, 1000000' },
    ]);
  const unit = m[2]!.toLowerCase();
  const base = m[3] ? 1024 : 1000;
  const exp = ['', 'k', 'm', 'g', 't'].indexOf(unit);
  return Math.round(Number(m[1]) * base ** exp);
}

/** A WebDataset key: unique (the sample id leads), no dots (WebDataset splits at the first). */
export function sampleKey(id: number, rel: string): string {
  const stem = path.posix
    .basename(rel)
    .replace(/\.[^.]*$/, '')
    .replace(/[^A-Za-z0-9_-]/g, '_');
  return `${String(id).padStart(8, '0')}_${stem.slice(0, 60)}`;
}

function clsBytes(label: number): Buffer {
  return Buffer.from(String(label), 'ascii');
}

function sampleSpan(s: PackSample): number {
  return memberSpan(s.size) + memberSpan(clsBytes(s.label).length);
}

/** Shard boundaries: arrays of sample positions. */
export function planShards(samples: readonly PackSample[], opts: PackOptions): number[][] {
  const shards: number[][] = [];
  if (opts.samplesPerShard !== undefined) {
    if (!(opts.samplesPerShard >= 1)) throw new InputError('samples per shard must be >= 1');
    for (let i = 0; i < samples.length; i += opts.samplesPerShard) {
      shards.push(
        Array.from({ length: Math.min(opts.samplesPerShard, samples.length - i) }, (_, k) => i + k),
      );
    }
    return shards;
  }
  const target = opts.shardSizeBytes ?? 256e6;
  let cur: number[] = [];
  let bytes = END_OF_ARCHIVE;
  samples.forEach((s, i) => {
    const span = sampleSpan(s);
    if (cur.length > 0 && bytes + span > target) {
      shards.push(cur);
      cur = [];
      bytes = END_OF_ARCHIVE;
    }
    cur.push(i);
    bytes += span;
  });
  if (cur.length > 0) shards.push(cur);
  return shards;
}

export function shardName(split: string, i: number): string {
  return `${split}-${String(i).padStart(6, '0')}.tar`;
}

async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (t: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        // Stop handing out work, but let the others finish what they hold before rethrowing.
        failed = true;
        throw err;
      }
    }
  };
  const results = await Promise.allSettled(
    Array.from({ length: Math.min(limit, items.length) }, worker),
  );
  const bad = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (bad) throw bad.reason;
  return out;
}

/** Builds one tar in memory; returns it with its members' records. */
async function buildShard(
  samples: readonly PackSample[],
  concurrency: number,
): Promise<{ tar: Buffer; members: ShardMember[] }> {
  const datas = await mapLimit(samples, concurrency, (s) => s.read());
  const parts: Buffer[] = [];
  const members: ShardMember[] = [];
  let pos = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    pos += b.length;
  };
  samples.forEach((s, i) => {
    const data = datas[i]!;
    if (data.length !== s.size) {
      throw new InputError(
        `${s.key}: size changed while packing (${s.size} → ${data.length} bytes)`,
      );
    }
    push(tarHeader(`${s.key}.${s.ext}`, data.length));
    members.push({
      key: s.key,
      label: s.label,
      offset: pos,
      length: data.length,
      crc32: crc32(data) >>> 0,
    });
    push(data);
    push(Buffer.alloc(paddedSize(data.length) - data.length));
    const cls = clsBytes(s.label);
    push(tarHeader(`${s.key}.cls`, cls.length));
    push(cls);
    push(Buffer.alloc(paddedSize(cls.length) - cls.length));
  });
  push(Buffer.alloc(END_OF_ARCHIVE));
  return { tar: Buffer.concat(parts, pos), members };
}

function recordMatches(
  rec: ShardInfo | undefined,
  name: string,
  planned: readonly PackSample[],
): rec is ShardInfo {
  return (
    rec !== undefined &&
    rec.name === name &&
    rec.members.length === planned.length &&
    rec.members.every(
      (m, i) =>
        m.key === planned[i]!.key && m.label === planned[i]!.label && m.length === planned[i]!.size,
    )
  );
}

async function readRecord(dest: Storage, name: string): Promise<ShardInfo | undefined> {
  try {
    return JSON.parse((await dest.get(`${RECORD_DIR}/${name}.json`)).toString('utf8')) as ShardInfo;
  } catch {
    return undefined;
  }
}

/** Packs samples (already in ImageFolder order) into shards + index.json on `dest`. */
export async function packSamples(
  classes: readonly string[],
  samples: readonly PackSample[],
  dest: Storage,
  opts: PackOptions,
): Promise<PackResult> {
  if (samples.length === 0) throw new InputError('nothing to pack: no samples');
  const plan = planShards(samples, opts);
  const total: PackProgress = {
    samplesDone: 0,
    samplesTotal: samples.length,
    bytesDone: 0,
    bytesTotal: samples.reduce((a, s) => a + s.size, 0),
    shardsDone: 0,
    shardsTotal: plan.length,
    shardsSkipped: 0,
  };
  // A finished earlier run left an index instead of records: its shards count as records.
  const previous = new Map<string, ShardInfo>();
  if (await dest.exists(INDEX_FILE)) {
    try {
      for (const s of (await readIndex(dest)).shards) previous.set(s.name, s);
    } catch {
      // An unreadable old index is simply rewritten.
    }
  }
  let written = 0;
  // Shards are built, uploaded and verified `shardConcurrency` at a time, so reading the next
  // shard's images overlaps the upload of the previous one.
  const shards = await mapLimit(plan, opts.shardConcurrency ?? 2, async (positions, si) => {
    const name = shardName(opts.split, si);
    const planned = positions.map((i) => samples[i]!);
    const rec = previous.get(name) ?? (await readRecord(dest, name));
    let info: ShardInfo;
    if (recordMatches(rec, name, planned) && (await dest.size(name)) === rec.size) {
      info = rec;
      total.shardsSkipped++;
    } else {
      const { tar, members } = await buildShard(planned, opts.readConcurrency ?? 16);
      const sha256 = createHash('sha256').update(tar).digest('hex');
      await dest.put(name, tar, { contentType: 'application/x-tar' });
      await verifyShard(dest, name, tar.length, sha256, opts.verify ?? 'full');
      info = { name, numSamples: members.length, size: tar.length, sha256, members };
      await dest.put(`${RECORD_DIR}/${name}.json`, Buffer.from(JSON.stringify(info)), {
        contentType: 'application/json',
      });
      written++;
    }
    total.shardsDone++;
    total.samplesDone += planned.length;
    total.bytesDone += planned.reduce((a, s) => a + s.size, 0);
    opts.onProgress?.({ ...total });
    return info;
  });
  // Shards of an earlier, larger plan would be orphans: remove them so the prefix is clean.
  const keep = new Set(shards.map((s) => s.name));
  for (const key of await dest.list(`${opts.split}-`)) {
    if (/^[^/]+-\d{6}\.tar$/.test(key) && !keep.has(key)) await dest.delete(key);
  }
  const index: ShardIndex = {
    version: INDEX_VERSION,
    format: 'webdataset',
    split: opts.split,
    classes: [...classes],
    numSamples: samples.length,
    shards,
  };
  await dest.put(INDEX_FILE, Buffer.from(JSON.stringify(index)), {
    contentType: 'application/json',
  });
  for (const s of shards) await dest.delete(`${RECORD_DIR}/${s.name}.json`);
  return { index, shardsWritten: written, shardsSkipped: total.shardsSkipped };
}

async function verifyShard(
  dest: Storage,
  name: string,
  size: number,
  sha256: string,
  mode: 'full' | 'size',
): Promise<void> {
  const got = await dest.size(name);
  if (got !== size) {
    throw new RingmasterError(
      `verification failed for ${dest.uriOf(name)}: ${got} bytes stored, ${size} written`,
    );
  }
  if (mode === 'full') {
    const back = createHash('sha256')
      .update(await dest.get(name))
      .digest('hex');
    if (back !== sha256)
      throw new RingmasterError(`verification failed for ${dest.uriOf(name)}: SHA-256 differs`);
  }
}

/** `ringmaster pack`: an ImageFolder tree → shards + index.json. */
export async function packImageFolder(
  src: string,
  dest: Storage,
  opts: PackOptions,
): Promise<PackResult> {
  const scan = await scanImageFolder(src);
  const sizes = await mapLimit(scan.samples, 64, async (s) => (await fs.stat(s.path)).size);
  const samples: PackSample[] = scan.samples.map((s, i) => {
    const ext = path.extname(s.path).slice(1).toLowerCase();
    return {
      key: sampleKey(i, s.rel),
      label: s.label,
      ext: ext === 'jpeg' ? 'jpg' : ext,
      size: sizes[i]!,
      read: () => fs.readFile(s.path),
    };
  });
  return packSamples(scan.classes, samples, dest, opts);
}
