// A local kubelet stand-in for e2e tests: it registers a Node (with nvidia.com/gpu capacity),
// binds pending pods to it (there is no scheduler in the test control plane), runs every
// container's command as a local process with the pod's env, and writes pod status back
// (Pending → Running → Succeeded/Failed, exit codes in containerStatuses) like a kubelet.
//
// How a pod maps onto this machine (see docs/deploy.md, "Local node agent"):
// - Pod IP: each pod gets its own loopback address 127.0.0.<n> (status.podIP). Processes
//   also get POD_IP and RINGMASTER_BIND_HOST, because two pods binding 0.0.0.0:<port> on
//   one host would collide where in a cluster they would not.
// - DNS: there is none. A pod's stable name `<hostname>.<subdomain>.<ns>.svc[.cluster.local]`
//   appearing in an env value or argument is rewritten to that pod's IP. A pod whose env
//   names a pod that is not running yet waits in ContainerCreating, as a real worker would
//   retry DNS.
// - Volumes: configMap, secret, emptyDir and downwardAPI volumes become directories under
//   the agent's work dir. Paths under a container's volumeMounts (in env values, args and
//   workingDir) are rewritten to those directories.
// - Images: a container image is not run. `commandMap` turns the container into a local
//   command (e.g. `ringmaster worker` → `node <repo>/bin/ringmaster.js worker`).
// - Not emulated: probes, init containers, resource limits, `kubectl logs` (read the log
//   files with `agent.logs()`), image pulls, cgroups.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { killGroup, trackGroup, untrackGroup } from '../../harness/process-groups.js';
import { TERMINATION_LOG_PATH } from '../../api/names.js';

export interface LocalCommand {
  command: string;
  args: string[];
  /** Extra env for this process only (after the pod's env). */
  env?: Record<string, string>;
}

/** What a command map knows about the pod being started. */
export interface CommandContext {
  /** The pod's loopback address (its status.podIP). */
  podIP: string;
  /** The container's env as resolved (pod env, mapped paths and hosts). */
  env: Readonly<Record<string, string>>;
}

/** Turn a container into a local process; throw to report CreateContainerError. */
export type CommandMap = (
  container: k8s.V1Container,
  pod: k8s.V1Pod,
  ctx: CommandContext,
) => LocalCommand;

export interface NodeAgentOptions {
  kubeConfig: k8s.KubeConfig;
  nodeName?: string;
  /** nvidia.com/gpu capacity; pods asking for more than is free stay Pending (Unschedulable). */
  gpus?: number;
  cpu?: string;
  memory?: string;
  maxPods?: number;
  labels?: Record<string, string>;
  /** Default: the container's command + args, run as they are. */
  commandMap?: CommandMap;
  /** Env given to every process before the pod's own (PATH and HOME are set anyway). */
  baseEnv?: Record<string, string>;
  /** Volumes, scratch dirs and logs; a fresh temp dir by default (removed by stop()). */
  workDir?: string;
  /** How often pods are listed (ms). */
  syncIntervalMs?: number;
  /** How often the node's Ready condition and Lease are renewed (ms). */
  heartbeatMs?: number;
}

/** Default map: run `command` + `args` literally. */
export const literalCommand: CommandMap = (c) => {
  const argv = [...(c.command ?? []), ...(c.args ?? [])];
  if (argv.length === 0) {
    throw new Error(`container ${c.name} has no command and the image entrypoint is unknown here`);
  }
  return { command: argv[0]!, args: argv.slice(1) };
};

/**
 * Map the Ringmaster image's entrypoint (`ringmaster …`, or no command at all) onto this
 * checkout: `node <repoRoot>/bin/ringmaster.js …`. Other commands run as they are.
 * A worker's listener defaults to 0.0.0.0:<port>, which two pods on one host cannot share:
 * unless the pod sets RINGMASTER_LISTEN, it is pinned to the pod's own address.
 */
export function ringmasterCommandMap(repoRoot: string): CommandMap {
  return (c, pod, ctx) => {
    const argv = [...(c.command ?? []), ...(c.args ?? [])];
    if (c.command === undefined || c.command.length === 0) argv.unshift('ringmaster');
    if (argv[0] === 'ringmaster' || argv[0]?.endsWith('/ringmaster')) {
      const ringPort =
        ctx.env.RINGMASTER_PORT ??
        String(c.ports?.find((p) => p.name === 'ring')?.containerPort ?? 29500);
      return {
        command: process.execPath,
        args: [join(repoRoot, 'bin', 'ringmaster.js'), ...argv.slice(1)],
        env: ctx.env.RINGMASTER_LISTEN ? {} : { RINGMASTER_LISTEN: `${ctx.podIP}:${ringPort}` },
      };
    }
    return literalCommand(c, pod, ctx);
  };
}

/** Loopback addresses in use by any agent of this process (several agents = several nodes). */
const usedIps = new Set<string>();
function allocateIp(): string {
  for (let n = 10; n < 250 * 250; n++) {
    const ip = `127.0.${Math.floor(n / 250)}.${(n % 250) + 2}`;
    if (!usedIps.has(ip)) {
      usedIps.add(ip);
      return ip;
    }
  }
  throw new Error('no free loopback address');
}

