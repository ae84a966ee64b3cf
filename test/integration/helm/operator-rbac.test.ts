/**
 * The chart's contract, run for real: the operator starts with exactly the args the chart's
 * Deployment renders, authenticates as the chart's ServiceAccount (a TokenRequest token, so
 * only the chart's RBAC applies), and takes a 2-worker recipe to Succeeded with leader
 * election on. A missing RBAC rule shows up here as a forbidden call, not in a cluster.
 * Workers are the operator e2e's simulated worker (no tensors) run by the local node agent.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  findKubeBinaries,
  freePort,
  startControlPlane,
  type ControlPlane,
} from '../../../harness/control-plane.js';
import { applyManifests, ensureNamespace, parseManifests, waitFor } from '../../../harness/kube.js';
import { NodeAgent } from '../../support/node-agent.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../../..');
const chart = join(root, 'charts/ringmaster');
const sim = join(root, 'test/e2e/fixtures/sim-worker.mjs');
const releaseNs = 'ringmaster-system';
const ns = 'team-a';

function helmBin(): string | undefined {
  const cache = process.env.RINGMASTER_CACHE ?? join(homedir(), '.cache', 'ringmaster');
  const bin = process.env.HELM_BIN ?? join(cache, 'bin', 'helm');
  return existsSync(bin) ? bin : undefined;
}

describe('operator under the chart’s RBAC and args', function () {
  this.timeout(180_000);
  let cp: ControlPlane | undefined;
  let agent: NodeAgent | undefined;
  let operator: ChildProcess | undefined;
  let output = '';
  let healthPort = 0;
  let metricsPort = 0;

  before(async function () {
    const found = findKubeBinaries();
    if (!helmBin() || !found.ok || !existsSync(sim)) {
      console.log(
        `    (skipped: ${!found.ok ? found.reason : !helmBin() ? 'helm not found: run .ci/setup.d/40-helm.sh' : `no ${sim}`})`,
      );
      this.skip();
    }
    cp = await startControlPlane({ bins: found.bins });
    await cp.installCrds([
      join(chart, 'crds/ringmaster.dev_trainingrecipes.yaml'),
      join(chart, 'crds/ringmaster.dev_trainingstudies.yaml'),
    ]);
    for (const n of [releaseNs, ns]) await ensureNamespace(cp.kubeConfig, n);
    agent = await NodeAgent.start({
      kubeConfig: cp.kubeConfig,
      gpus: 4,
      baseEnv: { SIM_EPOCH_MS: '300' },
    });
  });

  after(async () => {
    if (operator && operator.exitCode === null) {
      const exited = new Promise((r) => operator!.once('exit', r));
      operator.kill('SIGKILL');
      await exited;
    }
    await agent?.stop();
    await cp?.stop();
  });

  it('installs, elects a leader and trains a recipe to Succeeded with no forbidden call', async () => {
    [metricsPort, healthPort] = [await freePort(), await freePort()];
    const { stdout } = await run(
      helmBin()!,
      [
        'template',
        'ringmaster',
        chart,
        '--namespace',
        releaseNs,
        '--set',
        `replicaCount=2,metrics.port=${metricsPort},health.port=${healthPort}`,
      ],
      { maxBuffer: 16 << 20 },
    );
    await applyManifests(cp!.kubeConfig, stdout);
    const deploy = parseManifests(stdout).find((o) => o.kind === 'Deployment') as any;
    const container = deploy.spec.template.spec.containers[0];
    const saName: string = deploy.spec.template.spec.serviceAccountName;

    // The pod's identity: the ServiceAccount's token, nothing else.
    const saKc = await cp!.serviceAccountKubeConfig(releaseNs, saName);
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'ringmaster-sa-')), 'kubeconfig');
    writeFileSync(kubeconfig, saKc.exportConfig(), { mode: 0o600 });

    const podEnv: Record<string, string> = { POD_NAME: 'ringmaster-0', POD_NAMESPACE: releaseNs };
    // $(VAR) in args is expanded from the container's env, as the kubelet does.
    const args = (container.args as string[]).map((a) =>
      a.replace(/\$\(([A-Z_]+)\)/g, (_m, v: string) => podEnv[v] ?? ''),
    );
    assert.equal(args[0], 'operator');
    operator = spawn(process.execPath, [join(root, 'bin/ringmaster.js'), ...args], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        KUBECONFIG: kubeconfig,
        ...podEnv,
        // Test-only knobs: loopback listeners, the simulated worker, short waits.
        RINGMASTER_HTTP_HOST: '127.0.0.1',
        RINGMASTER_WORKER_COMMAND: JSON.stringify([process.execPath, sim]),
        RINGMASTER_SUCCESS_GRACE_SECONDS: '1',
        RINGMASTER_PROGRESS_INTERVAL_SECONDS: '1',
        RINGMASTER_RESTART_BACKOFF_SECONDS: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => (output = (output + d.toString()).slice(-200_000));
    operator.stdout!.on('data', keep);
    operator.stderr!.on('data', keep);
    const fail = (err: unknown) => {
      throw new Error(`${String(err)}\noperator output:\n${output.slice(-4000)}`);
    };

    await waitFor(async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok, {
      timeoutMs: 60_000,
      what: 'operator /readyz',
    }).catch(fail);
    await waitFor(
      async () => {
        const lease = (await cp!.kubectl([
          'get',
          'lease',
          '-n',
          releaseNs,
          '-o',
          'jsonpath={.items[*].spec.holderIdentity}',
        ])) as string;
        return lease.includes('ringmaster-0');
      },
      { timeoutMs: 30_000, what: 'Lease held by the operator' },
    ).catch(fail);

    const out = mkdtempSync(join(tmpdir(), 'ringmaster-rbac-run-'));
    await cp!.kubectl(['apply', '-f', '-'], {
      input: `apiVersion: ringmaster.dev/v1alpha1
kind: TrainingRecipe
metadata: {name: rbac-demo, namespace: ${ns}}
spec:
  workers: 2
  gpusPerWorker: 1
  data: {train: 'synthetic:tiny', val: 'synthetic:tiny'}
  output: ${out}
  recipe: {epochs: 3, lrWarmupEpochs: 0}
  runPolicy: {backoffLimit: 1}
`,
    });
    await cp!
      .kubectl([
        'wait',
        '-n',
        ns,
        '--for=condition=Succeeded',
        'trainingrecipe/rbac-demo',
        '--timeout=90s',
      ])
      .catch(fail);

    // spec.seeds: the operator creates one child recipe per seed under the same RBAC. (The
    // simulated worker appends to a file in its output and does not create the directory.)
    for (const seed of [0, 1]) mkdirSync(join(out, 'seeds', `seed-${seed}`), { recursive: true });
    await cp!.kubectl(['apply', '-f', '-'], {
      input: `apiVersion: ringmaster.dev/v1alpha1
kind: TrainingRecipe
metadata: {name: rbac-seeds, namespace: ${ns}}
spec:
  seeds: [0, 1]
  parallelism: 2
  workers: 1
  gpusPerWorker: 1
  data: {train: 'synthetic:tiny', val: 'synthetic:tiny'}
  output: ${out}/seeds
  recipe: {epochs: 2, lrWarmupEpochs: 0}
  runPolicy: {backoffLimit: 1}
`,
    });
    await cp!
      .kubectl([
        'wait',
        '-n',
        ns,
        '--for=condition=Succeeded',
        'trainingrecipe/rbac-seeds',
        '--timeout=120s',
      ])
      .catch(async (err: unknown) => {
        const all = await cp!.kubectl(['get', 'trainingrecipes', '-n', ns, '-o', 'yaml']);
        fail(`${String(err)}\nrecipes:\n${String(all).slice(-6000)}`);
      });
    const seeds = (await cp!.kubectl([
      'get',
      'trainingrecipe',
      'rbac-seeds',
      '-n',
      ns,
      '-o',
      'jsonpath={.status.seeds[*].phase} {.status.summary.n}',
    ])) as string;
    assert.equal(seeds.trim(), 'Succeeded Succeeded 2');

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, /^# (HELP|TYPE) /m);
    assert.doesNotMatch(output, /forbidden/i, 'the operator hit an RBAC denial');

    // Graceful shutdown on SIGTERM, as the Deployment's termination would send.
    const exited = new Promise<number | null>((r) => operator!.once('exit', (c) => r(c)));
    operator.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});
