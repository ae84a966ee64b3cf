/**
 * Wires informers to the work queue and the reconcilers: every change to a recipe, to one of
 * its pods or children, or to a node its pods run on enqueues the recipe's key; the queue
 * runs reconcile(key) with backoff on errors and requeue-after for timers; a periodic
 * resync enqueues every recipe as a level-triggered safety net. TrainingStudies have their
 * own informer and reconciler (keys `study:namespace/name`); a change to one of a study's
 * child recipes enqueues the study.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../common/log.js';
import type { OperatorConfig } from './config.js';
import type { OperatorMetrics } from './metrics.js';
import type { ProgressSource } from './progress.js';
import { WorkQueue } from './queue.js';
import { Reconciler, type Caches } from './reconcile/reconciler.js';
import { MultiCache, Reflector, objectKey, type Cache, type KubeObject } from './kube/reflector.js';
import { paths, statusOf, type KubeRest } from './kube/rest.js';
import {
  KUEUE_API_VERSION,
  LABEL_MANAGED_BY,
  LABEL_RECIPE,
  LABEL_SEED_OF,
  LABEL_STUDY_OF,
  MANAGED_BY,
  API_VERSION,
  GROUP,
  STUDY_CRD_NAME,
  STUDY_PLURAL,
  kueueWorkloadsPath,
  studiesPath,
} from '../api/names.js';
import { podGroupName, queueNameOf, type KueueWorkload } from './reconcile/kueue.js';
import { StudyReconciler } from './reconcile/study-reconciler.js';
import type { TrainingRecipeObject, TrainingStudyObject } from './reconcile/types.js';

/** Queue keys of TrainingStudies carry this prefix; recipes' are plain `namespace/name`. */
export const STUDY_KEY_PREFIX = 'study:';

export interface ControllerDeps {
  rest: KubeRest;
  config: Readonly<OperatorConfig>;
  metrics: OperatorMetrics;
  progress: ProgressSource;
  log: Logger;
  now?: () => Date;
}

export class Controller {
  readonly caches: Caches;
  private readonly makeCache: <T extends KubeObject>(
    name: string,
    path: (ns?: string) => string,
  ) => Cache<T>;
  readonly queue: WorkQueue;
  readonly reconciler: Reconciler;
  readonly studies: Cache<TrainingStudyObject>;
  readonly studyReconciler: StudyReconciler;
  private resyncTimer?: NodeJS.Timeout;
  private started = false;
  private synced = false;

