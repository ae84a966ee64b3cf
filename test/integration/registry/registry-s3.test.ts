/**
 * The weights registry on S3 (a real MinIO): the round trip of test/unit/registry through
 * s3://, and the conditional writes that keep concurrent publishers from losing names —
 * checked directly (MinIO honours If-None-Match and If-Match on PUT) and through publish.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { openStorage, type StorageOptions } from '../../../common/storage/storage.js';
import { minioBinary, startMinio, type MinioServer } from '../../../harness/minio.js';
import { initBackend } from '../../../trainer/engine/backend.js';
import { WeightsRegistry } from '../../../trainer/registry/registry.js';
import { describeArtifact, readArtifact } from '../../../trainer/registry/describe.js';
import { NAME, TV_IMPORT, publishFixture, roundTrip } from '../../unit/registry/round-trip.js';

describe('weights registry on S3 (MinIO)', function () {
  this.timeout(180_000);
  let dir: string;
  let minio: MinioServer;
  let opts: StorageOptions;

  before(async function () {
    if (!minioBinary()) {
      console.log('    (skipped: no MinIO binary; set MINIO_BIN or run .ci/setup.d/20-minio.sh)');
      this.skip();
    }
    await initBackend('wasm');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rm-registry-s3-'));
    minio = await startMinio({ dir: path.join(dir, 'minio') });
    await minio.createBucket('weights');
    opts = { endpoint: minio.endpoint, credentials: minio.credentials, retryBaseMs: 100 };
  });
  after(async () => {
    await minio?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('conditional writes: If-None-Match refuses an existing object, If-Match a changed one', async () => {
    const st = openStorage('s3://weights/cas', opts);
    try {
      assert.equal(await st.getVersioned('x.json'), undefined);
      assert.equal(await st.putIfVersion('x.json', Buffer.from('1'), null), true);
      assert.equal(await st.putIfVersion('x.json', Buffer.from('2'), null), false);
      const v1 = (await st.getVersioned('x.json'))!;
      assert.equal(v1.body.toString(), '1');
      assert.equal(await st.putIfVersion('x.json', Buffer.from('3'), v1.version), true);
      assert.equal(
        await st.putIfVersion('x.json', Buffer.from('4'), v1.version),
        false,
        'stale ETag',
      );
      assert.equal((await st.get('x.json')).toString(), '3');
    } finally {
      st.close();
    }
  });

  it('round trip: publish, list, show, predict by name from s3://', async () => {
    await roundTrip('s3://weights/registry', opts);
  });

  it('publishes an artifact that is itself on S3 (a run’s output)', async () => {
    const run = openStorage('s3://weights/runs/r1/weights', opts);
    try {
      for (const f of ['model.safetensors', 'meta.json'])
        await run.put(f, await fs.readFile(path.join(TV_IMPORT, f)));
    } finally {
      run.close();
    }
    const artifact = await readArtifact('s3://weights/runs/r1/weights', opts);
    const entry = describeArtifact(artifact, { name: 'from.S3', dataset: 'd' });
    assert.equal(entry.source.artifact, 's3://weights/runs/r1/weights/model.safetensors');
    const reg = WeightsRegistry.open('s3://weights/registry', opts);
    try {
      await reg.publish(artifact, entry);
      const back = await reg.resolve('from.S3');
      assert.deepEqual(back.weights, await fs.readFile(path.join(TV_IMPORT, 'model.safetensors')));
    } finally {
      reg.close();
    }
  });

  it('concurrent publishers: every name lands in index.json', async () => {
    const uri = 's3://weights/concurrent';
    const names = ['m.A', 'm.B', 'm.C', 'm.D', 'm.E', 'm.F'];
    await Promise.all(names.map((n) => publishFixture(uri, opts, n)));
    const reg = WeightsRegistry.open(uri, opts);
    try {
      assert.deepEqual(
        (await reg.list()).map((r) => r.name),
        names,
      );
      // Same name, two different entries, two publishers at once: one wins, the other is
      // refused (no --force). (Identical entries would be one publication, both succeeding.)
      const both = await Promise.allSettled([
        publishFixture(uri, opts, NAME, false, 'one'),
        publishFixture(uri, opts, NAME, false, 'two'),
      ]);
      assert.deepEqual(both.map((b) => b.status).sort(), ['fulfilled', 'rejected']);
      assert.match(
        String((both.find((b) => b.status === 'rejected') as PromiseRejectedResult).reason),
        /already has/,
      );
    } finally {
      reg.close();
    }
  });
});
