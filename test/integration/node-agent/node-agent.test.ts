import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import {
  findKubeBinaries,
  startControlPlane,
  type ControlPlane,
} from '../../../harness/control-plane.js';
import { ensureNamespace, waitFor } from '../../../harness/kube.js';
import { join } from 'node:path';
import { NodeAgent, rewritePaths, ringmasterCommandMap } from '../../support/node-agent.js';

const ns = 'agent-test';
const node = process.execPath;

function pod(
  name: string,
  script: string,
  extra: Partial<k8s.V1PodSpec> = {},
  env: k8s.V1EnvVar[] = [],
): k8s.V1Pod {
  return {
    metadata: { name, namespace: ns },
    spec: {
      restartPolicy: 'Never',
      containers: [
        { name: 'main', image: 'ringmaster/test:none', command: [node, '-e', script], env },
      ],
      ...extra,
    },
  };
}

describe('node agent (local kubelet stand-in)', function () {
  this.timeout(120_000);
  let cp: ControlPlane | undefined;
  let agent: NodeAgent | undefined;
  let core: k8s.CoreV1Api;

  const phaseOf = async (name: string): Promise<k8s.V1Pod> =>
    core.readNamespacedPod({ namespace: ns, name });
  const waitPhase = (name: string, phase: string, timeoutMs = 30_000): Promise<k8s.V1Pod> =>
    waitFor(
      async () => {
        const p = await phaseOf(name);
        return p.status?.phase === phase ? p : undefined;
      },
      { timeoutMs, what: `pod ${name} ${phase}` },
    );

  before(async function () {
    const found = findKubeBinaries();
    if (!found.ok) {
      console.log(`    (skipped: ${found.reason})`);
      this.skip();
    }
    cp = await startControlPlane({ bins: found.bins });
    core = cp.kubeConfig.makeApiClient(k8s.CoreV1Api);
    await ensureNamespace(cp.kubeConfig, ns);
    agent = await NodeAgent.start({
      kubeConfig: cp.kubeConfig,
      nodeName: 'gpu-node-1',
      gpus: 2,
      commandMap: ringmasterCommandMap(join(import.meta.dirname, '../../..')),
    });
  });

  after(async () => {
    if (process.env.NODE_AGENT_DEBUG) console.log(agent?.errors);
    await agent?.stop();
    await cp?.stop();
  });

  it('registers a Ready node with GPU capacity', async () => {
    const n = await core.readNode({ name: 'gpu-node-1' });
    assert.equal(n.status?.capacity?.['nvidia.com/gpu'], '2');
    assert.equal(n.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
  });

  it('runs a pod to Failed with the exit code of its process', async () => {
    const failing = pod('exit3', `console.error('boom: out of cheese'); process.exit(3)`);
    failing.spec!.containers[0]!.terminationMessagePolicy = 'FallbackToLogsOnError';
    await core.createNamespacedPod({ namespace: ns, body: failing });
    const p = await waitPhase('exit3', 'Failed');
    assert.equal(p.spec?.nodeName, 'gpu-node-1');
    const t = p.status?.containerStatuses?.[0]?.state?.terminated;
    assert.equal(t?.exitCode, 3);
    assert.equal(t?.reason, 'Error');
    // FallbackToLogsOnError: the end of the log becomes the termination message.
    assert.match(t?.message ?? '', /boom: out of cheese/);
  });

  it("keeps a pod's termination message file its own and reports what it wrote, as a kubelet does", async () => {
    const script = `require('fs').writeFileSync(process.env.NOTE, '{"reason":"HangDetected"}\\n'); process.exit(76)`;
    const noted = pod('note76', script);
    const c = noted.spec!.containers[0]!;
    c.terminationMessagePolicy = 'FallbackToLogsOnError';
    c.env = [...(c.env ?? []), { name: 'NOTE', value: '/dev/termination-log' }];
    const hostFileBefore = existsSync('/dev/termination-log');
    await core.createNamespacedPod({ namespace: ns, body: noted });
    const p = await waitPhase('note76', 'Failed');
    const t = p.status?.containerStatuses?.[0]?.state?.terminated;
    assert.equal(t?.exitCode, 76);
    assert.equal(t?.message, '{"reason":"HangDetected"}');
    assert.equal(existsSync('/dev/termination-log'), hostFileBefore, 'the host was not touched');
  });

  it('gives the process the env from Secrets, ConfigMaps and the downward API, and mounts volumes', async () => {
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'ring' }, stringData: { token: 's3cr3t' } },
    });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'recipe' }, data: { 'recipe.json': '{"epochs":2}' } },
    });
    const script = `
      const fs = require('fs');
      console.log(JSON.stringify({
        token: process.env.TOKEN, ip: process.env.MY_IP, name: process.env.MY_NAME,
        bind: process.env.RINGMASTER_BIND_HOST, recipe: fs.readFileSync(process.env.RECIPE, 'utf8'),
        scratchWritable: (fs.writeFileSync(process.env.SCRATCH + '/x', 'y'), true),
      }));`;
    await core.createNamespacedPod({
      namespace: ns,
      body: pod('envpod', script, {
        volumes: [
          { name: 'recipe', configMap: { name: 'recipe' } },
          { name: 'scratch', emptyDir: {} },
        ],
        containers: [
          {
            name: 'main',
            image: 'x',
            command: [node, '-e', script],
            volumeMounts: [
              { name: 'recipe', mountPath: '/etc/ringmaster', readOnly: true },
              { name: 'scratch', mountPath: '/scratch' },
            ],
            env: [
              { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'ring', key: 'token' } } },
              { name: 'MY_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
              { name: 'MY_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'RECIPE', value: '/etc/ringmaster/recipe.json' },
              { name: 'SCRATCH', value: '/scratch' },
            ],
          },
        ],
      }),
    });
    const p = await waitPhase('envpod', 'Succeeded');
    const out = JSON.parse(agent!.logs(ns, 'envpod').trim()) as Record<string, unknown>;
    assert.match(p.status?.podIP ?? '', /^127\.0\.\d+\.\d+$/);
    assert.notEqual(p.status?.podIP, '127.0.0.1');
    assert.deepEqual(out, {
      token: 's3cr3t',
      ip: p.status?.podIP,
      name: 'envpod',
      bind: p.status?.podIP,
      recipe: '{"epochs":2}',
      scratchWritable: true,
    });
  });

  it('runs the image entrypoint `ringmaster …` from this checkout', async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'cli', namespace: ns },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'worker',
              image: 'ringmaster/trainer:dev',
              command: ['ringmaster'],
              args: ['--help'],
            },
          ],
        },
      },
    });
    await waitPhase('cli', 'Succeeded');
    assert.match(agent!.logs(ns, 'cli'), /Usage: ringmaster/);
  });

  it('restarts a failed container in place under restartPolicy OnFailure', async () => {
    // Fails on the first run, succeeds on the second: the marker survives in the emptyDir.
    const script = `const f = process.env.MARK; const fs = require('fs');
      if (fs.existsSync(f)) process.exit(0); fs.writeFileSync(f, '1'); process.exit(1);`;
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'flaky', namespace: ns },
        spec: {
          restartPolicy: 'OnFailure',
          volumes: [{ name: 'state', emptyDir: {} }],
          containers: [
            {
              name: 'main',
              image: 'x',
              command: [node, '-e', script],
              env: [{ name: 'MARK', value: '/state/ran-once' }],
              volumeMounts: [{ name: 'state', mountPath: '/state' }],
            },
          ],
        },
      },
    });
    const p = await waitPhase('flaky', 'Succeeded');
    const cs = p.status?.containerStatuses?.[0];
    assert.equal(cs?.restartCount, 1);
    assert.equal(cs?.lastState?.terminated?.exitCode, 1);
    assert.equal(cs?.state?.terminated?.exitCode, 0);
  });

  it('holds a pod whose Secret is missing in CreateContainerConfigError', async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: pod('nosecret', 'process.exit(0)', {}, [
        { name: 'T', valueFrom: { secretKeyRef: { name: 'absent', key: 'k' } } },
      ]),
    });
    const p = await waitFor(
      async () => {
        const x = await phaseOf('nosecret');
        return x.status?.containerStatuses?.[0]?.state?.waiting?.reason ===
          'CreateContainerConfigError'
          ? x
          : undefined;
      },
      { what: 'CreateContainerConfigError' },
    );
    assert.equal(p.status?.phase, 'Pending');
  });

  it('resolves pod DNS names (hostname.subdomain.ns.svc) to the pods’ own loopback IPs', async () => {
    const server = `require('net').createServer((s) => s.end('hi')).listen(7070, process.env.RINGMASTER_BIND_HOST)`;
    await core.createNamespacedPod({
      namespace: ns,
      body: pod('rank-0', server, { hostname: 'rank-0', subdomain: 'ring' }),
    });
    await waitPhase('rank-0', 'Running');
    const client = `
      const [host, port] = process.env.PEER.split(':');
      const s = require('net').connect(Number(port), host);
      let got = ''; s.on('data', (d) => (got += d)); s.on('end', () => process.exit(got === 'hi' ? 0 : 1));
      s.on('error', () => process.exit(2));`;
    await core.createNamespacedPod({
      namespace: ns,
      body: pod('rank-1', client, { hostname: 'rank-1', subdomain: 'ring' }, [
        { name: 'PEER', value: `rank-0.ring.${ns}.svc:7070` },
      ]),
    });
    await waitPhase('rank-1', 'Succeeded');
  });

  it('kills a pod’s process on request (exit 137) and on deletion (SIGTERM, then the pod is gone)', async () => {
    await agent!.killPod(ns, 'rank-0', 'SIGKILL');
    const killed = await waitPhase('rank-0', 'Failed');
    assert.equal(killed.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 137);

    const sleeper = `process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(0); }); setInterval(() => {}, 1000)`;
    await core.createNamespacedPod({ namespace: ns, body: pod('sleeper', sleeper) });
    await waitPhase('sleeper', 'Running');
    await core.deleteNamespacedPod({ namespace: ns, name: 'sleeper', gracePeriodSeconds: 10 });
    await waitFor(
      async () => {
        try {
          await phaseOf('sleeper');
          return false;
        } catch (err) {
          return (err as { code?: number }).code === 404;
        }
      },
      { what: 'sleeper deleted' },
    );
    assert.match(agent!.logs(ns, 'sleeper'), /got SIGTERM/);
  });

  it('leaves pods that ask for more GPUs than are free Pending and Unschedulable', async () => {
    const gpuPod = pod('greedy', 'process.exit(0)');
    gpuPod.spec!.containers[0]!.resources = { limits: { 'nvidia.com/gpu': '4' } };
    await core.createNamespacedPod({ namespace: ns, body: gpuPod });
    const p = await waitFor(
      async () => {
        const x = await phaseOf('greedy');
        return x.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False')
          ? x
          : undefined;
      },
      { what: 'greedy Unschedulable' },
    );
    assert.equal(p.spec?.nodeName, undefined);
    assert.match(p.status?.conditions?.[0]?.message ?? '', /Insufficient nvidia.com\/gpu/);
  });

  it('never binds or starts a pod with scheduling gates; runs it once the gates are gone', async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: pod('gated', 'process.exit(0)', {
        schedulingGates: [{ name: 'kueue.x-k8s.io/admission' }],
      }),
    });
    const held = await waitFor(
      async () => {
        const x = await phaseOf('gated');
        const c = x.status?.conditions?.find((y) => y.type === 'PodScheduled');
        return c?.reason === 'SchedulingGated' ? x : undefined;
      },
      { what: 'gated SchedulingGated' },
    );
    assert.equal(held.spec?.nodeName, undefined);
    // A few sync rounds later it is still neither bound nor started.
    await new Promise((r) => setTimeout(r, 1000));
    const still = await phaseOf('gated');
    assert.equal(still.spec?.nodeName, undefined);
    assert.equal(still.status?.phase, 'Pending');
    assert.ok(!agent!.errors.some((e) => e.includes('gated')), agent!.errors.join('\n'));
    // What Kueue does on admission: remove the gate (a pod update; gates may only shrink).
    await core.patchNamespacedPod(
      { namespace: ns, name: 'gated', body: [{ op: 'remove', path: '/spec/schedulingGates' }] },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    );
    assert.equal((await waitPhase('gated', 'Succeeded')).spec?.nodeName, 'gpu-node-1');
  });

  it('is one node of several: pods go where their nodeSelector points', async () => {
    const second = await NodeAgent.start({
      kubeConfig: cp!.kubeConfig,
      nodeName: 'gpu-node-2',
      gpus: 1,
      labels: { pool: 'spare' },
    });
    try {
      for (const [name, selector] of [
        ['to-spare', { pool: 'spare' }],
        ['to-first', { 'kubernetes.io/hostname': 'gpu-node-1' }],
      ] as const) {
        await core.createNamespacedPod({
          namespace: ns,
          body: pod(name, 'process.exit(0)', { nodeSelector: { ...selector } }),
        });
      }
      assert.equal((await waitPhase('to-spare', 'Succeeded')).spec?.nodeName, 'gpu-node-2');
      assert.equal((await waitPhase('to-first', 'Succeeded')).spec?.nodeName, 'gpu-node-1');
      assert.notEqual(agent!.podIP(ns, 'to-first'), second.podIP(ns, 'to-spare'));
    } finally {
      await second.stop();
    }
  });

  it('marks the node lost: Ready Unknown, tainted, and its pods stay Terminating', async () => {
    const forever = 'setInterval(() => {}, 1000)';
    await core.createNamespacedPod({ namespace: ns, body: pod('stranded', forever) });
    await waitPhase('stranded', 'Running');
    await agent!.markNodeLost();
    const n = await core.readNode({ name: 'gpu-node-1' });
    assert.equal(n.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'Unknown');
    assert.ok(
      n.spec?.taints?.some(
        (t) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute',
      ),
    );
    const p = await phaseOf('stranded');
    assert.equal(p.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'False');

    await core.deleteNamespacedPod({ namespace: ns, name: 'stranded', gracePeriodSeconds: 1 });
    await new Promise((r) => setTimeout(r, 1500));
    const still = await phaseOf('stranded');
    assert.ok(still.metadata?.deletionTimestamp, 'a lost node never confirms the deletion');
    // Only a force delete (what the operator does for pods on lost nodes) removes it.
    await core.deleteNamespacedPod({ namespace: ns, name: 'stranded', gracePeriodSeconds: 0 });
    await waitFor(
      () =>
        phaseOf('stranded').then(
          () => false,
          (e: { code?: number }) => e.code === 404,
        ),
      { what: 'stranded force-deleted' },
    );
  });
});

