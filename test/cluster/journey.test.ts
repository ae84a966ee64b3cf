/**
 * The user's journey on the real node (npm run test:cluster): the operator and CPU trainer
 * images assembled here from operator/Dockerfile and trainer/Dockerfile (harness/images.ts)
 * and imported into containerd → `helm install` → the operator Deployment Ready → `kubectl
 * apply` a 2-worker CPU recipe whose data (shards) and output are in MinIO on the host (on
 * the node IP, an IP URL: pods resolve only cluster names, through harness/cluster-dns.ts) →
 * worker pods run as containers, non-root, read-only root filesystem, ranks meet over the pod
 * network → `kubectl wait --for=condition=Succeeded` → weights and checkpoints in MinIO and
 * progress in `kubectl logs`. Then the faults, on a longer recipe: a worker's container killed
 * (the containerd task, not the pod) → the group restarts and resumes from the checkpoint; a
 * worker pod deleted; the operator pod deleted mid-run; and a recipe whose image cannot be
 * pulled gets a condition naming the image. `helm uninstall` leaves nothing behind.
 * The same suite runs on kind (RINGMASTER_E2E_TARGET=kind) or any cluster
 * (RINGMASTER_E2E_KUBECONFIG + RINGMASTER_E2E_REGISTRY), with GPU recipes where the nodes have
 * GPUs (harness/e2e-target.ts; it prints its choices). The local target needs root, helm,
 * MinIO and .ci/setup.d/32-node.sh + 34-node-images.sh; otherwise every test is reported
 * pending with the reason.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type * as k8s from '@kubernetes/client-node';
import { findClusterBinaries } from '../../harness/cluster.js';
import {
  chooseAccelerator,
  chooseTarget,
  createBucket,
  startTarget,
  targetUnavailable,
  type AcceleratorChoice,
  type E2eCluster,
} from '../../harness/e2e-target.js';
import { diffHost, snapshotHost, type HostSnapshot } from '../../harness/host-state.js';
import { waitFor } from '../../harness/kube.js';
import { minioBinary } from '../../harness/minio.js';
import { POD_SUBNET } from '../../harness/node.js';
import { LABEL_RECIPE } from '../../api/names.js';
import { packSynthetic } from '../../trainer/data/synthetic.js';
import { joinUri, openStorage } from '../../common/storage/storage.js';
import type { TrainingRecipeObject } from '../../operator/reconcile/types.js';

const NS = 'journey';
const OPERATOR_NS = 'ringmaster-system';
const RELEASE = 'ringmaster';
const BUCKET = 'runs';
/** Long enough for three faults one after another (each waits for training to go on). */
const FAULT_EPOCHS = 6;
/** The recipes' limits.memory, 1536Mi, in bytes. */
const WORKER_MEMORY_LIMIT_BYTES = 1536 * 1024 * 1024;
const CHART = join(import.meta.dirname, '..', '..', 'charts', 'ringmaster');
const HELM =
  process.env.HELM_BIN ??
  join(process.env.RINGMASTER_CACHE ?? join(homedir(), '.cache', 'ringmaster'), 'bin', 'helm');

interface Shards {
  train: number;
  val: number;
}

function recipeYaml(
  name: string,
  endpoint: string,
  o: { epochs: number; image?: string; grace?: number; gpus?: number },
): string {
  return `apiVersion: ringmaster.dev/v1alpha1
kind: TrainingRecipe
metadata:
  name: ${name}
  namespace: ${NS}
spec:
  workers: 2
  gpusPerWorker: ${o.gpus ?? 0}
${o.image ? `  image: ${o.image}\n` : ''}  resources:
    requests: { cpu: 200m, memory: 512Mi }
    limits: { memory: 1536Mi }
  data:
    train: s3://${BUCKET}/data/train
    val: s3://${BUCKET}/data/val
    endpoint: ${endpoint}
    credentialsSecret: s3-creds
  output: s3://${BUCKET}/${name}
  recipe:
    model: resnet_mini
    batchSize: 16
    epochs: ${o.epochs}
    keepCheckpoints: 10
    lr: 0.05
    lrWarmupEpochs: 0
    raSampler: false
    modelEmaSteps: 2
    trainCropSize: 32
    valResizeSize: 36
    valCropSize: 32
  runPolicy:
    backoffLimit: 4
    terminationGracePeriodSeconds: ${o.grace ?? 30}
`;
}

