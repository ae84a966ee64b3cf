// The cluster the `npm run test:cluster` journey runs on (api/names.ts TestEnv):
//   - local (default): the real node on this machine (harness/cluster.ts), images assembled
//     from the Dockerfiles without an engine (harness/images.ts) and imported into containerd,
//     MinIO on the node IP;
//   - kind (RINGMASTER_E2E_TARGET=kind; docker or podman + kind on PATH): a kind cluster it
//     creates from test/e2e/kind/cluster.yaml and deletes, images built with the engine from
//     the same Dockerfiles and loaded with `kind load`, MinIO in the cluster;
//   - kubeconfig (RINGMASTER_E2E_KUBECONFIG + RINGMASTER_E2E_REGISTRY): any cluster; images
//     built with the engine and pushed to the registry, MinIO in the cluster.
// For kind and kubeconfig the test reaches MinIO through `kubectl port-forward`. Only the local
// target runs on the project's machines (no Docker daemon, kind or registry there).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { TestEnv } from '../api/names.js';
import { startCluster } from './cluster.js';
import { buildOperatorImage, buildTrainerImage, OPERATOR_IMAGE, TRAINER_IMAGE } from './images.js';
import { waitFor } from './kube.js';
import { freePort, startMinio } from './minio.js';
import { hostIPv4 } from './node.js';

const ROOT = join(import.meta.dirname, '..');
const KIND_DIR = join(ROOT, 'test', 'e2e', 'kind');

export type TargetName = 'local' | 'kind' | 'kubeconfig';

export interface TargetChoice {
  name: TargetName;
  kubeconfig?: string;
  registry?: string;
}

/** Which target the environment asks for; throws with what to set when it is inconsistent. */
export function chooseTarget(env: NodeJS.ProcessEnv = process.env): TargetChoice {
  const asked = env[TestEnv.e2eTarget];
  const kubeconfig = env[TestEnv.e2eKubeconfig];
  const registry = env[TestEnv.e2eRegistry];
  const name = (asked ?? (kubeconfig ? 'kubeconfig' : 'local')) as TargetName;
  if (!['local', 'kind', 'kubeconfig'].includes(name))
    throw new Error(`${TestEnv.e2eTarget}=${asked}: use local, kind or kubeconfig`);
  if (name === 'kubeconfig') {
    if (!kubeconfig) throw new Error(`target kubeconfig needs ${TestEnv.e2eKubeconfig}`);
    if (!registry)
      throw new Error(
        `target kubeconfig needs ${TestEnv.e2eRegistry}: the cluster pulls the images built here from it`,
      );
    return { name, kubeconfig, registry };
  }
  if (kubeconfig) throw new Error(`${TestEnv.e2eKubeconfig} is for target kubeconfig, not ${name}`);
  return { name };
}

export interface AcceleratorChoice {
  accelerator: 'gpu' | 'cpu';
  /** Allocatable nvidia.com/gpu summed over the cluster's nodes. */
  gpus: number;
  why: string;
}

/**
 * GPU recipes where the cluster has a GPU per worker, the CPU fallback otherwise (or what
 * RINGMASTER_E2E_ACCELERATOR forces).
 */
export function chooseAccelerator(
  allocatable: ReadonlyArray<Record<string, string> | undefined>,
  workers: number,
  env: NodeJS.ProcessEnv = process.env,
): AcceleratorChoice {
  const gpus = allocatable.reduce((n, a) => n + Number(a?.['nvidia.com/gpu'] ?? 0), 0);
  const forced = env[TestEnv.e2eAccelerator];
  if (forced === 'gpu' || forced === 'cpu')
    return { accelerator: forced, gpus, why: `${TestEnv.e2eAccelerator}=${forced}` };
  if (forced) throw new Error(`${TestEnv.e2eAccelerator}=${forced}: use gpu or cpu`);
  return gpus >= workers
    ? { accelerator: 'gpu', gpus, why: `${gpus} nvidia.com/gpu allocatable ≥ ${workers} workers` }
    : {
        accelerator: 'cpu',
        gpus,
        why: `${gpus} nvidia.com/gpu allocatable < ${workers} workers: CPU fallback`,
      };
}