describe('node agent path mapping', () => {
  it('rewrites mount paths at path boundaries only, longest mount first', () => {
    const mounts = [
      { from: '/data', to: '/tmp/v/data' },
      { from: '/data/cache', to: '/tmp/v/cache' },
    ];
    assert.equal(rewritePaths('/data/x.bin', mounts), '/tmp/v/data/x.bin');
    assert.equal(rewritePaths('/data/cache/y', mounts), '/tmp/v/cache/y');
    assert.equal(rewritePaths('--out=/data', mounts), '--out=/tmp/v/data');
    assert.equal(rewritePaths('/database', mounts), '/database');
    assert.equal(rewritePaths('s3://b/data/x', mounts), 's3://b/data/x');
  });

  it('maps `ringmaster …` to this checkout and pins a worker’s listener to the pod IP', () => {
    const map = ringmasterCommandMap('/repo');
    const pod: k8s.V1Pod = { metadata: { name: 'w' } };
    const worker: k8s.V1Container = { name: 'worker', command: ['ringmaster', 'worker'] };
    const ctx = { podIP: '127.0.0.12', env: {} };
    assert.deepEqual(map(worker, pod, ctx), {
      command: process.execPath,
      args: ['/repo/bin/ringmaster.js', 'worker'],
      env: { RINGMASTER_LISTEN: '127.0.0.12:29500' },
    });
    // No command: the image's entrypoint is ringmaster; the pod's own port setting wins.
    const argsOnly: k8s.V1Container = { name: 'worker', args: ['worker'] };
    assert.equal(
      map(argsOnly, pod, { podIP: '127.0.0.12', env: { RINGMASTER_PORT: '4000' } }).env
        ?.RINGMASTER_LISTEN,
      '127.0.0.12:4000',
    );
    assert.deepEqual(
      map(worker, pod, { podIP: '127.0.0.12', env: { RINGMASTER_LISTEN: '0.0.0.0:1' } }).env,
      {},
    );
    assert.deepEqual(map({ name: 'x', command: ['python3', '-V'] }, pod, ctx), {
      command: 'python3',
      args: ['-V'],
    });
  });
});
