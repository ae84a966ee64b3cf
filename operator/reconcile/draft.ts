/**
 * A plan while it is being drawn up: the new status, the writes, events and timers that the
 * phases add to, and the moves they share — set a condition, stop a pod, wait until a moment.
 * Only plan.ts creates one and turns it into a Plan.
 */
import type { ProgressReport } from '../../api/progress.js';
import type { Condition, TrainingRecipeStatus } from '../../api/status.js';
import { canonicalJson } from '../../common/canonical-json.js';
import { COMPONENT_CAPACITY_PROBE, LABEL_COMPONENT } from '../../api/names.js';
import { Reason, findCondition, setCondition, type ConditionType } from './conditions.js';
import { classifyPod, isFinished, type PodView } from './pods.js';
import type { ParsedRecipe } from './spec.js';
import type { Action, EventSpec, Observed, Plan, PlanContext, PlannerSettings } from './types.js';

export class Draft {
  readonly meta: ParsedRecipe['metadata'];
  /** The status as read; `status` is the one being written. */
  readonly prev: TrainingRecipeStatus;
  readonly status: TrainingRecipeStatus;
  readonly now: Date;
  readonly settings: PlannerSettings;
  /** The recipe's worker pods, classified. */
  readonly views: readonly PodView[];
  /** Its capacity probes (runPolicy.elastic, elastic.ts). */
  readonly probes: readonly PodView[];
  readonly children: Plan['children'] = { pods: [] };
  readonly actions: Action[] = [];
  private readonly events: EventSpec[] = [];
  private readonly timers: number[] = [];
  private readonly deleting = new Set<string>();

  constructor(
    recipe: ParsedRecipe,
    readonly observed: Observed,
    readonly ctx: PlanContext,
  ) {
    this.meta = recipe.metadata;
    this.prev = recipe.status ?? {};
    this.status = structuredClone(this.prev);
    this.now = ctx.now;
    this.settings = ctx.settings;
    const all = observed.pods.map((pod) =>
      classifyPod(pod, {
        now: ctx.now,
        nodes: observed.nodes,
        nodeLostGraceSeconds: ctx.settings.nodeLostGraceSeconds,
      }),
    );
    const isProbe = (v: PodView) =>
      v.pod.metadata?.labels?.[LABEL_COMPONENT] === COMPONENT_CAPACITY_PROBE;
    this.views = all.filter((v) => !isProbe(v));
    this.probes = all.filter(isProbe);
  }

  /** The current worker group (pods carry it as a label). */
  get generation(): number {
    return this.status.groupGeneration ?? 0;
  }

  /**
   * The one way the plan sets a condition. lastTransitionTime moves only when the status
   * flips; `ifPresent` updates a condition without creating it (conditions appear when they
   * first become relevant).
   */
  condition(
    type: ConditionType,
    status: Condition['status'],
    reason: Reason,
    message: string,
    opts: { ifPresent?: boolean } = {},
  ): void {
    if (opts.ifPresent && !findCondition(this.status.conditions, type)) return;
    this.status.conditions = setCondition(
      this.status.conditions,
      { type, status, reason, message },
      this.now,
    );
  }

  event(type: EventSpec['type'], reason: Reason, message: string): void {
    this.events.push({ type, reason, message });
  }

  /** A condition whose reason another controller chose (Kueue's), copied verbatim. */
  conditionFrom(
    type: ConditionType,
    status: Condition['status'],
    foreignReason: string,
    message: string,
  ): void {
    this.status.conditions = setCondition(
      this.status.conditions,
      { type, status, reason: foreignReason, message },
      this.now,
    );
  }

  /** An event with another controller's reason (Kueue's), copied verbatim. */
  eventFrom(type: EventSpec['type'], foreignReason: string, message: string): void {
    this.events.push({ type, reason: foreignReason, message });
  }

  /** Reconcile again after `ms` (at least 100 ms) even if nothing changes. */
  timer(ms: number): void {
    this.timers.push(Math.max(ms, 100));
  }

