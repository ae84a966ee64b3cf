// A one-machine Kubernetes cluster for tests: the control plane of harness/control-plane.ts
// (etcd + kube-apiserver, ServiceAccount admission on) plus kube-controller-manager and
// kube-scheduler (Deployments, ReplicaSets, garbage collection, ServiceAccounts, scheduling
// are real) and one real node (harness/node.ts: containerd + runc + bridge CNI + kubelet).
// stop() deletes every pod through the API while the kubelet still runs (so the CNI plugin
// tears its network down), then stops everything by PID and restores the host.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { freePort } from '../trainer/local/ports.js';
import { findKubeBinaries, startControlPlane, type ControlPlane } from './control-plane.js';
import { waitFor } from './kube.js';
import { startClusterDns, type ClusterDns } from './cluster-dns.js';
import {
  findNodePaths,
  hostIPv4,
  POD_SUBNET,
  startNode,
  type NodePaths,
  type RealNode,
} from './node.js';
import { failOnExit, startProcess, stopProcess, type Managed } from './processes.js';

export interface ClusterBinaries {
  kubeControllerManager: string;
  kubeScheduler: string;
  node: NodePaths;
}

/** Everything a real cluster needs, or why it cannot start here (for `this.skip()`). */
export function findClusterBinaries(
  env: NodeJS.ProcessEnv = process.env,
): { ok: true; bins: ClusterBinaries } | { ok: false; reason: string } {
  const kube = findKubeBinaries(env);
  if (!kube.ok) return kube;
  const node = findNodePaths(env);
  if (!node.ok) return node;
  // KUBEBUILDER_ASSETS first (when it holds them, they match its apiserver), then the cache
  // 32-node.sh fills (they match the cache's apiserver: mixing the two can break the skew
  // policy, which allows controllers one minor older than the apiserver, never newer).
  const cacheBin = join(env.RINGMASTER_CACHE ?? join(homedir(), '.cache', 'ringmaster'), 'bin');
  const pick = (b: string): string => {
    const fromAssets = env.KUBEBUILDER_ASSETS ? join(env.KUBEBUILDER_ASSETS, b) : undefined;
    return fromAssets && existsSync(fromAssets) ? fromAssets : join(cacheBin, b);
  };
  const bins = {
    kubeControllerManager: pick('kube-controller-manager'),
    kubeScheduler: pick('kube-scheduler'),
    node: node.paths,
  };
  const missing = [bins.kubeControllerManager, bins.kubeScheduler].filter((p) => !existsSync(p));
  if (missing.length) {
    return { ok: false, reason: `missing ${missing.join(', ')}: run .ci/setup.d/32-node.sh` };
  }
  return { ok: true, bins };
}

export interface Cluster {
  controlPlane: ControlPlane;
  node: RealNode;
  kubeconfigPath: string;
  kubeConfig: k8s.KubeConfig;
  kubectl: ControlPlane['kubectl'];
  /** The cluster DNS (headless-Service pod names, Service names) pods resolve through. */
  dns: ClusterDns;
  dir: string;
  /** Stop everything; resolves with what could not be restored on the host (empty = clean). */
  stop(): Promise<string[]>;
}

export interface ClusterOptions {
  keepDir?: boolean;
  startTimeoutMs?: number;
}

/** ClusterIP of the `kubernetes` Service: the first address of the apiserver's service range. */
export const KUBERNETES_SERVICE_IP = '10.96.0.1';

/** iptables arguments that send pods' traffic for the `kubernetes` Service to the apiserver. */
export function kubernetesServiceRule(nodeIp: string, apiPort: number): string[] {
  return [
    '-t',
    'nat',
    '-A',
    'PREROUTING',
    '-s',
    POD_SUBNET,
    '-d',
    `${KUBERNETES_SERVICE_IP}/32`,
    '-p',
    'tcp',
    '--dport',
    '443',
    '-j',
    'DNAT',
    '--to-destination',
    `${nodeIp}:${apiPort}`,
  ];
}

