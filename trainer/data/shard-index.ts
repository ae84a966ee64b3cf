/**
 * The index of one split's shards: what `ringmaster pack` writes next to the tars and what the
 * loader reads. Global sample id i = the i-th member over the shards in order, which is
 * torchvision ImageFolder's order (sorted classes, then sorted files), so sample i here is
 * `ImageFolder(root)[i]` there.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { InputError } from '../../common/errors.js';
import type { Storage } from '../../common/storage/storage.js';

export const INDEX_FILE = 'index.json';
export const INDEX_VERSION = 1;

const Member = Type.Object({
  /** WebDataset key: the tar holds `<key>.<ext>` (image) and `<key>.cls` (label). */
  key: Type.String({ minLength: 1 }),
  label: Type.Integer({ minimum: 0 }),
  /** Byte offset of the image data (not its header) in the shard. */
  offset: Type.Integer({ minimum: 0 }),
  length: Type.Integer({ minimum: 0 }),
  /** CRC-32 of the image bytes, so a corrupt ranged read is caught before decoding. */
  crc32: Type.Integer({ minimum: 0 }),
});

const Shard = Type.Object({
  name: Type.String({ minLength: 1 }),
  numSamples: Type.Integer({ minimum: 0 }),
  /** Byte size of the tar. */
  size: Type.Integer({ minimum: 0 }),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  members: Type.Array(Member),
});

export const ShardIndexSchema = Type.Object({
  version: Type.Literal(INDEX_VERSION),
  format: Type.Literal('webdataset'),
  split: Type.String({ minLength: 1 }),
  classes: Type.Array(Type.String()),
  numSamples: Type.Integer({ minimum: 0 }),
  shards: Type.Array(Shard),
});

export type ShardMember = Static<typeof Member>;
export type ShardInfo = Static<typeof Shard>;
export type ShardIndex = Static<typeof ShardIndexSchema>;

/** Checks shape and internal consistency; throws InputError with paths. */
export function validateIndex(value: unknown, where: string): ShardIndex {
  if (!Value.Check(ShardIndexSchema, value)) {
    const issues = [...Value.Errors(ShardIndexSchema, value)]
      .slice(0, 10)
      .map((e) => ({ path: e.path || '/', message: e.message }));
    throw new InputError(`invalid shard index ${where}`, issues);
  }
  const idx = value;
  let total = 0;
  const issues: { path: string; message: string }[] = [];
  idx.shards.forEach((s, i) => {
    if (s.members.length !== s.numSamples) {
      issues.push({
        path: `/shards/${i}/numSamples`,
        message: `${s.numSamples} but ${s.members.length} members`,
      });
    }
    for (const m of s.members) {
      if (m.offset + m.length > s.size) {
        issues.push({
          path: `/shards/${i}/members/${m.key}`,
          message: 'member extends past the shard',
        });
        break;
      }
      if (m.label >= idx.classes.length) {
        issues.push({
          path: `/shards/${i}/members/${m.key}`,
          message: `label ${m.label} out of range`,
        });
        break;
      }
    }
    total += s.numSamples;
  });
  if (total !== idx.numSamples) {
    issues.push({ path: '/numSamples', message: `${idx.numSamples} but the shards hold ${total}` });
  }
  if (issues.length > 0) throw new InputError(`inconsistent shard index ${where}`, issues);
  return idx;
}

export async function readIndex(storage: Storage): Promise<ShardIndex> {
  const raw = await storage.get(INDEX_FILE);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new InputError(`shard index ${storage.uriOf(INDEX_FILE)} is not valid JSON`, [], {
      cause: err,
    });
  }
  return validateIndex(parsed, storage.uriOf(INDEX_FILE));
}

/** Flat per-sample arrays for fast lookup by global sample id. */
export interface SampleTable {
  readonly numSamples: number;
  readonly shardNames: readonly string[];
  readonly shard: Uint32Array;
  readonly offset: Float64Array;
  readonly length: Uint32Array;
  readonly label: Int32Array;
  readonly crc32: Uint32Array;
  readonly keys: readonly string[];
}

export function sampleTable(idx: ShardIndex): SampleTable {
  const n = idx.numSamples;
  const t = {
    numSamples: n,
    shardNames: idx.shards.map((s) => s.name),
    shard: new Uint32Array(n),
    offset: new Float64Array(n),
    length: new Uint32Array(n),
    label: new Int32Array(n),
    crc32: new Uint32Array(n),
    keys: new Array<string>(n),
  };
  let i = 0;
  idx.shards.forEach((s, si) => {
    for (const m of s.members) {
      t.shard[i] = si;
      t.offset[i] = m.offset;
      t.length[i] = m.length;
      t.label[i] = m.label;
      t.crc32[i] = m.crc32;
      t.keys[i] = m.key;
      i++;
    }
  });
  return t;
}

/** A sample whose bytes are missing, truncated or corrupt; names its shard and key. */
export class CorruptSampleError extends InputError {
  constructor(
    readonly shardUri: string,
    readonly key: string,
    readonly sampleId: number,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`corrupt sample ${sampleId}: shard ${shardUri}, key ${key}: ${reason}`, [], options);
  }
}
