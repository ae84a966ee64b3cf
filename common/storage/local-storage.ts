/** The local filesystem as storage: a directory is the bucket. Writes are atomic (temp + rename). */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { InputError, NotFoundError, RetryableError } from '../errors.js';
import type { PutOptions, Storage, Versioned } from './storage.js';

/** How long a compare-and-swap waits for another writer's lock, and when a lock is stale. */
const LOCK_WAIT_MS = 10_000;
const LOCK_STALE_MS = 30_000;

function versionOf(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

export class LocalStorage implements Storage {
  readonly root: string;
  constructor(readonly uri: string) {
    this.root = path.resolve(uri);
  }

  uriOf(key: string): string {
    return path.join(this.root, key);
  }

  private pathOf(key: string): string {
    const p = path.resolve(this.root, key);
    if (p !== this.root && !p.startsWith(this.root + path.sep)) {
      throw new InputError(`key ${key} escapes the storage root ${this.root}`);
    }
    return p;
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await fs.readFile(this.pathOf(key));
    } catch (err) {
      throw this.translate(err, key);
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(this.pathOf(key), 'r');
    } catch (err) {
      throw this.translate(err, key);
    }
    try {
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === length ? buf : buf.subarray(0, got);
    } finally {
      await fh.close();
    }
  }

  async put(key: string, body: Buffer | Readable): Promise<void> {
    const dest = this.pathOf(key);
    await fs.mkdir(path.dirname(dest), { recursive: true });
    // Same directory as the destination so the rename stays on one filesystem (atomic).
    const tmp = `${dest}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      if (Buffer.isBuffer(body)) {
        const fh = await fs.open(tmp, 'w');
        try {
          await fh.writeFile(body);
          await fh.sync();
        } finally {
          await fh.close();
        }
      } else {
        await pipeline(body, createWriteStream(tmp));
      }
      await fs.rename(tmp, dest);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  async getVersioned(key: string): Promise<Versioned | undefined> {
    try {
      const body = await fs.readFile(this.pathOf(key));
      return { body, version: versionOf(body) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.translate(err, key);
    }
  }

  /**
   * Compare-and-swap on a local file: `<key>.lock` created exclusively (O_EXCL) serialises
   * writers on this filesystem (NFS without O_EXCL support is not covered); the version is
   * the content's sha256. A lock older than 30 s is taken to be a crashed writer's.
   */
  async putIfVersion(
    key: string,
    body: Buffer,
    version: string | null,
    _opts: PutOptions = {},
  ): Promise<boolean> {
    const dest = this.pathOf(key);
    const lock = `${dest}.lock`;
    await fs.mkdir(path.dirname(dest), { recursive: true });
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        await (await fs.open(lock, 'wx')).close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw this.translate(err, key);
        const age = await fs.stat(lock).then(
          (st) => Date.now() - st.mtimeMs,
          () => 0,
        );
        if (age > LOCK_STALE_MS) await fs.rm(lock, { force: true });
        else if (Date.now() > deadline) {
          throw new RetryableError(`${lock} is held by another writer; try again`);
        } else await sleep(20 + Math.random() * 30);
      }
    }
    try {
      const current = await this.getVersioned(key);
      if ((current?.version ?? null) !== version) return false;
      await this.put(key, body);
      return true;
    } finally {
      await fs.rm(lock, { force: true });
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      let entries;
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const e of entries) {
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          if (prefix.startsWith(key + '/') || key.startsWith(prefix) || prefix === '') {
            await walk(path.join(dir, e.name), key);
          }
        } else if (
          key.startsWith(prefix) &&
          !/\.tmp-\d+-[0-9a-f]{8}$/.test(key) &&
          !key.endsWith('.lock')
        ) {
          out.push(key);
        }
      }
    };
    await walk(this.root, '');
    return out.sort();
  }

  async size(key: string): Promise<number | undefined> {
    try {
      const st = await fs.stat(this.pathOf(key));
      return st.isFile() ? st.size : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.size(key)) !== undefined;
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.pathOf(key), { force: true });
  }

  close(): void {}

  private translate(err: unknown, key: string): unknown {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') {
      return new NotFoundError(`not found: ${this.uriOf(key)}`, { cause: err });
    }
    if (code === 'EACCES' || code === 'EPERM') {
      return new InputError(`permission denied: ${this.uriOf(key)}`, [], { cause: err });
    }
    return err;
  }
}
