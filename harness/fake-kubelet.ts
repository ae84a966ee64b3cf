/**
 * Just enough kubelet for operator integration tests (no processes are run): binds pods to
 * a Node, flips them to Running, finishes graceful deletions (as a kubelet confirms them),
 * and lets a test end a pod with an exit code or take its node away. The e2e tests use the
 * real node agent (test/support/node-agent.ts) instead.
 */
import type * as k8s from '@kubernetes/client-node';
import { KubeRest, statusOf } from '../operator/kube/rest.js';

export class FakeKubelet {
  private timer?: NodeJS.Timeout;
  private busy = false;
  /** Pods on nodes listed here are left alone (their kubelet is "gone"). */
  readonly lostNodes = new Set<string>();
  autoRun = true;
  autoBind = true;

  constructor(
    readonly rest: KubeRest,
    readonly namespace: string,
    readonly node = 'node-a',
  ) {}

  async createNode(name = this.node): Promise<void> {
    try {
      await this.rest.request('POST', '/api/v1/nodes', {
        body: { apiVersion: 'v1', kind: 'Node', metadata: { name }, status: {} },
      });
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
    }
    await this.setNodeReady(name, true);
  }

  async setNodeReady(name: string, ready: boolean, since = new Date()): Promise<void> {
    await this.rest.request('PATCH', `/api/v1/nodes/${name}/status`, {
      contentType: 'application/merge-patch+json',
      body: {
        status: {
          capacity: { cpu: '16', memory: '64Gi', pods: '110', 'nvidia.com/gpu': '8' },
          allocatable: { cpu: '16', memory: '64Gi', pods: '110', 'nvidia.com/gpu': '8' },
          conditions: [
            {
              type: 'Ready',
              status: ready ? 'True' : 'Unknown',
              reason: ready ? 'KubeletReady' : 'NodeStatusUnknown',
              message: ready ? 'ready' : 'Kubelet stopped posting node status.',
              lastHeartbeatTime: since.toISOString(),
              lastTransitionTime: since.toISOString(),
            },
          ],
        },
      },
    });
    if (ready) this.lostNodes.delete(name);
    else this.lostNodes.add(name);
  }

  pods(): Promise<{ items: k8s.V1Pod[] }> {
    return this.rest.get(`/api/v1/namespaces/${this.namespace}/pods`);
  }

  start(intervalMs = 100): void {
    this.timer = setInterval(() => void this.tick(), intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const { items } = await this.pods();
      for (const pod of items) {
        const name = pod.metadata!.name!;
        const node = pod.spec?.nodeName;
        if (node && this.lostNodes.has(node)) continue;
        try {
          if (pod.metadata?.deletionTimestamp) {
            await this.rest.request('DELETE', `/api/v1/namespaces/${this.namespace}/pods/${name}`, {
              body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 },
            });
          } else if (!node && (pod.spec?.schedulingGates ?? []).length > 0) {
            // Gated (e.g. by Kueue): no scheduler would bind it, and the API server refuses.
            continue;
          } else if (!node && this.autoBind) {
            await this.bind(name);
          } else if (this.autoRun && pod.status?.phase === 'Pending') {
            await this.run(name);
          }
        } catch (err) {
          if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
        }
      }
    } catch {
      // The next tick tries again.
    } finally {
      this.busy = false;
    }
  }

  async bind(name: string, node = this.node): Promise<void> {
    await this.rest.request('POST', `/api/v1/namespaces/${this.namespace}/pods/${name}/binding`, {
      body: {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name },
        target: { apiVersion: 'v1', kind: 'Node', name: node },
      },
    });
  }

  async run(name: string): Promise<void> {
    const now = new Date().toISOString();
    await this.status(name, {
      phase: 'Running',
      podIP: '127.0.0.2',
      startTime: now,
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
      containerStatuses: [
        {
          name: 'worker',
          image: 'x',
          imageID: '',
          ready: true,
          restartCount: 0,
          started: true,
          state: { running: { startedAt: now } },
        },
      ],
    });
  }

  async exit(name: string, exitCode: number, message = ''): Promise<void> {
    const now = new Date().toISOString();
    await this.status(name, {
      phase: exitCode === 0 ? 'Succeeded' : 'Failed',
      containerStatuses: [
        {
          name: 'worker',
          image: 'x',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: {
            terminated: {
              exitCode,
              reason: exitCode === 0 ? 'Completed' : 'Error',
              message,
              startedAt: now,
              finishedAt: now,
            },
          },
        },
      ],
    });
  }

  private async status(name: string, status: Record<string, unknown>): Promise<void> {
    await this.rest.request('PATCH', `/api/v1/namespaces/${this.namespace}/pods/${name}/status`, {
      contentType: 'application/merge-patch+json',
      body: { status },
    });
  }
}
