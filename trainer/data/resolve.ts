/**
 * Data URIs of a recipe → the URI of a split's shards. `s3://…` and paths pass through;
 * generated datasets are built on first use into a cache directory:
 *   synthetic:shapes[?train=2000&val=500&size=64&seed=0]
 *   fashion-mnist:[?limit=N&source=/usr/share/datasets/fashion-mnist]
 * Building is safe when several local ranks resolve at once: each builds into a private
 * temp directory and renames it into place; a rename that loses the race is discarded.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { parseIntOption } from '../../common/parse.js';
import { InputError } from '../../common/errors.js';
import { LocalStorage } from '../../common/storage/local-storage.js';
import { packFashionMnist } from './fashion-mnist.js';
import { INDEX_FILE } from './shard-index.js';
import {
  packSynthetic,
  SYNTHETIC_DEFAULTS,
  SYNTHETIC_VERSION,
  type SyntheticOptions,
} from './synthetic.js';

export interface ResolveOptions {
  /** Where generated datasets live, e.g. $RINGMASTER_CACHE. A `datasets/` folder is made in it. */
  cacheDir: string;
}

function intParam(q: URLSearchParams, name: string, uri: string, min: number): number | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  const r = parseIntOption(v, { name, min });
  if (!r.ok) throw new InputError(`invalid data URI ${uri}`, [r.issue]);
  return r.value;
}

function checkParams(q: URLSearchParams, allowed: string[], uri: string): void {
  for (const k of q.keys()) {
    if (!allowed.includes(k)) {
      throw new InputError(`invalid data URI ${uri}`, [
        { path: k, message: `unknown parameter; known: ${allowed.join(', ')}` },
      ]);
    }
  }
}

export function isGeneratedDataUri(uri: string): boolean {
  return uri.startsWith('synthetic:') || uri.startsWith('fashion-mnist:');
}

/** What a generated dataset's URI asks for, validated. */
export type GeneratedDataset =
  | { scheme: 'synthetic'; options: Required<Omit<SyntheticOptions, 'quality'>> }
  | { scheme: 'fashion-mnist'; limit: number | undefined; source: string | undefined };

/** Parses a generated dataset's URI (see isGeneratedDataUri); an InputError names the bad part. */
export function parseGeneratedDataUri(uri: string): GeneratedDataset {
  const [scheme, rest = ''] = uri.split(/:(.*)/s, 2) as [string, string?];
  const [name = '', query = ''] = rest.split('?', 2);
  const q = new URLSearchParams(query);
  if (scheme === 'synthetic') {
    if (name !== 'shapes') {
      throw new InputError(`unknown synthetic dataset in ${uri}`, [
        { path: 'name', message: 'known: shapes' },
      ]);
    }
    checkParams(q, ['train', 'val', 'size', 'seed'], uri);
    return {
      scheme,
      options: {
        train: intParam(q, 'train', uri, 1) ?? SYNTHETIC_DEFAULTS.train,
        val: intParam(q, 'val', uri, 1) ?? SYNTHETIC_DEFAULTS.val,
        size: intParam(q, 'size', uri, 8) ?? SYNTHETIC_DEFAULTS.size,
        seed: intParam(q, 'seed', uri, 0) ?? SYNTHETIC_DEFAULTS.seed,
      },
    };
  }
  if (scheme !== 'fashion-mnist' || name !== '') {
    throw new InputError(`invalid data URI ${uri}`, [
      { path: 'name', message: 'use fashion-mnist:[?limit=N]' },
    ]);
  }
  checkParams(q, ['limit', 'source'], uri);
  return {
    scheme,
    limit: intParam(q, 'limit', uri, 1),
    source: q.get('source') ?? undefined,
  };
}

export async function resolveDataUri(
  uri: string,
  split: 'train' | 'val',
  opts: ResolveOptions,
): Promise<string> {
  if (!isGeneratedDataUri(uri)) return uri;
  const d = parseGeneratedDataUri(uri);
  let dirName: string;
  let build: (dir: string, split: 'train' | 'val') => Promise<unknown>;
  if (d.scheme === 'synthetic') {
    const o = d.options;
    dirName = `synthetic-shapes-g${SYNTHETIC_VERSION}-t${o.train}-v${o.val}-s${o.size}-seed${o.seed}`;
    build = (dir, s) => packSynthetic(s, new LocalStorage(dir), o, { verify: 'size' });
  } else {
    const { limit, source } = d;
    dirName = `fashion-mnist${limit ? `-l${limit}` : ''}${source ? '-' + source.replace(/[^A-Za-z0-9]+/g, '_') : ''}`;
    build = (dir, s) =>
      packFashionMnist(
        s,
        new LocalStorage(dir),
        { ...(limit ? { limit } : {}), ...(source ? { sourceDir: source } : {}) },
        { verify: 'size' },
      );
  }
  const final = path.join(opts.cacheDir, 'datasets', dirName, split);
  if (await exists(path.join(final, INDEX_FILE))) return final;
  const tmp = `${final}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await build(tmp, split);
    await fs.mkdir(path.dirname(final), { recursive: true });
    await fs.rename(tmp, final).catch(async (err: NodeJS.ErrnoException) => {
      // Another process finished first (the target exists and is not empty): use its copy.
      if (!(await exists(path.join(final, INDEX_FILE)))) throw err;
    });
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
  return final;
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}
