/**
 * A weights registry in any storage prefix (a local directory or s3://bucket/prefix): named
 * weights with torchvision's metadata (format.ts, ADR 0103). Publishing writes the artifact
 * directory first and index.json last, by compare-and-swap (S3 conditional writes, a lock
 * file locally), so readers never see a name whose files are not all there, and two
 * publishers never lose each other's names.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { canonicalJson } from '../../common/canonical-json.js';
import { InputError, NotFoundError, RetryableError } from '../../common/errors.js';
import { openStorage, type Storage, type StorageOptions } from '../../common/storage/storage.js';
import { closeNames } from './close-names.js';
import { artifactDir, sha256, type Artifact } from './describe.js';
import {
  ENTRY_FILE,
  META_FILE,
  REGISTRY_INDEX,
  WEIGHTS_FILE,
  checkName,
  emptyIndex,
  indexRow,
  parseEntry,
  parseIndex,
  type IndexRow,
  type RegistryIndex,
  type WeightsEntry,
} from './format.js';

/** Compare-and-swap attempts on index.json before giving up (each re-reads it). */
const INDEX_ATTEMPTS = 20;

export interface Resolved {
  entry: WeightsEntry;
  /** model.safetensors, its sha256 checked against the entry. */
  weights: Buffer;
  /** URI of the artifact directory, for messages. */
  uri: string;
}

export class WeightsRegistry {
  private constructor(private readonly st: Storage) {}

  static open(uri: string, storage: StorageOptions = {}): WeightsRegistry {
    return new WeightsRegistry(openStorage(uri, storage));
  }

  get uri(): string {
    return this.st.uri;
  }

  close(): void {
    this.st.close();
  }

  private async readIndex(): Promise<{ index: RegistryIndex; version: string | null }> {
    const got = await this.st.getVersioned(REGISTRY_INDEX);
    if (!got) return { index: emptyIndex(), version: null };
    return {
      index: parseIndex(got.body.toString('utf8'), this.st.uriOf(REGISTRY_INDEX)),
      version: got.version,
    };
  }

  async list(): Promise<Array<{ name: string } & IndexRow>> {
    const { index } = await this.readIndex();
    return Object.entries(index.entries)
      .map(([name, row]) => ({ name, ...row }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  private async row(name: string): Promise<IndexRow> {
    const { index } = await this.readIndex();
    const row = Object.hasOwn(index.entries, name) ? index.entries[name] : undefined;
    if (row) return row;
    const known = Object.keys(index.entries);
    const close = closeNames(name, known);
    throw new NotFoundError(
      `no weights named "${name}" in the registry ${this.st.uri}` +
        (close.length > 0
          ? `; did you mean ${close.join(', ')}?`
          : known.length > 0
            ? `; it holds ${known.length} (ringmaster weights list --registry ${this.st.uri})`
            : '; it is empty'),
    );
  }

  /** The entry of `name` (entry.json, its sha256 checked against index.json). */
  async show(name: string): Promise<WeightsEntry> {
    return (await this.entryOf(name)).entry;
  }

  private async entryOf(name: string): Promise<{ row: IndexRow; entry: WeightsEntry }> {
    const row = await this.row(name);
    const key = `${row.dir}/${ENTRY_FILE}`;
    const body = await this.st.get(key);
    if (sha256(body) !== row.entrySha256) {
      throw new InputError(`${this.st.uriOf(key)} does not match its sha256 in index.json`);
    }
    return { row, entry: parseEntry(body.toString('utf8'), this.st.uriOf(key)) };
  }

  /** The entry and its weights, the file's sha256 checked. */
  async resolve(name: string): Promise<Resolved> {
    const { row, entry } = await this.entryOf(name);
    const key = `${row.dir}/${WEIGHTS_FILE}`;
    const weights = await this.st.get(key);
    if (sha256(weights) !== entry.file.sha256) {
      throw new InputError(
        `${this.st.uriOf(key)} does not match the sha256 its entry records: corrupt or replaced`,
      );
    }
    return { entry, weights, uri: this.st.uriOf(row.dir) };
  }

  /**
   * Publishes `entry` (from describeArtifact) under entry.name: the artifact directory
   * weights/<name>/<id>/ (weights, meta.json, entry.json last), then the name in index.json.
   * An existing name is refused unless `force`; nothing is written then.
   */
  async publish(
    artifact: Artifact,
    entry: WeightsEntry,
    opts: { force?: boolean } = {},
  ): Promise<{ uri: string; replaced: IndexRow | null }> {
    checkName(entry.name);
    const refuse = (row: IndexRow) =>
      new InputError(
        `the registry ${this.st.uri} already has "${entry.name}" (${row.arch}, published ${row.publishedAt})`,
        [
          {
            path: '--name',
            message: 'choose another name, or pass --force to move the name to these weights',
          },
        ],
      );
    const before = (await this.readIndex()).index.entries[entry.name];
    if (before && !opts.force) throw refuse(before);

    const entryText = JSON.stringify(entry, null, 2) + '\n';
    const entrySha = sha256(entryText);
    const id = sha256(canonicalJson(entry)).slice(0, 16);
    const dir = artifactDir(entry.name, id);
    await this.st.put(`${dir}/${WEIGHTS_FILE}`, artifact.weights);
    await this.st.put(`${dir}/${META_FILE}`, Buffer.from(artifact.metaText), {
      contentType: 'application/json',
    });
    // entry.json last: its presence means the directory is complete.
    await this.st.put(`${dir}/${ENTRY_FILE}`, Buffer.from(entryText), {
      contentType: 'application/json',
    });

    const row = indexRow(entry, dir, entrySha);
    for (let attempt = 0; attempt < INDEX_ATTEMPTS; attempt++) {
      const { index, version } = await this.readIndex();
      const current = index.entries[entry.name];
      // Our own row already there: an earlier attempt landed though its answer was lost.
      if (current?.dir === dir && current.entrySha256 === entrySha) {
        return { uri: this.st.uriOf(dir), replaced: before ?? null };
      }
      if (current && !opts.force) throw refuse(current);
      index.entries[entry.name] = row;
      const body = Buffer.from(JSON.stringify(index, null, 2) + '\n');
      if (
        await this.st.putIfVersion(REGISTRY_INDEX, body, version, {
          contentType: 'application/json',
        })
      ) {
        return { uri: this.st.uriOf(dir), replaced: current ?? null };
      }
      await sleep(10 + Math.random() * 40 * (attempt + 1));
    }
    throw new RetryableError(
      `index.json of ${this.st.uri} kept changing under ${INDEX_ATTEMPTS} attempts to publish "${entry.name}"; try again`,
    );
  }
}
