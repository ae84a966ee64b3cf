/**
 * One small storage interface for shards, checkpoints and weights, with two implementations:
 * S3 (any S3-compatible endpoint) and the local filesystem (the embedded default).
 * Keys are relative to the URI the storage was opened on and use '/' as separator.
 */
import type { Readable } from 'node:stream';
import { WorkerEnv } from '../../api/names.js';
import { InputError } from '../errors.js';
import { LocalStorage } from './local-storage.js';
import { S3Storage } from './s3-storage.js';

export interface PutOptions {
  contentType?: string;
}

/** An object's bytes with an opaque version tag (S3: its ETag), for compare-and-swap updates. */
export interface Versioned {
  body: Buffer;
  version: string;
}

export interface Storage {
  /** The URI this storage was opened on (for messages). */
  readonly uri: string;
  /** The full URI of a key (for messages). */
  uriOf(key: string): string;
  /** The whole object. NotFoundError when it does not exist. */
  get(key: string): Promise<Buffer>;
  /**
   * `length` bytes from `offset`. Shorter only when the object ends first (empty when
   * `offset` is at or past its end); callers that expect exact sizes check.
   */
  getRange(key: string, offset: number, length: number): Promise<Buffer>;
  /** Writes the whole object; readers never see a half-written one. */
  put(key: string, body: Buffer | Readable, opts?: PutOptions): Promise<void>;
  /** Keys under `prefix` (relative to this storage), sorted. */
  list(prefix: string): Promise<string[]>;
  /** Byte size of the object, or undefined when it does not exist. */
  size(key: string): Promise<number | undefined>;
  exists(key: string): Promise<boolean>;
  /** The object and its version, or undefined when it does not exist. */
  getVersioned(key: string): Promise<Versioned | undefined>;
  /**
   * Compare-and-swap for small objects: writes `body` only if the object is still at
   * `version` (null: only if it does not exist yet). False when another writer changed it
   * first, and then nothing was written (re-read and try again).
   */
  putIfVersion(
    key: string,
    body: Buffer,
    version: string | null,
    opts?: PutOptions,
  ): Promise<boolean>;
  /** Removes the object; no error when it is already gone. */
  delete(key: string): Promise<void>;
  /** Releases sockets and handles. */
  close(): void;
}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface StorageOptions {
  /** S3-compatible endpoint (e.g. http://127.0.0.1:9000); implies path-style addressing. */
  endpoint?: string;
  region?: string;
  /** Absent: the AWS SDK's default credential chain (env, profile, pod role). */
  credentials?: S3Credentials;
  /** Requests in flight at once per storage (S3). Default 16. */
  maxConcurrency?: number;
  /** Retries of a failed request after the first attempt (S3). Default 6. */
  retries?: number;
  /** First backoff delay in ms; doubles per retry up to 5 s, with jitter. Default 200. */
  retryBaseMs?: number;
}

export interface S3Location {
  bucket: string;
  /** Key prefix without leading or trailing '/', possibly empty. */
  prefix: string;
}

/** Parses `s3://bucket/prefix`; undefined for anything that is not an s3 URI. */
export function parseS3Uri(uri: string): S3Location | undefined {
  if (!uri.startsWith('s3://')) return undefined;
  const rest = uri.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new InputError(`invalid S3 URI ${uri}`, [
      { path: 'uri', message: `bucket name "${bucket}" is not a valid S3 bucket name` },
    ]);
  }
  return { bucket, prefix };
}

/** `s3://bucket/prefix` → S3Storage; any other string is a local directory path. */
export function openStorage(uri: string, opts: StorageOptions = {}): Storage {
  if (uri.length === 0) throw new InputError('empty storage URI');
  const s3 = parseS3Uri(uri);
  if (s3) return new S3Storage(s3, opts);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri) && !uri.startsWith('file://')) {
    throw new InputError(`unsupported storage URI ${uri}`, [
      { path: 'uri', message: 'use s3://bucket/prefix or a local path' },
    ]);
  }
  return new LocalStorage(uri.startsWith('file://') ? new URL(uri).pathname : uri);
}

/** Joins a storage URI and a relative key or sub-prefix. */
export function joinUri(uri: string, key: string): string {
  if (key === '') return uri;
  return `${uri.replace(/\/+$/, '')}/${key.replace(/^\/+/, '')}`;
}

/** Storage options from the usual environment variables; read only at the process edge. */
export function storageOptionsFromEnv(env: NodeJS.ProcessEnv): StorageOptions {
  const opts: StorageOptions = {};
  const endpoint = env[WorkerEnv.s3Endpoint] ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  if (endpoint) opts.endpoint = endpoint;
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (region) opts.region = region;
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    opts.credentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    };
  }
  return opts;
}
