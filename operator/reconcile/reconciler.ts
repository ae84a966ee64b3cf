/**
 * The imperative half of reconcile(key): parse the recipe's spec (the one place it is read
 * untyped, see spec.ts), gather what the caches show, ask for the plan (plan.ts), then
 * carry it out — status first (with the resourceVersion it was computed from as a
 * precondition), then children and pods, then events. Errors that retrying can fix are
 * thrown back to the queue (backoff); errors that cannot be fixed by retrying become
 * conditions on the recipe.
 */
import { randomBytes } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import {
  API_VERSION,
  EVENT_REPORTER,
  KIND,
  LABEL_RANK,
  LABEL_RECIPE,
  recipesPath,
} from '../../api/names.js';
import type { TrainingRecipeStatus } from '../../api/status.js';
import type { Logger } from '../../common/log.js';
import type { OperatorMetrics } from '../metrics.js';
import type { ProgressSource } from '../progress.js';
import { ApiError, ContentType, collectionPath, statusOf, type KubeRest } from '../kube/rest.js';
import type { Cache } from '../kube/reflector.js';
import { ConditionType, Phase, Reason, setCondition } from './conditions.js';
import { podGroupName, queueNameOf, type KueueWorkload } from './kueue.js';
import { names } from './names.js';
import { planRecipe } from './plan.js';
import { planSeeds, seedChildrenOf } from './seeds.js';
import { parseRecipeObject, type ParsedRecipe } from './spec.js';
import type {
  Action,
  NodeHealth,
  Observed,
  Plan,
  PlannerSettings,
  TrainingRecipeObject,
} from './types.js';

export const FIELD_MANAGER = 'ringmaster';

export interface Caches {
  recipes: Cache<TrainingRecipeObject>;
  pods: Cache<k8s.V1Pod>;
  secrets: Cache<k8s.V1Secret>;
  configMaps: Cache<k8s.V1ConfigMap>;
  services: Cache<k8s.V1Service>;
  networkPolicies: Cache<k8s.V1NetworkPolicy>;
  nodes: Cache<k8s.V1Node>;
  /** Kueue's Workloads: only when the kueue.x-k8s.io API is served (controller.ts). */
  workloads?: Cache<KueueWorkload>;
}