export interface S3Access {
  /** The endpoint pods use (an IP URL or an in-cluster Service URL). */
  podEndpoint: string;
  /** The endpoint this test process uses. */
  testEndpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

export interface E2eCluster {
  target: TargetName;
  kubeconfigPath: string;
  kubectl(args: string[], opts?: { input?: string }): Promise<string>;
  /** Images for the chart: operator, CPU trainer and GPU trainer repositories and tags. */
  images: { operator: string; trainer: string; trainerGpu?: string; pullPolicy: string };
  s3: S3Access;
  /** SIGKILL a container's main process (not the pod), when the target gives node access. */
  killContainer?(containerId: string): Promise<void>;
  /** The Dockerfile's load checks, to run in the trainer image (local target). */
  trainerChecks: string[];
  /** Stop what was started; resolves with what could not be cleaned up. */
  stop(): Promise<string[]>;
}

async function run(cmd: string, args: string[], opts: { input?: string } = {}): Promise<string> {
  if (opts.input === undefined)
    return (await promisify(execFile)(cmd, args, { maxBuffer: 64 << 20 })).stdout;
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', reject);
    c.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: ${err || out}`)),
    );
    c.stdin.end(opts.input);
  });
}

async function startLocal(): Promise<E2eCluster> {
  const trainer = buildTrainerImage();
  const operatorArchive = buildOperatorImage();
  const cluster = await startCluster();
  const dir = mkdtempSync(join(tmpdir(), 'ringmaster-minio-'));
  try {
    cluster.node.ctr(['images', 'import', trainer.archive]);
    cluster.node.ctr(['images', 'import', operatorArchive]);
    // On the node IP: pods reach it through the bridge's gateway, nothing else can.
    const minio = await startMinio({ dir, host: hostIPv4() });
    return {
      target: 'local',
      kubeconfigPath: cluster.kubeconfigPath,
      kubectl: cluster.kubectl,
      images: { operator: OPERATOR_IMAGE, trainer: TRAINER_IMAGE, pullPolicy: 'Never' },
      s3: {
        podEndpoint: minio.endpoint,
        testEndpoint: minio.endpoint,
        credentials: minio.credentials,
      },
      killContainer: async (id) => {
        cluster.node.ctr(['tasks', 'kill', '--signal', 'SIGKILL', id]);
      },
      trainerChecks: trainer.checks,
      stop: async () => {
        const problems = await cluster.stop();
        await minio.stop();
        rmSync(dir, { recursive: true, force: true });
        return problems;
      },
    };
  } catch (err) {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

const ENGINE = process.env.CONTAINER_ENGINE ?? 'docker';
const MINIO_NS = 'ringmaster-e2e-s3';

/** Build the images from the Dockerfiles with the engine, tagged under `prefix`. */
async function engineBuild(prefix: string, gpu: boolean): Promise<E2eCluster['images']> {
  const tag = 'e2e';
  const images = {
    operator: `${prefix}ringmaster/operator:${tag}`,
    trainer: `${prefix}ringmaster/trainer:${tag}`,
    ...(gpu ? { trainerGpu: `${prefix}ringmaster/trainer:${tag}-gpu` } : {}),
    pullPolicy: 'IfNotPresent',
  };
  const build = (file: string, t: string) =>
    run(ENGINE, ['build', '-f', join(ROOT, file), '-t', t, ROOT]);
  await build('operator/Dockerfile', images.operator);
  await build('trainer/Dockerfile', images.trainer);
  if (images.trainerGpu) await build('trainer/Dockerfile.gpu', images.trainerGpu);
  return images;
}

/** MinIO in the cluster (test/e2e/kind/minio.yaml) and a port-forward to it for the test. */
async function inClusterMinio(kubeconfig: string): Promise<{ s3: S3Access; stop: () => void }> {
  const kubectl = kubectlFor(kubeconfig);
  await kubectl(['create', 'namespace', MINIO_NS]);
  await kubectl(['-n', MINIO_NS, 'apply', '-f', join(KIND_DIR, 'minio.yaml')]);
  await kubectl(['-n', MINIO_NS, 'rollout', 'status', 'deploy/minio', '--timeout=300s']);
  const secret = JSON.parse(
    await kubectl(['-n', MINIO_NS, 'get', 'secret', 'e2e-s3', '-o', 'json']),
  ) as { data: Record<string, string> };
  const dec = (k: string) => Buffer.from(secret.data[k]!, 'base64').toString();
  const port = await freePort();
  const child: ChildProcess = spawn(
    'kubectl',
    ['--kubeconfig', kubeconfig, '-n', MINIO_NS, 'port-forward', 'svc/minio', `${port}:9000`],
    { stdio: 'ignore' },
  );
  await waitFor(
    async () => {
      const res = await fetch(`http://127.0.0.1:${port}/minio/health/ready`).catch(() => undefined);
      return res?.ok;
    },
    { timeoutMs: 30_000, what: 'port-forward to MinIO' },
  );
  return {
    s3: {
      podEndpoint: `http://minio.${MINIO_NS}.svc:9000`,
      testEndpoint: `http://127.0.0.1:${port}`,
      credentials: {
        accessKeyId: dec('AWS_ACCESS_KEY_ID'),
        secretAccessKey: dec('AWS_SECRET_ACCESS_KEY'),
      },
    },
    stop: () => child.kill('SIGTERM'),
  };
}