/** A CA and the client certificate the apiserver presents to the kubelet (logs, exec). */
function kubeletClientCerts(dir: string): { ca: string; cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const f = (n: string) => join(dir, n);
  const ssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=ringmaster-test-kubelet-client-ca',
  ]);
  ssl([
    'req',
    ...ec,
    '-keyout',
    f('client.key'),
    '-out',
    f('client.csr'),
    '-subj',
    '/O=system:masters/CN=kube-apiserver-kubelet-client',
  ]);
  ssl([
    'x509',
    '-req',
    '-in',
    f('client.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('client.crt'),
    '-days',
    '2',
  ]);
  return { ca: f('ca.crt'), cert: f('client.crt'), key: f('client.key') };
}

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const found = findClusterBinaries();
  if (!found.ok) throw new Error(found.reason);
  const { bins } = found;
  const dir = mkdtempSync(join(tmpdir(), 'ringmaster-cluster-'));
  const startTimeoutMs = opts.startTimeoutMs ?? 120_000;
  const certs = kubeletClientCerts(join(dir, 'kubelet-client'));
  const processes: Managed[] = [];
  let controlPlane: ControlPlane | undefined;
  let node: RealNode | undefined;
  let dns: ClusterDns | undefined;

  const stop = async (): Promise<string[]> => {
    const problems: string[] = [];
    // Controllers first, so nothing recreates the pods deleted next.
    for (const p of [...processes].reverse()) await stopProcess(p);
    if (controlPlane && node) {
      try {
        // Pods go while the kubelet runs: it stops their containers and the CNI plugin
        // releases their addresses and veths.
        await controlPlane.kubectl([
          'delete',
          'pods',
          '--all',
          '--all-namespaces',
          '--grace-period=1',
          '--wait=true',
          '--timeout=60s',
        ]);
      } catch (err) {
        problems.push(`deleting pods: ${(err as Error).message}`);
      }
    }
    if (node) problems.push(...(await node.stop()));
    await dns?.stop();
    await controlPlane?.stop();
    if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
    return problems;
  };

  try {
    controlPlane = await startControlPlane({
      dir: join(dir, 'control-plane'),
      startTimeoutMs,
      serviceAccountAdmission: true,
      apiserverFlags: [
        '--kubelet-preferred-address-types=InternalIP',
        // Pods reach the API through the node IP (see kubernetesServiceRule); the test's
        // own clients keep using 127.0.0.1. Token auth and RBAC stay on.
        '--bind-address=0.0.0.0',
        `--kubelet-client-certificate=${certs.cert}`,
        `--kubelet-client-key=${certs.key}`,
      ],
    });
    const cp = controlPlane;
    const certFile = join(cp.dir, 'certs', 'apiserver.crt');
    const kcm = startProcess(
      'kube-controller-manager',
      bins.kubeControllerManager,
      [
        `--kubeconfig=${cp.kubeconfigPath}`,
        `--authentication-kubeconfig=${cp.kubeconfigPath}`,
        `--authorization-kubeconfig=${cp.kubeconfigPath}`,
        `--service-account-private-key-file=${join(cp.dir, 'sa.key')}`,
        `--root-ca-file=${certFile}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        `--secure-port=${await freePort()}`,
        '--v=1',
      ],
      join(dir, 'kube-controller-manager.log'),
    );
    processes.push(kcm);
    const scheduler = startProcess(
      'kube-scheduler',
      bins.kubeScheduler,
      [
        `--kubeconfig=${cp.kubeconfigPath}`,
        `--authentication-kubeconfig=${cp.kubeconfigPath}`,
        `--authorization-kubeconfig=${cp.kubeconfigPath}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        `--secure-port=${await freePort()}`,
        '--v=1',
      ],
      join(dir, 'kube-scheduler.log'),
    );
    processes.push(scheduler);
    // The controller-manager is up when the default namespace's ServiceAccount exists.
    const core = cp.kubeConfig.makeApiClient(k8s.CoreV1Api);
    await Promise.race([
      failOnExit(kcm),
      failOnExit(scheduler),
      waitFor(() => core.readNamespacedServiceAccount({ namespace: 'default', name: 'default' }), {
        timeoutMs: startTimeoutMs,
        what: 'kube-controller-manager (default ServiceAccount)',
      }),
    ]);
    // No CoreDNS: a small server answers the cluster names pods use, on the node IP.
    dns = await startClusterDns({ ip: hostIPv4(), kubeConfig: cp.kubeConfig });
    node = await startNode({
      clusterDns: dns.ip,
      dir: join(dir, 'node'),
      kubeconfigPath: cp.kubeconfigPath,
      kubeConfig: cp.kubeConfig,
      clientCaFile: certs.ca,
      paths: bins.node,
      startTimeoutMs,
    });
    // No kube-proxy: one DNAT rule stands in for it, for the `kubernetes` Service only
    // (pods' in-cluster config dials its ClusterIP). It goes with the node's iptables restore.
    execFileSync('iptables', kubernetesServiceRule(node.ip, Number(new URL(cp.server).port)));
    return {
      controlPlane: cp,
      node,
      kubeconfigPath: cp.kubeconfigPath,
      kubeConfig: cp.kubeConfig,
      kubectl: cp.kubectl,
      dns,
      dir,
      stop,
    };
  } catch (err) {
    const problems = await stop();
    if (problems.length)
      console.error(`cluster teardown after a failed start: ${problems.join('; ')}`);
    throw err;
  }
}
