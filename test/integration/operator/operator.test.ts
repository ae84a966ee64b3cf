/**
 * The operator against a real kube-apiserver + etcd (no fake API server). Pods are bound and
 * flipped to Running by a fake kubelet; the e2e tests run real processes instead.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type * as k8s from '@kubernetes/client-node';
import { ANNOTATION_LAST_CHECKPOINT_TIME, ExitCode } from '../../../api/names.js';
import {
  findKubeBinaries,
  startControlPlane,
  type ControlPlane,
} from '../../../harness/control-plane.js';
import { ensureNamespace, waitFor } from '../../../harness/kube.js';
import { KubeRest } from '../../../operator/kube/rest.js';
import type { Operator } from '../../../operator/operator.js';
import type { TrainingRecipeObject } from '../../../operator/reconcile/types.js';
import { FakeKubelet } from '../../../harness/fake-kubelet.js';
import {
  cleanNamespace,
  makeOperator,
  recipeManifest,
  recipePath,
  testOperatorEnv,
} from '../../../harness/operator.js';

const NS = 'ml';

describe('operator on a real API server', function () {
  this.timeout(120_000);
  let cp: ControlPlane | undefined;
  let rest: KubeRest;
  let kubelet: FakeKubelet;
  const operators: Operator[] = [];

  before(async function () {
    const found = findKubeBinaries();
    if (!found.ok) {
      console.log(`    skipped: ${found.reason}`);
      this.skip();
    }
    cp = await startControlPlane();
    await cp.installCrds([
      join(import.meta.dirname, '../../../crds/ringmaster.dev_trainingrecipes.yaml'),
      join(import.meta.dirname, '../../../crds/ringmaster.dev_trainingstudies.yaml'),
    ]);
    await ensureNamespace(cp.kubeConfig, NS);
    await ensureNamespace(cp.kubeConfig, 'ringmaster-system');
    rest = new KubeRest(cp.kubeConfig);
    kubelet = new FakeKubelet(rest, NS);
    await kubelet.createNode();
    kubelet.start();
  });

  afterEach(async () => {
    await Promise.all(operators.splice(0).map((o) => o.stop()));
    if (cp) {
      kubelet.autoRun = true;
      kubelet.autoBind = true;
      await cleanNamespace(rest, NS);
    }
  });

  after(async () => {
    kubelet?.stop();
    rest?.close();
    await cp?.stop();
  });

  async function operator(identity: string, env: Record<string, string> = {}): Promise<Operator> {
    const op = makeOperator(cp!.kubeConfig, testOperatorEnv(identity, env));
    operators.push(op);
    await op.start();
    return op;
  }

  const getRecipe = (name: string) => rest.get<TrainingRecipeObject>(recipePath(NS, name));
  const pods = async (name: string) =>
    (
      await rest.get<{ items: k8s.V1Pod[] }>(`/api/v1/namespaces/${NS}/pods`, {
        labelSelector: `ringmaster.dev/recipe=${name}`,
      })
    ).items;
  const phaseIs = (name: string, phase: string) => async () =>
    (await getRecipe(name)).status?.phase === phase ? true : undefined;
  const create = (r: TrainingRecipeObject) => rest.request('POST', recipePath(NS), { body: r });

  it('creates the children of a recipe, owned by it, and reports Pending → Running with observedGeneration', async () => {
    kubelet.autoRun = false;
    kubelet.autoBind = false;
    await operator('op-a');
    await create(recipeManifest('alpha', NS, { workers: 3 }));
    const created = await waitFor(
      async () => ((await pods('alpha')).length === 3 ? pods('alpha') : undefined),
      { what: '3 pods' },
    );
    const r = await getRecipe('alpha');
    for (const p of created) {
      assert.deepEqual(
        p.metadata!.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]),
        [['TrainingRecipe', 'alpha', r.metadata.uid, true]],
      );
      assert.equal(p.metadata!.labels!['ringmaster.dev/generation'], '1');
    }
    for (const path of [
      `/api/v1/namespaces/${NS}/secrets/alpha-ring-token`,
      `/api/v1/namespaces/${NS}/configmaps/alpha-recipe`,
      `/api/v1/namespaces/${NS}/services/alpha-ring`,
      `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies/alpha-ring`,
    ]) {
      const child = await rest.get<k8s.KubernetesObject>(path);
      assert.equal(child.metadata?.ownerReferences?.[0]?.uid, r.metadata.uid, path);
    }
    const svc = await rest.get<k8s.V1Service>(`/api/v1/namespaces/${NS}/services/alpha-ring`);
    assert.equal(svc.spec?.clusterIP, 'None');
    const np = await rest.get<any>(
      `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies/alpha-ring`,
    );
    assert.equal(np.spec.ingress[0].from.length, 2, 'the wire field is `from`, both peers kept');
    await waitFor(async () => (await getRecipe('alpha')).status?.observedGeneration === 1, {
      what: 'observedGeneration',
    });
    // Bound, not running: honest Starting; then Running.
    await waitFor(phaseIs('alpha', 'Pending'), { what: 'Pending' });
    for (const p of created) await kubelet.bind(p.metadata!.name!);
    await waitFor(phaseIs('alpha', 'Starting'), { what: 'Starting', timeoutMs: 10_000 });
    for (const p of created) await kubelet.run(p.metadata!.name!);
    await waitFor(phaseIs('alpha', 'Running'), { what: 'Running' });
    const running = await getRecipe('alpha');
    assert.equal(running.status?.conditions?.find((c) => c.type === 'Running')?.status, 'True');
    const events = await rest.get<{ items: k8s.CoreV1Event[] }>(`/api/v1/namespaces/${NS}/events`);
    assert.ok(
      events.items.some((e) => e.involvedObject.name === 'alpha' && e.reason === 'ChildrenCreated'),
    );
  });

  it('makes zero API writes in a steady-state resync, and copies progress.json into the status', async () => {
    const op = await operator('op-a', { RINGMASTER_RESYNC_SECONDS: '1' });
    const manifest = recipeManifest('steady', NS);
    await create(manifest);
    await waitFor(phaseIs('steady', 'Running'), { what: 'Running' });
    const output = (manifest.spec as { output: string }).output;
    writeFileSync(
      join(output, 'progress.json'),
      JSON.stringify({
        epoch: 1,
        epochs: 4,
        step: 10,
        totalSteps: 40,
        imagesPerSec: 99.5,
        etaSeconds: 30,
        metrics: { acc1: 12.5, acc5: 50, emaAcc1: null, emaAcc5: null },
        lastCheckpoint: `${output}/checkpoints/epoch-000001`,
        weights: null,
      }),
    );
    await waitFor(async () => (await getRecipe('steady')).status?.progress?.epoch === 1, {
      what: 'progress in status',
    });
    const st = (await getRecipe('steady')).status!;
    assert.deepEqual(st.progress, {
      epoch: 1,
      epochs: 4,
      step: 10,
      totalSteps: 40,
      imagesPerSec: 99.5,
      etaSeconds: 30,
    });
    assert.deepEqual(st.metrics, { acc1: 12.5, acc5: 50 });
    assert.equal(st.lastCheckpoint?.uri, `${output}/checkpoints/epoch-000001`);
    await sleep(1500);
    const before = op.rest.writes;
    // Resyncs every second, progress polls every second, plus explicit nudges.
    for (let i = 0; i < 5; i++) {
      op.controller.queue.add(`${NS}/steady`);
      await sleep(600);
    }
    assert.equal(op.rest.writes - before, 0, 'steady state must not write');
    const metrics = await (await fetch(`http://127.0.0.1:${op.httpPort}/metrics`)).text();
    assert.match(metrics, /ringmaster_operator_reconcile_total\{result="requeue"\} [1-9]/);
    assert.match(metrics, /ringmaster_recipe_epoch\{namespace="ml",name="steady"\} 1/);
    assert.match(metrics, /ringmaster_recipes\{phase="Running"\} 1/);
    assert.equal((await fetch(`http://127.0.0.1:${op.httpPort}/readyz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${op.httpPort}/healthz`)).status, 200);
  });

  it('shared clusters: goodput, stragglers and the checkpoint time reach the status and the pods; a hang verdict restarts the group naming pod and node', async () => {
    const op = await operator('op-sc', { RINGMASTER_RESYNC_SECONDS: '1' });
    const manifest = recipeManifest('sc', NS);
    (manifest.spec as { runPolicy?: Record<string, unknown> }).runPolicy = {
      terminationGracePeriodSeconds: 45,
    };
    await create(manifest);
    await waitFor(phaseIs('sc', 'Running'), { what: 'Running' });
    assert.ok((await pods('sc')).every((p) => p.spec?.terminationGracePeriodSeconds === 45));
    const output = (manifest.spec as { output: string }).output;
    const time = new Date().toISOString();
    writeFileSync(
      join(output, 'progress.json'),
      JSON.stringify({
        phase: 'training',
        epoch: 1,
        epochs: 4,
        step: 10,
        totalSteps: 40,
        imagesPerSec: 99.5,
        etaSeconds: 30,
        metrics: { acc1: null, acc5: null, emaAcc1: null, emaAcc5: null },
        lastCheckpoint: { uri: `${output}/checkpoints/epoch-000001`, epoch: 1, step: 10, time },
        checkpointSeconds: 1.5,
        goodput: { stepsComputed: 12, stepsKept: 10, secondsLost: 7, recipeHash: 'h' },
        ranks: [
          { rank: 0, step: 10, p50StepSeconds: 0.2, p99StepSeconds: 0.4 },
          { rank: 1, step: 10, p50StepSeconds: 0.5, p99StepSeconds: 0.6 },
        ],
        weights: null,
      }),
    );
    await waitFor(async () => (await getRecipe('sc')).status?.goodput !== undefined || undefined, {
      what: 'goodput in status',
    });
    const st = (await getRecipe('sc')).status!;
    assert.deepEqual(st.goodput, {
      ratio: 0.8333,
      stepsComputed: 12,
      stepsKept: 10,
      secondsLost: 7,
    });
    assert.deepEqual(
      st.stragglers?.map((s) => [s.rank, s.pod, s.ratio]),
      [[1, 'sc-worker-1', 2.5]],
    );
    assert.ok(st.stragglers?.[0]?.node, 'the straggler names its node');
    assert.equal(st.lastCheckpoint?.time, time);
    await waitFor(
      async () =>
        (await pods('sc')).every(
          (p) => p.metadata?.annotations?.[ANNOTATION_LAST_CHECKPOINT_TIME] === time,
        ) || undefined,
      { what: 'the last checkpoint time on every pod' },
    );
    // The gauges follow the operator's cache of the recipe, which may see its own status write
    // a moment after the API server does.
    const goodputGauge = /ringmaster_recipe_goodput_ratio\{namespace="ml",name="sc"\} 0.8333/;
    const stragglerGauge =
      /ringmaster_recipe_straggler_ratio\{namespace="ml",name="sc",rank="1"\} 2.5/;
    let metrics = '';
    await waitFor(
      async () => {
        metrics = await (await fetch(`http://127.0.0.1:${op.httpPort}/metrics`)).text();
        return (goodputGauge.test(metrics) && stragglerGauge.test(metrics)) || undefined;
      },
      { what: 'goodput and straggler gauges', timeoutMs: 10_000 },
    ).catch(() => undefined);
    assert.match(metrics, goodputGauge);
    assert.match(metrics, stragglerGauge);

    const note = JSON.stringify({
      reason: 'HangDetected',
      exitCode: ExitCode.hang,
      rank: 1,
      message: 'hang: rank 1 made no progress past step 10',
    });
    await kubelet.exit('sc-worker-0', ExitCode.hang, note);
    // The Restarting condition with reason HangDetected lasts only until the new group runs
    // (at once with this fake kubelet), so the durable records are checked: the restart count
    // and the HangDetected event.
    const hang = await waitFor(
      async () => {
        const events = await rest.get<{ items: k8s.CoreV1Event[] }>(
          `/api/v1/namespaces/${NS}/events`,
          { fieldSelector: 'involvedObject.name=sc' },
        );
        return events.items.find((e) => e.reason === 'HangDetected');
      },
      { what: 'HangDetected event' },
    );
    assert.match(hang.message ?? '', /rank 1 \(pod sc-worker-1 on node [\w.-]+\) hung/);
    assert.equal((await getRecipe('sc')).status?.restarts, 1);
  });

  it('recreates the whole group with generation 2 when a pod is deleted behind its back', async () => {
    await operator('op-a');
    await create(recipeManifest('phoenix', NS, { workers: 3 }));
    await waitFor(phaseIs('phoenix', 'Running'), { what: 'Running' });
    const first = await pods('phoenix');
    await rest.request('DELETE', `/api/v1/namespaces/${NS}/pods/phoenix-worker-1`);
    await waitFor(
      async () => {
        const r = await getRecipe('phoenix');
        return r.status?.phase === 'Running' && r.status.groupGeneration === 2 ? r : undefined;
      },
      { what: 'Running again with generation 2', timeoutMs: 30_000 },
    );
    const r = await getRecipe('phoenix');
    assert.equal(r.status?.restarts, 1);
    assert.equal(
      r.status?.conditions?.find((c) => c.type === 'Restarting')?.reason,
      'GroupRecreated',
    );
    const second = await pods('phoenix');
    assert.equal(second.length, 3);
    assert.ok(second.every((p) => p.metadata!.labels!['ringmaster.dev/generation'] === '2'));
    const oldUids = new Set(first.map((p) => p.metadata!.uid));
    assert.ok(
      second.every((p) => !oldUids.has(p.metadata!.uid)),
      'every rank was replaced, not just the deleted one',
    );
  });

  it('fails without retry when a worker exits 2, and succeeds when rank 0 exits 0 (kubectl wait works)', async () => {
    await operator('op-a');
    await create(recipeManifest('bad-data', NS));
    await create(recipeManifest('done', NS));
    await waitFor(phaseIs('bad-data', 'Running'), { what: 'bad-data Running' });
    await waitFor(phaseIs('done', 'Running'), { what: 'done Running' });
    await kubelet.exit('bad-data-worker-1', 2, 'spec.data.train: no index.json');
    await kubelet.exit('done-worker-0', 0);
    await cp!.kubectl([
      'wait',
      '-n',
      NS,
      '--for=condition=Succeeded',
      'trainingrecipe/done',
      '--timeout=30s',
    ]);
    await cp!.kubectl([
      'wait',
      '-n',
      NS,
      '--for=condition=Failed',
      'trainingrecipe/bad-data',
      '--timeout=30s',
    ]);
    const bad = await getRecipe('bad-data');
    assert.equal(bad.status?.restarts, 0);
    const failed = bad.status?.conditions?.find((c) => c.type === 'Failed');
    assert.equal(failed?.reason, 'WorkerInvalidInput');
    assert.match(failed!.message, /no index\.json/);
    // The failed pod keeps its logs; the running one released its resources.
    await waitFor(
      async () => {
        const names = (await pods('bad-data')).map((p) => p.metadata!.name);
        return names.length === 1 && names[0] === 'bad-data-worker-1';
      },
      { what: 'only the failed pod left' },
    );
    const done = await getRecipe('done');
    assert.ok(done.status?.completionTime);
    const table = await cp!.kubectl(['get', 'trainingrecipes', '-n', NS]);
    assert.match(table, /done\s+Succeeded/);
  });

  it('turns what the API schema cannot catch into a Failed condition naming the field, and never crashes', async () => {
    const op = await operator('op-a');
    // A valid object name, but `<name>-worker-3` would be a 64-character pod hostname.
    const warm = `warm-${'x'.repeat(50)}`;
    await create(recipeManifest(warm, NS, { workers: 4 }));
    await create(recipeManifest('fine', NS));
    await waitFor(phaseIs(warm, 'Failed'), { what: 'warm Failed' });
    const failed = (await getRecipe(warm)).status?.conditions?.find((c) => c.type === 'Failed');
    assert.equal(failed?.reason, 'InvalidRecipe');
    assert.match(failed!.message, /metadata\.name: too long/);
    assert.equal((await pods(warm)).length, 0);
    await waitFor(phaseIs('fine', 'Running'), { what: 'the other recipe runs on' });
    assert.equal(op.controller.isSynced, true);
  });

  it('a restarted operator changes nothing: same pods, no writes', async () => {
    const first = await operator('op-a');
    await create(recipeManifest('stable', NS, { workers: 4 }));
    await waitFor(phaseIs('stable', 'Running'), { what: 'Running' });
    await sleep(500);
    const before = (await pods('stable')).map((p) => p.metadata!.uid).sort();
    const rv = (await getRecipe('stable')).metadata.resourceVersion;
    await first.stop();
    operators.splice(operators.indexOf(first), 1);
    const second = await operator('op-b');
    await second.waitUntilLeading();
    await sleep(2000);
    assert.equal(second.rest.writes, 0, 'the new operator found everything as desired');
    assert.deepEqual((await pods('stable')).map((p) => p.metadata!.uid).sort(), before);
    assert.equal((await getRecipe('stable')).metadata.resourceVersion, rv);
  });

  it('elects one leader among two operators; the standby takes over when the leader stops', async () => {
    const a = await operator('op-a', { RINGMASTER_LEADER_ELECTION: 'true' });
    await a.waitUntilLeading(15_000);
    const b = await operator('op-b', { RINGMASTER_LEADER_ELECTION: 'true' });
    await sleep(2500);
    assert.equal(a.isLeader, true);
    assert.equal(b.isLeader, false);
    assert.equal(
      (await fetch(`http://127.0.0.1:${b.httpPort}/readyz`)).status,
      200,
      'a standby is ready',
    );
    await create(recipeManifest('led', NS));
    await waitFor(phaseIs('led', 'Running'), { what: 'Running under a' });
    assert.equal(b.rest.writes, 0, 'only the leader writes');
    const lease = await rest.get<{ spec: { holderIdentity: string } }>(
      '/apis/coordination.k8s.io/v1/namespaces/ringmaster-system/leases/ringmaster-operator',
    );
    assert.equal(lease.spec.holderIdentity, 'op-a');
    const t0 = Date.now();
    await a.stop();
    await b.waitUntilLeading(15_000);
    assert.ok(Date.now() - t0 < 4000, `released lease taken over in ${Date.now() - t0} ms`);
    await rest.request('DELETE', `/api/v1/namespaces/${NS}/pods/led-worker-0`);
    await waitFor(
      async () => ((await getRecipe('led')).status?.groupGeneration === 2 ? true : undefined),
      { what: 'b restarts the group' },
    );
  });

  it('restarts the group when a node is lost, force-deleting the pods its kubelet cannot stop', async () => {
    await operator('op-a');
    await kubelet.createNode('node-b');
    kubelet.autoRun = false;
    kubelet.autoBind = false;
    await create(recipeManifest('stranded', NS));
    const ps = await waitFor(
      async () => ((await pods('stranded')).length === 2 ? pods('stranded') : undefined),
      { what: 'pods' },
    );
    await kubelet.bind(ps[0]!.metadata!.name!, 'node-a');
    await kubelet.bind(ps[1]!.metadata!.name!, 'node-b');
    for (const p of ps) await kubelet.run(p.metadata!.name!);
    await waitFor(phaseIs('stranded', 'Running'), { what: 'Running' });
    kubelet.autoRun = true;
    kubelet.autoBind = true;
    await kubelet.setNodeReady('node-b', false);
    await waitFor(
      async () => {
        const r = await getRecipe('stranded');
        return r.status?.groupGeneration === 2 && r.status.phase === 'Running' ? r : undefined;
      },
      { what: 'group recreated after NodeLost', timeoutMs: 30_000 },
    );
    const events = await rest.get<{ items: k8s.CoreV1Event[] }>(`/api/v1/namespaces/${NS}/events`);
    assert.ok(
      events.items.some((e) => e.involvedObject.name === 'stranded' && e.reason === 'NodeLost'),
    );
    await kubelet.setNodeReady('node-b', true);
  });
});