  constructor(private readonly d: ControllerDeps) {
    const namespaces: Array<string | undefined> =
      d.config.watchNamespaces.length > 0 ? [...d.config.watchNamespaces] : [undefined];
    const relistIntervalMs = d.config.relistIntervalSeconds * 1000;
    const hooks = {
      onRelist: (name: string) => d.metrics.informerRelists.inc({ informer: name }),
      onError: (name: string) => d.metrics.informerErrors.inc({ informer: name }),
    };
    const one = <T extends KubeObject>(name: string, path: string, labelSelector?: string) =>
      new Reflector<T>(
        d.rest,
        { name, path, relistIntervalMs, ...(labelSelector ? { labelSelector } : {}) },
        d.log,
        hooks,
      );
    // All namespaces: one reflector per kind. Listed namespaces: one per kind and namespace.
    const make = <T extends KubeObject>(
      name: string,
      path: (ns?: string) => string,
      labelSelector?: string,
    ): Cache<T> =>
      namespaces.length === 1
        ? one<T>(name, path(namespaces[0]), labelSelector)
        : new MultiCache(namespaces.map((ns) => one<T>(name, path(ns), labelSelector)));
    this.makeCache = (name, path) => make(name, path);
    const owned = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;
    this.caches = {
      recipes: make<TrainingRecipeObject>('trainingrecipes', paths.recipes),
      pods: make<k8s.V1Pod>('pods', (ns) => paths.core('pods', ns), LABEL_RECIPE),
      secrets: make<k8s.V1Secret>('secrets', (ns) => paths.core('secrets', ns), owned),
      configMaps: make<k8s.V1ConfigMap>('configmaps', (ns) => paths.core('configmaps', ns), owned),
      services: make<k8s.V1Service>('services', (ns) => paths.core('services', ns), owned),
      networkPolicies: make<k8s.V1NetworkPolicy>('networkpolicies', paths.networkPolicies, owned),
      nodes: one<k8s.V1Node>('nodes', '/api/v1/nodes'),
    };
    this.studies = make<TrainingStudyObject>('trainingstudies', (ns) => studiesPath(ns));
    this.queue = new WorkQueue(
      { concurrency: d.config.concurrency, baseDelayMs: 50, maxDelayMs: 120_000 },
      {
        onAdd: () => d.metrics.queueAdds.inc(),
        onRetry: () => d.metrics.queueRetries.inc(),
        onDepth: (s) => d.metrics.queueDepth.set(s.depth),
      },
    );
    this.reconciler = new Reconciler({
      rest: d.rest,
      caches: this.caches,
      settings: d.config.planner,
      progress: d.progress,
      metrics: d.metrics,
      log: d.log,
      instance: d.config.identity,
      ...(d.now ? { now: d.now } : {}),
    });

    this.studyReconciler = new StudyReconciler({
      rest: d.rest,
      studies: this.studies,
      recipes: this.caches.recipes,
      log: d.log,
      instance: d.config.identity,
      ...(d.now ? { now: d.now } : {}),
    });

    this.caches.recipes.on((type, r) => {
      const key = objectKey(r);
      if (type === 'delete') this.queue.drop(key);
      this.queue.add(key);
      // A seed's recipe changed: its parent's status (seeds, summary) follows it.
      const parent = r.metadata.labels?.[LABEL_SEED_OF];
      if (parent) this.queue.add(`${r.metadata.namespace}/${parent}`);
      // A study's variant changed: the study's table follows it.
      const study = r.metadata.labels?.[LABEL_STUDY_OF];
      if (study) this.queue.add(`${STUDY_KEY_PREFIX}${r.metadata.namespace}/${study}`);
    });
    this.studies.on((type, s) => {
      const key = `${STUDY_KEY_PREFIX}${objectKey(s)}`;
      if (type === 'delete') this.queue.drop(key);
      this.queue.add(key);
    });
    const byLabel = (_: string, o: { metadata?: k8s.V1ObjectMeta }) => {
      const recipe = o.metadata?.labels?.[LABEL_RECIPE];
      if (recipe && o.metadata?.namespace) this.queue.add(`${o.metadata.namespace}/${recipe}`);
    };
    this.caches.pods.on(byLabel);
    this.caches.secrets.on(byLabel);
    this.caches.configMaps.on(byLabel);
    this.caches.services.on(byLabel);
    this.caches.networkPolicies.on(byLabel);
    this.caches.nodes.on((_, node) => {
      // A node changed (e.g. went NotReady): look at the recipes with pods on it.
      for (const p of this.caches.pods.list()) {
        if (p.spec?.nodeName === node.metadata?.name) byLabel('', p);
      }
    });
  }

  get isSynced(): boolean {
    return this.synced;
  }

  /** Healthy unless some informer has been failing for a while. */
  informerTrouble(): string | undefined {
    const bad = Object.entries({ ...this.caches, studies: this.studies }).filter(
      ([, r]) => r !== undefined && (r as Cache<KubeObject>).consecutiveErrors >= 5,
    );
    return bad.length > 0 ? `informers failing: ${bad.map(([n]) => n).join(', ')}` : undefined;
  }

  /**
   * Kueue's Workloads are watched when the kueue.x-k8s.io API is served when the controller
   * starts (a Kueue installed later is seen after the operator restarts).
   */
  private async watchKueue(): Promise<void> {
    try {
      await this.d.rest.request('GET', `/apis/${KUEUE_API_VERSION}`);
    } catch (err) {
      if (statusOf(err) === 404) return;
      throw err;
    }
    const workloads = this.makeCache<KueueWorkload>('workloads', kueueWorkloadsPath);
    workloads.on((_, wl) => {
      const ns = wl.metadata?.namespace;
      for (const r of this.caches.recipes.list()) {
        if (r.metadata.namespace !== ns || !queueNameOf(r.metadata)) continue;
        if (podGroupName(r.metadata) === wl.metadata?.name) this.queue.add(objectKey(r));
      }
    });
    this.caches.workloads = workloads;
    this.d.log.info('Kueue API found: watching Workloads');
  }