interface LaunchPlan {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

interface ContainerRun {
  name: string;
  image: string;
  plan?: LaunchPlan;
  child?: ChildProcess;
  exited?: Promise<void>;
  startedAt?: Date;
  restartCount: number;
  state: k8s.V1ContainerState;
  lastState?: k8s.V1ContainerState;
}

interface PodRun {
  uid: string;
  namespace: string;
  name: string;
  pod: k8s.V1Pod;
  ip?: string;
  dir: string;
  containers: ContainerRun[];
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  startTime: Date;
  /** Set once processes were started; env is resolved once, as a kubelet does. */
  started: boolean;
  terminating: boolean;
  /** The final DELETE (grace 0) was accepted; a finalizer may still hold the pod. */
  deletionConfirmed?: boolean;
  /** Last status written, to skip identical writes. */
  lastStatus?: string;
  waitingReason?: string;
  waitingMessage?: string;
}

const signalNumbers: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGKILL: 9,
  SIGTERM: 15,
  SIGQUIT: 3,
  SIGABRT: 6,
};

export class NodeAgent {
  readonly nodeName: string;
  readonly workDir: string;
  private readonly kc: k8s.KubeConfig;
  private readonly core: k8s.CoreV1Api;
  private readonly coord: k8s.CoordinationV1Api;
  private readonly opts: Required<
    Pick<NodeAgentOptions, 'gpus' | 'syncIntervalMs' | 'heartbeatMs'>
  > &
    NodeAgentOptions;
  private readonly commandMap: CommandMap;
  private readonly pods = new Map<string, PodRun>();
  /** Pods deleted from the API, kept so tests can still read their logs. */
  private readonly gone: PodRun[] = [];
  private syncTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private syncing?: Promise<void>;
  private lost = false;
  private stopped = false;
  private readonly ownsWorkDir: boolean;
  /** Errors of the sync loop, kept for tests to inspect (the loop itself never throws). */
  readonly errors: string[] = [];

  private constructor(opts: NodeAgentOptions) {
    this.kc = opts.kubeConfig;
    this.core = this.kc.makeApiClient(k8s.CoreV1Api);
    this.coord = this.kc.makeApiClient(k8s.CoordinationV1Api);
    this.nodeName = opts.nodeName ?? 'ringmaster-test-node';
    this.opts = { gpus: 8, syncIntervalMs: 200, heartbeatMs: 5000, ...opts };
    this.commandMap = opts.commandMap ?? literalCommand;
    this.ownsWorkDir = !opts.workDir;
    this.workDir = opts.workDir ?? mkdtempSync(join(tmpdir(), `ringmaster-node-${this.nodeName}-`));
  }

  /** Register the Node, then start binding and running pods. */
  static async start(opts: NodeAgentOptions): Promise<NodeAgent> {
    const agent = new NodeAgent(opts);
    await agent.register();
    agent.heartbeatTimer = setInterval(() => void agent.heartbeat(), agent.opts.heartbeatMs);
    agent.scheduleSync(0);
    return agent;
  }

  /** The loopback address of a running pod (its status.podIP). */
  podIP(namespace: string, name: string): string | undefined {
    return this.find(namespace, name)?.ip;
  }

