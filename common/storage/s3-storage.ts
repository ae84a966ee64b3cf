/**
 * S3 (and S3-compatible stores such as MinIO) as storage. Retries, concurrency and error
 * translation live here so callers see three outcomes: the bytes, a NotFoundError/InputError
 * naming the full URI (never retried), or a RetryableError after the retries ran out.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import { InputError, NotFoundError, RetryableError, RingmasterError } from '../errors.js';
import { log } from '../log.js';
import { Semaphore, withRetries, type RetryPolicy } from './retry.js';
import type { PutOptions, S3Location, Storage, StorageOptions, Versioned } from './storage.js';

/** Bodies above this go up as a multipart upload. */
const MULTIPART_THRESHOLD = 16 * 1024 * 1024;
const PART_SIZE = 16 * 1024 * 1024;

export class S3Storage implements Storage {
  readonly uri: string;
  private readonly client: S3Client;
  private readonly sem: Semaphore;
  private readonly policy: RetryPolicy;
  private readonly log = log.child({ component: 's3' });
  /** Failed attempts that were retried, over this storage's life (for logs and tests). */
  retriedAttempts = 0;

  constructor(
    private readonly loc: S3Location,
    opts: StorageOptions,
  ) {
    this.uri = `s3://${loc.bucket}${loc.prefix ? '/' + loc.prefix : ''}`;
    const concurrency = opts.maxConcurrency ?? 16;
    const config: S3ClientConfig = {
      region: opts.region ?? 'us-east-1',
      // Our own retry loop below (backoff + jitter, error translation); the SDK's would nest.
      maxAttempts: 1,
      // SDK >= 3.729 adds CRC checksums to every request; several S3-compatible stores reject them.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: 5_000,
        // Socket idle time: a server that stops answering mid-body becomes a retryable error.
        requestTimeout: 30_000,
        httpAgent: { keepAlive: true, maxSockets: concurrency },
        httpsAgent: { keepAlive: true, maxSockets: concurrency },
      },
    };
    if (opts.endpoint) {
      config.endpoint = opts.endpoint;
      config.forcePathStyle = true;
    }
    if (opts.credentials) config.credentials = opts.credentials;
    this.client = new S3Client(config);
    this.sem = new Semaphore(concurrency);
    this.policy = { retries: opts.retries ?? 6, baseMs: opts.retryBaseMs ?? 200, capMs: 5_000 };
  }

  uriOf(key: string): string {
    return `s3://${this.loc.bucket}/${this.keyOf(key)}`;
  }

  private keyOf(key: string): string {
    const k = key.replace(/^\/+/, '');
    return this.loc.prefix ? `${this.loc.prefix}/${k}` : k;
  }

  /** One request under the concurrency bound, retried, with errors translated. */
  private async call<T>(what: string, key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await withRetries(
        () => this.sem.run(fn),
        this.policy,
        (err) => isTransient(err),
        (err, attempt, delay) => {
          this.retriedAttempts++;
          this.log.warn(
            {
              uri: this.uriOf(key),
              attempt: attempt + 1,
              delayMs: Math.round(delay),
              err: errText(err),
            },
            `${what} failed, retrying`,
          );
        },
      );
    } catch (err) {
      throw this.translate(err, what, key);
    }
  }

  async get(key: string): Promise<Buffer> {
    return this.call('GET', key, async () => {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.loc.bucket, Key: this.keyOf(key) }),
      );
      return readBody(res.Body);
    });
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0);
    return this.call('GET range', key, async () => {
      try {
        const res = await this.client.send(
          new GetObjectCommand({
            Bucket: this.loc.bucket,
            Key: this.keyOf(key),
            Range: `bytes=${offset}-${offset + length - 1}`,
          }),
        );
        const body = await readBody(res.Body);
        // A server that ignores Range answers 200 with the whole object.
        if (res.ContentRange === undefined && body.length > length) {
          return body.subarray(offset, offset + length);
        }
        return body;
      } catch (err) {
        if (statusOf(err) === 416) return Buffer.alloc(0);
        throw err;
      }
    });
  }

  async put(key: string, body: Buffer | Readable, opts: PutOptions = {}): Promise<void> {
    const params = {
      Bucket: this.loc.bucket,
      Key: this.keyOf(key),
      ContentType: opts.contentType ?? 'application/octet-stream',
    };
    if (Buffer.isBuffer(body) && body.length <= MULTIPART_THRESHOLD) {
      await this.call('PUT', key, async () => {
        await this.client.send(new PutObjectCommand({ ...params, Body: body }));
      });
      return;
    }
    const upload = async (): Promise<void> => {
      const up = new Upload({
        client: this.client,
        params: { ...params, Body: body },
        partSize: PART_SIZE,
        queueSize: 4,
        leavePartsOnError: false,
      });
      await up.done();
    };
    if (Buffer.isBuffer(body)) {
      // A buffer can be sent again, so the whole multipart upload is retried.
      await this.call('PUT (multipart)', key, upload);
    } else {
      // A stream cannot be replayed: one attempt, errors translated.
      try {
        await this.sem.run(upload);
      } catch (err) {
        throw this.translate(err, 'PUT (multipart)', key);
      }
    }
  }

  async getVersioned(key: string): Promise<Versioned | undefined> {
    return this.call('GET', key, async () => {
      try {
        const res = await this.client.send(
          new GetObjectCommand({ Bucket: this.loc.bucket, Key: this.keyOf(key) }),
        );
        return { body: await readBody(res.Body), version: res.ETag ?? '' };
      } catch (err) {
        // A missing key is an answer here; a missing bucket stays an error (translated).
        if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
        throw err;
      }
    });
  }

  /**
   * S3 conditional writes: `If-None-Match: *` when the object must not exist, `If-Match:
   * <ETag>` otherwise (AWS since 2024, MinIO too). 412 (or 409, a concurrent conditional
   * write) means another writer won. A retried PUT whose first attempt landed also answers
   * 412: callers make their change idempotent (the registry recognises its own entry).
   */
  async putIfVersion(
    key: string,
    body: Buffer,
    version: string | null,
    opts: PutOptions = {},
  ): Promise<boolean> {
    return this.call('PUT (conditional)', key, async () => {
      try {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.loc.bucket,
            Key: this.keyOf(key),
            ContentType: opts.contentType ?? 'application/octet-stream',
            Body: body,
            ...(version === null ? { IfNoneMatch: '*' } : { IfMatch: version }),
          }),
        );
        return true;
      } catch (err) {
        const status = statusOf(err);
        if (status === 412 || status === 409) return false;
        throw err;
      }
    });
  }

  async list(prefix: string): Promise<string[]> {
    const full = this.keyOf(prefix);
    const strip = this.loc.prefix ? this.loc.prefix.length + 1 : 0;
    const out: string[] = [];
    let token: string | undefined;
    do {
      const res = await this.call('LIST', prefix, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.loc.bucket,
            Prefix: full,
            ContinuationToken: token,
          }),
        ),
      );
      for (const o of res.Contents ?? []) if (o.Key) out.push(o.Key.slice(strip));
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
  }

  async size(key: string): Promise<number | undefined> {
    try {
      const res = await this.call('HEAD', key, () =>
        this.client.send(new HeadObjectCommand({ Bucket: this.loc.bucket, Key: this.keyOf(key) })),
      );
      return res.ContentLength ?? 0;
    } catch (err) {
      // HEAD has no body, so a missing bucket and a missing key look alike: both are "absent".
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.size(key)) !== undefined;
  }

  async delete(key: string): Promise<void> {
    await this.call('DELETE', key, async () => {
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.loc.bucket, Key: this.keyOf(key) }),
      );
    });
  }

  close(): void {
    this.client.destroy();
  }

  private translate(err: unknown, what: string, key: string): RingmasterError {
    if (err instanceof RingmasterError) return err;
    const uri = this.uriOf(key);
    const name = (err as { name?: string }).name ?? '';
    const code = (err as { Code?: string }).Code ?? name;
    const status = statusOf(err);
    if (code === 'NoSuchBucket') {
      return new NotFoundError(`bucket not found: s3://${this.loc.bucket} (${what} ${uri})`, {
        cause: err,
      });
    }
    if (code === 'NoSuchKey' || code === 'NotFound' || status === 404) {
      return new NotFoundError(`not found: ${uri}`, { cause: err });
    }
    if (
      [
        'InvalidAccessKeyId',
        'SignatureDoesNotMatch',
        'AccessDenied',
        'ExpiredToken',
        'InvalidToken',
      ].includes(code) ||
      status === 403 ||
      status === 401
    ) {
      return new InputError(
        `access denied to ${uri} (${code || status}): check the S3 credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and endpoint`,
        [],
        { cause: err },
      );
    }
    if (name === 'CredentialsProviderError') {
      return new InputError(
        `no S3 credentials found for ${uri}: set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY`,
        [],
        {
          cause: err,
        },
      );
    }
    if (isTransient(err)) {
      return new RetryableError(
        `${what} ${uri} failed after ${this.policy.retries} retries: ${errText(err)}`,
        {
          cause: err,
        },
      );
    }
    return new RingmasterError(`${what} ${uri} failed: ${errText(err)}`, { cause: err });
  }
}