  /**
   * Studies are watched when their CRD is served. Helm installs CRDs only on a first install,
   * so an upgrade from a chart without TrainingStudy would otherwise leave the operator
   * waiting forever for an informer that cannot sync: recipes keep working, and the log says
   * how to add the CRD (seen again after the operator restarts).
   */
  private async studiesServed(): Promise<boolean> {
    try {
      const list = await this.d.rest.request<{ resources?: Array<{ name?: string }> }>(
        'GET',
        `/apis/${API_VERSION}`,
      );
      if (list.resources?.some((r) => r.name === STUDY_PLURAL)) return true;
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    this.d.log.warn(
      `the ${STUDY_CRD_NAME} CRD is not installed: TrainingStudies are not reconciled ` +
        `(kubectl apply -f crds/${GROUP}_${STUDY_PLURAL}.yaml from the chart's version, then restart the operator)`,
    );
    return false;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.watchKueue();
    const studies = (await this.studiesServed()) ? [this.studies] : [];
    const all = [...Object.values(this.caches), ...studies] as Cache<KubeObject>[];
    for (const r of all) r.start();
    await Promise.all(all.map((r) => r.waitForSync()));
    this.synced = true;
    this.d.log.info({ recipes: this.caches.recipes.list().length }, 'caches synced; reconciling');
    this.queue.start((key) => this.process(key));
    this.resyncTimer = setInterval(() => {
      for (const r of this.caches.recipes.list()) this.queue.add(objectKey(r));
      for (const s of this.studies.list()) this.queue.add(`${STUDY_KEY_PREFIX}${objectKey(s)}`);
    }, this.d.config.resyncSeconds * 1000);
    this.resyncTimer.unref();
  }

  private phasesCountedAt = 0;

  /** ringmaster_recipes{phase}: recounted from the cache at most once a second. */
  private countPhases(): void {
    const now = Date.now();
    if (now - this.phasesCountedAt < 1000) return;
    this.phasesCountedAt = now;
    const counts = new Map<string, number>();
    for (const r of this.caches.recipes.list()) {
      const phase = r.status?.phase ?? 'Pending';
      counts.set(phase, (counts.get(phase) ?? 0) + 1);
    }
    this.d.metrics.recipesByPhase.reset();
    for (const [phase, n] of counts) this.d.metrics.recipesByPhase.set({ phase }, n);
  }

  private async process(key: string): Promise<void> {
    const end = this.d.metrics.reconcileSeconds.startTimer();
    this.countPhases();
    try {
      if (key.startsWith(STUDY_KEY_PREFIX)) {
        await this.studyReconciler.reconcile(key.slice(STUDY_KEY_PREFIX.length));
        this.queue.forget(key);
        this.d.metrics.reconciles.inc({ result: 'ok' });
        return;
      }
      const result = await this.reconciler.reconcile(key);
      this.queue.forget(key);
      if (result.requeueAfterMs !== undefined) {
        this.queue.addAfter(key, result.requeueAfterMs);
        this.d.metrics.reconciles.inc({ result: 'requeue' });
      } else {
        this.d.metrics.reconciles.inc({ result: 'ok' });
      }
    } catch (err) {
      // Never let one recipe take the operator down: log, back off, try again.
      const delay = this.queue.addRateLimited(key);
      this.d.metrics.reconciles.inc({ result: 'error' });
      const level = this.queue.retries(key) > 3 ? 'warn' : 'debug';
      this.d.log[level](
        { recipe: key, err: String(err), retryInMs: delay },
        'reconcile failed; retrying',
      );
    } finally {
      end();
    }
  }

  /** Stops taking work, lets reconciles in flight finish, then stops the informers. */
  async stop(): Promise<void> {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.queue.shutdown();
    await Promise.all(
      ([...Object.values(this.caches), this.studies] as Array<Cache<KubeObject> | undefined>).map(
        (r) => r?.stop(),
      ),
    );
  }
}
