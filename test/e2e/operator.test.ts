/**
 * End to end on one machine: real kube-apiserver + etcd, the operator as its own process
 * (`node --import tsx operator/main.ts`, as the image runs it), the local node agent running
 * the operator's pods as processes, `kubectl` for everything a user does. Workers here are
 * test/e2e/fixtures/sim-worker.mjs — the trainer's env and file contract without tensors —
 * so the gang, restart, suspend and operator-restart paths run in seconds. The real trainer
 * runs in trainer.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type * as k8s from '@kubernetes/client-node';
import {
  findKubeBinaries,
  freePort,
  startControlPlane,
  type ControlPlane,
} from '../../harness/control-plane.js';
import { ensureNamespace, waitFor } from '../../harness/kube.js';
import { NodeAgent } from '../support/node-agent.js';
import { KubeRest } from '../../operator/kube/rest.js';
import type { TrainingRecipeObject } from '../../operator/reconcile/types.js';
import { cleanNamespace, testOperatorEnv } from '../../harness/operator.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SIM = join(ROOT, 'test', 'e2e', 'fixtures', 'sim-worker.mjs');
const NS = 'e2e';

/** The operator as a separate process, stopped with SIGTERM like a pod. */
export class OperatorProcess {
  private proc?: ChildProcess;
  output = '';
  constructor(
    private readonly kubeconfigPath: string,
    readonly env: Record<string, string>,
  ) {}

  start(): void {
    this.proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'operator', 'main.ts')], {
      cwd: ROOT,
      env: {
        ...process.env,
        KUBECONFIG: this.kubeconfigPath,
        RINGMASTER_LOG_LEVEL: 'info',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-20_000);
    };
    this.proc.stdout!.on('data', keep);
    this.proc.stderr!.on('data', keep);
  }

  /** SIGTERM and wait: resolves with the exit code (0 = graceful). */
  async stop(): Promise<number | null> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return p?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}

function recipeYaml(
  name: string,
  output: string,
  opts: { workers?: number; epochs?: number; extra?: string; spec?: string } = {},
): string {
  return `apiVersion: ringmaster.dev/v1alpha1
kind: TrainingRecipe
metadata:
  name: ${name}
  namespace: ${NS}
spec:
  workers: ${opts.workers ?? 2}
  gpusPerWorker: 1
  image: ringmaster/trainer:e2e
  data:
    train: synthetic:tiny
    val: synthetic:tiny
  output: ${output}${opts.spec ?? ''}
  recipe:
    epochs: ${opts.epochs ?? 6}
    lrWarmupEpochs: 0
  runPolicy:
    backoffLimit: 2${opts.extra ?? ''}
`;
}

