/**
 * Prometheus metrics and the operator's small HTTP server: /metrics, /healthz, /readyz.
 * One registry per operator instance, so tests can run two in one process.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'ringmaster_operator_reconcile_total',
    help: 'Reconciles by result (ok, requeue, error, terminal).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly reconcileSeconds = new Histogram({
    name: 'ringmaster_operator_reconcile_duration_seconds',
    help: 'Time per reconcile.',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly apiWrites = new Counter({
    name: 'ringmaster_operator_api_writes_total',
    help: 'Write requests sent to the API server (steady state should add none).',
    labelNames: ['verb', 'resource'] as const,
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'ringmaster_operator_workqueue_depth',
    help: 'Keys waiting in the work queue.',
    registers: [this.registry],
  });
  readonly queueAdds = new Counter({
    name: 'ringmaster_operator_workqueue_adds_total',
    help: 'Keys added to the work queue.',
    registers: [this.registry],
  });
  readonly queueRetries = new Counter({
    name: 'ringmaster_operator_workqueue_retries_total',
    help: 'Keys re-queued with backoff after an error.',
    registers: [this.registry],
  });
  readonly informerRelists = new Counter({
    name: 'ringmaster_operator_informer_relists_total',
    help: 'Full relists per informer.',
    labelNames: ['informer'] as const,
    registers: [this.registry],
  });
  readonly informerErrors = new Counter({
    name: 'ringmaster_operator_informer_errors_total',
    help: 'Informer list/watch errors (each followed by a restart).',
    labelNames: ['informer'] as const,
    registers: [this.registry],
  });
  readonly isLeader = new Gauge({
    name: 'ringmaster_operator_is_leader',
    help: '1 while this replica holds the leader Lease.',
    registers: [this.registry],
  });
  readonly groupRestarts = new Counter({
    name: 'ringmaster_operator_group_restarts_total',
    help: 'Worker groups torn down and recreated, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly recipesByPhase = new Gauge({
    name: 'ringmaster_recipes',
    help: 'TrainingRecipes by phase.',
    labelNames: ['phase'] as const,
    registers: [this.registry],
  });
  readonly recipeEpoch = new Gauge({
    name: 'ringmaster_recipe_epoch',
    help: 'Epochs completed, per recipe.',
    labelNames: ['namespace', 'name'] as const,
    registers: [this.registry],
  });
  readonly recipeImagesPerSec = new Gauge({
    name: 'ringmaster_recipe_images_per_second',
    help: 'Training throughput reported by rank 0, per recipe.',
    labelNames: ['namespace', 'name'] as const,
    registers: [this.registry],
  });
  readonly recipeAcc1 = new Gauge({
    name: 'ringmaster_recipe_acc1',
    help: 'Latest Acc@1 (percent) of the EMA model, else of the model, per recipe.',
    labelNames: ['namespace', 'name'] as const,
    registers: [this.registry],
  });

  readonly recipeGoodput = new Gauge({
    name: 'ringmaster_recipe_goodput_ratio',
    help: 'Steps kept ÷ steps computed over every group of the recipe (restarts throw steps away).',
    labelNames: ['namespace', 'name'] as const,
    registers: [this.registry],
  });
  readonly recipeSecondsLost = new Gauge({
    name: 'ringmaster_recipe_restart_lost_seconds',
    help: 'Wall time lost to restarts: no group training, plus the time of the steps thrown away.',
    labelNames: ['namespace', 'name'] as const,
    registers: [this.registry],
  });
  readonly recipeStepsComputed = new Gauge({
    name: 'ringmaster_recipe_steps_computed',
    help: 'Optimizer steps computed by every group of the recipe (kept or not).',
    labelNames: ['namespace', 'name'] as const,
    registers: [this.registry],
  });
  readonly recipeStraggler = new Gauge({
    name: 'ringmaster_recipe_straggler_ratio',
    help: "A straggling rank's p50 step time ÷ its peers' median (present only while it straggles).",
    labelNames: ['namespace', 'name', 'rank'] as const,
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics)
      collectDefaultMetrics({ register: this.registry, prefix: 'ringmaster_operator_' });
  }

  forgetRecipe(namespace: string, name: string): void {
    for (const g of [
      this.recipeEpoch,
      this.recipeImagesPerSec,
      this.recipeAcc1,
      this.recipeGoodput,
      this.recipeSecondsLost,
      this.recipeStepsComputed,
    ])
      g.remove({ namespace, name });
    this.setStragglers(namespace, name, []);
  }

  /** Exactly these ranks straggle now (the others' series are removed). */
  setStragglers(
    namespace: string,
    name: string,
    stragglers: ReadonlyArray<{ rank: number; ratio: number }>,
  ): void {
    const key = `${namespace}/${name}`;
    for (const rank of this.straggling.get(key) ?? []) {
      this.recipeStraggler.remove({ namespace, name, rank: String(rank) });
    }
    for (const s of stragglers) {
      this.recipeStraggler.set({ namespace, name, rank: String(s.rank) }, s.ratio);
    }
    if (stragglers.length > 0)
      this.straggling.set(
        key,
        stragglers.map((s) => s.rank),
      );
    else this.straggling.delete(key);
  }

  private readonly straggling = new Map<string, number[]>();
}

export interface Probes {
  /** Liveness: the process is not wedged (e.g. informers not failing for minutes). */
  healthy(): boolean | string;
  /** Readiness: caches synced (leader) or standing by (follower). */
  ready(): boolean | string;
}

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

export async function startHttpServer(
  metrics: OperatorMetrics,
  probes: Probes,
  port: number,
  host = '0.0.0.0',
): Promise<HttpServer> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const probe = (result: boolean | string) => {
      const ok = result === true;
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' });
      res.end(ok ? 'ok\n' : `${result === false ? 'not ok' : result}\n`);
    };
    if (url === '/healthz') return probe(probes.healthy());
    if (url === '/readyz') return probe(probes.ready());
    if (url === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': metrics.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