describe('real node: the user journey with the operator and trainer images (test:cluster)', function () {
  this.timeout(1_200_000);
  let cluster: E2eCluster | undefined;
  let hostBefore: HostSnapshot | undefined;
  let stopped = false;
  let acc: AcceleratorChoice;

  const c = () => cluster!;
  const yaml = (name: string, o: Parameters<typeof recipeYaml>[2]) =>
    recipeYaml(name, c().s3.podEndpoint, { ...o, gpus: acc.accelerator === 'gpu' ? 1 : 0 });
  const helm = async (args: string[]): Promise<string> =>
    (await promisify(execFile)(HELM, ['--kubeconfig', c().kubeconfigPath, ...args])).stdout;
  const getJson = async <T>(args: string[]): Promise<T> =>
    JSON.parse(await c().kubectl([...args, '-o', 'json'])) as T;
  const recipe = (name: string) =>
    getJson<TrainingRecipeObject>(['-n', NS, 'get', 'trainingrecipe', name]);
  const workerPods = async (name: string) =>
    (
      await getJson<{ items: k8s.V1Pod[] }>([
        '-n',
        NS,
        'get',
        'pods',
        '-l',
        `${LABEL_RECIPE}=${name}`,
      ])
    ).items;
  const s3Keys = async (prefix: string): Promise<string[]> => {
    const s3 = new S3Client({
      endpoint: c().s3.testEndpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: c().s3.credentials,
    });
    try {
      const out = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
      return (out.Contents ?? []).map((o) => o.Key!);
    } finally {
      s3.destroy();
    }
  };
  /** What to print when a wait fails: the recipe's status and the workers' last log lines. */
  const diagnose = async (name: string): Promise<string> => {
    const parts: string[] = [];
    try {
      parts.push(`status: ${JSON.stringify((await recipe(name)).status)}`);
    } catch (err) {
      parts.push(`status: ${(err as Error).message}`);
    }
    for (const rank of [0, 1]) {
      try {
        const logs = await c().kubectl(['-n', NS, 'logs', `${name}-worker-${rank}`, '--tail=30']);
        parts.push(`--- ${name}-worker-${rank}\n${logs}`);
      } catch (err) {
        parts.push(`--- ${name}-worker-${rank}: ${(err as Error).message.slice(0, 300)}`);
      }
    }
    try {
      parts.push(
        `--- operator\n${await c().kubectl(['-n', OPERATOR_NS, 'logs', `deploy/${RELEASE}`, '--tail=40'])}`,
      );
    } catch (err) {
      parts.push(`--- operator: ${(err as Error).message.slice(0, 300)}`);
    }
    return parts.join('\n');
  };
  const waitSucceeded = async (name: string, timeout = '900s'): Promise<TrainingRecipeObject> => {
    await c()
      .kubectl([
        '-n',
        NS,
        'wait',
        '--for=condition=Succeeded',
        `trainingrecipe/${name}`,
        `--timeout=${timeout}`,
      ])
      .catch(async (err: Error) => {
        throw new Error(`${err.message}\n${await diagnose(name)}`);
      });
    return recipe(name);
  };
  /** How far a recipe has come, as one number (epoch, then step in it). */
  const step = async (name: string) => {
    const p = (await recipe(name)).status?.progress;
    return (p?.epoch ?? 0) * 1_000_000 + (p?.step ?? 0);
  };

  before(async function () {
    const choice = chooseTarget();
    let missing: string | undefined;
    if (choice.name === 'local') {
      const found = findClusterBinaries();
      missing = !found.ok
        ? found.reason
        : !minioBinary()
          ? 'no MinIO binary (run .ci/setup.d/20-minio.sh)'
          : undefined;
    } else {
      missing = targetUnavailable(choice);
    }
    if (missing) {
      console.log(`  target ${choice.name} unavailable: ${missing}`);
      this.skip();
    }
    if (choice.name === 'local') hostBefore = snapshotHost();
    const t = Date.now();
    cluster = await startTarget(choice);
    console.log(
      `  target ${choice.name} ready (images built and loaded, S3 up) in ${((Date.now() - t) / 1000).toFixed(1)} s`,
    );
    const nodes = await getJson<{ items: k8s.V1Node[] }>(['get', 'nodes']);
    acc = chooseAccelerator(
      nodes.items.map((n) => n.status?.allocatable),
      2,
    );
    console.log(`  recipes: ${acc.accelerator.toUpperCase()} (${acc.why})`);
    await createBucket(cluster.s3, BUCKET);
    const shards: Shards = { train: 512, val: 64 };
    for (const split of ['train', 'val'] as const) {
      const st = openStorage(joinUri(`s3://${BUCKET}/data`, split), {
        endpoint: cluster.s3.testEndpoint,
        credentials: cluster.s3.credentials,
      });
      try {
        await packSynthetic(split, st, { ...shards, size: 32 });
      } finally {
        st.close();
      }
    }
    await cluster.kubectl(['create', 'namespace', NS]);
    await cluster.kubectl([
      '-n',
      NS,
      'create',
      'secret',
      'generic',
      's3-creds',
      `--from-literal=AWS_ACCESS_KEY_ID=${cluster.s3.credentials.accessKeyId}`,
      `--from-literal=AWS_SECRET_ACCESS_KEY=${cluster.s3.credentials.secretAccessKey}`,
    ]);
  });

  after(async () => {
    if (cluster && !stopped) await cluster.stop();
  });

  it("the trainer image passes its Dockerfile's load check in a pod (native TensorFlow backend)", async function () {
    const trainerChecks = c().trainerChecks;
    if (trainerChecks.length === 0) {
      console.log('    (the engine ran the check while building the image)');
      this.skip();
    }
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'trainer-load-check', namespace: NS },
      spec: {
        restartPolicy: 'Never',
        securityContext: { runAsNonRoot: true, runAsUser: 65532 },
        containers: [
          {
            name: 'check',
            image: c().images.trainer,
            imagePullPolicy: c().images.pullPolicy,
            command: ['sh', '-c', `${trainerChecks[0]} && echo native-backend-loaded`],
          },
        ],
      },
    };
    await c().kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod) });
    await c()
      .kubectl([
        '-n',
        NS,
        'wait',
        '--for=jsonpath={.status.phase}=Succeeded',
        'pod/trainer-load-check',
        '--timeout=300s',
      ])
      .catch(async (err: Error) => {
        const logs = await c()
          .kubectl(['-n', NS, 'logs', 'trainer-load-check'])
          .catch(() => '');
        throw new Error(`${err.message}\n${logs}`);
      });
    assert.match(
      await c().kubectl(['-n', NS, 'logs', 'trainer-load-check']),
      /native-backend-loaded/,
    );
    await c().kubectl(['-n', NS, 'delete', 'pod', 'trainer-load-check', '--wait=true']);
  });

  it('helm install with the local images: the operator Deployment becomes Ready', async () => {
    const split = (image: string) => [
      image.slice(0, image.lastIndexOf(':')),
      image.slice(image.lastIndexOf(':') + 1),
    ];
    const [repo, tag] = split(c().images.operator) as [string, string];
    const [wrepo, wtag] = split(c().images.trainer) as [string, string];
    const gpuTag = c().images.trainerGpu ? split(c().images.trainerGpu!)[1]! : `${wtag}-gpu`;
    await helm([
      'install',
      RELEASE,
      CHART,
      '--namespace',
      OPERATOR_NS,
      '--create-namespace',
      '--set',
      `image.repository=${repo}`,
      '--set',
      `image.tag=${tag}`,
      '--set',
      `image.pullPolicy=${c().images.pullPolicy}`,
      '--set',
      `workerImage.repository=${wrepo}`,
      '--set',
      `workerImage.tag=${wtag}`,
      '--set',
      `workerImage.gpuTag=${gpuTag}`,
      '--set',
      'leaderElection.enabled=true',
    ]);
    await c().kubectl([
      '-n',
      OPERATOR_NS,
      'rollout',
      'status',
      `deploy/${RELEASE}`,
      '--timeout=240s',
    ]);
  });

  it('kubectl apply → 2 worker containers (non-root, read-only root, memory limit in the cgroup, pod network) → Succeeded, weights and checkpoints in MinIO, progress in kubectl logs', async () => {
    await c().kubectl(['apply', '-f', '-'], {
      input: yaml('tiny', { epochs: 2 }),
    });
    // Both ranks running as containers of this node.
    const pods = await waitFor(
      async () => {
        const p = await workerPods('tiny');
        return p.length === 2 && p.every((x) => x.status?.phase === 'Running') ? p : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 1000, what: 'tiny workers Running' },
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await diagnose('tiny')}`);
    });
    const prefix = c().target === 'local' ? POD_SUBNET.split('.').slice(0, 3).join('.') + '.' : '';
    const ips = pods.map((p) => p.status?.podIP ?? '');
    assert.ok(
      ips.every((ip) => ip.startsWith(prefix)) && ips[0] !== ips[1],
      `pod IPs ${ips.join(', ')}`,
    );
    for (const p of pods) {
      const cs = p.status?.containerStatuses?.[0];
      if (c().target !== 'kubeconfig') assert.match(cs?.containerID ?? '', /^containerd:\/\//);
      const want = acc.accelerator === 'gpu' ? c().images.trainerGpu : c().images.trainer;
      assert.equal(cs?.image?.replace(/^docker\.io\//, ''), want);
    }
    if (c().target === 'local') {
      // requests < limits: Burstable QoS, so the pod's cgroup is kubepods/burstable/pod<uid>.
      for (const p of pods) {
        const limit = readFileSync(
          `/sys/fs/cgroup/memory/kubepods/burstable/pod${p.metadata!.uid}/memory.limit_in_bytes`,
          'utf8',
        );
        assert.equal(Number(limit), WORKER_MEMORY_LIMIT_BYTES, 'the memory limit in the cgroup');
      }
    }
    const name = pods[0]!.metadata!.name!;
    const uid = (
      await c()
        .kubectl(['-n', NS, 'exec', name, '--', 'id', '-u'])
        .catch(() => '')
    ).trim();
    // The worker may finish before the exec: only check what was seen.
    if (uid) {
      assert.notEqual(uid, '0');
      await assert.rejects(
        c().kubectl(['-n', NS, 'exec', name, '--', 'touch', '/app/probe']),
        /Read-only file system/,
      );
    }
    const done = await waitSucceeded('tiny');
    assert.equal(done.status?.restarts, 0);
    assert.equal(done.status?.progress?.epoch, 2);
    assert.match(done.status?.weights ?? '', new RegExp(`^s3://${BUCKET}/tiny`));
    const keys = await s3Keys('tiny/');
    assert.ok(keys.includes('tiny/weights/model.safetensors'), keys.join(', '));
    assert.ok(keys.includes('tiny/checkpoints/latest.json'), keys.join(', '));
    // Rank 0 says how it went, in the container's own log.
    const logs = await c().kubectl(['-n', NS, 'logs', 'tiny-worker-0']);
    assert.match(logs, /tensorflow/, 'the worker names the native backend');
    assert.match(logs, /training plan/);
    assert.match(logs, /epoch/i);
  });

  it("a worker's container killed (containerd task, SIGKILL): the group restarts and resumes from the checkpoint", async function () {
    await c().kubectl(['apply', '-f', '-'], {
      input: yaml('faults', { epochs: FAULT_EPOCHS }),
    });
    // After the first epoch's checkpoint: the restart has something to resume from.
    await waitFor(async () => (await recipe('faults')).status?.lastCheckpoint?.time || undefined, {
      timeoutMs: 900_000,
      intervalMs: 1000,
      what: 'a first checkpoint of faults',
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await diagnose('faults')}`);
    });
    // The recipe runs on for the next cases even where the kill itself cannot be done.
    const kill = c().killContainer;
    if (!kill) {
      console.log(`    (target ${c().target} gives no access to the node's runtime)`);
      this.skip();
    }
    const pod = (await workerPods('faults')).find((p) => p.metadata?.name === 'faults-worker-1')!;
    const id = pod.status!.containerStatuses![0]!.containerID!.replace('containerd://', '');
    await kill(id);
    await waitFor(async () => ((await recipe('faults')).status?.restarts ?? 0) >= 1 || undefined, {
      timeoutMs: 300_000,
      intervalMs: 1000,
      what: 'faults restarted',
    });
    const resumed = await waitFor(
      async () => {
        const logs = await c()
          .kubectl(['-n', NS, 'logs', 'faults-worker-0'])
          .catch(() => '');
        return /"msg":"resumed"|resumed/.test(logs) ? logs : undefined;
      },
      { timeoutMs: 600_000, intervalMs: 2000, what: 'faults-worker-0 of the new group resumed' },
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await diagnose('faults')}`);
    });
    assert.match(resumed, /checkpoints\/epoch-\d+/);
  });

  it('a worker pod deleted mid-run: another restart, training goes on', async () => {
    const before = (await recipe('faults')).status?.restarts ?? 0;
    const s0 = await step('faults');
    await waitFor(async () => ((await step('faults')) > s0 ? true : undefined), {
      timeoutMs: 600_000,
      intervalMs: 1000,
      what: 'faults training again',
    });
    await c().kubectl(['-n', NS, 'delete', 'pod', 'faults-worker-0', '--wait=false']);
    await waitFor(
      async () => ((await recipe('faults')).status?.restarts ?? 0) > before || undefined,
      {
        timeoutMs: 300_000,
        intervalMs: 1000,
        what: 'faults restarted after the pod deletion',
      },
    );
  });

  it('the operator pod deleted mid-run: its replacement takes over and the recipe succeeds', async () => {
    const s0 = await step('faults');
    await waitFor(async () => ((await step('faults')) > s0 ? true : undefined), {
      timeoutMs: 600_000,
      intervalMs: 1000,
      what: 'faults training again',
    });
    const restarts = (await recipe('faults')).status?.restarts ?? 0;
    await c().kubectl([
      '-n',
      OPERATOR_NS,
      'delete',
      'pod',
      '-l',
      'app.kubernetes.io/component=operator',
      '--wait=true',
    ]);
    await c().kubectl([
      '-n',
      OPERATOR_NS,
      'rollout',
      'status',
      `deploy/${RELEASE}`,
      '--timeout=240s',
    ]);
    const done = await waitSucceeded('faults');
    // The operator's own restart is not the group's: no extra restart of the workers.
    assert.equal(done.status?.restarts, restarts);
    assert.equal(done.status?.progress?.epoch, FAULT_EPOCHS);
    const keys = await s3Keys('faults/');
    assert.ok(keys.includes('faults/weights/model.safetensors'), keys.join(', '));
  });

  it('a recipe whose image cannot be pulled gets a condition naming the image', async () => {
    const image = 'ringmaster.local/no-such-trainer:missing';
    await c().kubectl(['apply', '-f', '-'], {
      input: yaml('nopull', { epochs: 1, image }),
    });
    const cond = await waitFor(
      async () => {
        const conds = (await recipe('nopull')).status?.conditions ?? [];
        return conds.find((x) => x.reason === 'ImagePullFailed');
      },
      { timeoutMs: 180_000, intervalMs: 1000, what: 'an ImagePullFailed condition on nopull' },
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await diagnose('nopull')}`);
    });
    assert.ok(cond.message?.includes(image), cond.message);
    await c().kubectl(['-n', NS, 'delete', 'trainingrecipe', 'nopull', '--wait=true']);
  });

  it('helm uninstall leaves nothing of Ringmaster behind (recipes deleted first; the CRD stays)', async () => {
    await c().kubectl(['-n', NS, 'delete', 'trainingrecipes', '--all', '--wait=true']);
    await helm(['uninstall', RELEASE, '--namespace', OPERATOR_NS, '--wait', '--timeout', '180s']);
    const left = async (): Promise<string> => {
      const sel = `app.kubernetes.io/instance=${RELEASE}`;
      const released = await c().kubectl([
        'get',
        'deploy,rs,pods,svc,sa,roles,rolebindings,networkpolicies,clusterroles,clusterrolebindings',
        '-A',
        '-l',
        sel,
        '-o',
        'name',
      ]);
      const children = await c().kubectl([
        'get',
        'pods,svc,configmaps,secrets,networkpolicies',
        '-n',
        NS,
        '-l',
        LABEL_RECIPE,
        '-o',
        'name',
      ]);
      return (released + children).trim();
    };
    await waitFor(async () => (await left()) === '' || undefined, {
      timeoutMs: 120_000,
      what: 'nothing of the release or its recipes left',
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${await left()}`);
    });
  });

  it('stops every process and leaves the host as it found it', async () => {
    stopped = true;
    const problems = await cluster!.stop();
    assert.deepEqual(problems, []);
    if (hostBefore) assert.deepEqual(diffHost(hostBefore, snapshotHost()), []);
  });
});
