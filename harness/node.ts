// One real Kubernetes node for tests: containerd (Debian's 1.6, runc, CRI) and a kubelet
// (v1.31, built by .ci/setup.d/32-node.sh) with a bridge CNI network, all state under one
// directory. Images come from OCI archives (.ci/setup.d/34-node-images.sh) imported with
// `ctr image import`: there is no registry, so pods must use imagePullPolicy Never or
// IfNotPresent. The host is recorded before the start and restored after the stop
// (harness/host-state.ts); every process is stopped by PID.
//
// Needs root (containerd, runc and the kubelet do), a cgroup v1 or hybrid host, and the
// kubelet's port reachable from the apiserver on the node IP (the apiserver must run with
// --kubelet-preferred-address-types=InternalIP and a kubelet client certificate whose CA is
// `clientCaFile`).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { freePort } from '../trainer/local/ports.js';
import { restoreHost, snapshotHost, type HostSnapshot } from './host-state.js';
import { waitFor } from './kube.js';
import { killGroup } from './process-groups.js';
import { failOnExit, logTail, startProcess, stopProcess, type Managed } from './processes.js';

/** The CRI sandbox image; 34-node-images.sh builds a static pause binary under this name. */
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';
/** Debian bookworm minbase + Node 20, from 34-node-images.sh. */
export const BASE_IMAGE = 'ringmaster.local/base:bookworm-node20';
/** Pod network of the bridge CNI (one node: one host-local range). */
export const POD_SUBNET = '10.244.0.0/24';
/** Our own bridge, so a teardown never touches another cni0. */
export const BRIDGE_NAME = 'rmcni0';

export interface NodePaths {
  kubelet: string;
  containerd: string;
  ctr: string;
  cniBinDir: string;
  /** OCI archives to import into containerd's k8s.io namespace. */
  images: string[];
}

const setupHint = 'run .ci/setup.d/32-node.sh and .ci/setup.d/34-node-images.sh as root';

/** Where the node's binaries and images are, or why it cannot run here (for `this.skip()`). */
export function findNodePaths(
  env: NodeJS.ProcessEnv = process.env,
): { ok: true; paths: NodePaths } | { ok: false; reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'a real node needs root' };
  const cache = env.RINGMASTER_CACHE ?? join(homedir(), '.cache', 'ringmaster');
  const paths: NodePaths = {
    kubelet: join(cache, 'bin', 'kubelet'),
    containerd: '/usr/bin/containerd',
    ctr: '/usr/bin/ctr',
    cniBinDir: '/usr/lib/cni',
    images: [join(cache, 'images', 'pause.oci.tar'), join(cache, 'images', 'base.oci.tar')],
  };
  const needed = [
    paths.kubelet,
    paths.containerd,
    paths.ctr,
    '/usr/bin/runc',
    ...['bridge', 'host-local', 'loopback'].map((p) => join(paths.cniBinDir, p)),
    ...paths.images,
  ];
  const missing = needed.filter((p) => !existsSync(p));
  if (missing.length) return { ok: false, reason: `missing ${missing.join(', ')}: ${setupHint}` };
  return { ok: true, paths };
}

/** The first non-loopback IPv4 address: the node's InternalIP (a loopback one is refused). */
export function hostIPv4(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('no non-loopback IPv4 address: the kubelet needs one as its node IP');
}

export interface NodeOptions {
  dir: string;
  /** kubeconfig the kubelet uses (it needs node and SubjectAccessReview rights). */
  kubeconfigPath: string;
  kubeConfig: k8s.KubeConfig;
  /** CA of the client certificate the apiserver presents to the kubelet (logs, exec). */
  clientCaFile: string;
  paths: NodePaths;
  nodeName?: string;
  startTimeoutMs?: number;
  /** The cluster DNS server pods are pointed at (kubelet clusterDNS), if any. */
  clusterDns?: string;
}

export interface RealNode {
  name: string;
  ip: string;
  /** Run `ctr` against this node's containerd (namespace k8s.io). */
  ctr(args: string[]): string;
  /** Stop kubelet and containerd, remove what they left, restore the host. */
  stop(): Promise<string[]>;
}

function containerdConfig(dir: string, cniBinDir: string): string {
  return `version = 2
root = "${dir}/containerd/root"
state = "${dir}/containerd/state"
# /opt/containerd is a host path this test node does not need.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.grpc.v1.cri.snapshotters.aufs"]
[grpc]
  address = "${dir}/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # The host's root lacks CAP_SYS_RESOURCE: containers may not lower oom_score_adj below ours.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${cniBinDir}"
    conf_dir = "${dir}/cni"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/bin/runc"
        Root = "${dir}/runc"
        SystemdCgroup = false
`;
}

function cniConfig(dir: string): string {
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: 'ringmaster-test',
      plugins: [
        {
          type: 'bridge',
          bridge: BRIDGE_NAME,
          isGateway: true,
          // Pods reach the host (MinIO, the node IP) through the gateway; no NAT to the world.
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: join(dir, 'cni-ipam'),
            ranges: [[{ subnet: POD_SUBNET }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
      ],
    },
    null,
    2,
  );
}

function kubeletConfig(o: {
  ip: string;
  port: number;
  healthzPort: number;
  clientCaFile: string;
  dir: string;
  clusterDns?: string | undefined;
}): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${o.ip}
port: ${o.port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${o.healthzPort}
cgroupDriver: cgroupfs
failSwapOn: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${o.clientCaFile}}
authorization: {mode: Webhook}
clusterDomain: cluster.local
${o.clusterDns ? `clusterDNS: [${o.clusterDns}]\n` : ''}resolvConf: /etc/resolv.conf
volumePluginDir: ${o.dir}/kubelet-plugins
podLogsDir: ${o.dir}/pod-logs
# No registry: an image the kubelet garbage-collects cannot come back.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
serializeImagePulls: false
`;
}

/** Mount points at or under `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p && (p === dir || p.startsWith(dir + '/')))
    .map((p) => p.replace(/\\040/g, ' '));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** PIDs of containerd shims serving this node's socket (their own process groups). */