  /** Has the moment `dueMs` (epoch ms) come? If not, a timer wakes the recipe then. */
  reached(dueMs: number): boolean {
    const now = this.now.getTime();
    if (now >= dueMs) return true;
    this.timer(dueMs - now);
    return false;
  }

  /**
   * Deletes a pod (once). Pods whose kubelet is gone are force-deleted: nobody else would
   * ever finish their deletion, and their names block the next group.
   */
  stop(v: PodView, why: string): void {
    if (this.deleting.has(v.uid)) return;
    const node = v.pod.spec?.nodeName;
    if (v.terminating) {
      if (!node) return;
      if (!v.nodeLost) {
        this.nodeTimer(v);
        return;
      }
      const deadline = toMs(v.pod.metadata?.deletionTimestamp) ?? this.now.getTime();
      if (!this.reached(deadline + this.settings.forceDeleteAfterSeconds * 1000)) return;
      this.deleting.add(v.uid);
      this.actions.push({
        kind: 'deletePod',
        name: v.name,
        uid: v.uid,
        force: true,
        why: `${why}; stuck terminating on lost node ${node}`,
      });
      this.event(
        'Warning',
        Reason.ForceDeleted,
        `Force-deleted ${v.name}: stuck terminating on lost node ${node}`,
      );
      return;
    }
    this.deleting.add(v.uid);
    const force = v.nodeLost || !node;
    this.actions.push({ kind: 'deletePod', name: v.name, uid: v.uid, force, why });
  }

  /** Stops every pod that still holds node resources (finished pods keep their logs). */
  stopUnfinished(why: string): void {
    for (const v of [...this.views, ...this.probes]) if (!isFinished(v)) this.stop(v, why);
  }

  /** Look again when a NotReady node's grace runs out. */
  nodeTimer(v: PodView): void {
    const name = v.pod.spec?.nodeName;
    const node = name ? this.observed.nodes.get(name) : undefined;
    if (!node || node.ready || v.nodeLost || !node.since) return;
    const due = Date.parse(node.since) + this.settings.nodeLostGraceSeconds * 1000;
    if (due > this.now.getTime()) this.timer(due - this.now.getTime());
  }

  /** Copies what the trainer last reported (progress.json) into the status. */
  applyProgress(): void {
    if (this.observed.progress) mergeProgress(this.status, this.observed.progress);
  }

  /** The finished plan; `withStatus: false` never writes the status (a recipe being deleted). */
  result(withStatus: boolean): Plan {
    const changed =
      withStatus &&
      canonicalJson(stripUndefined(this.status)) !== canonicalJson(stripUndefined(this.prev));
    const plan: Plan = {
      children: this.children,
      statusPatch: changed ? stripUndefined(this.status) : null,
      actions: this.actions,
      events: this.events,
    };
    if (this.timers.length > 0) plan.requeueAfterMs = Math.min(...this.timers);
    return plan;
  }
}

/** Copies what the trainer reported into the status (only fields it actually reported). */
function mergeProgress(status: TrainingRecipeStatus, p: ProgressReport): void {
  const progress = { ...status.progress };
  for (const k of [
    'epoch',
    'epochs',
    'step',
    'totalSteps',
    'imagesPerSec',
    'etaSeconds',
  ] as const) {
    if (p[k] !== undefined) progress[k] = p[k];
  }
  if (Object.keys(progress).length > 0) status.progress = progress;
  if (p.metrics && Object.keys(p.metrics).length > 0)
    status.metrics = { ...status.metrics, ...p.metrics };
  if (p.lastCheckpoint && Object.keys(p.lastCheckpoint).length > 0)
    status.lastCheckpoint = { ...p.lastCheckpoint };
  if (p.weights) status.weights = p.weights;
  if (p.goodput) status.goodput = { ...p.goodput };
  if (p.workerThreads) status.workerThreads = { ...p.workerThreads };
  if (p.eval) status.eval = structuredClone(p.eval);
}

export function toMs(t: Date | string | undefined | null): number | undefined {
  if (t === undefined || t === null) return undefined;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isFinite(ms) ? ms : undefined;
}

/** JSON round trip: drops undefined fields so "unchanged" compares equal. */
function stripUndefined<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
