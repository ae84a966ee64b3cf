/**
 * Against a real Kueue (sigs.k8s.io/kueue v0.17 built by .ci/setup.d/36-kueue.sh, its webhooks
 * called by the API server): recipes labelled with a queue run as Kueue pod groups
 * (docs/adr/0096). A ClusterQueue with 1 CPU of quota admits one 2×500m recipe at a time.
 * Covered: admission (gated pods wait, Kueue ungates them), a second recipe held on quota with
 * Kueue's reason in its status, preemption by a higher-priority recipe (the victim's workers
 * get SIGTERM and keep their checkpoint, the recipe turns Requeued, then resumes from the
 * checkpoint when readmitted), and a queue that does not exist. Workers are the simulated
 * worker of the operator e2e tests (test/e2e/fixtures/sim-worker.mjs): epochs of
 * SIM_EPOCH_MS, a checkpoint after every epoch, exit 130 on SIGTERM.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import {
  KUEUE_POD_GROUP_LABEL,
  KUEUE_POD_GROUP_TOTAL_COUNT,
  KUEUE_QUEUE_LABEL,
  kueueWorkloadsPath,
  recipesPath,
} from '../../api/names.js';
import {
  findKubeBinaries,
  startControlPlane,
  type ControlPlane,
} from '../../harness/control-plane.js';
import { applyManifests, waitFor } from '../../harness/kube.js';
import {
  KUEUE_TEST_NAMESPACE_LABEL,
  findKueue,
  startKueue,
  type Kueue,
} from '../../harness/kueue.js';
import { cleanNamespace, makeOperator, testOperatorEnv } from '../../harness/operator.js';
import { logTail } from '../../harness/processes.js';
import { KubeRest } from '../../operator/kube/rest.js';
import type { Operator } from '../../operator/operator.js';
import type { KueueWorkload } from '../../operator/reconcile/kueue.js';
import type { TrainingRecipeObject } from '../../operator/reconcile/types.js';
import { NodeAgent } from '../support/node-agent.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SIM = join(ROOT, 'test', 'e2e', 'fixtures', 'sim-worker.mjs');
const NS = 'queued';

const kueueObjects = `apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {name: default}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: cq}
spec:
  namespaceSelector: {}
  preemption:
    withinClusterQueue: LowerPriority
  resourceGroups:
  - coveredResources: [cpu]
    flavors:
    - name: default
      resources:
      - {name: cpu, nominalQuota: "1"}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {name: lq, namespace: ${NS}}
spec: {clusterQueue: cq}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: WorkloadPriorityClass
metadata: {name: low}
value: 10
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: WorkloadPriorityClass
metadata: {name: high}
value: 1000
`;

function recipeYaml(
  name: string,
  output: string,
  o: { epochs: number; queue?: string; priority?: string },
): string {
  return `apiVersion: ringmaster.dev/v1alpha1
kind: TrainingRecipe
metadata:
  name: ${name}
  namespace: ${NS}
  labels:
    ${KUEUE_QUEUE_LABEL}: ${o.queue ?? 'lq'}${o.priority ? `\n    kueue.x-k8s.io/priority-class: ${o.priority}` : ''}
spec:
  workers: 2
  gpusPerWorker: 0
  image: ringmaster/trainer:e2e
  resources:
    requests: {cpu: 500m}
  data:
    train: synthetic:tiny
    val: synthetic:tiny
  output: ${output}
  recipe:
    epochs: ${o.epochs}
    lrWarmupEpochs: 0
  runPolicy:
    backoffLimit: 1
`;
}

describe('e2e: Kueue admission, quota and preemption (real Kueue)', function () {
  this.timeout(300_000);
  let cp: ControlPlane | undefined;
  let kueue: Kueue | undefined;
  let rest: KubeRest;
  let agent: NodeAgent | undefined;
  let operator: Operator | undefined;

  before(async function () {
    const kube = findKubeBinaries();
    const found = findKueue();
    if (!kube.ok || !found.ok) {
      console.log(`    skipped: ${!kube.ok ? kube.reason : ''} ${!found.ok ? found.reason : ''}`);
      this.skip();
    }
    cp = await startControlPlane();
    await cp.installCrds([join(ROOT, 'crds', 'ringmaster.dev_trainingrecipes.yaml')]);
    kueue = await startKueue(cp, { assets: found.assets, dir: cp.dir });
    rest = new KubeRest(cp.kubeConfig);
    for (const [name, labels] of [
      [NS, { [KUEUE_TEST_NAMESPACE_LABEL]: 'true' }],
      ['ringmaster-system', {}],
    ] as const) {
      await rest.request('POST', '/api/v1/namespaces', {
        body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } },
      });
    }
    await applyManifests(cp.kubeConfig, kueueObjects);
    agent = await NodeAgent.start({
      kubeConfig: cp.kubeConfig,
      gpus: 0,
      cpu: '8',
      baseEnv: { SIM_EPOCH_MS: '600' },
    });
    operator = makeOperator(
      cp.kubeConfig,
      testOperatorEnv('kueue-op', {
        RINGMASTER_WORKER_COMMAND: JSON.stringify([process.execPath, SIM]),
      }),
    );
    await operator.start();
    await operator.waitUntilLeading();
    assert.ok(operator.controller.caches.workloads, 'the operator found the Kueue API');
  });

  afterEach(async () => {
    if (!cp) return;
    await cleanNamespace(rest, NS);
    // Deleting a Workload makes Kueue stop its pods and drop its finalizers, so no quota
    // and no pod is left for the next test.
    const wls = await rest.get<{ items: KueueWorkload[] }>(kueueWorkloadsPath(NS));
    for (const wl of wls.items) {
      await rest
        .request('DELETE', `${kueueWorkloadsPath(NS)}/${wl.metadata!.name}`)
        .catch(() => undefined);
    }
    await waitFor(
      async () =>
        (await rest.get<{ items: unknown[] }>(`/api/v1/namespaces/${NS}/pods`)).items.length === 0,
      { timeoutMs: 30_000, what: 'the namespace has no pods left' },
    );
  });

  after(async () => {
    await operator?.stop();
    await agent?.stop();
    await kueue?.stop();
    rest?.close();
    await cp?.stop();
  });

  const getRecipe = (name: string) => rest.get<TrainingRecipeObject>(recipesPath(NS, name));
  const pods = async (name: string) =>
    (
      await rest.get<{ items: k8s.V1Pod[] }>(`/api/v1/namespaces/${NS}/pods`, {
        labelSelector: `ringmaster.dev/recipe=${name}`,
      })
    ).items;
  const cond = (r: TrainingRecipeObject, type: string) =>
    r.status?.conditions?.find((c) => c.type === type);
  const debug = async (name: string) => {
    const r = await getRecipe(name).catch(() => undefined);
    const wls = await rest
      .get<{ items: KueueWorkload[] }>(kueueWorkloadsPath(NS))
      .catch(() => ({ items: [] }));
    return `status: ${JSON.stringify(r?.status)}\nworkloads: ${JSON.stringify(
      wls.items.map((w) => ({ name: w.metadata?.name, conditions: w.status?.conditions })),
    )}\nkueue log:\n${kueue ? logTail(kueue.logPath, 15) : ''}`;
  };
  const waitRecipe = (
    name: string,
    ok: (r: TrainingRecipeObject) => boolean,
    what: string,
    timeoutMs = 60_000,
  ) =>
    waitFor(
      async () => {
        const r = await getRecipe(name);
        return ok(r) ? r : undefined;
      },
      { timeoutMs, what: `${name}: ${what}` },
    ).catch(async (err: unknown) => {
      throw new Error(`${String(err)}\n${await debug(name)}`);
    });
  const waitPhase = (name: string, phase: string, timeoutMs = 60_000) =>
    waitRecipe(name, (r) => r.status?.phase === phase, phase, timeoutMs);
  const apply = (yaml: string) => cp!.kubectl(['apply', '-f', '-'], { input: yaml });
  const outputDir = (name: string) => mkdtempSync(join(tmpdir(), `ringmaster-kueue-${name}-`));
  const starts = (output: string) =>
    readFileSync(join(output, 'starts.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' ').map(Number) as [number, number, number]);

  it('admits a queued recipe; a second one waits on quota with Kueue’s reason, gated, then runs', async () => {
    const first = outputDir('first');
    const second = outputDir('second');
    await apply(recipeYaml('first', first, { epochs: 8 }));
    await waitPhase('first', 'Running');
    const running = await pods('first');
    const group = running[0]!.metadata!.labels![KUEUE_POD_GROUP_LABEL]!;
    assert.ok(group, 'worker pods carry the pod group label');
    for (const p of running) {
      assert.equal(p.metadata!.labels![KUEUE_QUEUE_LABEL], 'lq');
      assert.equal(p.metadata!.annotations![KUEUE_POD_GROUP_TOTAL_COUNT], '2');
      assert.deepEqual(p.spec!.schedulingGates ?? [], [], 'Kueue removed its gate');
    }
    const wl = await rest.get<KueueWorkload>(`${kueueWorkloadsPath(NS)}/${group}`);
    assert.equal(wl.status?.conditions?.find((c) => c.type === 'Admitted')?.status, 'True');
    const admitted = await getRecipe('first');
    assert.equal(cond(admitted, 'Suspended')?.reason, 'Admitted');

    await apply(recipeYaml('second', second, { epochs: 2 }));
    const held = await waitRecipe(
      'second',
      (r) => r.status?.phase === 'Suspended' && cond(r, 'Suspended')?.reason === 'Pending',
      'Suspended on quota',
    );
    assert.match(cond(held, 'Suspended')!.message, /LocalQueue lq.*quota/);
    assert.match(held.status?.message ?? '', /waiting for admission by Kueue in LocalQueue lq/);
    // Gated pods exist (Kueue needs the whole group to make its Workload) but never start.
    const gated = await pods('second');
    assert.equal(gated.length, 2);
    for (const p of gated) {
      assert.equal(p.spec!.nodeName, undefined, `${p.metadata!.name} was not bound`);
      assert.ok(p.spec!.schedulingGates?.length, `${p.metadata!.name} is gated`);
    }
    const table = await cp!.kubectl(['get', 'trainingrecipes', '-n', NS]);
    assert.match(table, /second\s+Suspended.*waiting for admission by Kueue/);

    // The first finishes, its group is finished for Kueue, its quota goes to the second.
    await waitPhase('first', 'Succeeded', 60_000);
    const done = await waitPhase('second', 'Succeeded', 90_000);
    assert.equal(done.status?.restarts, 0);
    assert.equal(cond(done, 'Suspended')?.status, 'False');
    const firstWl = await rest.get<KueueWorkload>(`${kueueWorkloadsPath(NS)}/${group}`);
    assert.equal(
      firstWl.status?.conditions?.find((c) => c.type === 'Finished')?.status,
      'True',
      'Kueue counts the finished recipe’s group as finished',
    );
  });

  it('a higher-priority recipe preempts a running one: SIGTERM → checkpoint → Requeued → resumes from it', async () => {
    const victimOut = outputDir('victim');
    await apply(recipeYaml('victim', victimOut, { epochs: 10, priority: 'low' }));
    await waitPhase('victim', 'Running');
    await waitRecipe('victim', (r) => (r.status?.progress?.epoch ?? 0) >= 2, 'epoch 2');

    await apply(recipeYaml('urgent', outputDir('urgent'), { epochs: 2, priority: 'high' }));
    const requeued = await waitRecipe(
      'victim',
      (r) => r.status?.phase === 'Requeued' && cond(r, 'Requeued')?.reason === 'Preempted',
      'Requeued with Kueue’s reason Preempted',
    );
    const rq = cond(requeued, 'Requeued')!;
    assert.equal(rq.status, 'True');
    assert.match(rq.message, /Preempted to accommodate a workload/);
    assert.equal(requeued.status?.restarts, 0, 'a preemption is not a failure');
    const epochAtPreemption = requeued.status?.progress?.epoch ?? 0;
    assert.ok(epochAtPreemption >= 2);

    await waitPhase('urgent', 'Succeeded', 60_000);
    const done = await waitPhase('victim', 'Succeeded', 120_000);
    assert.equal(done.status?.restarts, 0);
    assert.equal(cond(done, 'Requeued')?.status, 'False');
    assert.equal(cond(done, 'Requeued')?.reason, 'Readmitted');
    const gen1 = starts(victimOut).filter(([g]) => g === 1);
    const gen2 = starts(victimOut).filter(([g]) => g === 2);
    assert.equal(gen1.length, 2);
    assert.equal(gen2.length, 2, `the whole group came back: ${JSON.stringify(starts(victimOut))}`);
    assert.ok(
      gen2.every(([, , epoch]) => epoch >= epochAtPreemption),
      `resumed from the checkpoint (epoch ≥ ${epochAtPreemption}): ${JSON.stringify(gen2)}`,
    );
  });

  it('a queue that does not exist: the Suspended condition names it', async () => {
    await apply(recipeYaml('lost', outputDir('lost'), { epochs: 2, queue: 'no-such-queue' }));
    const r = await waitRecipe(
      'lost',
      (x) => /no-such-queue doesn't exist/.test(cond(x, 'Suspended')?.message ?? ''),
      'Suspended naming the queue',
    );
    assert.equal(r.status?.phase, 'Suspended');
    assert.equal(cond(r, 'Suspended')?.reason, 'Inadmissible');
    assert.ok((await pods('lost')).every((p) => !p.spec?.nodeName));
  });
});
