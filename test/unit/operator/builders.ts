/** Fluent builders for planner tests: `aRecipe().withWorkers(4).suspended().obj()`. */
import type * as k8s from '@kubernetes/client-node';
import { Phase } from '../../../operator/reconcile/conditions.js';
import { LABEL_GENERATION, LABEL_RANK, LABEL_RECIPE } from '../../../api/names.js';
import type { ProgressReport } from '../../../api/progress.js';
import type { TrainingRecipeStatus } from '../../../api/status.js';
import { WORKER_CONTAINER, names } from '../../../operator/reconcile/names.js';
import { planRecipe } from '../../../operator/reconcile/plan.js';
import { parseRecipeObject } from '../../../operator/reconcile/spec.js';
import type {
  NodeHealth,
  Observed,
  Plan,
  PlanContext,
  PlannerSettings,
  TrainingRecipeObject,
} from '../../../operator/reconcile/types.js';

export const T0 = new Date('2026-01-01T00:00:00Z');
export const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

export const testSettings: PlannerSettings = Object.freeze({
  defaultImage: 'ghcr.io/ringmaster/trainer:test',
  defaultGpuImage: 'ghcr.io/ringmaster/trainer:test-gpu',
  workerCommand: ['ringmaster', 'worker'],
  operatorNamespace: 'ringmaster-system',
  operatorPodLabels: { 'app.kubernetes.io/name': 'ringmaster-operator' },
  nodeLostGraceSeconds: 40,
  forceDeleteAfterSeconds: 30,
  successGraceSeconds: 60,
  restartBackoffBaseSeconds: 10,
  restartBackoffMaxSeconds: 300,
  progressIntervalSeconds: 10,
  terminationGracePeriodSeconds: 120,
});

export function ctxAt(seconds: number, settings: Partial<PlannerSettings> = {}): PlanContext {
  return { now: at(seconds), newToken: 'token-1', settings: { ...testSettings, ...settings } };
}

export class RecipeBuilder {
  private readonly o: TrainingRecipeObject;
  constructor(name: string) {
    this.o = {
      apiVersion: 'ringmaster.dev/v1alpha1',
      kind: 'TrainingRecipe',
      metadata: { name, namespace: 'ml', uid: `uid-${name}`, generation: 1, resourceVersion: '1' },
      spec: {
        workers: 2,
        gpusPerWorker: 1,
        data: {
          train: 's3://data/train',
          val: 's3://data/val',
          endpoint: 'http://minio:9000',
          credentialsSecret: 's3-creds',
        },
        output: 's3://runs/r1',
        runPolicy: { backoffLimit: 3 },
      },
    };
  }
  private get spec(): Record<string, any> {
    return this.o.spec as Record<string, any>;
  }
  withWorkers(n: number): this {
    this.spec.workers = n;
    return this;
  }
  withSpec(patch: Record<string, unknown>): this {
    Object.assign(this.spec, patch);
    return this;
  }
  withRunPolicy(patch: Record<string, unknown>): this {
    this.spec.runPolicy = { ...this.spec.runPolicy, ...patch };
    return this;
  }
  suspended(on = true): this {
    return this.withRunPolicy({ suspend: on });
  }
  withBackoffLimit(n: number): this {
    return this.withRunPolicy({ backoffLimit: n });
  }
  withStatus(status: TrainingRecipeStatus): this {
    this.o.status = structuredClone(status);
    return this;
  }
  /** A status as the planner leaves it in that phase (Running: with its Running condition). */
  inPhase(phase: Phase, extra: TrainingRecipeStatus = {}): this {
    const n = this.spec.workers as number;
    const status: TrainingRecipeStatus = {
      phase,
      groupGeneration: 1,
      restarts: 0,
      startTime: T0.toISOString(),
      observedGeneration: 1,
    };
    if (phase === Phase.Running) {
      status.conditions = [
        {
          type: 'Running',
          status: 'True',
          reason: 'AllWorkersRunning',
          message: `${n}/${n} workers running`,
          lastTransitionTime: T0.toISOString(),
        },
      ];
      status.message = 'running: training';
    }
    return this.withStatus({ ...status, ...extra });
  }
  withGeneration(g: number): this {
    this.o.metadata.generation = g;
    return this;
  }
  withAnnotation(k: string, v: string): this {
    this.o.metadata.annotations = { ...this.o.metadata.annotations, [k]: v };
    return this;
  }
  deleting(): this {
    this.o.metadata.deletionTimestamp = T0;
    return this;
  }
  obj(): TrainingRecipeObject {
    return structuredClone(this.o);
  }
}
export const aRecipe = (name = 'r') => new RecipeBuilder(name);