function kubectlFor(kubeconfig: string): E2eCluster['kubectl'] {
  return (args, opts) => run('kubectl', ['--kubeconfig', kubeconfig, ...args], opts);
}

async function startKind(): Promise<E2eCluster> {
  const name = process.env.KIND_CLUSTER ?? 'ringmaster-e2e';
  const dir = mkdtempSync(join(tmpdir(), 'ringmaster-kind-'));
  const kubeconfigPath = join(dir, 'kubeconfig');
  await run('kind', [
    'create',
    'cluster',
    '--name',
    name,
    '--config',
    join(KIND_DIR, 'cluster.yaml'),
    '--wait',
    '180s',
  ]);
  writeFileSync(kubeconfigPath, await run('kind', ['get', 'kubeconfig', '--name', name]));
  const kubectl = kubectlFor(kubeconfigPath);
  const images = await engineBuild('', false);
  await run('kind', ['load', 'docker-image', '--name', name, images.operator, images.trainer]);
  const minio = await inClusterMinio(kubeconfigPath);
  return {
    target: 'kind',
    kubeconfigPath,
    kubectl,
    images: { ...images, pullPolicy: 'Never' },
    s3: minio.s3,
    // The worker node is a container: containerd's own ctr runs inside it.
    killContainer: async (id) => {
      await run(ENGINE, [
        'exec',
        `${name}-worker`,
        'ctr',
        '-n',
        'k8s.io',
        'tasks',
        'kill',
        '--signal',
        'SIGKILL',
        id,
      ]);
    },
    trainerChecks: [],
    stop: async () => {
      minio.stop();
      if (!process.env.KEEP_CLUSTER) await run('kind', ['delete', 'cluster', '--name', name]);
      rmSync(dir, { recursive: true, force: true });
      return [];
    },
  };
}

async function startKubeconfig(choice: TargetChoice): Promise<E2eCluster> {
  const kubectl = kubectlFor(choice.kubeconfig!);
  const nodes = JSON.parse(await kubectl(['get', 'nodes', '-o', 'json'])) as {
    items: Array<{ status?: { allocatable?: Record<string, string> } }>;
  };
  const acc = chooseAccelerator(
    nodes.items.map((n) => n.status?.allocatable),
    2,
  );
  const images = await engineBuild(
    `${choice.registry!.replace(/\/$/, '')}/`,
    acc.accelerator === 'gpu',
  );
  for (const img of [images.operator, images.trainer, images.trainerGpu].filter(Boolean))
    await run(ENGINE, ['push', img!]);
  const minio = await inClusterMinio(choice.kubeconfig!);
  return {
    target: 'kubeconfig',
    kubeconfigPath: choice.kubeconfig!,
    kubectl,
    images,
    s3: minio.s3,
    trainerChecks: [],
    stop: async () => {
      minio.stop();
      await kubectl(['delete', 'namespace', MINIO_NS, '--wait=false']).catch(() => '');
      return [];
    },
  };
}

/** Start (or connect to) the chosen target, with images loaded and S3 ready. */
export async function startTarget(choice: TargetChoice = chooseTarget()): Promise<E2eCluster> {
  if (choice.name === 'local') return startLocal();
  if (choice.name === 'kind') return startKind();
  return startKubeconfig(choice);
}

/** Create a bucket through the test's endpoint. */
export async function createBucket(s3: S3Access, bucket: string): Promise<void> {
  const client = new S3Client({
    endpoint: s3.testEndpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: s3.credentials,
  });
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}

/** The tools a target needs on PATH, or why it cannot run here. */
export function targetUnavailable(choice: TargetChoice): string | undefined {
  const tools =
    choice.name === 'kind'
      ? [ENGINE, 'kind', 'kubectl']
      : choice.name === 'kubeconfig'
        ? [ENGINE, 'kubectl']
        : [];
  for (const t of tools) {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
    } catch {
      return `target ${choice.name} needs ${t} on PATH`;
    }
  }
  if (tools.includes(ENGINE)) {
    try {
      execFileSync(ENGINE, ['info'], { stdio: 'ignore', timeout: 20_000 });
    } catch {
      return `target ${choice.name}: '${ENGINE} info' fails (no daemon?)`;
    }
  }
  return undefined;
}
