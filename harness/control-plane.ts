// A real Kubernetes control plane for tests, the envtest way: etcd + kube-apiserver as
// child processes on loopback ports, RBAC on, an admin token in system:masters, and
// service-account signing so TokenRequest works (tests can act as the operator's own
// ServiceAccount and so exercise the chart's least-privilege RBAC for real).
//
// There is no kube-controller-manager and no scheduler: nothing garbage-collects owned
// objects, finalizes namespaces or creates default ServiceAccounts; pods are bound by
// test/support/node-agent.ts. Binaries come from KUBEBUILDER_ASSETS, envtest's
// TEST_ASSET_* variables, or $RINGMASTER_CACHE/bin (built by .ci/setup.d/30-kube.sh).
import { freePort } from '../trainer/local/ports.js';
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { waitFor } from './kube.js';
import { failOnExit, startProcess, stopProcess, type Managed } from './processes.js';

export interface KubeBinaries {
  etcd: string;
  kubeApiserver: string;
  kubectl: string;
}

const setupHint = 'run .ci/setup.d/30-kube.sh (or set KUBEBUILDER_ASSETS)';

/** Where the control-plane binaries are, or why they are not there (for `this.skip()`). */
export function findKubeBinaries(
  env: NodeJS.ProcessEnv = process.env,
): { ok: true; bins: KubeBinaries } | { ok: false; reason: string } {
  const cacheBin = join(env.RINGMASTER_CACHE ?? join(homedir(), '.cache', 'ringmaster'), 'bin');
  const dir = env.KUBEBUILDER_ASSETS ?? cacheBin;
  const bins: KubeBinaries = {
    etcd: env.TEST_ASSET_ETCD ?? join(dir, 'etcd'),
    kubeApiserver: env.TEST_ASSET_KUBE_APISERVER ?? join(dir, 'kube-apiserver'),
    kubectl: env.TEST_ASSET_KUBECTL ?? join(dir, 'kubectl'),
  };
  const missing = Object.values(bins).filter((p) => !existsSync(p));
  if (missing.length > 0) {
    return { ok: false, reason: `missing ${missing.join(', ')}: ${setupHint}` };
  }
  return { ok: true, bins };
}

export interface ControlPlaneOptions {
  /** Working dir for data, certs, logs and the kubeconfig; a fresh temp dir by default. */
  dir?: string;
  /** Keep `dir` after stop() (for debugging a failed test). */
  keepDir?: boolean;
  /** Give up waiting for /readyz after this long. */
  startTimeoutMs?: number;
  /**
   * Keep the ServiceAccount admission plugin on (pods get the namespace's default account
   * and a token volume). Only with a kube-controller-manager creating those accounts
   * (harness/cluster.ts); off by default for the controller-less control plane.
   */
  serviceAccountAdmission?: boolean;
  /** Extra kube-apiserver flags (`--flag=value`). */
  apiserverFlags?: string[];
  bins?: KubeBinaries;
}

export interface ControlPlane {
  /** https://127.0.0.1:<port> */
  server: string;
  /** A kubeconfig file with the admin identity (system:masters), for kubectl and helm. */
  kubeconfigPath: string;
  /** The same admin identity as a client-node KubeConfig. */
  kubeConfig: k8s.KubeConfig;
  dir: string;
  bins: KubeBinaries;
  /** Run kubectl against this control plane; resolves with its output, rejects on a non-zero exit. */
  kubectl(args: string[], opts?: { input?: string }): Promise<string>;
  /** Create (or update) the CRDs in these YAML files and wait until they are Established and served. */
  installCrds(paths: string[]): Promise<void>;
  /**
   * A KubeConfig acting as a ServiceAccount (token from the TokenRequest API), so tests run
   * with exactly the RBAC that account has. The ServiceAccount must exist.
   */
  serviceAccountKubeConfig(namespace: string, name: string): Promise<k8s.KubeConfig>;
  stop(): Promise<void>;
}

export { freePort };