function shimPids(socket: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.endsWith('containerd-shim-runc-v2') && cmd.includes(socket)) pids.push(+e);
    } catch {
      // gone
    }
  }
  return pids;
}

export async function startNode(opts: NodeOptions): Promise<RealNode> {
  const { dir, paths } = opts;
  const name = opts.nodeName ?? 'ringmaster-node';
  const startTimeoutMs = opts.startTimeoutMs ?? 120_000;
  const ip = hostIPv4();
  const before: HostSnapshot = snapshotHost();
  for (const d of ['cni', 'kubelet', 'pod-logs', 'kubelet-plugins']) {
    mkdirSync(join(dir, d), { recursive: true });
  }
  const socket = join(dir, 'containerd.sock');
  writeFileSync(join(dir, 'containerd.toml'), containerdConfig(dir, paths.cniBinDir));
  writeFileSync(join(dir, 'cni', '10-ringmaster.conflist'), cniConfig(dir));
  const ctr = (args: string[]): string =>
    execFileSync(paths.ctr, ['--address', socket, '--namespace', 'k8s.io', ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  const processes: Managed[] = [];
  let stopped = false;
  const stop = async (): Promise<string[]> => {
    if (stopped) return [];
    stopped = true;
    const problems: string[] = [];
    const kubelet = processes.find((p) => p.name === 'kubelet');
    if (kubelet) await stopProcess(kubelet, 10_000);
    // Containers the kubelet left: kill and delete their tasks, then the containers.
    if (processes.some((p) => p.name === 'containerd' && p.child.exitCode === null)) {
      try {
        for (const id of ctr(['tasks', 'ls', '-q']).split('\n').filter(Boolean)) {
          try {
            ctr(['tasks', 'kill', '-s', 'SIGKILL', id]);
          } catch {
            // already stopped
          }
        }
        await new Promise((r) => setTimeout(r, 500));
        for (const id of ctr(['tasks', 'ls', '-q']).split('\n').filter(Boolean)) {
          try {
            ctr(['tasks', 'delete', '-f', id]);
          } catch (err) {
            problems.push(`task ${id}: ${(err as Error).message}`);
          }
        }
      } catch (err) {
        problems.push(`ctr: ${(err as Error).message}`);
      }
    }
    const containerd = processes.find((p) => p.name === 'containerd');
    if (containerd) await stopProcess(containerd, 10_000);
    for (const pid of shimPids(socket)) {
      killGroup(pid, 'SIGKILL');
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const m of mountsUnder(dir)) {
      try {
        execFileSync('umount', [m], { stdio: 'ignore' });
      } catch {
        try {
          execFileSync('umount', ['-l', m], { stdio: 'ignore' });
        } catch (err) {
          problems.push(`umount ${m}: ${(err as Error).message}`);
        }
      }
    }
    problems.push(...restoreHost(before));
    return problems;
  };

  try {
    const containerd = startProcess(
      'containerd',
      paths.containerd,
      ['--config', join(dir, 'containerd.toml'), '--log-level', 'warn'],
      join(dir, 'containerd.log'),
    );
    processes.push(containerd);
    await Promise.race([
      failOnExit(containerd),
      waitFor(
        () => {
          ctr(['version']);
          return true;
        },
        { timeoutMs: 30_000, intervalMs: 200, what: 'containerd socket' },
      ),
    ]);
    for (const image of paths.images) ctr(['images', 'import', image]);

    const [port, healthzPort] = [await freePort(), await freePort()];
    writeFileSync(
      join(dir, 'kubelet.yaml'),
      kubeletConfig({
        ip,
        port,
        healthzPort,
        clientCaFile: opts.clientCaFile,
        dir,
        clusterDns: opts.clusterDns,
      }),
    );
    const kubelet = startProcess(
      'kubelet',
      paths.kubelet,
      [
        `--config=${join(dir, 'kubelet.yaml')}`,
        `--kubeconfig=${opts.kubeconfigPath}`,
        `--container-runtime-endpoint=unix://${socket}`,
        `--root-dir=${join(dir, 'kubelet')}`,
        `--hostname-override=${name}`,
        `--node-ip=${ip}`,
        '--v=1',
      ],
      join(dir, 'kubelet.log'),
    );
    processes.push(kubelet);
    const core = opts.kubeConfig.makeApiClient(k8s.CoreV1Api);
    await Promise.race([
      failOnExit(kubelet),
      waitFor(
        async () => {
          const node = await core.readNode({ name });
          return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        },
        { timeoutMs: startTimeoutMs, intervalMs: 500, what: `node ${name} Ready` },
      ),
    ]).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\nkubelet log:\n${logTail(kubelet.logPath)}`);
    });
    return { name, ip, ctr, stop };
  } catch (err) {
    const problems = await stop();
    if (problems.length)
      console.error(`node teardown after a failed start: ${problems.join('; ')}`);
    throw err;
  }
}
