/**
 * Checkpoints in the run's output (S3 or a local directory).
 *
 *   <output>/checkpoints/epoch-000004/                  end of epoch 4 (0-based, completed)
 *   <output>/checkpoints/epoch-000005-step-0000120/     mid-epoch, after 120 steps of epoch 5
 *       state.json          what the loop needs to continue, plus a sha256 and size per file
 *       <name>.safetensors  model, ema, optimizer, and per-rank BatchNorm buffers
 *   <output>/checkpoints/latest.json                    the pointer, written last
 *
 * Atomicity: every file of a checkpoint is put first (each put is atomic on both storages),
 * then state.json (which lists them with checksums), then latest.json. A crash at any point
 * leaves latest.json at the previous complete checkpoint. On load every listed file is
 * verified against state.json; a damaged checkpoint is skipped for the newest intact one.
 */
import { createHash } from 'node:crypto';
import { InputError, NotFoundError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { Storage } from '../../common/storage/storage.js';

export const CHECKPOINT_FORMAT = 1;
const DIR = 'checkpoints';
const LATEST = `${DIR}/latest.json`;

export interface FileEntry {
  sha256: string;
  bytes: number;
}

/** The loop's position and everything else a resumed run needs besides tensors. */
export interface CheckpointState {
  format: number;
  /** Epoch the run continues in (0-based). */
  epoch: number;
  /** Steps of `epoch` already done (0 for an end-of-epoch checkpoint of epoch-1). */
  stepInEpoch: number;
  globalStep: number;
  recipeHash: string;
  worldSize: number;
  backend: string;
  /** Loop-specific data: scheduler, EMA bookkeeping, metrics history, categories, … */
  extra: Record<string, unknown>;
  files: Record<string, FileEntry>;
  createdAt: string;
}

export interface Checkpoint {
  name: string;
  state: CheckpointState;
  files: Map<string, Buffer>;
}

export interface LatestPointer {
  name: string;
  epoch: number;
  stepInEpoch: number;
  globalStep: number;
  stateSha256: string;
}

export type NewCheckpoint = Omit<CheckpointState, 'format' | 'files' | 'createdAt'>;

/** The directory of the checkpoint taken after `stepInEpoch` steps of `epoch`. */
export function checkpointName(epoch: number, stepInEpoch: number): string {
  const e = `epoch-${String(epoch).padStart(6, '0')}`;
  return stepInEpoch === 0 ? e : `${e}-step-${String(stepInEpoch).padStart(7, '0')}`;
}

/** The file in a checkpoint that holds rank `rank`'s own BatchNorm buffers (ranks > 0). */
export function rankFile(rank: number): string {
  return `rank-${String(rank).padStart(4, '0')}.safetensors`;
}

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** Newest first: by (epoch, step) as encoded in the name. */
function compareNewestFirst(a: string, b: string): number {
  return a < b ? 1 : a > b ? -1 : 0;
}

export interface LoadOptions {
  expectedRecipeHash: string;
  allowRecipeMismatch?: boolean;
  /** Files that must be present (e.g. 'model.safetensors'); others are optional. */
  required?: readonly string[];
}

export class CheckpointStore {
  constructor(
    private readonly storage: Storage,
    private readonly log?: Logger,
  ) {}

  /** The full URI of a checkpoint directory (for logs and status). */
  uri(name: string): string {
    return this.storage.uriOf(`${DIR}/${name}`);
  }

  /** Writes additional files of a checkpoint (e.g. another rank's buffers) before `commit`. */
  async putFile(name: string, file: string, body: Buffer): Promise<FileEntry> {
    await this.storage.put(`${DIR}/${name}/${file}`, body);
    return { sha256: sha256(body), bytes: body.length };
  }

  /**
   * Writes `files` and state.json, then moves latest.json. `extraEntries` lists files that
   * other ranks already wrote with `putFile`.
   */
  async save(
    state: NewCheckpoint,
    files: Map<string, Buffer>,
    extraEntries: Record<string, FileEntry> = {},
  ): Promise<LatestPointer> {
    const name = checkpointName(state.epoch, state.stepInEpoch);
    const entries: Record<string, FileEntry> = { ...extraEntries };
    for (const [file, body] of files) entries[file] = await this.putFile(name, file, body);
    const full: CheckpointState = {
      format: CHECKPOINT_FORMAT,
      ...state,
      files: entries,
      createdAt: new Date().toISOString(),
    };
    const stateBuf = Buffer.from(JSON.stringify(full, null, 2));
    await this.storage.put(`${DIR}/${name}/state.json`, stateBuf, {
      contentType: 'application/json',
    });
    const pointer: LatestPointer = {
      name,
      epoch: state.epoch,
      stepInEpoch: state.stepInEpoch,
      globalStep: state.globalStep,
      stateSha256: sha256(stateBuf),
    };
    await this.storage.put(LATEST, Buffer.from(JSON.stringify(pointer, null, 2)), {
      contentType: 'application/json',
    });
    return pointer;
  }

  /** Names of the checkpoint directories present, newest first. */
  async list(): Promise<string[]> {
    const keys = await this.storage.list(`${DIR}/`);
    const names = new Set<string>();
    for (const k of keys) {
      const m = /^checkpoints\/(epoch-\d{6}(?:-step-\d{7})?)\//.exec(k);
      if (m) names.add(m[1]!);
    }
    return [...names].sort(compareNewestFirst);
  }

  async latestPointer(): Promise<LatestPointer | undefined> {
    if (!(await this.storage.exists(LATEST))) return undefined;
    return JSON.parse((await this.storage.get(LATEST)).toString('utf8')) as LatestPointer;
  }

  /**
   * The newest intact checkpoint: the one latest.json names if it verifies, else the newest
   * older one that does. null when there is none. A checkpoint of another recipe is refused.
   */
  async loadLatest(opts: LoadOptions): Promise<Checkpoint | null> {
    const pointer = await this.latestPointer().catch((err: unknown) => {
      this.log?.warn({ err: String(err) }, 'latest.json unreadable; scanning checkpoints');
      return undefined;
    });
    const candidates = await this.list();
    const ordered = pointer
      ? [pointer.name, ...candidates.filter((n) => n !== pointer.name && n < pointer.name)]
      : candidates;
    for (const name of ordered) {
      const ckpt = await this.tryLoad(name, opts, name === pointer?.name ? pointer : undefined);
      if (ckpt) return ckpt;
    }
    return null;
  }

  /** Loads and verifies one checkpoint by name; NotFoundError/InputError when it is not usable. */
  async load(name: string, opts: LoadOptions): Promise<Checkpoint> {
    const ckpt = await this.tryLoad(name, opts);
    if (!ckpt) {
      throw new NotFoundError(
        `checkpoint ${this.storage.uriOf(`${DIR}/${name}`)} is missing or damaged`,
      );
    }
    return ckpt;
  }

  private async tryLoad(
    name: string,
    opts: LoadOptions,
    pointer?: LatestPointer,
  ): Promise<Checkpoint | null> {
    const where = this.storage.uriOf(`${DIR}/${name}`);
    let stateBuf: Buffer;
    try {
      stateBuf = await this.storage.get(`${DIR}/${name}/state.json`);
    } catch (err) {
      this.log?.warn({ checkpoint: where, err: String(err) }, 'checkpoint has no readable state');
      return null;
    }
    if (pointer && sha256(stateBuf) !== pointer.stateSha256) {
      this.log?.warn({ checkpoint: where }, 'state.json does not match latest.json; skipping');
      return null;
    }
    let state: CheckpointState;
    try {
      state = JSON.parse(stateBuf.toString('utf8')) as CheckpointState;
    } catch {
      this.log?.warn({ checkpoint: where }, 'state.json is not valid JSON; skipping');
      return null;
    }
    if (state.format !== CHECKPOINT_FORMAT) {
      this.log?.warn({ checkpoint: where, format: state.format }, 'unknown checkpoint format');
      return null;
    }
    if (state.recipeHash !== opts.expectedRecipeHash && !opts.allowRecipeMismatch) {
      throw new InputError(
        `checkpoint ${where} was written by a different recipe (hash ${state.recipeHash.slice(0, 12)}, ` +
          `this recipe ${opts.expectedRecipeHash.slice(0, 12)}); use a new output location, ` +
          `or allow the mismatch explicitly (--allow-recipe-change)`,
      );
    }
    for (const req of opts.required ?? []) {
      if (!state.files[req]) {
        this.log?.warn({ checkpoint: where, file: req }, 'checkpoint lacks a required file');
        return null;
      }
    }
    const files = new Map<string, Buffer>();
    for (const [file, entry] of Object.entries(state.files)) {
      let body: Buffer;
      try {
        body = await this.storage.get(`${DIR}/${name}/${file}`);
      } catch (err) {
        this.log?.warn({ checkpoint: where, file, err: String(err) }, 'checkpoint file missing');
        return null;
      }
      if (body.length !== entry.bytes || sha256(body) !== entry.sha256) {
        this.log?.warn(
          { checkpoint: where, file, bytes: body.length, expected: entry.bytes },
          'checkpoint file is truncated or corrupt; falling back to an older checkpoint',
        );
        return null;
      }
      files.set(file, body);
    }
    return { name, state, files };
  }

  /**
   * Deletes all but the newest `keep` checkpoints, never the one latest.json names nor those
   * in `pinned` (the best epoch's: keepCheckpoints must not delete it).
   */
  async prune(keep: number, pinned: readonly string[] = []): Promise<string[]> {
    const pointer = await this.latestPointer();
    const names = await this.list();
    const doomed = names
      .slice(Math.max(1, keep))
      .filter((n) => n !== pointer?.name && !pinned.includes(n));
    for (const name of doomed) {
      for (const key of await this.storage.list(`${DIR}/${name}/`)) await this.storage.delete(key);
    }
    return doomed;
  }
}