async function httpOk(url: string, token?: string): Promise<boolean> {
  try {
    const res = await fetch(url, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(2000),
    });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  let bins = opts.bins;
  if (!bins) {
    const found = findKubeBinaries();
    if (!found.ok) throw new Error(found.reason);
    bins = found.bins;
  }
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'ringmaster-kube-'));
  mkdirSync(dir, { recursive: true });
  const startTimeoutMs = opts.startTimeoutMs ?? 90_000;
  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];

  const etcd = startProcess(
    'etcd',
    bins.etcd,
    [
      '--name=default',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      // Test data is thrown away: durability only costs time.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    join(dir, 'etcd.log'),
  );
  const processes: Managed[] = [etcd];
  const stopAll = async (): Promise<void> => {
    for (const p of [...processes].reverse()) await stopProcess(p);
  };

  try {
    await Promise.race([
      failOnExit(etcd),
      waitFor(() => httpOk(`http://127.0.0.1:${etcdClient}/health`), {
        timeoutMs: startTimeoutMs,
        what: 'etcd /health',
      }),
    ]);

    const token = randomBytes(24).toString('hex');
    writeFileSync(join(dir, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n`, {
      mode: 0o600,
    });
    const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    writeFileSync(join(dir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
    const certDir = join(dir, 'certs');

    const apiserver = startProcess(
      'kube-apiserver',
      bins.kubeApiserver,
      [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        `--cert-dir=${certDir}`,
        `--secure-port=${apiPort}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        '--service-cluster-ip-range=10.96.0.0/16',
        '--authorization-mode=RBAC',
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        '--allow-privileged=true',
        // Without a controller-manager nobody creates the "default" ServiceAccount, and this
        // admission plugin would then refuse every pod.
        ...(opts.serviceAccountAdmission ? [] : ['--disable-admission-plugins=ServiceAccount']),
        '--v=1',
        ...(opts.apiserverFlags ?? []),
      ],
      join(dir, 'kube-apiserver.log'),
    );
    processes.push(apiserver);
    const server = `https://127.0.0.1:${apiPort}`;

    // The apiserver writes its self-signed serving cert (plus the CA that signed it) before
    // it listens; trust exactly that bundle rather than skipping TLS verification.
    const certFile = join(certDir, 'apiserver.crt');
    await Promise.race([
      failOnExit(apiserver),
      waitFor(() => existsSync(certFile), { timeoutMs: startTimeoutMs, what: 'apiserver cert' }),
    ]);
    const caData = readFileSync(certFile).toString('base64');
    const kubeconfigPath = join(dir, 'kubeconfig');
    const kcYaml = kubeconfigYaml(server, caData, { token });
    writeFileSync(kubeconfigPath, kcYaml, { mode: 0o600 });
    const kubeConfig = new k8s.KubeConfig();
    kubeConfig.loadFromString(kcYaml);

    // /readyz turns ok only once the bootstrap controllers (RBAC roles, priority classes,
    // the default namespace) are in place; /healthz can be ok before that.
    await Promise.race([
      failOnExit(apiserver),
      waitFor(() => readyz(kubeConfig), {
        timeoutMs: startTimeoutMs,
        what: 'kube-apiserver /readyz',
      }),
    ]);

    const theBins = bins;
    const cp: ControlPlane = {
      server,
      kubeconfigPath,
      kubeConfig,
      dir,
      bins: theBins,
      kubectl: (args, o) => runKubectl(theBins.kubectl, kubeconfigPath, args, o?.input),
      installCrds: (paths) => installCrds(kubeConfig, paths),
      serviceAccountKubeConfig: async (namespace, name) => {
        const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
        const tr = await core.createNamespacedServiceAccountToken({
          namespace,
          name,
          body: { spec: { audiences: [], expirationSeconds: 3600 } },
        });
        const saToken = tr.status?.token;
        if (!saToken) throw new Error(`no token issued for ${namespace}/${name}`);
        const kc = new k8s.KubeConfig();
        kc.loadFromString(kubeconfigYaml(server, caData, { token: saToken }));
        return kc;
      },
      stop: async () => {
        await stopAll();
        if (!opts.keepDir && !opts.dir) rmSync(dir, { recursive: true, force: true });
      },
    };
    return cp;
  } catch (err) {
    await stopAll();
    if (!opts.keepDir && !opts.dir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function kubeconfigYaml(server: string, caData: string, user: { token: string }): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: test',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${caData}`,
    'users:',
    '- name: test',
    '  user:',
    `    token: ${user.token}`,
    'contexts:',
    '- name: test',
    '  context: {cluster: test, user: test}',
    'current-context: test',
    '',
  ].join('\n');
}

async function readyz(kc: k8s.KubeConfig): Promise<boolean> {
  try {
    const health = new k8s.Health(kc);
    return await health.readyz({});
  } catch {
    return false;
  }
}

function runKubectl(
  bin: string,
  kubeconfig: string,
  args: string[],
  input?: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [`--kubeconfig=${kubeconfig}`, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else
        reject(new Error(`kubectl ${args.join(' ')} exited ${code}: ${err.trim() || out.trim()}`));
    });
    child.stdin.end(input ?? '');
  });
}

/** Create or replace CRDs from YAML files and wait until each is Established and listable. */
export async function installCrds(kc: k8s.KubeConfig, paths: string[]): Promise<void> {
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  const crds: k8s.V1CustomResourceDefinition[] = [];
  for (const path of paths) {
    // Deserialize into client-node's models: its serializer drops raw JSON keys that its
    // models rename (`default`, `enum`, `x-kubernetes-validations`, …), which would
    // silently strip defaults, enums and CEL rules from the CRD.
    for (const obj of k8s.loadAllYaml(
      readFileSync(path, 'utf8'),
    ) as Array<k8s.V1CustomResourceDefinition | null>) {
      if (obj?.kind === 'CustomResourceDefinition') crds.push(obj);
    }
  }
  for (const crd of crds) {
    const name = crd.metadata?.name ?? '';
    try {
      await ext.createCustomResourceDefinition({ body: crd });
    } catch (err) {
      if (statusCode(err) !== 409) throw err;
      const current = await ext.readCustomResourceDefinition({ name });
      crd.metadata = { ...crd.metadata, resourceVersion: current.metadata?.resourceVersion };
      await ext.replaceCustomResourceDefinition({ name, body: crd });
    }
  }
  for (const crd of crds) {
    const name = crd.metadata?.name ?? '';
    await waitFor(
      async () => {
        const c = await ext.readCustomResourceDefinition({ name });
        return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
      },
      { timeoutMs: 30_000, what: `CRD ${name} Established` },
    );
    // Established can precede the discovery/handler update by a moment.
    const version = crd.spec.versions.find((v) => v.served)?.name ?? crd.spec.versions[0]!.name;
    await waitFor(
      async () => {
        try {
          await objects.listClusterCustomObject({
            group: crd.spec.group,
            version,
            plural: crd.spec.names.plural,
          });
          return true;
        } catch {
          return false;
        }
      },
      { timeoutMs: 30_000, what: `CRD ${name} served` },
    );
  }
}

/** HTTP status of a client-node error (1.x throws ApiException with `code`). */
export function statusCode(err: unknown): number | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'number') {
    return err.code;
  }
  return undefined;
}
