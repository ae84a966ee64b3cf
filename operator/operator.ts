/**
 * One operator process: the HTTP server (metrics and probes), leader election, and the
 * controller, which runs only while this replica leads.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../common/log.js';
import type { OperatorConfig } from './config.js';
import { Controller } from './controller.js';
import { LeaderElector } from './kube/leader.js';
import { KubeRest } from './kube/rest.js';
import { OperatorMetrics, startHttpServer, type HttpServer } from './metrics.js';
import { StorageProgressSource, type ProgressSource } from './progress.js';

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  config: Readonly<OperatorConfig>;
  log: Logger;
  /** Tests substitute the progress source and the clock. */
  progress?: ProgressSource;
  now?: () => Date;
  /** Called when leadership is lost: the process should exit and be restarted. */
  onLostLeadership?: () => void;
  processMetrics?: boolean;
}

export class Operator {
  readonly rest: KubeRest;
  readonly metrics: OperatorMetrics;
  readonly controller: Controller;
  private readonly elector?: LeaderElector;
  private http?: HttpServer;
  private health?: HttpServer;
  private readonly progress: ProgressSource;
  private controllerStart?: Promise<void>;
  private stopping = false;

  constructor(private readonly o: OperatorOptions) {
    this.rest = new KubeRest(o.kubeConfig);
    this.metrics = new OperatorMetrics({ processMetrics: o.processMetrics ?? false });
    this.rest.onWrite((verb, path) =>
      this.metrics.apiWrites.inc({ verb, resource: resourceOf(path) }),
    );
    const progressSource = new StorageProgressSource(
      this.rest,
      Math.max(1000, o.config.planner.progressIntervalSeconds * 1000 - 500),
      o.log,
    );
    this.progress = o.progress ?? progressSource;
    this.controller = new Controller({
      rest: this.rest,
      config: o.config,
      metrics: this.metrics,
      progress: this.progress,
      log: o.log,
      ...(o.now ? { now: o.now } : {}),
    });
    const le = o.config.leaderElection;
    if (le.enabled) {
      this.elector = new LeaderElector(
        this.rest,
        {
          namespace: o.config.namespace,
          name: le.leaseName,
          identity: o.config.identity,
          leaseDurationSeconds: le.leaseDurationSeconds,
          renewDeadlineSeconds: le.renewDeadlineSeconds,
          retryPeriodSeconds: le.retryPeriodSeconds,
        },
        o.log,
        {
          onStartedLeading: () => {
            this.metrics.isLeader.set(1);
            this.startController();
          },
          onStoppedLeading: () => {
            this.metrics.isLeader.set(0);
            // Another replica may lead now: stop at once rather than write concurrently.
            void this.controller.stop();
            this.o.onLostLeadership?.();
          },
        },
      );
    }
  }

  get isLeader(): boolean {
    return this.elector ? this.elector.isLeader : true;
  }

  get httpPort(): number | undefined {
    return this.http?.port;
  }

  private startController(): void {
    if (this.stopping) return;
    this.controllerStart ??= this.controller.start().catch((err: unknown) => {
      this.o.log.error({ err: String(err) }, 'controller failed to start');
    });
  }

  async start(): Promise<void> {
    const probes = {
      healthy: () => this.controller.informerTrouble() ?? true,
      ready: () => {
        if (this.stopping) return 'shutting down';
        if (!this.isLeader) return true; // a standby is ready to take over
        return this.controller.isSynced || 'caches not synced yet';
      },
    };
    const { httpPort, healthPort, httpHost } = this.o.config;
    if (httpPort >= 0) this.http = await startHttpServer(this.metrics, probes, httpPort, httpHost);
    if (healthPort !== undefined && healthPort !== httpPort) {
      this.health = await startHttpServer(this.metrics, probes, healthPort, httpHost);
    }
    if (this.elector) {
      this.elector.start();
    } else {
      this.metrics.isLeader.set(1);
      this.startController();
      await this.controllerStart;
    }
  }

  /** Resolves once this replica leads and its caches are synced. */
  async waitUntilLeading(timeoutMs = 60_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!(this.isLeader && this.controller.isSynced)) {
      if (Date.now() > until) throw new Error('operator did not become leader in time');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Graceful shutdown: finish reconciles in flight, stop informers, release the Lease. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.controllerStart;
    await this.controller.stop();
    await this.elector?.release();
    this.metrics.isLeader.set(0);
    await this.http?.close();
    await this.health?.close();
    if (this.progress instanceof StorageProgressSource) this.progress.close();
    this.rest.close();
  }
}

/** `/api/v1/namespaces/ns/pods/x` → `pods` (metric label). */
export function resourceOf(path: string): string {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  const i = parts.indexOf('namespaces');
  if (i >= 0) return parts[i + 2] ?? 'namespaces';
  return parts[parts.length - 1] ?? '';
}