  /** Combined stdout+stderr of a pod's container (the first container by default). */
  logs(namespace: string, name: string, container?: string): string {
    const run = this.find(namespace, name);
    if (!run) throw new Error(`pod ${namespace}/${name} never ran on ${this.nodeName}`);
    const c = container ?? run.containers[0]?.name ?? '';
    try {
      return readFileSync(join(run.dir, `${c}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  /**
   * Send a signal to every process of a pod (a crash, an OOM kill…) and resolve once they
   * exited and the pod's status says so. SIGKILL ends with exit code 137, as in a cluster.
   */
  async killPod(
    namespace: string,
    name: string,
    signal: NodeJS.Signals = 'SIGKILL',
  ): Promise<void> {
    const run = this.find(namespace, name);
    if (!run) throw new Error(`pod ${namespace}/${name} is not running on ${this.nodeName}`);
    const exits: Promise<void>[] = [];
    for (const c of run.containers) {
      if (c.child?.pid !== undefined && c.exited) {
        killGroup(c.child.pid, signal);
        exits.push(c.exited);
      }
    }
    await Promise.all(exits);
    await this.sync();
  }

  /**
   * The node dies: heartbeats stop, the Node turns Ready=Unknown with the unreachable taints
   * (what the node-lifecycle controller would write after its grace period), its pods'
   * Ready condition turns False, and from then on this agent writes nothing: processes are
   * killed (`killProcesses`, default) and deletions of its pods are never confirmed, so they
   * stay Terminating until someone force-deletes them — as on a real dead node.
   */
  async markNodeLost(opts: { killProcesses?: boolean } = {}): Promise<void> {
    this.lost = true;
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.syncTimer);
    await this.syncing;
    if (opts.killProcesses ?? true) {
      for (const run of this.pods.values()) void Promise.all(this.killProcesses(run, 'SIGKILL'));
    }
    const now = new Date();
    await this.core.patchNodeStatus(
      {
        name: this.nodeName,
        body: {
          status: {
            conditions: [
              {
                type: 'Ready',
                status: 'Unknown',
                reason: 'NodeStatusUnknown',
                message: 'Kubelet stopped posting node status.',
                lastHeartbeatTime: now,
                lastTransitionTime: now,
              },
            ],
          },
        },
      },
      mergePatch,
    );
    await this.core.patchNode(
      {
        name: this.nodeName,
        body: {
          spec: {
            taints: [
              { key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule', timeAdded: now },
              { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: now },
            ],
          },
        },
      },
      mergePatch,
    );
    for (const run of this.pods.values()) {
      if (run.phase !== 'Running' && run.phase !== 'Pending') continue;
      try {
        const status = this.statusOf(run);
        status.conditions = status.conditions?.map((c) =>
          c.type === 'Ready' || c.type === 'ContainersReady'
            ? { ...c, status: 'False', lastTransitionTime: now }
            : c,
        );
        await this.core.patchNamespacedPodStatus(
          {
            namespace: run.namespace,
            name: run.name,
            body: { status: { conditions: status.conditions } },
          },
          mergePatch,
        );
      } catch {
        // pod already gone
      }
    }
  }

  /** Kill every process, stop the loops, delete the Node (unless lost) and the work dir. */
  async stop(opts: { deleteNode?: boolean } = {}): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.syncTimer);
    await this.syncing;
    const exits: Promise<void>[] = [];
    for (const run of this.pods.values()) {
      exits.push(...this.killProcesses(run, 'SIGKILL'));
      if (run.ip) usedIps.delete(run.ip);
    }
    await Promise.all(exits);
    if ((opts.deleteNode ?? true) && !this.lost) {
      try {
        await this.core.deleteNode({ name: this.nodeName });
      } catch {
        // control plane may already be down
      }
    }
    if (this.ownsWorkDir) rmSync(this.workDir, { recursive: true, force: true });
  }

  /** Run one sync now (tests can await it instead of sleeping). */
  async sync(): Promise<void> {
    if (this.syncing) {
      await this.syncing;
      return;
    }
    this.syncing = this.syncOnce().finally(() => (this.syncing = undefined));
    await this.syncing;
  }

  // ---- node ----

  private nodeStatus(now: Date): k8s.V1NodeStatus {
    const capacity = {
      cpu: this.opts.cpu ?? '16',
      memory: this.opts.memory ?? '64Gi',
      pods: String(this.opts.maxPods ?? 110),
      'nvidia.com/gpu': String(this.opts.gpus),
    };
    return {
      capacity,
      allocatable: capacity,
      addresses: [
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: this.nodeName },
      ],
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'ringmaster test node agent is posting ready status',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
      nodeInfo: {
        architecture: process.arch,
        bootID: '',
        containerRuntimeVersion: 'local://ringmaster-node-agent',
        kernelVersion: '',
        kubeProxyVersion: '',
        kubeletVersion: 'v0.0.0-ringmaster-node-agent',
        machineID: '',
        operatingSystem: 'linux',
        osImage: 'local processes',
        systemUUID: '',
      },
    };
  }

  private async register(): Promise<void> {
    const now = new Date();
    const labels = {
      'kubernetes.io/hostname': this.nodeName,
      'kubernetes.io/os': 'linux',
      ...this.opts.labels,
    };
    try {
      await this.core.createNode({ body: { metadata: { name: this.nodeName, labels } } });
    } catch (err) {
      if (code(err) !== 409) throw err;
      await this.core.patchNode(
        { name: this.nodeName, body: { metadata: { labels }, spec: { taints: null } } },
        mergePatch,
      );
    }
    await this.core.patchNodeStatus(
      { name: this.nodeName, body: { status: this.nodeStatus(now) } },
      mergePatch,
    );
    try {
      await this.coord.createNamespacedLease({
        namespace: 'kube-node-lease',
        body: {
          metadata: { name: this.nodeName },
          spec: {
            holderIdentity: this.nodeName,
            leaseDurationSeconds: 40,
            renewTime: toMicro(now),
          },
        },
      });
    } catch (err) {
      // The Ready condition is what tests and the operator read; the Lease is a courtesy.
      if (code(err) !== 409) this.note(`lease: ${message(err)}`);
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.lost || this.stopped) return;
    const now = new Date();
    try {
      await this.core.patchNodeStatus(
        { name: this.nodeName, body: { status: { conditions: this.nodeStatus(now).conditions } } },
        mergePatch,
      );
      await this.coord.patchNamespacedLease(
        {
          namespace: 'kube-node-lease',
          name: this.nodeName,
          body: { spec: { renewTime: toMicro(now) } },
        },
        mergePatch,
      );
    } catch (err) {
      this.note(`heartbeat: ${message(err)}`);
    }
  }

  // ---- pods ----

  private scheduleSync(delay: number): void {
    if (this.lost || this.stopped) return;
    this.syncTimer = setTimeout(() => {
      void this.sync().finally(() => this.scheduleSync(this.opts.syncIntervalMs));
    }, delay);
  }

  private note(msg: string): void {
    if (this.errors.length > 200) this.errors.shift();
    this.errors.push(msg);
  }

  private find(namespace: string, name: string): PodRun | undefined {
    let found: PodRun | undefined;
    // The newest incarnation wins: the operator recreates pods under the same name.
    for (const run of [...this.gone, ...this.pods.values()]) {
      if (run.namespace === namespace && run.name === name) found = run;
    }
    return found;
  }

  private async syncOnce(): Promise<void> {
    if (this.lost || this.stopped) return;
    try {
      const [pending, mine] = await Promise.all([
        this.core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=' }),
        this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${this.nodeName}` }),
      ]);
      await this.bindPending(pending.items, mine.items);
      const seen = new Set<string>();
      for (const pod of mine.items) {
        const uid = pod.metadata?.uid ?? '';
        seen.add(uid);
        await this.syncPod(pod);
      }
      // Pods deleted outright (grace 0 / force): their processes must die too.
      for (const [uid, run] of this.pods) {
        if (!seen.has(uid) && !run.terminating) {
          run.terminating = true;
          void Promise.all(this.killProcesses(run, 'SIGKILL'));
        }
        if (!seen.has(uid) && this.allExited(run)) {
          if (run.ip) usedIps.delete(run.ip);
          this.pods.delete(uid);
          this.gone.push(run);
          if (this.gone.length > 1000) this.gone.shift();
        }
      }
    } catch (err) {
      this.note(`sync: ${message(err)}`);
    }
  }

  private gpusOf(pod: k8s.V1Pod): number {
    let n = 0;
    for (const c of pod.spec?.containers ?? []) {
      const q =
        c.resources?.limits?.['nvidia.com/gpu'] ?? c.resources?.requests?.['nvidia.com/gpu'];
      if (q !== undefined) n += Number(q);
    }
    return n;
  }

  private async bindPending(pending: k8s.V1Pod[], mine: k8s.V1Pod[]): Promise<void> {
    const labels: Record<string, string> = {
      'kubernetes.io/hostname': this.nodeName,
      'kubernetes.io/os': 'linux',
      ...this.opts.labels,
    };
    let gpusUsed = mine
      .filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
      .reduce((s, p) => s + this.gpusOf(p), 0);
    // Oldest first, like a FIFO scheduler queue.
    const queue = pending
      .filter((p) => !p.metadata?.deletionTimestamp && !p.spec?.nodeName)
      .sort((a, b) => time(a.metadata?.creationTimestamp) - time(b.metadata?.creationTimestamp));
    for (const pod of queue) {
      const ns = pod.metadata?.namespace ?? 'default';
      const name = pod.metadata?.name ?? '';
      // As kube-scheduler: a pod with scheduling gates (Kueue's admission gate) is not
      // considered until every gate is removed; the API server would refuse its binding.
      if ((pod.spec?.schedulingGates ?? []).length > 0) {
        await this.markGated(pod);
        continue;
      }
      const selector = pod.spec?.nodeSelector ?? {};
      if (!Object.entries(selector).every(([k, v]) => labels[k] === v)) continue;
      const gpus = this.gpusOf(pod);
      if (gpusUsed + gpus > this.opts.gpus) {
        await this.markUnschedulable(
          pod,
          `0/1 nodes are available: 1 Insufficient nvidia.com/gpu.`,
        );
        continue;
      }
      try {
        await this.core.createNamespacedPodBinding({
          namespace: ns,
          name,
          body: {
            metadata: { name, namespace: ns },
            target: { apiVersion: 'v1', kind: 'Node', name: this.nodeName },
          },
        });
        gpusUsed += gpus;
      } catch (err) {
        // 409: another agent (node) bound it first.
        if (code(err) !== 409 && code(err) !== 404)
          this.note(`bind ${ns}/${name}: ${message(err)}`);
      }
    }
  }

  private async markGated(pod: k8s.V1Pod): Promise<void> {
    // kube-scheduler's words for it (reason SchedulingGated).
    const names = (pod.spec?.schedulingGates ?? []).map((g) => g.name).join(', ');
    await this.markUnschedulable(
      pod,
      `Scheduling is blocked due to non-empty scheduling gates: ${names}`,
      'SchedulingGated',
    );
  }

  private async markUnschedulable(
    pod: k8s.V1Pod,
    msg: string,
    reason = 'Unschedulable',
  ): Promise<void> {
    const cond = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (cond?.status === 'False' && cond.message === msg) return;
    try {
      await this.core.patchNamespacedPodStatus(
        {
          namespace: pod.metadata?.namespace ?? 'default',
          name: pod.metadata?.name ?? '',
          body: {
            status: {
              phase: 'Pending',
              conditions: [
                {
                  type: 'PodScheduled',
                  status: 'False',
                  reason,
                  message: msg,
                  lastTransitionTime: new Date(),
                },
              ],
            },
          },
        },
        mergePatch,
      );
    } catch (err) {
      if (code(err) !== 404) this.note(`unschedulable ${pod.metadata?.name}: ${message(err)}`);
    }
  }

  private async syncPod(pod: k8s.V1Pod): Promise<void> {
    const uid = pod.metadata?.uid ?? '';
    const namespace = pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? '';
    let run = this.pods.get(uid);
    if (!run) {
      // A pod that already finished before this agent saw it (e.g. agent restarted): leave it.
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
      run = {
        uid,
        namespace,
        name,
        pod,
        dir: join(this.workDir, namespace, `${name}-${uid.slice(0, 8)}`),
        containers: (pod.spec?.containers ?? []).map((c) => ({
          name: c.name,
          image: c.image ?? '',
          restartCount: 0,
          state: { waiting: { reason: 'ContainerCreating' } },
        })),
        phase: 'Pending',
        startTime: new Date(),
        started: false,
        terminating: false,
      };
      this.pods.set(uid, run);
    }
    run.pod = pod;

    if (pod.metadata?.deletionTimestamp) {
      await this.terminate(run);
      return;
    }
    if (!run.started) {
      try {
        await this.startPod(run);
        run.waitingReason = undefined;
      } catch (err) {
        run.waitingReason = err instanceof WaitError ? err.reason : 'CreateContainerError';
        run.waitingMessage = message(err);
        for (const c of run.containers)
          c.state = { waiting: { reason: run.waitingReason, message: run.waitingMessage } };
      }
    }
    this.restartIfNeeded(run);
    await this.writeStatus(run);
  }

  private allExited(run: PodRun): boolean {
    return run.containers.every(
      (c) => !c.child || c.child.exitCode !== null || c.child.signalCode !== null,
    );
  }

  private async terminate(run: PodRun): Promise<void> {
    if (!run.terminating) {
      run.terminating = true;
      const grace = run.pod.metadata?.deletionGracePeriodSeconds ?? 30;
      const exits = this.killProcesses(run, grace === 0 ? 'SIGKILL' : 'SIGTERM');
      if (grace > 0 && exits.length > 0) {
        const timer = setTimeout(() => this.killProcesses(run, 'SIGKILL'), grace * 1000);
        timer.unref();
        void Promise.all(exits).then(() => clearTimeout(timer));
      }
    }
    if (!this.allExited(run)) {
      await this.writeStatus(run);
      return;
    }
    await this.writeStatus(run);
    // A finalizer (e.g. Kueue's on the pods it manages) keeps the pod after the deletion is
    // confirmed; the kubelet confirms once, not on every sync.
    if (run.deletionConfirmed) return;
    // What the kubelet does once the containers are gone: confirm the deletion.
    try {
      await this.core.deleteNamespacedPod({
        namespace: run.namespace,
        name: run.name,
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid: run.uid } },
      });
      run.deletionConfirmed = true;
    } catch (err) {
      if (code(err) !== 404 && code(err) !== 409) this.note(`delete ${run.name}: ${message(err)}`);
    }
  }

  private killProcesses(run: PodRun, signal: NodeJS.Signals): Promise<void>[] {
    const exits: Promise<void>[] = [];
    for (const c of run.containers) {
      if (
        c.child?.pid !== undefined &&
        c.child.exitCode === null &&
        c.child.signalCode === null &&
        c.exited
      ) {
        killGroup(c.child.pid, signal);
        exits.push(c.exited);
      }
    }
    return exits;
  }

  // ---- starting a pod ----

  private async startPod(run: PodRun): Promise<void> {
    const pod = run.pod;
    const spec = pod.spec!;
    mkdirSync(run.dir, { recursive: true });
    const volumes = await this.materializeVolumes(run);
    run.ip = run.ip ?? allocateIp();
    const hostname = spec.hostname ?? run.name;
    const hosts = await this.hostMap();
    // A pod may name itself (rank 0 is its own coordinator) before its IP is published.
    if (spec.hostname && spec.subdomain) {
      const own = `${spec.hostname}.${spec.subdomain}.${run.namespace}.svc`;
      hosts.set(`${own}.cluster.local`, run.ip);
      hosts.set(own, run.ip);
    }
    const tmp = join(run.dir, 'tmp');
    mkdirSync(tmp, { recursive: true });

    // Resolve every container's env before starting any, so a missing Secret starts nothing.
    const plans = [];
    for (const c of spec.containers) {
      const mounts = (c.volumeMounts ?? []).map((m) => {
        const local = volumes.get(m.name);
        if (!local)
          throw new Error(
            `volume ${m.name} of container ${c.name} is not supported by the node agent`,
          );
        return { from: m.mountPath, to: m.subPath ? join(local, m.subPath) : local };
      });
      // As a kubelet: the termination message file is the container's own, never the host's.
      mounts.push({
        from: c.terminationMessagePath ?? TERMINATION_LOG_PATH,
        to: terminationFile(run.dir, c.name),
      });
      const rewrite = (s: string): string =>
        rewriteHosts(rewritePaths(s, mounts), hosts, run.namespace);
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: run.dir,
        TMPDIR: tmp,
        ...this.opts.baseEnv,
        HOSTNAME: hostname,
        POD_IP: run.ip,
        RINGMASTER_BIND_HOST: run.ip,
      };
      for (const [k, v] of Object.entries(await this.resolveEnv(c, pod, run.ip)))
        env[k] = rewrite(v);
      const unresolved = Object.values(env).find(
        (v) => /\.svc(\.cluster\.local)?\b/.test(v) && podHostIn(v),
      );
      if (unresolved !== undefined) {
        throw new WaitError(
          'ContainerCreating',
          `waiting for a pod named in env to get an IP: ${unresolved}`,
        );
      }
      const local = this.commandMap(c, pod, { podIP: run.ip, env });
      plans.push({
        container: c,
        command: local.command,
        args: local.args.map(rewrite),
        env: { ...env, ...local.env },
        cwd: c.workingDir ? rewritePaths(c.workingDir, mounts) : run.dir,
      });
    }
    if (spec.hostname && spec.subdomain) writeHostsFile(run.dir, hosts);
    run.started = true;
    for (const plan of plans) {
      const cr = run.containers.find((x) => x.name === plan.container.name)!;
      this.launch(run, cr, plan);
    }
    run.phase = 'Running';
  }

  private launch(run: PodRun, cr: ContainerRun, plan: LaunchPlan): void {
    cr.plan = plan;
    mkdirSync(plan.cwd, { recursive: true });
    const log = createWriteStream(join(run.dir, `${cr.name}.log`), { flags: 'a' });
    const child = spawn(plan.command, plan.args, {
      cwd: plan.cwd,
      env: plan.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    // The end of the output, for terminationMessagePolicy: FallbackToLogsOnError.
    let tail = '';
    const keepTail = (d: Buffer): void => {
      tail = (tail + d.toString()).slice(-4096);
    };
    child.stdout?.on('data', keepTail);
    child.stderr?.on('data', keepTail);
    const spec = run.pod.spec?.containers.find((c) => c.name === cr.name);
    cr.child = child;
    cr.startedAt = new Date();
    cr.state = { running: { startedAt: cr.startedAt } };
    if (child.pid !== undefined) trackGroup(child.pid);
    cr.exited = new Promise<void>((resolve) => {
      let done = false;
      const finish = (exitCode: number, signal: string | null, errMsg?: string): void => {
        if (done) return;
        done = true;
        if (child.pid !== undefined) untrackGroup(child.pid);
        log.end();
        const written = readTerminationFile(terminationFile(run.dir, cr.name));
        cr.state = {
          terminated: {
            exitCode,
            ...(signal ? { signal: signalNumbers[signal] ?? 0 } : {}),
            reason: errMsg ? 'StartError' : exitCode === 0 ? 'Completed' : 'Error',
            ...(errMsg
              ? { message: errMsg }
              : written
                ? { message: written }
                : exitCode !== 0 && spec?.terminationMessagePolicy === 'FallbackToLogsOnError'
                  ? { message: logTailMessage(tail) }
                  : {}),
            startedAt: cr.startedAt,
            finishedAt: new Date(),
            containerID: `local://${child.pid ?? 0}`,
          },
        };
        resolve();
        // Report promptly rather than at the next tick.
        if (!this.lost && !this.stopped) void this.sync();
      };
      child.once('exit', (codeNum, signal) => {
        const code = codeNum ?? 128 + (signal ? (signalNumbers[signal] ?? 0) : 0);
        // Output can still be in the pipes when 'exit' fires; 'close' follows once they are
        // drained, unless a grandchild holds them open, hence the time limit.
        const timer = setTimeout(() => finish(code, signal), 500);
        child.once('close', () => {
          clearTimeout(timer);
          finish(code, signal);
        });
      });
      child.once('error', (err) => finish(128, null, err.message));
    });
  }

  /** restartPolicy OnFailure/Always: rerun exited containers in place, counting restarts. */
  private restartIfNeeded(run: PodRun): void {
    const policy = run.pod.spec?.restartPolicy ?? 'Always';
    if (policy === 'Never' || run.terminating || !run.started) return;
    for (const cr of run.containers) {
      const t = cr.state.terminated;
      if (!t || (policy === 'OnFailure' && t.exitCode === 0)) continue;
      if (!cr.plan) continue;
      cr.lastState = cr.state;
      cr.restartCount++;
      // The env stays as first resolved, as with a kubelet restarting a container in place.
      this.launch(run, cr, cr.plan);
    }
  }

  private async resolveEnv(
    c: k8s.V1Container,
    pod: k8s.V1Pod,
    ip: string,
  ): Promise<Record<string, string>> {
    const ns = pod.metadata?.namespace ?? 'default';
    const out: Record<string, string> = {};
    for (const from of c.envFrom ?? []) {
      const prefix = from.prefix ?? '';
      if (from.secretRef) {
        const data = await this.secretData(ns, from.secretRef.name, from.secretRef.optional);
        for (const [k, v] of Object.entries(data)) out[prefix + k] = v;
      }
      if (from.configMapRef) {
        const data = await this.configMapData(
          ns,
          from.configMapRef.name,
          from.configMapRef.optional,
        );
        for (const [k, v] of Object.entries(data)) out[prefix + k] = v;
      }
    }
    for (const e of c.env ?? []) {
      if (e.value !== undefined) {
        out[e.name] = expandVars(e.value, out);
        continue;
      }
      const vf = e.valueFrom;
      if (!vf) {
        out[e.name] = '';
      } else if (vf.secretKeyRef) {
        const data = await this.secretData(ns, vf.secretKeyRef.name, vf.secretKeyRef.optional);
        const v = data[vf.secretKeyRef.key];
        if (v === undefined && !vf.secretKeyRef.optional) {
          throw new WaitError(
            'CreateContainerConfigError',
            `couldn't find key ${vf.secretKeyRef.key} in Secret ${ns}/${vf.secretKeyRef.name}`,
          );
        }
        if (v !== undefined) out[e.name] = v;
      } else if (vf.configMapKeyRef) {
        const data = await this.configMapData(
          ns,
          vf.configMapKeyRef.name,
          vf.configMapKeyRef.optional,
        );
        const v = data[vf.configMapKeyRef.key];
        if (v === undefined && !vf.configMapKeyRef.optional) {
          throw new WaitError(
            'CreateContainerConfigError',
            `couldn't find key ${vf.configMapKeyRef.key} in ConfigMap ${ns}/${vf.configMapKeyRef.name}`,
          );
        }
        if (v !== undefined) out[e.name] = v;
      } else if (vf.fieldRef) {
        out[e.name] = fieldValue(vf.fieldRef.fieldPath, pod, ip, this.nodeName);
      } else if (vf.resourceFieldRef) {
        const r = vf.resourceFieldRef.resource;
        const [kind, what] = r.split('.') as [string, string];
        const q = c.resources?.[kind as 'limits' | 'requests']?.[what];
        out[e.name] = q === undefined ? '0' : String(q);
      }
    }
    return out;
  }

  private async secretData(
    ns: string,
    name: string | undefined,
    optional?: boolean,
  ): Promise<Record<string, string>> {
    try {
      const s = await this.core.readNamespacedSecret({ namespace: ns, name: name ?? '' });
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(s.data ?? {}))
        out[k] = Buffer.from(v, 'base64').toString('utf8');
      for (const [k, v] of Object.entries(s.stringData ?? {})) out[k] = v;
      return out;
    } catch (err) {
      if (code(err) === 404 && optional) return {};
      if (code(err) === 404)
        throw new WaitError('CreateContainerConfigError', `secret "${name}" not found`);
      throw err;
    }
  }

  private async configMapData(
    ns: string,
    name: string | undefined,
    optional?: boolean,
  ): Promise<Record<string, string>> {
    try {
      const cm = await this.core.readNamespacedConfigMap({ namespace: ns, name: name ?? '' });
      const out: Record<string, string> = { ...cm.data };
      for (const [k, v] of Object.entries(cm.binaryData ?? {}))
        out[k] = Buffer.from(v, 'base64').toString('utf8');
      return out;
    } catch (err) {
      if (code(err) === 404 && optional) return {};
      if (code(err) === 404)
        throw new WaitError('CreateContainerConfigError', `configmap "${name}" not found`);
      throw err;
    }
  }

  /** Write each supported volume into a directory; returns volume name → local dir. */
  private async materializeVolumes(run: PodRun): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const ns = run.namespace;
    for (const v of run.pod.spec?.volumes ?? []) {
      const dir = join(run.dir, 'volumes', v.name);
      mkdirSync(dir, { recursive: true });
      let files: Record<string, string> | undefined;
      let items: k8s.V1KeyToPath[] | undefined;
      if (v.configMap) {
        files = await this.configMapData(ns, v.configMap.name, v.configMap.optional);
        items = v.configMap.items;
      } else if (v.secret) {
        files = await this.secretData(ns, v.secret.secretName ?? '', v.secret.optional);
        items = v.secret.items;
      } else if (v.downwardAPI) {
        files = {};
        for (const item of v.downwardAPI.items ?? []) {
          if (item.fieldRef)
            files[item.path] = fieldValue(
              item.fieldRef.fieldPath,
              run.pod,
              run.ip ?? '',
              this.nodeName,
            );
        }
      } else if (!v.emptyDir) {
        throw new Error(
          `volume ${v.name}: only configMap, secret, downwardAPI and emptyDir are supported`,
        );
      }
      if (files) {
        const chosen = items
          ? items.map((i) => [i.path, files![i.key]] as const)
          : Object.entries(files);
        for (const [path, content] of chosen) {
          if (content === undefined) continue;
          const target = join(dir, path);
          mkdirSync(dirname(target), { recursive: true });
          writeFileSync(target, content);
        }
      }
      out.set(v.name, dir);
    }
    return out;
  }

  /** Stable pod DNS names (hostname.subdomain.ns.svc) → IPs of pods running on any agent here. */
  private async hostMap(): Promise<Map<string, string>> {
    const hosts = new Map<string, string>();
    const all = await this.core.listPodForAllNamespaces({});
    for (const p of all.items) {
      const ip = p.status?.podIP;
      const h = p.spec?.hostname;
      const sub = p.spec?.subdomain;
      if (!ip || !h || !sub || p.metadata?.deletionTimestamp) continue;
      if (p.status?.phase !== 'Running' && p.status?.phase !== 'Pending') continue;
      const ns = p.metadata?.namespace ?? 'default';
      hosts.set(`${h}.${sub}.${ns}.svc.cluster.local`, ip);
      hosts.set(`${h}.${sub}.${ns}.svc`, ip);
    }
    return hosts;
  }

  // ---- status ----

  private statusOf(run: PodRun): k8s.V1PodStatus {
    const policy = run.pod.spec?.restartPolicy ?? 'Always';
    const terminated = run.containers.map((c) => c.state.terminated);
    let phase: PodRun['phase'] = run.started ? 'Running' : 'Pending';
    if (run.started && terminated.every((t) => t) && policy !== 'Always') {
      const allOk = terminated.every((t) => t!.exitCode === 0);
      if (policy === 'Never' || allOk) phase = allOk ? 'Succeeded' : 'Failed';
    }
    if (run.terminating && run.started && terminated.every((t) => t) && phase === 'Running') {
      phase = terminated.every((t) => t!.exitCode === 0) ? 'Succeeded' : 'Failed';
    }
    run.phase = phase;
    const running = run.containers.every((c) => c.state.running);
    // A fixed time keeps identical states byte-identical, so unchanged status is not rewritten.
    const now = run.startTime;
    const cond = (type: string, ok: boolean): k8s.V1PodCondition => ({
      type,
      status: ok ? 'True' : 'False',
      lastTransitionTime: now,
    });
    return {
      phase,
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      ...(run.ip && run.started ? { podIP: run.ip, podIPs: [{ ip: run.ip }] } : {}),
      startTime: run.startTime,
      conditions: [
        cond('PodScheduled', true),
        cond('Initialized', true),
        cond('ContainersReady', running && !run.terminating),
        cond('Ready', running && !run.terminating),
      ],
      containerStatuses: run.containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: '',
        ready: !!c.state.running && !run.terminating,
        started: !!c.state.running,
        restartCount: c.restartCount,
        state: c.state,
        ...(c.lastState ? { lastState: c.lastState } : {}),
        ...(c.child?.pid !== undefined ? { containerID: `local://${c.child.pid}` } : {}),
      })),
    };
  }

  private async writeStatus(run: PodRun): Promise<void> {
    const status = this.statusOf(run);
    // A merge patch replaces the whole list: keep the conditions others own (Kueue's and the
    // eviction API's DisruptionTarget), as the kubelet's strategic merge patch does.
    const own = new Set((status.conditions ?? []).map((c) => c.type));
    for (const c of run.pod.status?.conditions ?? []) {
      if (!own.has(c.type)) status.conditions!.push(c);
    }
    const text = JSON.stringify(status);
    if (text === run.lastStatus) return;
    try {
      await this.core.patchNamespacedPodStatus(
        { namespace: run.namespace, name: run.name, body: { status } },
        mergePatch,
      );
      run.lastStatus = text;
    } catch (err) {
      if (code(err) !== 404) this.note(`status ${run.namespace}/${run.name}: ${message(err)}`);
    }
  }
}