export interface ReconcilerDeps {
  rest: KubeRest;
  caches: Caches;
  settings: PlannerSettings;
  progress: ProgressSource;
  metrics: OperatorMetrics;
  log: Logger;
  instance: string;
  now?: () => Date;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** Pods per recipe, from the pod cache (the label is set on every pod we create). */
export function podsOf(pods: readonly k8s.V1Pod[], namespace: string, recipe: string): k8s.V1Pod[] {
  return pods.filter(
    (p) => p.metadata?.namespace === namespace && p.metadata?.labels?.[LABEL_RECIPE] === recipe,
  );
}

export function nodeHealth(node: k8s.V1Node | undefined): NodeHealth | undefined {
  if (!node) return undefined;
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  const since = ready?.lastTransitionTime;
  return {
    ready: ready?.status === 'True',
    ...(since ? { since: since instanceof Date ? since.toISOString() : String(since) } : {}),
  };
}

/** A JSON merge patch from `prev` to `next`: changed fields, and null for removed ones. */
export function mergePatch(prev: unknown, next: unknown): unknown {
  if (!isObject(prev) || !isObject(next)) return next;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(prev)) if (!(k in next)) out[k] = null;
  for (const [k, v] of Object.entries(next)) {
    const p = prev[k];
    if (JSON.stringify(p) === JSON.stringify(v)) continue;
    out[k] = isObject(p) && isObject(v) ? mergePatch(p, v) : v;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export class Reconciler {
  private readonly now: () => Date;

  constructor(private readonly d: ReconcilerDeps) {
    this.now = d.now ?? (() => new Date());
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const cached = this.d.caches.recipes.get(key);
    const [namespace, name] = key.split('/') as [string, string];
    if (!cached) {
      this.d.progress.forget(key);
      this.d.metrics.forgetRecipe(namespace, name);
      return {};
    }
    // The edge: the spec is parsed here, once; everything further in is typed.
    const recipe = parseRecipeObject(cached);
    const ctx = {
      now: this.now(),
      newToken: randomBytes(32).toString('hex'),
      settings: this.d.settings,
    };
    // spec.seeds: the recipe owns one child recipe per seed and runs no pods itself.
    const plan =
      recipe.valid && recipe.spec.seeds
        ? planSeeds(recipe, seedChildrenOf(this.d.caches.recipes.list(), recipe.metadata), ctx)
        : planRecipe(recipe, await this.observe(recipe), ctx);
    await this.execute(recipe, plan);
    this.record(recipe, plan);
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : {};
  }

  private async observe(recipe: ParsedRecipe): Promise<Observed> {
    const { namespace, name } = recipe.metadata;
    const c = this.d.caches;
    const pods = podsOf(c.pods.list(), namespace, name);
    const nodes = new Map<string, NodeHealth>();
    for (const p of pods) {
      const n = p.spec?.nodeName;
      if (!n || nodes.has(n)) continue;
      const h = nodeHealth(c.nodes.get(n));
      if (h) nodes.set(n, h);
    }
    const owned = <T extends { metadata?: k8s.V1ObjectMeta }>(obj: T | undefined): T | undefined =>
      obj?.metadata?.ownerReferences?.some((o) => o.uid === recipe.metadata.uid) ? obj : undefined;
    const observed: Observed = { pods, nodes };
    const secret = owned(c.secrets.get(`${namespace}/${names.secret(name)}`));
    if (secret) observed.secret = secret;
    const configMap = owned(c.configMaps.get(`${namespace}/${names.configMap(name)}`));
    if (configMap) observed.configMap = configMap;
    const service = owned(c.services.get(`${namespace}/${names.service(name)}`));
    if (service) observed.service = service;
    const networkPolicy = owned(c.networkPolicies.get(`${namespace}/${names.networkPolicy(name)}`));
    if (networkPolicy) observed.networkPolicy = networkPolicy;

    const queue = queueNameOf(recipe.metadata);
    if (queue && c.workloads) {
      const wl = c.workloads.get(`${namespace}/${podGroupName(recipe.metadata)}`);
      if (wl) observed.workload = wl;
    }
    const progress = await this.readProgress(recipe, pods);
    if (progress) observed.progress = progress;
    return observed;
  }

  /** Progress matters while a group runs, and once more when rank 0 has just finished. */
  private async readProgress(recipe: ParsedRecipe, pods: k8s.V1Pod[]) {
    const phase = recipe.status?.phase;
    const rank0Done = pods.some(
      (p) => p.metadata?.labels?.[LABEL_RANK] === '0' && p.status?.phase === 'Succeeded',
    );
    const finalRead = rank0Done && phase !== Phase.Succeeded;
    if (phase !== Phase.Running && phase !== Phase.Starting && !finalRead) return undefined;
    // An invalid spec has no output to read from (and the plan ignores progress then).
    if (!recipe.valid) return undefined;
    const { output, data } = recipe.spec;
    const key = `${recipe.metadata.namespace}/${recipe.metadata.name}`;
    try {
      return await this.d.progress.read(
        key,
        {
          namespace: recipe.metadata.namespace,
          output,
          ...(data.endpoint !== undefined ? { endpoint: data.endpoint } : {}),
          ...(data.credentialsSecret !== undefined
            ? { credentialsSecret: data.credentialsSecret }
            : {}),
        },
        finalRead,
      );
    } catch (err) {
      this.d.log.debug({ recipe: key, err: String(err) }, 'progress read failed');
      return undefined;
    }
  }

  private async execute(recipe: ParsedRecipe, plan: Plan): Promise<void> {
    const { namespace, name } = recipe.metadata;
    const log = this.d.log.child({ recipe: `${namespace}/${name}` });
    if (plan.statusPatch) await this.patchStatus(recipe, plan.statusPatch);

    const applies = plan.actions.filter((a) => a.kind === 'apply');
    await Promise.all(applies.map((a) => this.run(recipe, a)));
    const podOps = plan.actions.filter((a) => a.kind === 'createPod' || a.kind === 'deletePod');
    // The group is created (or torn down) together: all pods in flight at once, bounded.
    const failures = await runBounded(podOps, 32, (a) => this.run(recipe, a));
    const invalid = failures.find(
      (f) => f instanceof ApiError && (f.statusCode === 422 || f.statusCode === 400),
    );
    if (invalid) {
      await this.failPodCreate(recipe, plan.statusPatch, invalid as ApiError);
    } else if (failures.length > 0) {
      throw failures[0];
    }
    for (const a of plan.actions) if (a.kind === 'deleteChild') await this.run(recipe, a);
    for (const a of plan.actions) {
      if (a.kind !== 'annotatePod') continue;
      // Advisory (a scheduler's hint): a pod gone in the meantime is fine.
      await this.run(recipe, a).catch((err: unknown) =>
        log.debug({ pod: a.name, err: String(err) }, 'pod annotation not written'),
      );
    }
    for (const e of plan.events)
      await this.event(recipe, e.type, e.reason, e.message).catch((err: unknown) =>
        log.warn({ err: String(err) }, 'event not recorded'),
      );
    for (const a of plan.actions) {
      if (a.kind === 'deletePod' && a.force) log.warn({ pod: a.name }, a.why);
    }
  }

  private async patchStatus(recipe: ParsedRecipe, status: TrainingRecipeStatus): Promise<void> {
    const { namespace, name, resourceVersion } = recipe.metadata;
    // The resourceVersion we planned from: a stale cache makes this fail (409) instead of
    // writing a decision twice.
    const body = { metadata: { resourceVersion }, status: mergePatch(recipe.status ?? {}, status) };
    await this.d.rest.request('PATCH', `${recipesPath(namespace, name)}/status`, {
      body,
      contentType: ContentType.merge,
    });
  }

  private async run(recipe: ParsedRecipe, a: Action): Promise<void> {
    const ns = recipe.metadata.namespace;
    const rest = this.d.rest;
    switch (a.kind) {
      case 'apply': {
        const obj = a.object;
        await rest.request(
          'PATCH',
          `${collectionPath(obj.apiVersion, obj.kind, ns)}/${obj.metadata!.name}`,
          {
            body: obj,
            contentType: ContentType.apply,
            query: { fieldManager: FIELD_MANAGER, force: true },
          },
        );
        return;
      }
      case 'createPod':
        try {
          await rest.request('POST', `/api/v1/namespaces/${ns}/pods`, {
            body: a.pod,
            query: { fieldManager: FIELD_MANAGER },
          });
        } catch (err) {
          // Already there: the cache was behind. Level-triggered, so that is fine.
          if (statusOf(err) !== 409) throw err;
        }
        return;
      case 'deletePod':
        try {
          await rest.request('DELETE', `/api/v1/namespaces/${ns}/pods/${a.name}`, {
            body: {
              apiVersion: 'v1',
              kind: 'DeleteOptions',
              preconditions: { uid: a.uid },
              ...(a.force ? { gracePeriodSeconds: 0 } : {}),
            },
          });
        } catch (err) {
          // Gone already, or replaced by a pod of a newer group (uid precondition).
          if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
        }
        return;
      case 'annotatePod':
        await rest.request('PATCH', `/api/v1/namespaces/${ns}/pods/${a.name}`, {
          body: { metadata: { uid: a.uid, annotations: a.annotations } },
          contentType: ContentType.merge,
        });
        return;
      case 'deleteChild':
        try {
          await rest.request(
            'DELETE',
            `${collectionPath(a.apiVersion, a.objectKind, ns)}/${a.name}`,
          );
        } catch (err) {
          if (statusOf(err) !== 404) throw err;
        }
        return;
    }
  }

  /** The API server refused a pod built from this spec: retrying cannot help. */
  private async failPodCreate(
    recipe: ParsedRecipe,
    written: TrainingRecipeStatus | null,
    err: ApiError,
  ): Promise<void> {
    const now = this.now();
    const base: TrainingRecipeStatus = structuredClone(written ?? recipe.status ?? {});
    const status: TrainingRecipeStatus = {
      ...base,
      phase: Phase.Failed,
      completionTime: now.toISOString(),
      conditions: setCondition(
        base.conditions,
        {
          type: ConditionType.Failed,
          status: 'True',
          reason: Reason.PodCreateFailed,
          message: err.message,
        },
        now,
      ),
    };
    const { namespace, name } = recipe.metadata;
    await this.d.rest.request('PATCH', `${recipesPath(namespace, name)}/status`, {
      body: { status: mergePatch(recipe.status ?? {}, status) },
      contentType: ContentType.merge,
    });
    await this.event(recipe, 'Warning', Reason.PodCreateFailed, err.message).catch(() => undefined);
  }

  async event(recipe: ParsedRecipe, type: string, reason: string, message: string): Promise<void> {
    const { namespace, name, uid, resourceVersion } = recipe.metadata;
    const now = new Date().toISOString();
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace },
      involvedObject: {
        apiVersion: API_VERSION,
        kind: KIND,
        name,
        namespace,
        uid,
        resourceVersion,
      },
      type,
      reason,
      message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
      source: { component: 'ringmaster-operator' },
      reportingComponent: EVENT_REPORTER,
      reportingInstance: this.d.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    await this.d.rest.request('POST', `/api/v1/namespaces/${namespace}/events`, { body });
  }

  private record(recipe: ParsedRecipe, plan: Plan): void {
    const status = plan.statusPatch ?? recipe.status;
    const { namespace, name } = recipe.metadata;
    const m = this.d.metrics;
    if (plan.statusPatch && (plan.statusPatch.restarts ?? 0) > (recipe.status?.restarts ?? 0)) {
      const reason =
        plan.statusPatch.conditions?.find((c) => c.type === ConditionType.Restarting)?.reason ??
        'unknown';
      m.groupRestarts.inc({ reason });
    }
    if (status?.progress?.epoch !== undefined)
      m.recipeEpoch.set({ namespace, name }, status.progress.epoch);
    if (status?.progress?.imagesPerSec !== undefined)
      m.recipeImagesPerSec.set({ namespace, name }, status.progress.imagesPerSec);
    const acc = status?.metrics?.emaAcc1 ?? status?.metrics?.acc1;
    if (acc !== undefined) m.recipeAcc1.set({ namespace, name }, acc);
    const g = status?.goodput;
    if (g?.ratio !== undefined) m.recipeGoodput.set({ namespace, name }, g.ratio);
    if (g?.secondsLost !== undefined) m.recipeSecondsLost.set({ namespace, name }, g.secondsLost);
    if (g?.stepsComputed !== undefined)
      m.recipeStepsComputed.set({ namespace, name }, g.stepsComputed);
    m.setStragglers(namespace, name, status?.stragglers ?? []);
  }
}

/** Runs `fn` over items with at most `limit` in flight; returns the errors (all items run). */
async function runBounded<T>(
  items: readonly T[],
  limit: number,
  fn: (t: T) => Promise<void>,
): Promise<unknown[]> {
  const errors: unknown[] = [];
  let i = 0;
  const worker = async () => {
    while (i < items.length) {
      const item = items[i++]!;
      try {
        await fn(item);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return errors;
}
