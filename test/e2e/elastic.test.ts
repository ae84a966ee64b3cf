/**
 * Elastic resize through the operator with the real trainer: `kubectl apply` a 2-worker
 * elastic recipe on two 1-GPU nodes (node agents), lose one node mid-run → the operator
 * restarts the group at 1 worker (2 accumulation micro-steps) from the last checkpoint → a
 * third node joins, the capacity probe runs for graceSeconds → the group grows back to 2 →
 * Succeeded, with weights byte-identical to an uninterrupted 2-worker run of the same recipe.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type * as k8s from '@kubernetes/client-node';
import { ANNOTATION_BACKEND, WorkerEnv } from '../../api/names.js';
import { parseTrainingRecipe } from '../../api/load.js';
import {
  findKubeBinaries,
  startControlPlane,
  type ControlPlane,
} from '../../harness/control-plane.js';
import { ensureNamespace, waitFor } from '../../harness/kube.js';
import { minioBinary, startMinio, type MinioServer } from '../../harness/minio.js';
import { makeOperator, testOperatorEnv } from '../../harness/operator.js';
import { KubeRest } from '../../operator/kube/rest.js';
import type { Operator } from '../../operator/operator.js';
import type { TrainingRecipeObject } from '../../operator/reconcile/types.js';
import { resolveDataUri } from '../../trainer/data/resolve.js';
import { launchLocal } from '../../trainer/local/launcher.js';
import { NodeAgent, ringmasterCommandMap } from '../support/node-agent.js';

const ROOT = join(import.meta.dirname, '..', '..');
const NS = 'elastic';
const DATA = 'synthetic:shapes?train=256&val=40&size=16';
const RECIPE = {
  model: 'resnet_mini',
  batchSize: 16,
  epochs: 5,
  lr: 0.1,
  lrWarmupEpochs: 1,
  trainCropSize: 16,
  valResizeSize: 16,
  valCropSize: 16,
  modelEmaSteps: 2,
  checkpointEverySteps: 2,
};
// TensorFlow's kernels may sum in another order with more threads: one per worker, everywhere.
const ONE_THREAD = { [WorkerEnv.computeThreads]: '1' };

describe('e2e: elastic resize through the operator (real trainer)', function () {
  this.timeout(1_200_000);
  let cp: ControlPlane | undefined;
  let minio: MinioServer | undefined;
  let op: Operator | undefined;
  let rest: KubeRest | undefined;
  const agents: NodeAgent[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'ringmaster-elastic-e2e-'));

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
    minio = await startMinio({ dir: join(dir, 'minio') });
    await minio.createBucket('runs');
    cp = await startControlPlane();
    // Only the recipe CRD on purpose: the operator must run without the study CRD (an upgrade
    // from a chart without it; controller.ts studiesServed).
    await cp.installCrds([join(ROOT, 'crds', 'ringmaster.dev_trainingrecipes.yaml')]);
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
    op = makeOperator(
      cp.kubeConfig,
      testOperatorEnv('op-elastic', {
        RINGMASTER_PROGRESS_INTERVAL_SECONDS: '1',
        RINGMASTER_SUCCESS_GRACE_SECONDS: '30',
        RINGMASTER_WORKER_TERMINATION_GRACE_SECONDS: '20',
      }),
    );
    await op.start();
  });

  after(async () => {
    await op?.stop();
    for (const a of agents) await a.stop({ deleteNode: true });
    rest?.close();
    await cp?.stop();
    await minio?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const node = async (nodeName: string) => {
    const a = await NodeAgent.start({
      kubeConfig: cp!.kubeConfig,
      nodeName,
      gpus: 1,
      labels: { pool: 'elastic' },
      commandMap: ringmasterCommandMap(ROOT),
      baseEnv: { RINGMASTER_LOG_LEVEL: 'warn', ...ONE_THREAD },
    });
    agents.push(a);
    return a;
  };

  it('2 workers → node lost → 1 worker × 2 micro-steps → node back → 2: the uninterrupted weights', async () => {
    // The reference: the same recipe, never resized, as local processes.
    const cacheDir = join(dir, 'cache');
    const local = join(dir, 'reference');
    const { spec } = parseTrainingRecipe({
      workers: 2,
      data: { train: DATA, val: DATA },
      output: local,
      recipe: RECIPE,
    });
    await launchLocal({
      spec: {
        ...spec,
        data: {
          train: await resolveDataUri(DATA, 'train', { cacheDir }),
          val: await resolveDataUri(DATA, 'val', { cacheDir }),
        },
      },
      workers: 2,
      backend: 'tensorflow',
      cacheDir,
      allowRecipeChange: false,
      maxRestarts: 0,
      env: ONE_THREAD,
      out: { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream,
    });

    await node('el-a');
    await node('el-b');
    const yaml = `apiVersion: ringmaster.dev/v1alpha1
kind: TrainingRecipe
metadata:
  name: el
  namespace: ${NS}
  annotations:
    ${ANNOTATION_BACKEND}: tensorflow
spec:
  workers: 2
  gpusPerWorker: 1
  nodeSelector:
    pool: elastic
  data:
    train: ${DATA}
    val: ${DATA}
    endpoint: ${minio!.endpoint}
    credentialsSecret: s3-creds
  output: s3://runs/el
  recipe: ${JSON.stringify(RECIPE)}
  runPolicy:
    backoffLimit: 2
    hangTimeoutSeconds: 600
    elastic:
      minWorkers: 1
      maxWorkers: 2
      graceSeconds: 8
`;
    await cp!.kubectl(['apply', '-f', '-'], { input: yaml });
    const get = () =>
      rest!.get<TrainingRecipeObject>(
        `/apis/ringmaster.dev/v1alpha1/namespaces/${NS}/trainingrecipes/el`,
      );
    const fail = async (err: unknown) => {
      const r = await get().catch(() => undefined);
      throw new Error(`${String(err)}\nstatus: ${JSON.stringify(r?.status)}`);
    };
    // The first checkpoint exists: lose the node of rank 1.
    await waitFor(
      async () => {
        const r = await get();
        return (r.status?.lastCheckpoint?.step ?? 0) >= 2 ? r : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 500, what: 'a first checkpoint' },
    ).catch(fail);
    const pods = await rest!.get<{ items: k8s.V1Pod[] }>(`/api/v1/namespaces/${NS}/pods`);
    const rank1 = pods.items.find((p) => p.metadata?.labels?.['ringmaster.dev/rank'] === '1')!;
    const lost = agents.find((a) => a.nodeName === rank1.spec!.nodeName)!;
    await lost.markNodeLost();

    // The group restarts at 1 worker; then a node joins: the probe runs there, the group grows.
    let shrunkStep = -1;
    let stepAt1 = -1;
    await waitFor(
      async () => {
        const r = await get();
        if (r.status?.group?.workers === 1 && r.status.phase === 'Running') {
          shrunkStep = shrunkStep < 0 ? (r.status.lastCheckpoint?.step ?? 0) : shrunkStep;
          return r;
        }
        return undefined;
      },
      { timeoutMs: 300_000, intervalMs: 500, what: 'the group running at 1 worker' },
    ).catch(fail);
    await node('el-c');
    const done = await waitFor(
      async () => {
        const r = await get();
        if (r.status?.phase === 'Failed')
          throw new Error(`Failed: ${JSON.stringify(r.status.conditions)}`);
        if (r.status?.group?.workers === 1) stepAt1 = r.status.lastCheckpoint?.step ?? stepAt1;
        return r.status?.phase === 'Succeeded' ? r : undefined;
      },
      { timeoutMs: 900_000, intervalMs: 500, what: 'el Succeeded' },
    ).catch(fail);

    const g = done.status!.group!;
    assert.equal(g.workers, 2);
    assert.deepEqual(
      { from: g.lastResize?.from, to: g.lastResize?.to, reason: g.lastResize?.reason },
      { from: 1, to: 2, reason: 'CapacityReturned' },
    );
    assert.equal(done.status?.restarts, 1, 'the node loss was the one restart');
    assert.ok(
      stepAt1 > shrunkStep,
      `the 1-worker group checkpointed past ${shrunkStep}: ${stepAt1}`,
    );
    const events = await cp!.kubectl([
      'get',
      'events',
      '-n',
      NS,
      '--field-selector',
      'involvedObject.name=el',
    ]);
    assert.match(events, /CapacityLost/);
    assert.match(events, /CapacityReturned/);

    const s3 = new S3Client({
      endpoint: minio!.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: minio!.credentials,
    });
    const obj = await s3.send(
      new GetObjectCommand({ Bucket: 'runs', Key: 'el/weights/model.safetensors' }),
    );
    const remote = Buffer.from(await obj.Body!.transformToByteArray());
    s3.destroy();
    const reference = await readFile(join(local, 'weights', 'model.safetensors'));
    assert.ok(remote.equals(reference), 'byte-identical to the uninterrupted 2-worker run');
  });
});
