import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { InputError, NotFoundError } from '../../../common/errors.js';
import { LocalStorage } from '../../../common/storage/local-storage.js';
import {
  joinUri,
  openStorage,
  parseS3Uri,
  storageOptionsFromEnv,
} from '../../../common/storage/storage.js';
import { S3Storage } from '../../../common/storage/s3-storage.js';
import { Semaphore, withRetries } from '../../../common/storage/retry.js';

describe('storage', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rm-storage-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('local: put/get/getRange/list/size/exists/delete', async () => {
    const st = openStorage(dir);
    assert.ok(st instanceof LocalStorage);
    await st.put('a/b/c.bin', Buffer.from('hello world'));
    await st.put('a/x.txt', Readable.from([Buffer.from('str'), Buffer.from('eam')]));
    assert.equal((await st.get('a/b/c.bin')).toString(), 'hello world');
    assert.equal((await st.get('a/x.txt')).toString(), 'stream');
    assert.equal((await st.getRange('a/b/c.bin', 6, 5)).toString(), 'world');
    assert.equal(
      (await st.getRange('a/b/c.bin', 6, 50)).toString(),
      'world',
      'short at the end of the object',
    );
    assert.equal((await st.getRange('a/b/c.bin', 60, 5)).length, 0);
    assert.deepEqual(await st.list(''), ['a/b/c.bin', 'a/x.txt']);
    assert.deepEqual(await st.list('a/b'), ['a/b/c.bin']);
    assert.equal(await st.size('a/b/c.bin'), 11);
    assert.equal(await st.exists('nope'), false);
    await st.delete('a/x.txt');
    await st.delete('a/x.txt');
    assert.deepEqual(await st.list('a/'), ['a/b/c.bin']);
  });

  it('local: a missing object is a NotFoundError naming the path', async () => {
    const st = openStorage(dir);
    await assert.rejects(
      st.get('missing.json'),
      (e: unknown) =>
        e instanceof NotFoundError && e.message.includes(path.join(dir, 'missing.json')),
    );
    await assert.rejects(st.getRange('missing.tar', 0, 10), NotFoundError);
  });

  it('local: writes are atomic (a failed stream leaves neither the object nor a temp file)', async () => {
    const st = openStorage(dir);
    await st.put('obj', Buffer.from('old'));
    const failing = new Readable({
      read() {
        this.push(Buffer.from('partial'));
        this.destroy(new Error('disk on fire'));
      },
    });
    await assert.rejects(st.put('obj', failing), /disk on fire/);
    assert.equal((await st.get('obj')).toString(), 'old');
    assert.deepEqual(await fs.readdir(dir), ['obj']);
  });

  it('local: keys cannot escape the root', async () => {
    await assert.rejects(openStorage(dir).get('../etc/passwd'), InputError);
  });

  it('URIs: s3 parsing, bad buckets, unsupported schemes, env options', () => {
    assert.deepEqual(parseS3Uri('s3://my-bucket/some/prefix/'), {
      bucket: 'my-bucket',
      prefix: 'some/prefix',
    });
    assert.deepEqual(parseS3Uri('s3://my-bucket'), { bucket: 'my-bucket', prefix: '' });
    assert.equal(parseS3Uri('/tmp/x'), undefined);
    assert.throws(() => parseS3Uri('s3://Bad_Bucket/x'), InputError);
    assert.throws(() => openStorage('gs://bucket/x'), InputError);
    const s3 = openStorage('s3://bkt/pre', { endpoint: 'http://127.0.0.1:1' });
    assert.ok(s3 instanceof S3Storage);
    assert.equal(s3.uriOf('index.json'), 's3://bkt/pre/index.json');
    s3.close();
    assert.equal(joinUri('s3://b/p/', 'train'), 's3://b/p/train');
    assert.deepEqual(
      storageOptionsFromEnv({
        RINGMASTER_S3_ENDPOINT: 'http://h:9000',
        AWS_ACCESS_KEY_ID: 'a',
        AWS_SECRET_ACCESS_KEY: 'b',
        AWS_REGION: 'eu-west-1',
      }),
      {
        endpoint: 'http://h:9000',
        region: 'eu-west-1',
        credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      },
    );
  });

  it('s3: an unreachable endpoint becomes a RetryableError after the retries', async () => {
    const s3 = openStorage('s3://bkt/pre', {
      endpoint: 'http://127.0.0.1:9',
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      retries: 2,
      retryBaseMs: 10,
    });
    const t0 = Date.now();
    await assert.rejects(
      s3.get('k'),
      (e: Error) => e.name === 'RetryableError' && e.message.includes('s3://bkt/pre/k'),
    );
    assert.ok(Date.now() - t0 < 10_000);
    s3.close();
  });

  it('retries with backoff until success, and a semaphore bounds concurrency', async () => {
    let calls = 0;
    const v = await withRetries(
      async () => {
        if (++calls < 3) throw new Error('flaky');
        return 42;
      },
      { retries: 5, baseMs: 1, capMs: 5 },
      () => true,
    );
    assert.equal(v, 42);
    assert.equal(calls, 3);
    await assert.rejects(
      withRetries(
        async () => Promise.reject(new Error('no')),
        { retries: 5, baseMs: 1, capMs: 1 },
        () => false,
      ),
      /no/,
    );
    const sem = new Semaphore(3);
    let active = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        sem.run(async () => {
          peak = Math.max(peak, ++active);
          await new Promise((r) => setTimeout(r, 2));
          active--;
        }),
      ),
    );
    assert.equal(peak, 3);
  });
});