async function readBody(body: unknown): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0);
  const b = body as { transformToByteArray?: () => Promise<Uint8Array>; destroy?: () => void };
  try {
    const bytes = await b.transformToByteArray!();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (err) {
    // A body left half-read keeps its socket busy: always release it.
    b.destroy?.();
    throw err;
  }
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Worth retrying: network failures, timeouts, throttling and 5xx. */
export function isTransient(err: unknown): boolean {
  if (err instanceof RingmasterError) return err instanceof RetryableError;
  const e = err as {
    name?: string;
    code?: string;
    Code?: string;
    $retryable?: unknown;
    cause?: unknown;
  };
  const status = statusOf(err);
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (status !== undefined && status >= 400) return false;
  if (e.$retryable) return true;
  const code = e.code ?? e.Code ?? '';
  if (TRANSIENT_CODES.has(code)) return true;
  if (
    ['TimeoutError', 'RequestTimeout', 'SlowDown', 'AbortError', 'InternalError'].includes(
      e.name ?? '',
    )
  )
    return true;
  if (e.cause && e.cause !== err) return isTransient(e.cause);
  // No HTTP status at all: the request never got an answer (socket-level failure).
  return (
    status === undefined && e.name !== 'CredentialsProviderError' && !(err instanceof TypeError)
  );
}

function errText(err: unknown): string {
  const e = err as { name?: string; code?: string; message?: string };
  return [e.name, e.code, e.message].filter(Boolean).join(': ');
}
