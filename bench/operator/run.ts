/**
 * Operator benchmark against the test control plane (real kube-apiserver + etcd):
 *   1. apply → all pods created, for a 64-worker recipe; peer: the same 64 pods created one
 *      after another by a plain client (what a naive controller loop does);
 *   2. API writes during a steady-state resync of running recipes (target: zero); peer: a
 *      controller that re-applies every child and its status on each resync;
 *   3. reconcile throughput with 200 recipes: cold start (create everything) and a full
 *      steady-state resync.
 * `npm run bench:operator`. Needs the binaries of .ci/setup.d/30-kube.sh.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type * as k8s from '@kubernetes/client-node';
import { findKubeBinaries, startControlPlane } from '../../harness/control-plane.js';
import { ensureNamespace, waitFor } from '../../harness/kube.js';
import { FakeKubelet } from '../../harness/fake-kubelet.js';
import {
  cleanNamespace,
  makeOperator,
  recipeManifest,
  recipePath,
  testOperatorEnv,
} from '../../harness/operator.js';
import { KubeRest } from '../../operator/kube/rest.js';
import { buildPod } from '../../operator/reconcile/children.js';
import { parseTrainingRecipe } from '../../api/load.js';
import { LABEL_RECIPE } from '../../api/names.js';
import type { Operator } from '../../operator/operator.js';
import { parseOperatorConfig } from '../../operator/config.js';

const found = findKubeBinaries();
if (!found.ok) {
  console.log(`bench:operator skipped: ${found.reason}`);
  process.exit(0);
}

const NS = 'bench';
const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
const cp = await startControlPlane();
const rest = new KubeRest(cp.kubeConfig);
let op: Operator | undefined;
try {
  await cp.installCrds([
    'crds/ringmaster.dev_trainingrecipes.yaml',
    'crds/ringmaster.dev_trainingstudies.yaml',
  ]);
  await ensureNamespace(cp.kubeConfig, NS);
  await ensureNamespace(cp.kubeConfig, 'ringmaster-system');
  const podCount = async (selector?: string) =>
    (
      await rest.get<{ items: unknown[] }>(`/api/v1/namespaces/${NS}/pods`, {
        ...(selector ? { labelSelector: selector } : {}),
      })
    ).items.length;

  // ---- 1. apply → 64 pods -------------------------------------------------------------
  op = makeOperator(cp.kubeConfig, testOperatorEnv('bench', { RINGMASTER_HTTP_PORT: '-1' }));
  await op.start();
  const applyTimes: number[] = [];
  for (let i = 0; i < 3; i++) {
    const name = `big-${i}`;
    // A watch counts the pods as the API server admits them (polling would compete for CPU).
    const seen = watchCount(`${LABEL_RECIPE}=${name}`, 64);
    await sleep(200);
    const t0 = performance.now();
    await rest.request('POST', recipePath(NS), { body: recipeManifest(name, NS, { workers: 64 }) });
    await seen;
    applyTimes.push(performance.now() - t0);
  }
  await op.stop();
  await cleanNamespace(rest, NS);

  // Peer: the same 64 pod manifests, created one at a time.
  const spec = parseTrainingRecipe(recipeManifest('serial', NS, { workers: 64 }).spec).spec;
  const meta = { name: 'serial', namespace: NS, uid: '00000000-0000-0000-0000-000000000000' };
  const settings = parseOperatorConfig(testOperatorEnv('serial')).planner;
  const serialTimes: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    for (let rank = 0; rank < 64; rank++) {
      const pod: k8s.V1Pod = buildPod({ meta, spec, rank, generation: 1, settings });
      delete pod.metadata!.ownerReferences;
      await rest.request('POST', `/api/v1/namespaces/${NS}/pods`, { body: pod });
    }
    serialTimes.push(performance.now() - t0);
    await cleanNamespace(rest, NS);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const tApply = median(applyTimes);
  const tSerial = median(serialTimes);

  // ---- 2 + 3. 200 recipes: cold start, steady-state writes, resync throughput -----------
  const kubelet = new FakeKubelet(rest, NS);
  await kubelet.createNode();
  kubelet.start(200);
  op = makeOperator(
    cp.kubeConfig,
    testOperatorEnv('bench', {
      RINGMASTER_HTTP_PORT: '-1',
      RINGMASTER_PROGRESS_INTERVAL_SECONDS: '3600',
    }),
  );
  await op.start();
  const N = 200;
  const t0 = performance.now();
  for (let i = 0; i < N; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, N - i) }, (_, j) =>
        rest.request('POST', recipePath(NS), { body: recipeManifest(`r${i + j}`, NS) }),
      ),
    );
  }
  await waitFor(async () => (await podCount()) === 2 * N, {
    timeoutMs: 120_000,
    intervalMs: 50,
    what: `${2 * N} pods`,
  });
  const tCold = performance.now() - t0;
  const running = async () => {
    const list = await rest.get<{ items: Array<{ status?: { phase?: string } }> }>(recipePath(NS));
    return list.items.filter((r) => r.status?.phase === 'Running').length;
  };
  await waitFor(async () => (await running()) === N, {
    timeoutMs: 180_000,
    intervalMs: 500,
    what: 'all Running',
  });
  const tAllRunning = performance.now() - t0;
  kubelet.stop();
  await sleep(2000);
  while (op.controller.queue.pending > 0) await sleep(20);

  const writesBefore = op.rest.writes;
  const reconcilesBefore = await reconcileCount(op);
  const t1 = performance.now();
  for (const r of op.controller.caches.recipes.list())
    op.controller.queue.add(`${r.metadata.namespace}/${r.metadata.name}`);
  while (op.controller.queue.pending > 0) await sleep(2);
  const tResync = performance.now() - t1;
  const resyncWrites = op.rest.writes - writesBefore;
  const reconciled = (await reconcileCount(op)) - reconcilesBefore;
  // The naive peer: apply 4 children (Secret, ConfigMap, Service, NetworkPolicy) + patch status.
  const naiveWrites = N * 5;

  console.log('bench:operator (test control plane: kube-apiserver + etcd on this machine)');
  console.log(
    `  apply → 64 pods created:        ${fmt(tApply)} (median of 3: ${applyTimes.map(fmt).join(', ')})`,
  );
  console.log(
    `    peer, 64 serial creates:      ${fmt(tSerial)} → operator ${(tSerial / tApply).toFixed(2)}× faster`,
  );
  console.log(
    `  ${N} recipes, cold start:        ${N} recipes + ${2 * N} pods created in ${fmt(tCold)} (${((N * 1000) / tCold).toFixed(1)} recipes/s); all Running after ${fmt(tAllRunning)}`,
  );
  console.log(
    `  steady-state resync of ${N}:     ${reconciled} reconciles in ${fmt(tResync)} (${((reconciled * 1000) / tResync).toFixed(0)} reconciles/s)`,
  );
  console.log(
    `    API writes during the resync: ${resyncWrites} (naive re-apply peer: ${naiveWrites})`,
  );
} finally {
  await op?.stop();
  rest.close();
  await cp.stop();
}

async function watchCount(labelSelector: string, n: number): Promise<void> {
  const list = await rest.get<{ metadata: { resourceVersion: string } }>(
    `/api/v1/namespaces/${NS}/pods`,
    { labelSelector },
  );
  const abort = new AbortController();
  let count = 0;
  await new Promise<void>((resolve, reject) => {
    rest
      .watch(
        `/api/v1/namespaces/${NS}/pods`,
        { labelSelector, resourceVersion: list.metadata.resourceVersion, timeoutSeconds: 60 },
        (e) => {
          if (e.type === 'ADDED' && ++count === n) {
            resolve();
            abort.abort();
          }
        },
        abort.signal,
      )
      .then(
        () => (count < n ? reject(new Error(`watch ended after ${count} pods`)) : undefined),
        reject,
      );
  });
}

async function reconcileCount(o: Operator): Promise<number> {
  const m = await o.metrics.reconciles.get();
  return m.values.reduce((a, v) => a + v.value, 0);
}
