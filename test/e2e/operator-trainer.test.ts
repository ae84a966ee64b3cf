/**
 * The whole journey with the real trainer: `kubectl apply` a tiny recipe with 2 workers →
 * the operator's pods run `ringmaster worker` (as processes, via the node agent) → training
 * with S3 in MinIO → Succeeded, weights and checkpoints in the bucket, metrics in the status.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type * as k8s from '@kubernetes/client-node';
import {
  findKubeBinaries,
  startControlPlane,
  type ControlPlane,
} from '../../harness/control-plane.js';
import { ensureNamespace, waitFor } from '../../harness/kube.js';
import { minioBinary, startMinio, type MinioServer } from '../../harness/minio.js';
import { NodeAgent, ringmasterCommandMap } from '../support/node-agent.js';
import { KubeRest } from '../../operator/kube/rest.js';
import type { Operator } from '../../operator/operator.js';
import type { TrainingRecipeObject } from '../../operator/reconcile/types.js';
import { makeOperator, testOperatorEnv } from '../../harness/operator.js';

const ROOT = join(import.meta.dirname, '..', '..');
const NS = 'train';

describe('e2e: kubectl apply → ringmaster worker pods → weights in MinIO', function () {
  this.timeout(900_000);
  let cp: ControlPlane | undefined;
  let minio: MinioServer | undefined;
  let agent: NodeAgent | undefined;
  let op: Operator | undefined;
  let rest: KubeRest | undefined;

  before(async function () {
    const found = findKubeBinaries();
    const missing = !found.ok
      ? found.reason
      : !minioBinary()
        ? 'no MinIO binary (run .ci/setup.d/20-minio.sh)'
        : undefined;
    if (missing) {
      console.log(`    skipped: ${missing}`);
      this.skip();
    }
    minio = await startMinio({ dir: mkdtempSync(join(tmpdir(), 'ringmaster-minio-')) });
    await minio.createBucket('runs');
    cp = await startControlPlane();
    await cp.installCrds([
      join(ROOT, 'crds', 'ringmaster.dev_trainingrecipes.yaml'),
      join(ROOT, 'crds', 'ringmaster.dev_trainingstudies.yaml'),
    ]);
    await ensureNamespace(cp.kubeConfig, NS);
    await ensureNamespace(cp.kubeConfig, 'ringmaster-system');
    rest = new KubeRest(cp.kubeConfig);
    await rest.request('POST', `/api/v1/namespaces/${NS}/secrets`, {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 's3-creds' },
        stringData: { AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey },
      },
    });
    agent = await NodeAgent.start({
      kubeConfig: cp.kubeConfig,
      gpus: 4,
      commandMap: ringmasterCommandMap(ROOT),
      baseEnv: { RINGMASTER_LOG_LEVEL: 'warn' },
    });
    op = makeOperator(
      cp.kubeConfig,
      testOperatorEnv('op-train', {
        RINGMASTER_PROGRESS_INTERVAL_SECONDS: '2',
        // The recipe succeeds with rank 0; the other rank exits right after, but on a loaded
        // machine "right after" can exceed the tests' usual 1 s grace (it was once stopped
        // before it could exit, and its pod deleted). The product default is 60 s.
        RINGMASTER_SUCCESS_GRACE_SECONDS: '30',
      }),
    );
    await op.start();
  });

  after(async () => {
    await op?.stop();
    await agent?.stop();
    rest?.close();
    await cp?.stop();
    await minio?.stop();
  });

  it('trains a 2-worker recipe to Succeeded with weights, EMA checkpoints and metrics', async () => {
    const yaml = `apiVersion: ringmaster.dev/v1alpha1
kind: TrainingRecipe
metadata:
  name: tiny
  namespace: ${NS}
spec:
  workers: 2
  gpusPerWorker: 0
  image: ringmaster/trainer:cpu
  data:
    train: synthetic:shapes?train=128&val=64&size=32
    val: synthetic:shapes?train=128&val=64&size=32
    endpoint: ${minio!.endpoint}
    credentialsSecret: s3-creds
  output: s3://runs/tiny
  recipe:
    model: resnet_mini
    batchSize: 16
    epochs: 2
    lr: 0.05
    lrWarmupEpochs: 0
    raSampler: false
    modelEmaSteps: 2
    trainCropSize: 32
    valResizeSize: 36
    valCropSize: 32
  runPolicy:
    backoffLimit: 1
`;
    await cp!.kubectl(['apply', '-f', '-'], { input: yaml });
    const get = () =>
      rest!.get<TrainingRecipeObject>(
        `/apis/ringmaster.dev/v1alpha1/namespaces/${NS}/trainingrecipes/tiny`,
      );
    const done = await waitFor(
      async () => {
        const r = await get();
        if (r.status?.phase === 'Failed')
          throw new Error(`Failed: ${JSON.stringify(r.status.conditions)}`);
        return r.status?.phase === 'Succeeded' ? r : undefined;
      },
      { timeoutMs: 840_000, intervalMs: 1000, what: 'tiny Succeeded' },
    ).catch(async (err: unknown) => {
      const logs = ['tiny-worker-0', 'tiny-worker-1'].map((p) => {
        try {
          return `--- ${p}\n${agent!.logs(NS, p).slice(-3000)}`;
        } catch {
          return `--- ${p}: no logs`;
        }
      });
      const r = await get().catch(() => undefined);
      throw new Error(`${String(err)}\nstatus: ${JSON.stringify(r?.status)}\n${logs.join('\n')}`);
    });
    assert.equal(done.status?.restarts, 0);
    assert.equal(done.status?.progress?.epoch, 2);
    assert.equal(typeof done.status?.metrics?.acc1, 'number');
    assert.equal(typeof done.status?.metrics?.emaAcc1, 'number');
    assert.match(done.status?.weights ?? '', /^s3:\/\/runs\/tiny/);
    const s3 = new S3Client({
      endpoint: minio!.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: minio!.credentials,
    });
    const keys = (
      (await s3.send(new ListObjectsV2Command({ Bucket: 'runs', Prefix: 'tiny/' }))).Contents ?? []
    ).map((o) => o.Key!);
    s3.destroy();
    assert.ok(keys.includes('tiny/weights/model.safetensors'), keys.join(', '));
    assert.ok(keys.includes('tiny/weights/meta.json'));
    assert.ok(keys.includes('tiny/checkpoints/latest.json'));
    assert.ok(
      keys.some((k) => /checkpoints\/epoch-\d+\/.*ema/i.test(k)),
      `EMA in the checkpoint: ${keys.join(', ')}`,
    );
    // Every rank exits 0 by itself (none is stopped by the operator after the grace).
    const phases = await waitFor(
      async () => {
        const pods = await rest!.get<{ items: k8s.V1Pod[] }>(`/api/v1/namespaces/${NS}/pods`);
        const p = pods.items.map((x) => x.status?.phase ?? '?').sort();
        return p.length === 2 && p.every((x) => x === 'Succeeded' || x === 'Failed')
          ? p
          : undefined;
      },
      { timeoutMs: 25_000, intervalMs: 200, what: 'both worker pods finished' },
    );
    assert.deepEqual(phases, ['Succeeded', 'Succeeded']);
  });
  it("mode: eval scores the run's checkpoint (model and EMA) and tunes the resize of its weights on the workers, results in status and in the bucket", async function () {
    // Evaluates what the first test trained (s3://runs/tiny).
    const tiny = await rest!
      .get<TrainingRecipeObject>(
        `/apis/ringmaster.dev/v1alpha1/namespaces/${NS}/trainingrecipes/tiny`,
      )
      .catch(() => undefined);
    if (tiny?.status?.phase !== 'Succeeded') {
      console.log('    skipped: needs the first test\'s trained recipe "tiny"');
      this.skip();
    }
    const evalRecipe = (
      name: string,
      workers: number,
      evalSpec: string,
    ) => `apiVersion: ringmaster.dev/v1alpha1
kind: TrainingRecipe
metadata:
  name: ${name}
  namespace: ${NS}
spec:
  mode: eval
  eval:
${evalSpec}
  workers: ${workers}
  gpusPerWorker: 0
  image: ringmaster/trainer:cpu
  data:
    val: synthetic:shapes?train=128&val=64&size=32
    endpoint: ${minio!.endpoint}
    credentialsSecret: s3-creds
  output: s3://runs/${name}
  recipe:
    batchSize: 16
  runPolicy:
    backoffLimit: 0
`;
    await cp!.kubectl(['apply', '-f', '-'], {
      input: [
        // Both halves of the ring score a checkpoint: the model and its EMA, and the grid.
        evalRecipe(
          'tiny-eval',
          2,
          '    weights: s3://runs/tiny/checkpoints/epoch-000002\n    resizeGrid: {start: 32, end: 40, step: 4}',
        ),
        // The weights artifact, tuned and its meta.json rewritten.
        evalRecipe(
          'tiny-tune',
          1,
          '    weights: s3://runs/tiny/weights\n    resizeGrid: {start: 32, end: 40, step: 4}\n    writeMeta: true',
        ),
        // A grid below the weights' crop (32): exit 2 on every rank, nothing written.
        evalRecipe(
          'tiny-badgrid',
          1,
          '    weights: s3://runs/tiny/weights\n    resizeGrid: {start: 24, end: 40}',
        ),
      ].join('---\n'),
    });
    const path = `/apis/ringmaster.dev/v1alpha1/namespaces/${NS}/trainingrecipes`;
    const finished = (name: string) =>
      waitFor(
        async () => {
          const r = await rest!.get<TrainingRecipeObject>(`${path}/${name}`);
          return r.status?.phase === 'Succeeded' || r.status?.phase === 'Failed' ? r : undefined;
        },
        { timeoutMs: 600_000, intervalMs: 1000, what: `${name} finished` },
      );
    const [ev, tune, bad] = await Promise.all([
      finished('tiny-eval'),
      finished('tiny-tune'),
      finished('tiny-badgrid'),
    ]);
    assert.equal(ev.status?.phase, 'Succeeded', JSON.stringify(ev.status));
    const e = ev.status!.eval!;
    assert.equal(e.weights, 's3://runs/tiny/checkpoints/epoch-000002');
    assert.deepEqual([e.workers, e.split, e.resize, e.crop], [2, 'all', 36, 32]);
    assert.equal(e.model?.count, 64);
    assert.equal(e.ema?.count, 64);
    assert.equal(e.biased, undefined, '64 samples over 2 ranks: no padding');
    // The printer columns' metrics are the eval's.
    assert.deepEqual(ev.status?.metrics, {
      acc1: e.model!.acc1,
      acc5: e.model!.acc5,
      emaAcc1: e.ema!.acc1,
      emaAcc5: e.ema!.acc5,
    });
    const t = e.tuning!;
    assert.equal(t.weights, 'ema');
    assert.deepEqual(
      t.grid.map((r) => [r.resize, r.select.count, r.confirm.count]),
      [
        [32, 32, 32],
        [36, 32, 32],
        [40, 32, 32],
      ],
    );
    const bestSelect = Math.max(...t.grid.map((r) => r.select.acc1));
    assert.equal(t.grid.find((r) => r.resize === t.chosen)!.select.acc1, bestSelect);
    // The ring's halves at the current resize add up to the ring's whole-split EMA figure.
    const at36 = t.grid.find((r) => r.resize === 36)!;
    assert.ok(Math.abs((at36.select.acc1 + at36.confirm.acc1) / 2 - e.ema!.acc1) < 1e-9);
    const succeeded = ev.status!.conditions!.find((c) => c.type === 'Succeeded')!;
    assert.equal(succeeded.reason, 'EvaluationCompleted');

    assert.equal(tune.status?.phase, 'Succeeded', JSON.stringify(tune.status));
    const tt = tune.status!.eval!;
    assert.equal(tt.model, undefined, 'the weights artifact holds the EMA only');
    assert.equal(tt.ema?.count, 64);
    assert.equal(tt.tuning?.metaWritten, 's3://runs/tiny/weights/meta.json');

    assert.equal(bad.status?.phase, 'Failed');
    const failed = bad.status!.conditions!.find((c) => c.type === 'Failed')!;
    assert.equal(failed.reason, 'WorkerInvalidInput', failed.message);
    assert.match(failed.message, /spec\.eval\.resizeGrid/);
    assert.equal(bad.status?.eval, undefined);

    const s3 = new S3Client({
      endpoint: minio!.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: minio!.credentials,
    });
    try {
      const read = async (key: string) =>
        JSON.parse(
          await (
            await s3.send(new GetObjectCommand({ Bucket: 'runs', Key: key }))
          ).Body!.transformToString(),
        );
      const report = await read('tiny-eval/eval.json');
      assert.deepEqual(report.ema, e.ema);
      assert.deepEqual(report.tuning, t);
      assert.equal(report.kind, 'checkpoint');
      const meta = await read('tiny/weights/meta.json');
      assert.equal(meta.transforms.resizeSize, tt.tuning!.chosen);
      assert.equal(meta.resizeTuning.previous, 36);
      const badKeys =
        (await s3.send(new ListObjectsV2Command({ Bucket: 'runs', Prefix: 'tiny-badgrid/' })))
          .Contents ?? [];
      assert.deepEqual(badKeys, [], 'a refused eval writes nothing');
    } finally {
      s3.destroy();
    }
  });

  it('trains spec.seeds as one child recipe per seed and ends with the summary in status', async () => {
    const yaml = `apiVersion: ringmaster.dev/v1alpha1
kind: TrainingRecipe
metadata:
  name: seeds
  namespace: ${NS}
spec:
  seeds: [0, 1]
  parallelism: 2
  workers: 1
  gpusPerWorker: 0
  image: ringmaster/trainer:cpu
  data:
    train: synthetic:shapes?train=64&val=32&size=16
    val: synthetic:shapes?train=64&val=32&size=16
    endpoint: ${minio!.endpoint}
    credentialsSecret: s3-creds
  output: s3://runs/seeds
  recipe:
    model: resnet_mini
    batchSize: 16
    epochs: 1
    lr: 0.05
    lrWarmupEpochs: 0
    raSampler: false
    modelEmaSteps: 2
    trainCropSize: 16
    valResizeSize: 16
    valCropSize: 16
  runPolicy:
    backoffLimit: 1
`;
    await cp!.kubectl(['apply', '-f', '-'], { input: yaml });
    const path = `/apis/ringmaster.dev/v1alpha1/namespaces/${NS}/trainingrecipes`;
    const done = await waitFor(
      async () => {
        const r = await rest!.get<TrainingRecipeObject>(`${path}/seeds`);
        if (r.status?.phase === 'Failed') throw new Error(`Failed: ${JSON.stringify(r.status)}`);
        return r.status?.phase === 'Succeeded' ? r : undefined;
      },
      { timeoutMs: 840_000, intervalMs: 1000, what: 'seeds Succeeded' },
    );
    const st = done.status!;
    assert.deepEqual(
      st.seeds?.map((s) => [s.seed, s.phase, s.recipe, s.output]),
      [
        [0, 'Succeeded', 'seeds-seed-0', 's3://runs/seeds/seed-0'],
        [1, 'Succeeded', 'seeds-seed-1', 's3://runs/seeds/seed-1'],
      ],
    );
    assert.equal(st.summary?.n, 2);
    assert.equal(st.summary?.failed, 0);
    const ema = st.seeds!.map((s) => s.metrics!.emaAcc1!);
    assert.equal(st.summary?.emaAcc1?.mean, (ema[0]! + ema[1]!) / 2);
    assert.match(st.summary?.headline ?? '', /^\d+\.\d\d ± \d+\.\d\d \(2\)$/);
    // The children are ordinary recipes that trained their own seed into their own prefix.
    for (const seed of [0, 1]) {
      const c = await rest!.get<TrainingRecipeObject>(`${path}/seeds-seed-${seed}`);
      assert.equal((c.spec as { recipe: { seed: number } }).recipe.seed, seed);
      assert.match(c.status?.weights ?? '', new RegExp(`^s3://runs/seeds/seed-${seed}/weights`));
    }
    // kubectl shows the summary in the printer column.
    const table = await cp!.kubectl(['get', 'trainingrecipes', 'seeds', '-n', NS]);
    assert.ok(table.includes(st.summary!.headline!), table);
  });

  it('a worker pod deleted mid-run (SIGTERM): the group checkpoints the step it reached, restarts, loses no step and succeeds', async () => {
    const yaml = `apiVersion: ringmaster.dev/v1alpha1
kind: TrainingRecipe
metadata:
  name: drained
  namespace: ${NS}
spec:
  workers: 2
  gpusPerWorker: 0
  image: ringmaster/trainer:cpu
  data:
    train: synthetic:shapes?train=1024&val=64&size=32
    val: synthetic:shapes?train=1024&val=64&size=32
    endpoint: ${minio!.endpoint}
    credentialsSecret: s3-creds
  output: s3://runs/drained
  recipe:
    model: resnet_mini
    batchSize: 16
    epochs: 2
    keepCheckpoints: 10
    lr: 0.05
    lrWarmupEpochs: 0
    raSampler: false
    modelEmaSteps: 2
    trainCropSize: 32
    valResizeSize: 36
    valCropSize: 32
  runPolicy:
    backoffLimit: 2
    terminationGracePeriodSeconds: 90
`;
    await cp!.kubectl(['apply', '-f', '-'], { input: yaml });
    const path = `/apis/ringmaster.dev/v1alpha1/namespaces/${NS}/trainingrecipes/drained`;
    const get = () => rest!.get<TrainingRecipeObject>(path);
    // Training has begun: rank 0 reported its first steps.
    await waitFor(async () => ((await get()).status?.progress?.step ?? 0) >= 1 || undefined, {
      timeoutMs: 600_000,
      intervalMs: 500,
      what: 'drained training',
    });
    const annotated = await rest!.get<k8s.V1Pod>(`/api/v1/namespaces/${NS}/pods/drained-worker-1`);
    assert.equal(annotated.spec?.terminationGracePeriodSeconds, 90);
    // A node drain or `kubectl delete pod`: graceful, SIGTERM first.
    await rest!.request('DELETE', `/api/v1/namespaces/${NS}/pods/drained-worker-1`);
    const done = await waitFor(
      async () => {
        const r = await get();
        if (r.status?.phase === 'Failed')
          throw new Error(`Failed: ${JSON.stringify(r.status.conditions)}`);
        return r.status?.phase === 'Succeeded' ? r : undefined;
      },
      { timeoutMs: 840_000, intervalMs: 1000, what: 'drained Succeeded' },
    ).catch(async (err: unknown) => {
      const logs = ['drained-worker-0', 'drained-worker-1'].map((p) => {
        try {
          return `--- ${p}\n${agent!.logs(NS, p).slice(-3000)}`;
        } catch {
          return `--- ${p}: no logs`;
        }
      });
      const r = await get().catch(() => undefined);
      throw new Error(`${String(err)}\nstatus: ${JSON.stringify(r?.status)}\n${logs.join('\n')}`);
    });
    assert.equal(done.status?.restarts, 1);
    // 2 epochs × 32 steps, none computed twice: the stop checkpoint was the step reached.
    assert.deepEqual(done.status?.goodput, {
      ratio: 1,
      stepsComputed: 64,
      stepsKept: 64,
      secondsLost: done.status?.goodput?.secondsLost,
    });
    assert.ok((done.status?.goodput?.secondsLost ?? 0) > 0, 'the restart cost some time');
    assert.ok(done.status?.lastCheckpoint?.time, 'lastCheckpoint has a time');
    const events = await rest!.get<{ items: k8s.CoreV1Event[] }>(
      `/api/v1/namespaces/${NS}/events`,
      { fieldSelector: 'involvedObject.name=drained' },
    );
    const restart = events.items.find((e) => /Restarting the worker group/.test(e.message ?? ''));
    assert.ok(restart, events.items.map((e) => `${e.reason}: ${e.message}`).join('\n'));
    assert.match(restart.reason ?? '', /^(PodDeleted|WorkerStopped)$/);
    const s3 = new S3Client({
      endpoint: minio!.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: minio!.credentials,
    });
    const keys = (
      (await s3.send(new ListObjectsV2Command({ Bucket: 'runs', Prefix: 'drained/' }))).Contents ??
      []
    ).map((o) => o.Key!);
    s3.destroy();
    assert.ok(
      keys.some((k) => /checkpoints\/epoch-\d+-step-\d+\/state\.json$/.test(k)),
      `a mid-epoch checkpoint from the SIGTERM stop: ${keys.join(', ')}`,
    );
  });

  it('a worker frozen with SIGSTOP: the group verdict reaches the operator as HangDetected naming pod and node, and the run succeeds', async () => {
    const yaml = `apiVersion: ringmaster.dev/v1alpha1
kind: TrainingRecipe
metadata:
  name: hung
  namespace: ${NS}
spec:
  workers: 2
  gpusPerWorker: 0
  image: ringmaster/trainer:cpu
  data:
    train: synthetic:shapes?train=1024&val=64&size=32
    val: synthetic:shapes?train=1024&val=64&size=32
    endpoint: ${minio!.endpoint}
    credentialsSecret: s3-creds
  output: s3://runs/hung
  recipe:
    model: resnet_mini
    batchSize: 16
    epochs: 1
    lr: 0.05
    lrWarmupEpochs: 0
    raSampler: false
    modelEmaSteps: 2
    trainCropSize: 32
    valResizeSize: 36
    valCropSize: 32
  runPolicy:
    backoffLimit: 2
    hangTimeoutSeconds: 10
    terminationGracePeriodSeconds: 5
`;
    await cp!.kubectl(['apply', '-f', '-'], { input: yaml });
    const path = `/apis/ringmaster.dev/v1alpha1/namespaces/${NS}/trainingrecipes/hung`;
    const get = () => rest!.get<TrainingRecipeObject>(path);
    await waitFor(async () => ((await get()).status?.progress?.step ?? 0) >= 1 || undefined, {
      timeoutMs: 600_000,
      intervalMs: 500,
      what: 'hung training',
    });
    const node = (await rest!.get<k8s.V1Pod>(`/api/v1/namespaces/${NS}/pods/hung-worker-1`)).spec
      ?.nodeName;
    // Resolves only once the frozen process is killed (the operator deletes the group).
    const frozen = agent!.killPod(NS, 'hung-worker-1', 'SIGSTOP').catch(() => undefined);
    const done = await waitFor(
      async () => {
        const r = await get();
        if (r.status?.phase === 'Failed')
          throw new Error(`Failed: ${JSON.stringify(r.status.conditions)}`);
        return r.status?.phase === 'Succeeded' ? r : undefined;
      },
      { timeoutMs: 840_000, intervalMs: 1000, what: 'hung Succeeded' },
    );
    await frozen;
    assert.equal(done.status?.restarts, 1);
    const events = await rest!.get<{ items: k8s.CoreV1Event[] }>(
      `/api/v1/namespaces/${NS}/events`,
      { fieldSelector: 'involvedObject.name=hung' },
    );
    const hang = events.items.find((e) => e.reason === 'HangDetected');
    assert.ok(hang, events.items.map((e) => `${e.reason}: ${e.message}`).join('\n'));
    assert.match(
      hang.message ?? '',
      new RegExp(`rank 1 \\(pod hung-worker-1 on node ${node}\\) hung`),
    );
  });
});