export class PodBuilder {
  private readonly p: k8s.V1Pod;
  constructor(recipe: string, rank: number, generation: number) {
    this.p = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: names.pod(recipe, rank),
        namespace: 'ml',
        uid: `pod-${recipe}-${rank}-g${generation}`,
        labels: {
          [LABEL_RECIPE]: recipe,
          [LABEL_RANK]: String(rank),
          [LABEL_GENERATION]: String(generation),
        },
        creationTimestamp: T0,
      },
      spec: { containers: [{ name: WORKER_CONTAINER, image: 'x' }] },
      status: { phase: 'Pending' },
    };
  }
  createdAt(seconds: number): this {
    this.p.metadata!.creationTimestamp = at(seconds);
    return this;
  }
  on(node: string): this {
    this.p.spec!.nodeName = node;
    return this;
  }
  running(node = 'node-a'): this {
    this.on(node);
    this.p.status = { phase: 'Running', containerStatuses: [cs({ running: { startedAt: T0 } })] };
    return this;
  }
  waiting(reason: string): this {
    this.p.status = { phase: 'Pending', containerStatuses: [cs({ waiting: { reason } })] };
    return this;
  }
  exited(code: number, finishedAtSeconds = 0, message?: string): this {
    this.p.spec!.nodeName ??= 'node-a';
    this.p.status = {
      phase: code === 0 ? 'Succeeded' : 'Failed',
      containerStatuses: [
        cs({
          terminated: {
            exitCode: code,
            finishedAt: at(finishedAtSeconds),
            reason: code === 0 ? 'Completed' : 'Error',
            message,
          },
        }),
      ],
    };
    return this;
  }
  evicted(): this {
    this.p.spec!.nodeName ??= 'node-a';
    this.p.status = {
      phase: 'Failed',
      reason: 'Evicted',
      message: 'The node was low on resource: memory.',
    };
    return this;
  }
  terminating(deletionSeconds: number): this {
    this.p.metadata!.deletionTimestamp = at(deletionSeconds);
    return this;
  }
  obj(): k8s.V1Pod {
    return structuredClone(this.p);
  }
}
export const aPod = (recipe: string, rank: number, generation = 1) =>
  new PodBuilder(recipe, rank, generation);

function cs(state: k8s.V1ContainerState): k8s.V1ContainerStatus {
  return {
    name: WORKER_CONTAINER,
    image: 'x',
    imageID: '',
    ready: state.running !== undefined,
    restartCount: 0,
    state,
  };
}

/** The group of a recipe, all pods in the same state. */
export function group(
  recipe: string,
  workers: number,
  generation: number,
  f: (b: PodBuilder) => PodBuilder,
): k8s.V1Pod[] {
  return Array.from({ length: workers }, (_, r) => f(aPod(recipe, r, generation)).obj());
}

export interface ObservedOptions {
  nodes?: Record<string, NodeHealth>;
  progress?: ProgressReport;
  /** Children as a previous plan produced them (steady state). */
  children?: Plan['children'];
}

export function observe(pods: k8s.V1Pod[], opts: ObservedOptions = {}): Observed {
  const nodes = new Map<string, NodeHealth>(
    Object.entries(opts.nodes ?? { 'node-a': { ready: true }, 'node-b': { ready: true } }),
  );
  const o: Observed = { pods, nodes };
  if (opts.children?.secret) o.secret = opts.children.secret;
  if (opts.children?.configMap) o.configMap = opts.children.configMap;
  if (opts.children?.service) o.service = opts.children.service;
  if (opts.children?.networkPolicy) o.networkPolicy = opts.children.networkPolicy;
  if (opts.progress) o.progress = opts.progress;
  return o;
}

/** As the reconciler plans: the raw recipe's spec parsed at the edge, then planRecipe. */
export function planFor(recipe: TrainingRecipeObject, observed: Observed, ctx: PlanContext): Plan {
  return planRecipe(parseRecipeObject(recipe), observed, ctx);
}

/** The recipe after the plan's status patch was written (what the next reconcile reads). */
export function applyStatus(recipe: TrainingRecipeObject, plan: Plan): TrainingRecipeObject {
  const next = structuredClone(recipe);
  if (plan.statusPatch) next.status = structuredClone(plan.statusPatch);
  return next;
}

export const podActions = (plan: Plan) =>
  plan.actions.filter((a) => a.kind === 'createPod' || a.kind === 'deletePod');
export const kinds = (plan: Plan) => plan.actions.map((a) => a.kind);
export const condition = (status: TrainingRecipeStatus | null | undefined, type: string) =>
  status?.conditions?.find((c) => c.type === type);
