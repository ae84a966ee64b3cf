/**
 * The real-node tier (npm run test:cluster): etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler and one kubelet on containerd + runc + a bridge CNI, all on this machine
 * (harness/cluster.ts). A Deployment's pod runs as a container from the local Debian + Node 20
 * image; its output comes back through `kubectl logs`, `kubectl exec` runs in it, its memory
 * limit is in its cgroup, it serves on the pod network, and the host is left as found.
 * Then the chart: `helm install` with an operator image built here from this checkout
 * (harness/images.ts) → the operator Deployment is Ready and its pod holds the leader Lease;
 * a deleted operator pod is replaced and the new one takes the Lease; `helm uninstall`
 * leaves no object of the release.
 * Needs root, helm and .ci/setup.d/32-node.sh + 34-node-images.sh; otherwise every test is
 * reported pending with the reason (never counted as passed).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { findClusterBinaries, startCluster, type Cluster } from '../../harness/cluster.js';
import { chooseTarget } from '../../harness/e2e-target.js';
import { diffHost, snapshotHost, type HostSnapshot } from '../../harness/host-state.js';
import { BASE_IMAGE, POD_SUBNET } from '../../harness/node.js';
import { waitFor } from '../../harness/kube.js';
import { buildOperatorImage, OPERATOR_IMAGE } from '../../harness/images.js';
import { execFile } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const NS = 'journey';
const OPERATOR_NS = 'ringmaster-system';
const RELEASE = 'ringmaster';
const CHART = join(import.meta.dirname, '..', '..', 'charts', 'ringmaster');
const HELM =
  process.env.HELM_BIN ??
  join(process.env.RINGMASTER_CACHE ?? join(homedir(), '.cache', 'ringmaster'), 'bin', 'helm');

async function helm(c: Cluster, args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(HELM, ['--kubeconfig', c.kubeconfigPath, ...args]);
  return stdout;
}
const UID = 65532;
const MEMORY_LIMIT = 64 * 1024 * 1024;
const PORT = 8080;

// The pod's program: says who and what it is, then serves one line over HTTP.
const PROGRAM = [
  `console.log('hello from node ' + process.version + ' as uid ' + process.getuid());`,
  `require('http').createServer((q, s) => s.end('pong ' + process.env.HOSTNAME)).listen(${PORT});`,
].join('\n');

function deployment(): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'hello', namespace: NS },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'hello' } },
      template: {
        metadata: { labels: { app: 'hello' } },
        spec: {
          securityContext: { runAsNonRoot: true, runAsUser: UID, runAsGroup: UID },
          containers: [
            {
              name: 'hello',
              image: BASE_IMAGE,
              imagePullPolicy: 'Never',
              command: ['node', '-e', PROGRAM],
              ports: [{ containerPort: PORT }],
              readinessProbe: { tcpSocket: { port: PORT }, periodSeconds: 1 },
              securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
              // requests = limits: Guaranteed QoS, so the pod's cgroup is kubepods/pod<uid>.
              resources: {
                requests: { cpu: '100m', memory: String(MEMORY_LIMIT) },
                limits: { cpu: '100m', memory: String(MEMORY_LIMIT) },
              },
            },
          ],
        },
      },
    },
  });
}

describe('real node: a Deployment runs as a container (test:cluster)', function () {
  this.timeout(300_000);
  let cluster: Cluster | undefined;
  let hostBefore: HostSnapshot;
  let stopped = false;

  before(async function () {
    const target = chooseTarget().name;
    if (target !== 'local') {
      console.log(`  the real-node checks run on the local target only (target: ${target})`);
      this.skip();
    }
    const found = findClusterBinaries();
    if (!found.ok) {
      console.log(`  real node unavailable: ${found.reason}`);
      this.skip();
    }
    hostBefore = snapshotHost();
    const t0 = Date.now();
    cluster = await startCluster();
    console.log(
      `  cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s (node ${cluster.node.name}, ${cluster.node.ip})`,
    );
  });

  after(async () => {
    if (cluster && !stopped) await cluster.stop();
  });

  it('schedules the Deployment and the kubelet runs it Ready', async () => {
    const c = cluster!;
    await c.kubectl(['create', 'namespace', NS]);
    await c.kubectl(['apply', '-f', '-'], { input: deployment() });
    await c.kubectl(['-n', NS, 'rollout', 'status', 'deploy/hello', '--timeout=180s']);
    const pods = JSON.parse(
      await c.kubectl(['-n', NS, 'get', 'pods', '-l', 'app=hello', '-o', 'json']),
    ) as {
      items: Array<{ spec: { nodeName?: string }; status: { phase: string } }>;
    };
    assert.equal(pods.items.length, 1);
    assert.equal(pods.items[0]!.spec.nodeName, c.node.name);
    assert.equal(pods.items[0]!.status.phase, 'Running');
  });

  it('kubectl logs shows the container output (Node 20, non-root)', async () => {
    const logs = await waitFor(
      async () => {
        const out = await cluster!.kubectl(['-n', NS, 'logs', 'deploy/hello']);
        return out.includes('hello from') ? out : undefined;
      },
      { timeoutMs: 30_000, what: 'hello in kubectl logs' },
    );
    assert.match(logs, new RegExp(`hello from node v20\\.\\d+\\.\\d+ as uid ${UID}`));
  });

  it('kubectl exec runs inside the container: read-only root filesystem, its own uid', async () => {
    const c = cluster!;
    assert.equal(
      (await c.kubectl(['-n', NS, 'exec', 'deploy/hello', '--', 'id', '-u'])).trim(),
      String(UID),
    );
    await assert.rejects(
      c.kubectl(['-n', NS, 'exec', 'deploy/hello', '--', 'touch', '/probe']),
      /Read-only file system/,
    );
  });

  it('the memory limit is in the pod cgroup', async () => {
    const pod = JSON.parse(
      await cluster!.kubectl(['-n', NS, 'get', 'pods', '-l', 'app=hello', '-o', 'json']),
    ) as {
      items: Array<{ metadata: { uid: string } }>;
    };
    const uid = pod.items[0]!.metadata.uid;
    const limit = readFileSync(
      `/sys/fs/cgroup/memory/kubepods/pod${uid}/memory.limit_in_bytes`,
      'utf8',
    );
    assert.equal(Number(limit.trim()), MEMORY_LIMIT);
  });

  it('serves on the pod network (bridge CNI): the host reaches the pod IP', async () => {
    const pod = JSON.parse(
      await cluster!.kubectl(['-n', NS, 'get', 'pods', '-l', 'app=hello', '-o', 'json']),
    ) as {
      items: Array<{ metadata: { name: string }; status: { podIP?: string } }>;
    };
    const { podIP } = pod.items[0]!.status;
    const prefix = POD_SUBNET.split('.').slice(0, 3).join('.') + '.';
    assert.ok(podIP?.startsWith(prefix), `pod IP ${podIP} not in ${POD_SUBNET}`);
    const res = await fetch(`http://${podIP}:${PORT}/`, { signal: AbortSignal.timeout(5000) });
    assert.equal(await res.text(), `pong ${pod.items[0]!.metadata.name}`);
  });

  it('helm install with the operator image built here: the operator Deployment becomes Ready and holds the Lease', async () => {
    const c = cluster!;
    const t0 = Date.now();
    const image = buildOperatorImage();
    const built = Date.now();
    c.node.ctr(['images', 'import', image]);
    console.log(
      `    operator image built in ${((built - t0) / 1000).toFixed(1)} s, imported in ${((Date.now() - built) / 1000).toFixed(1)} s`,
    );
    const [repository, tag] = OPERATOR_IMAGE.split(':') as [string, string];
    await helm(c, [
      'install',
      RELEASE,
      CHART,
      '--namespace',
      OPERATOR_NS,
      '--create-namespace',
      '--set',
      `image.repository=${repository}`,
      '--set',
      `image.tag=${tag}`,
      '--set',
      'image.pullPolicy=Never',
      '--set',
      'leaderElection.enabled=true',
    ]);
    await c.kubectl([
      '-n',
      OPERATOR_NS,
      'rollout',
      'status',
      `deploy/${RELEASE}`,
      '--timeout=240s',
    ]);
    const pods = JSON.parse(
      await c.kubectl([
        '-n',
        OPERATOR_NS,
        'get',
        'pods',
        '-l',
        'app.kubernetes.io/component=operator',
        '-o',
        'json',
      ]),
    ) as { items: Array<{ metadata: { name: string }; spec: { nodeName?: string } }> };
    assert.equal(pods.items.length, 1);
    assert.equal(pods.items[0]!.spec.nodeName, c.node.name);
    // Leader election works only if the pod reaches the API with its ServiceAccount's token.
    const holder = await waitFor(
      async () => {
        const h = await c.kubectl([
          '-n',
          OPERATOR_NS,
          'get',
          'lease',
          'ringmaster-operator',
          '-o',
          'jsonpath={.spec.holderIdentity}',
        ]);
        return h.trim() || undefined;
      },
      { timeoutMs: 60_000, what: 'the operator Lease held' },
    );
    assert.ok(holder.includes(pods.items[0]!.metadata.name), `Lease held by ${holder}`);
  });

  it('deleting the operator pod: its ReplicaSet starts another, which takes the Lease', async () => {
    const c = cluster!;
    const selector = 'app.kubernetes.io/component=operator';
    const before = (
      await c.kubectl([
        '-n',
        OPERATOR_NS,
        'get',
        'pods',
        '-l',
        selector,
        '-o',
        'jsonpath={.items[*].metadata.name}',
      ])
    ).trim();
    await c.kubectl(['-n', OPERATOR_NS, 'delete', 'pod', before, '--wait=true']);
    await c.kubectl([
      '-n',
      OPERATOR_NS,
      'rollout',
      'status',
      `deploy/${RELEASE}`,
      '--timeout=240s',
    ]);
    const after = (
      await c.kubectl([
        '-n',
        OPERATOR_NS,
        'get',
        'pods',
        '-l',
        selector,
        '-o',
        'jsonpath={.items[*].metadata.name}',
      ])
    ).trim();
    assert.ok(
      after && after !== before && !after.includes(' '),
      `pods after the delete: "${after}"`,
    );
    await waitFor(
      async () => {
        const h = await c.kubectl([
          '-n',
          OPERATOR_NS,
          'get',
          'lease',
          'ringmaster-operator',
          '-o',
          'jsonpath={.spec.holderIdentity}',
        ]);
        return h.includes(after);
      },
      { timeoutMs: 90_000, what: `the Lease held by ${after}` },
    );
  });

  it('helm uninstall removes every object of the release (the CRD stays: Helm never deletes crds/)', async () => {
    const c = cluster!;
    await helm(c, [
      'uninstall',
      RELEASE,
      '--namespace',
      OPERATOR_NS,
      '--wait',
      '--timeout',
      '180s',
    ]);
    const left = async (): Promise<string> => {
      const sel = `app.kubernetes.io/instance=${RELEASE}`;
      const ns = await c.kubectl([
        '-n',
        OPERATOR_NS,
        'get',
        'deploy,rs,pods,svc,sa,roles,rolebindings,networkpolicies',
        '-l',
        sel,
        '-o',
        'name',
      ]);
      const cluster = await c.kubectl([
        'get',
        'clusterroles,clusterrolebindings',
        '-l',
        sel,
        '-o',
        'name',
      ]);
      return (ns + cluster).trim();
    };
    // The ReplicaSet and its pod go through the garbage collector (kube-controller-manager).
    await waitFor(async () => (await left()) === '', {
      timeoutMs: 120_000,
      what: 'no object of the release left',
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${await left()}`);
    });
    assert.match(await c.kubectl(['get', 'crd', '-o', 'name']), /trainingrecipes/);
  });

  it('stops every process and leaves the host as it found it', async () => {
    stopped = true;
    const problems = await cluster!.stop();
    assert.deepEqual(problems, []);
    assert.deepEqual(diffHost(hostBefore, snapshotHost()), []);
  });
});