class WaitError extends Error {
  constructor(
    readonly reason: string,
    msg: string,
  ) {
    super(msg);
  }
}

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

function code(err: unknown): number | undefined {
  return err && typeof err === 'object' && 'code' in err && typeof err.code === 'number'
    ? err.code
    : undefined;
}

function message(err: unknown): string {
  if (err && typeof err === 'object' && 'body' in err && typeof err.body === 'string') {
    try {
      return (JSON.parse(err.body) as { message?: string }).message ?? err.body;
    } catch {
      return err.body;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

function time(t: Date | string | undefined): number {
  return t ? new Date(t).getTime() : 0;
}

/** Leases want RFC 3339 with microseconds, which only V1MicroTime serializes. */
function toMicro(d: Date): k8s.V1MicroTime {
  return new k8s.V1MicroTime(d.getTime());
}

function fieldValue(path: string, pod: k8s.V1Pod, ip: string, node: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return pod.metadata?.[m[1] as 'labels' | 'annotations']?.[m[2]!] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.metadata?.name ?? '';
    case 'metadata.namespace':
      return pod.metadata?.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata?.uid ?? '';
    case 'spec.nodeName':
      return node;
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
      return ip;
    case 'status.hostIP':
      return '127.0.0.1';
    default:
      return '';
  }
}

/** What a kubelet keeps of the log as a termination message: the last 80 lines, ≤ 2 KiB. */
function logTailMessage(tail: string): string {
  const lines = tail.trimEnd().split('\n').slice(-80).join('\n');
  return Buffer.byteLength(lines) <= 2048 ? lines : lines.slice(-2048);
}

/** $(VAR) references to earlier env entries, as the kubelet expands them. */
function expandVars(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, name: string | undefined) =>
    all === '$$' ? '$' : name !== undefined && env[name] !== undefined ? env[name] : all,
  );
}