describe('e2e: operator, node agent and kubectl', function () {
  this.timeout(300_000);
  let cp: ControlPlane | undefined;
  let rest: KubeRest;
  let agent: NodeAgent | undefined;
  let operator: OperatorProcess | undefined;
  let httpPort = 0;

  before(async function () {
    const found = findKubeBinaries();
    if (!found.ok) {
      console.log(`    skipped: ${found.reason}`);
      this.skip();
    }
    cp = await startControlPlane();
    await cp.installCrds([
      join(ROOT, 'crds', 'ringmaster.dev_trainingrecipes.yaml'),
      join(ROOT, 'crds', 'ringmaster.dev_trainingstudies.yaml'),
    ]);
    await ensureNamespace(cp.kubeConfig, NS);
    await ensureNamespace(cp.kubeConfig, 'ringmaster-system');
    rest = new KubeRest(cp.kubeConfig);
    agent = await NodeAgent.start({
      kubeConfig: cp.kubeConfig,
      gpus: 4,
      baseEnv: { SIM_EPOCH_MS: '700' },
    });
    httpPort = await freePort();
    operator = startOperator('op-1');
    await waitForLeader('op-1');
  });

  afterEach(async () => {
    if (cp) await cleanNamespace(rest, NS);
  });

  after(async () => {
    await operator?.stop();
    await agent?.stop();
    rest?.close();
    await cp?.stop();
  });

  function startOperator(identity: string): OperatorProcess {
    const env = testOperatorEnv(identity, {
      RINGMASTER_LEADER_ELECTION: 'true',
      RINGMASTER_HTTP_PORT: String(httpPort),
      RINGMASTER_WORKER_COMMAND: JSON.stringify([process.execPath, SIM]),
    });
    const p = new OperatorProcess(cp!.kubeconfigPath, env);
    p.start();
    return p;
  }

  async function waitForLeader(identity: string): Promise<void> {
    await waitFor(
      async () => {
        const lease = await rest.get<{ spec: { holderIdentity?: string } }>(
          '/apis/coordination.k8s.io/v1/namespaces/ringmaster-system/leases/ringmaster-operator',
        );
        return lease.spec.holderIdentity === identity;
      },
      // 90 s: the operator's cold start (tsx) alone took 17 s at load 25, the Lease comes after.
      { timeoutMs: 90_000, what: `${identity} leading` },
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\noperator output:\n${operator?.output}`);
    });
  }

  const getRecipe = (name: string) =>
    rest.get<TrainingRecipeObject>(
      `/apis/ringmaster.dev/v1alpha1/namespaces/${NS}/trainingrecipes/${name}`,
    );
  const pods = async (name: string) =>
    (
      await rest.get<{ items: k8s.V1Pod[] }>(`/api/v1/namespaces/${NS}/pods`, {
        labelSelector: `ringmaster.dev/recipe=${name}`,
      })
    ).items;
  const waitPhase = (name: string, phase: string, timeoutMs = 60_000) =>
    waitFor(
      async () => {
        const r = await getRecipe(name);
        return r.status?.phase === phase ? r : undefined;
      },
      { timeoutMs, what: `${name} ${phase}` },
    ).catch(async (err: unknown) => {
      const r = await getRecipe(name).catch(() => undefined);
      throw new Error(
        `${String(err)}\nstatus: ${JSON.stringify(r?.status)}\noperator:\n${operator?.output.slice(-3000)}`,
      );
    });
  const starts = (output: string) =>
    readFileSync(join(output, 'starts.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' ').map(Number) as [number, number, number]);
  const outputDir = (name: string) => mkdtempSync(join(tmpdir(), `ringmaster-e2e-${name}-`));

  it('kubectl apply → pods → Running → Succeeded, with progress, metrics and weights in the status', async () => {
    const out = outputDir('tiny');
    await cp!.kubectl(['apply', '-f', '-'], { input: recipeYaml('tiny', out, { epochs: 4 }) });
    const running = await waitPhase('tiny', 'Running');
    assert.equal(running.status?.groupGeneration, 1);
    const ps = await pods('tiny');
    assert.deepEqual(ps.map((p) => p.metadata!.name).sort(), ['tiny-worker-0', 'tiny-worker-1']);
    assert.ok(ps.every((p) => p.spec?.nodeName === agent!.nodeName));
    const table = await waitFor(
      async () => {
        const t = await cp!.kubectl(['get', 'trainingrecipes', '-n', NS]);
        return /tiny\s+Running\s+[1-9]/.test(t) ? t : undefined;
      },
      { timeoutMs: 30_000, what: 'kubectl get shows live epochs' },
    );
    assert.match(table, /PHASE\s+EPOCH/);
    await cp!.kubectl([
      'wait',
      '-n',
      NS,
      '--for=condition=Succeeded',
      'trainingrecipe/tiny',
      '--timeout=60s',
    ]);
    const done = await getRecipe('tiny');
    assert.equal(done.status?.phase, 'Succeeded');
    assert.equal(done.status?.progress?.epoch, 4);
    assert.equal(done.status?.metrics?.acc1, 40);
    assert.equal(done.status?.weights, join(out, 'weights'));
    assert.equal(done.status?.restarts, 0);
    // Finished pods keep their logs (no TTL set).
    const finished = await pods('tiny');
    assert.equal(finished.length, 2);
    assert.match(agent!.logs(NS, 'tiny-worker-0'), /rank 0\/2 generation 1: starting at epoch 0/);
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    assert.match(metrics, /ringmaster_operator_api_writes_total/);
  });

  it('a worker killed mid-run → Restarting → the whole group resumes from the checkpoint → Succeeded', async () => {
    const out = outputDir('crash');
    await cp!.kubectl(['apply', '-f', '-'], { input: recipeYaml('crash', out, { epochs: 6 }) });
    await waitPhase('crash', 'Running');
    await waitFor(async () => ((await getRecipe('crash')).status?.progress?.epoch ?? 0) >= 2, {
      timeoutMs: 30_000,
      what: 'epoch 2',
    });
    await agent!.killPod(NS, 'crash-worker-1', 'SIGKILL');
    const restarting = await waitPhase('crash', 'Restarting', 20_000);
    assert.equal(restarting.status?.restarts, 1);
    assert.match(
      restarting.status?.conditions?.find((c) => c.type === 'Restarting')?.message ?? '',
      /crash-worker-1 exited with code 137/,
    );
    const done = await waitPhase('crash', 'Succeeded', 90_000);
    assert.equal(done.status?.restarts, 1);
    assert.equal(done.status?.groupGeneration, 2);
    const gen2 = starts(out).filter(([g]) => g === 2);
    assert.equal(gen2.length, 2, 'both ranks restarted, not just the killed one');
    assert.ok(
      gen2.every(([, , epoch]) => epoch >= 2),
      `resumed from the checkpoint: ${JSON.stringify(gen2)}`,
    );
    const events = await cp!.kubectl([
      'get',
      'events',
      '-n',
      NS,
      '--field-selector',
      'involvedObject.name=crash',
    ]);
    assert.match(events, /WorkerFailed/);
  });

  it('suspend deletes the pods and keeps the state; resume continues from the checkpoint', async () => {
    const out = outputDir('pause');
    await cp!.kubectl(['apply', '-f', '-'], { input: recipeYaml('pause', out, { epochs: 6 }) });
    await waitPhase('pause', 'Running');
    await waitFor(async () => ((await getRecipe('pause')).status?.progress?.epoch ?? 0) >= 1, {
      timeoutMs: 30_000,
      what: 'epoch 1',
    });
    await cp!.kubectl([
      'patch',
      '-n',
      NS,
      'trainingrecipe/pause',
      '--type=merge',
      '-p',
      '{"spec":{"runPolicy":{"suspend":true}}}',
    ]);
    await waitPhase('pause', 'Suspended');
    await waitFor(async () => (await pods('pause')).length === 0, {
      timeoutMs: 30_000,
      what: 'pods gone',
    });
    await rest.get(`/api/v1/namespaces/${NS}/secrets/pause-ring-token`);
    await rest.get(`/api/v1/namespaces/${NS}/configmaps/pause-recipe`);
    const epochAtSuspend = (await getRecipe('pause')).status?.progress?.epoch ?? 0;
    await cp!.kubectl([
      'patch',
      '-n',
      NS,
      'trainingrecipe/pause',
      '--type=merge',
      '-p',
      '{"spec":{"runPolicy":{"suspend":false}}}',
    ]);
    const done = await waitPhase('pause', 'Succeeded', 90_000);
    assert.equal(done.status?.restarts, 0, 'a suspension is not a failure');
    assert.equal(done.status?.groupGeneration, 2);
    const gen2 = starts(out).filter(([g]) => g === 2);
    assert.ok(
      gen2.length === 2 && gen2.every(([, , e]) => e >= epochAtSuspend && e >= 1),
      JSON.stringify(gen2),
    );
  });

  it('rejects an invalid recipe at kubectl apply, naming the field', async () => {
    const bad = recipeYaml('bad', '/tmp/x')
      .replace('workers: 2', 'workers: 0')
      .replace('epochs: 6', 'epochs: -3');
    await assert.rejects(cp!.kubectl(['apply', '-f', '-'], { input: bad }), (err: Error) => {
      assert.match(err.message, /spec\.workers/);
      assert.match(err.message, /spec\.recipe\.epochs/);
      return true;
    });
    await assert.rejects(getRecipe('bad'));
  });

  it('a TrainingStudy: one child recipe per row, the ablation table in status; bad steps refused at apply', async () => {
    const out = outputDir('study');
    const studyYaml = (name: string, steps: string) => `apiVersion: ringmaster.dev/v1alpha1
kind: TrainingStudy
metadata:
  name: ${name}
  namespace: ${NS}
spec:
  base:
    workers: 1
    gpusPerWorker: 1
    image: ringmaster/trainer:e2e
    data:
      train: synthetic:tiny
      val: synthetic:tiny
    output: ${out}
    recipe:
      epochs: 2
      lrWarmupEpochs: 0
    runPolicy:
      backoffLimit: 1
  seeds: [0, 1]
  parallelism: 2
  concurrency: 2
  steps:
${steps}
`;
    // Bad input is refused by the API server, naming the field (strict field validation).
    await assert.rejects(
      cp!.kubectl(['apply', '-f', '-'], {
        input: studyYaml('bad-study', '    - name: typo\n      patch: {lrr: 0.1}'),
      }),
      /spec\.steps\[0\]\.patch\.lrr/,
    );

    await cp!.kubectl(['apply', '-f', '-'], {
      input: studyYaml(
        'abl',
        [
          '    - name: longer',
          '      patch: {epochs: 3}',
          '    - name: smoothing',
          '      patch: {labelSmoothing: 0.2}',
        ].join('\n'),
      ),
    });
    const path = `/apis/ringmaster.dev/v1alpha1/namespaces/${NS}/trainingstudies/abl`;
    type Study = { metadata: { uid: string }; status?: Record<string, any> };
    const done = await waitFor(
      async () => {
        const s = await rest.get<Study>(path);
        return s.status?.phase === 'Succeeded' || s.status?.phase === 'Failed' ? s : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 1000, what: 'study abl finished' },
    ).catch(async (err: unknown) => {
      const s = await rest.get<Study>(path).catch(() => undefined);
      throw new Error(
        `${String(err)}\nstatus: ${JSON.stringify(s?.status)}\noperator:\n${operator?.output.slice(-3000)}`,
      );
    });
    const st = done.status!;
    if (st.phase !== 'Succeeded') {
      const kids = await rest.get<{ items: TrainingRecipeObject[] }>(
        `/apis/ringmaster.dev/v1alpha1/namespaces/${NS}/trainingrecipes`,
      );
      assert.fail(
        `study ${JSON.stringify(st)}\nrecipes:\n${kids.items
          .map((k) => `${k.metadata.name}: ${JSON.stringify(k.status?.conditions)}`)
          .join('\n')}\noperator:\n${operator?.output.slice(-3000)}`,
      );
    }
    assert.equal(st.done, '3/3');
    // Children: one TrainingRecipe per row, owned by the study, each a parent of its seeds.
    for (const [i, row] of ['baseline', 'longer', 'smoothing'].entries()) {
      const child = await getRecipe(`abl-0${i}`);
      assert.equal(child.metadata.ownerReferences?.[0]?.uid, done.metadata.uid);
      assert.equal(child.metadata.ownerReferences?.[0]?.kind, 'TrainingStudy');
      assert.equal(child.metadata.annotations?.['ringmaster.dev/variant'], row);
      assert.equal(child.status?.phase, 'Succeeded');
      assert.deepEqual(
        child.status?.seeds?.map((s) => s.recipe),
        [`abl-0${i}-seed-0`, `abl-0${i}-seed-1`],
      );
    }
    // The table: the sim worker reports EMA Acc@1 = 10 × epochs + 1 + 0.5 × seed.
    const rows = st.table as Array<Record<string, any>>;
    assert.deepEqual(
      rows.map((r) => [r.name, r.n, r.acc1.mean]),
      [
        ['baseline', 2, 21.25],
        ['longer', 2, 31.25],
        ['smoothing', 2, 31.25],
      ],
    );
    assert.ok(Math.abs(rows[0]!.acc1.sd - Math.SQRT1_2 / 2) < 1e-9);
    assert.equal(rows[1]!.change.diff, 10);
    assert.ok(rows[1]!.change.t > 10 && rows[1]!.change.lo > 0, JSON.stringify(rows[1]));
    assert.equal(rows[2]!.change.diff, 0);
    assert.match(st.figure, /^EMA weights/);
    const table = await cp!.kubectl(['get', 'trainingstudies', 'abl', '-n', NS]);
    assert.match(table, /NAME\s+PHASE\s+DONE\s+BEST/);
    assert.match(table, /abl\s+Succeeded\s+3\/3\s+longer 31\.25 ± 0\.35 \(2\)/);
  });

  it('an operator restarted mid-run changes nothing: same pods, no restart, progress continues', async () => {
    const out = outputDir('steady');
    await cp!.kubectl(['apply', '-f', '-'], { input: recipeYaml('steady', out, { epochs: 8 }) });
    await waitPhase('steady', 'Running');
    await waitFor(async () => ((await getRecipe('steady')).status?.progress?.epoch ?? 0) >= 1, {
      timeoutMs: 30_000,
      what: 'epoch 1',
    });
    const uids = (await pods('steady')).map((p) => p.metadata!.uid).sort();
    assert.equal(await operator!.stop(), 0, 'graceful shutdown exits 0');
    operator = startOperator('op-2');
    await waitForLeader('op-2');
    const done = await waitPhase('steady', 'Succeeded', 90_000);
    assert.equal(done.status?.restarts, 0);
    assert.equal(done.status?.groupGeneration, 1);
    assert.deepEqual((await pods('steady')).map((p) => p.metadata!.uid).sort(), uids);
    assert.deepEqual(
      starts(out).map(([g]) => g),
      [1, 1],
      'the workers were started exactly once',
    );
    await sleep(100);
  });
  it('a lost node: its pod stuck Terminating is force-deleted, the group restarts on other nodes → Succeeded', async () => {
    const spot = (nodeName: string) =>
      NodeAgent.start({
        kubeConfig: cp!.kubeConfig,
        nodeName,
        gpus: 1,
        labels: { pool: 'spot' },
        baseEnv: { SIM_EPOCH_MS: '700' },
      });
    const agents = [await spot('spot-a'), await spot('spot-b')];
    try {
      const out = outputDir('spot');
      await cp!.kubectl(['apply', '-f', '-'], {
        input: recipeYaml('spot', out, { epochs: 8, spec: '\n  nodeSelector:\n    pool: spot' }),
      });
      await waitPhase('spot', 'Running');
      await waitFor(async () => ((await getRecipe('spot')).status?.progress?.epoch ?? 0) >= 1, {
        timeoutMs: 30_000,
        what: 'epoch 1',
      });
      const victim = (await pods('spot')).find(
        (p) => p.metadata!.labels!['ringmaster.dev/rank'] === '1',
      )!;
      const lost = agents.find((a) => a.nodeName === victim.spec!.nodeName)!;
      // The node dies; then someone deletes its pod: no kubelet will ever confirm that.
      await lost.markNodeLost();
      await cp!.kubectl(['delete', 'pod', '-n', NS, victim.metadata!.name!, '--wait=false']);
      agents.push(await spot('spot-c'));
      const done = await waitPhase('spot', 'Succeeded', 120_000);
      assert.equal(done.status?.restarts, 1);
      assert.equal(done.status?.groupGeneration, 2);
      const nodes = (await pods('spot')).map((p) => p.spec?.nodeName).sort();
      assert.ok(
        !nodes.includes(lost.nodeName),
        `new group avoided the lost node: ${nodes.join(', ')}`,
      );
      const events = await cp!.kubectl([
        'get',
        'events',
        '-n',
        NS,
        '--field-selector',
        'involvedObject.name=spot',
      ]);
      assert.match(events, /ForceDeleted/);
      const gen2 = starts(out).filter(([g]) => g === 2);
      assert.ok(gen2.length === 2 && gen2.every(([, , e]) => e >= 1), JSON.stringify(gen2));
    } finally {
      for (const a of agents) await a.stop({ deleteNode: true });
    }
  });
});