/** Replace a mount path prefix (at a path boundary) with the local directory. */
/** Where a container's terminationMessagePath lands on this host. */
function terminationFile(podDir: string, container: string): string {
  return join(podDir, `${container}.termination-log`);
}

/** What the container wrote there (≤ 4 KiB, as a kubelet keeps), or '' . */
function readTerminationFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').slice(0, 4096).trim();
  } catch {
    return '';
  }
}

export function rewritePaths(s: string, mounts: { from: string; to: string }[]): string {
  // Longest mount first, so /data/cache wins over /data.
  const sorted = [...mounts].sort((a, b) => b.from.length - a.from.length);
  for (const m of sorted) {
    const from = m.from.replace(/\/+$/, '');
    const re = new RegExp(`(^|[=:,\\s])${escapeRe(from)}(?=/|$|[\\s,:])`, 'g');
    const out = s.replace(re, (_all, lead: string) => lead + m.to);
    if (out !== s) return out;
  }
  return s;
}

/** Replace known pod DNS names with their IPs. */
export function rewriteHosts(s: string, hosts: Map<string, string>, _namespace: string): string {
  if (!s.includes('.svc')) return s;
  // Longest names first: "x.svc.cluster.local" before "x.svc".
  const names = [...hosts.keys()].sort((a, b) => b.length - a.length);
  for (const name of names) {
    if (s.includes(name)) s = s.split(name).join(hosts.get(name)!);
  }
  return s;
}

/** True when a value still names a per-pod DNS entry (<host>.<sub>.<ns>.svc). */
function podHostIn(v: string): boolean {
  return /[a-z0-9-]+\.[a-z0-9-]+\.[a-z0-9-]+\.svc(\.cluster\.local)?(:\d+)?\b/.test(v);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function writeHostsFile(dir: string, hosts: Map<string, string>): void {
  const lines = [...hosts].map(([name, ip]) => `${ip}\t${name}`);
  writeFileSync(join(dir, 'hosts'), lines.join('\n') + '\n');
}
