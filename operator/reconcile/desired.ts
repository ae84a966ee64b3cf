/**
 * The planner: a pure function from (recipe, what the caches show, now) to the desired
 * children, the new status and the writes that get there. Everything that decides lives
 * here and is unit-tested without an API server; reconciler.ts only carries the plan out.
 *
 * Decisions are written ahead: a plan that tears a group down also bumps `restarts` and
 * `groupGeneration` in the status, and the reconciler patches the status (with the
 * resourceVersion it read as a precondition) before it touches pods. A reconcile that
 * works from a stale cache therefore fails its status patch and retries instead of
 * counting the same failure twice.
 */
import type * as k8s from '@kubernetes/client-node';
import { InputError, describeError, type InputIssue } from '../../trainer/errors.js';
import { parseTrainingRecipe } from '../../trainer/recipe/load.js';
import type { TrainingRecipeSpec } from '../../trainer/recipe/schema.js';
import {
  buildConfigMap,
  buildNetworkPolicy,
  buildPod,
  buildSecret,
  buildService,
  specHashOf,
} from './children.js';
import {
  ConditionType,
  Phase,
  Reason,
  findCondition,
  setCondition,
  updateIfPresent,
} from './conditions.js';
import { canonical, names } from './names.js';
import { classifyPod, isFinished, waitingSummary, type PodFailure, type PodView } from './pods.js';
import type {
  Action,
  EventSpec,
  Observed,
  Plan,
  PlanContext,
  ProgressReport,
  RecipeStatus,
  TrainingRecipeObject,
} from './types.js';

const FINISHED: ReadonlySet<string> = new Set([Phase.Succeeded, Phase.Failed]);
const ACTIVE: ReadonlySet<string> = new Set([Phase.Pending, Phase.Starting, Phase.Running]);

/** Seconds to wait before recreating a group after its `restarts`-th failure. */
export function restartDelaySeconds(restarts: number, base: number, max: number): number {
  if (restarts <= 0 || base <= 0) return 0;
  return Math.min(max, base * 2 ** (restarts - 1));
}

export function desiredState(
  recipe: TrainingRecipeObject,
  observed: Observed,
  ctx: PlanContext,
): Plan {
  return new Planner(recipe, observed, ctx).plan();
}

class Planner {
  private readonly meta: TrainingRecipeObject['metadata'];
  private readonly prev: RecipeStatus;
  private readonly status: RecipeStatus;
  private readonly now: Date;
  private readonly views: PodView[];
  private readonly actions: Action[] = [];
  private readonly events: EventSpec[] = [];
  private readonly timers: number[] = [];
  private readonly out: Plan['children'] = { pods: [] };
  private readonly deleting = new Set<string>();

  constructor(
    private readonly recipe: TrainingRecipeObject,
    private readonly observed: Observed,
    private readonly ctx: PlanContext,
  ) {
    this.meta = recipe.metadata;
    this.prev = recipe.status ?? {};
    this.status = structuredClone(this.prev);
    this.now = ctx.now;
    this.views = observed.pods.map((pod) =>
      classifyPod(pod, {
        now: ctx.now,
        nodes: observed.nodes,
        nodeLostGraceSeconds: ctx.settings.nodeLostGraceSeconds,
      }),
    );
  }

  plan(): Plan {
    // Being deleted: the garbage collector removes the children; nothing to add.
    if (this.meta.deletionTimestamp) return this.result(false);
    if (this.meta.generation !== undefined) this.status.observedGeneration = this.meta.generation;

    let spec: TrainingRecipeSpec;
    try {
      spec = parseTrainingRecipe(this.recipe.spec, `${this.meta.namespace}/${this.meta.name}`).spec;
      const issues = childNameIssues(this.meta.name, spec.workers);
      if (issues.length > 0) {
        throw new InputError(
          `invalid TrainingRecipe ${this.meta.namespace}/${this.meta.name}`,
          issues,
        );
      }
    } catch (err) {
      this.invalidSpec(err);
      return this.result(true);
    }
    // A recipe that failed validation gets another chance once its spec is fixed.
    if (
      this.prev.phase === Phase.Failed &&
      findCondition(this.prev.conditions, ConditionType.Failed)?.reason === Reason.InvalidRecipe
    ) {
      this.status.phase = undefined;
      this.status.completionTime = undefined;
      this.status.conditions = setCondition(
        this.status.conditions,
        {
          type: ConditionType.Failed,
          status: 'False',
          reason: Reason.InvalidRecipe,
          message: 'the spec is valid now',
        },
        this.now,
      );
    }
    this.run(spec);
    return this.result(true);
  }

  // ---- the state machine ---------------------------------------------------------------

  private run(spec: TrainingRecipeSpec): void {
    const phase = this.status.phase;
    if (phase !== undefined && FINISHED.has(phase)) {
      this.applyProgress();
      this.finished(spec);
      return;
    }
    this.ensureChildren(spec);

    if (spec.runPolicy.suspend) {
      this.suspend();
      return;
    }
    if (phase === Phase.Suspended) this.resume();
    if (this.status.phase === undefined) this.start();

    if (this.deadlinePassed(spec)) return;

    if (this.status.phase === Phase.Restarting) {
      if (!this.restartDue()) return;
    }
    if (ACTIVE.has(this.status.phase ?? '')) this.active(spec);
  }

  private start(): void {
    this.status.phase = Phase.Pending;
    this.status.restarts ??= 0;
    this.status.groupGeneration = (this.status.groupGeneration ?? 0) + 1;
    this.status.startTime = this.now.toISOString();
  }

  private suspend(): void {
    if (this.status.phase !== Phase.Suspended) {
      const n = this.views.filter((v) => !v.terminating).length;
      this.status.phase = Phase.Suspended;
      // As for Jobs: the active deadline restarts when the recipe is resumed.
      this.status.startTime = undefined;
      this.setRunning('False', Reason.SuspendedByUser, 'the recipe is suspended');
      this.status.conditions = setCondition(
        this.status.conditions,
        {
          type: ConditionType.Suspended,
          status: 'True',
          reason: Reason.SuspendedByUser,
          message: `suspended; ${n} pod(s) stopped, the next group resumes from the latest checkpoint`,
        },
        this.now,
      );
      this.status.conditions = updateIfPresent(
        this.status.conditions,
        {
          type: ConditionType.Restarting,
          status: 'False',
          reason: Reason.SuspendedByUser,
          message: 'the recipe is suspended',
        },
        this.now,
      );
      this.event('Normal', Reason.SuspendedByUser, `Suspended: stopping ${n} pod(s)`);
    }
    for (const v of this.views) this.stop(v, 'the recipe is suspended');
  }

  private resume(): void {
    this.status.phase = Phase.Pending;
    this.status.groupGeneration = (this.status.groupGeneration ?? 0) + 1;
    this.status.startTime = this.now.toISOString();
    this.status.conditions = setCondition(
      this.status.conditions,
      {
        type: ConditionType.Suspended,
        status: 'False',
        reason: Reason.Resumed,
        message: 'resumed; the group restarts from the latest checkpoint',
      },
      this.now,
    );
    this.event(
      'Normal',
      Reason.Resumed,
      `Resumed: creating worker group ${this.status.groupGeneration}`,
    );
  }

  private deadlinePassed(spec: TrainingRecipeSpec): boolean {
    const limit = spec.runPolicy.activeDeadlineSeconds;
    if (limit === undefined || !this.status.startTime) return false;
    const due = Date.parse(this.status.startTime) + limit * 1000;
    if (this.now.getTime() < due) {
      this.timer(due - this.now.getTime());
      return false;
    }
    this.fail(Reason.DeadlineExceeded, `active for more than activeDeadlineSeconds=${limit}`);
    return true;
  }

  /** Restarting: tear down what is left, wait for the backoff, then go back to Pending. */
  private restartDue(): boolean {
    const current = this.generation();
    const leftovers = this.views.filter(
      (v) => v.generation === undefined || v.generation < current,
    );
    for (const v of leftovers) this.stop(v, 'tearing down the failed group');
    if (leftovers.length > 0) return false;
    const since = findCondition(
      this.status.conditions,
      ConditionType.Restarting,
    )?.lastTransitionTime;
    const delay = restartDelaySeconds(
      this.status.restarts ?? 0,
      this.ctx.settings.restartBackoffBaseSeconds,
      this.ctx.settings.restartBackoffMaxSeconds,
    );
    const due = (since ? Date.parse(since) : 0) + delay * 1000;
    if (this.now.getTime() < due) {
      this.timer(due - this.now.getTime());
      return false;
    }
    this.status.phase = Phase.Pending;
    this.status.conditions = setCondition(
      this.status.conditions,
      {
        type: ConditionType.Restarting,
        status: 'False',
        reason: Reason.GroupRecreated,
        message: `worker group ${current} created after ${this.status.restarts ?? 0} restart(s)`,
      },
      this.now,
    );
    return true;
  }

  /** Pending, Starting or Running: watch the group, create it when it is missing. */
  private active(spec: TrainingRecipeSpec): void {
    const current = this.generation();
    // Pods newer than the status we read: our own status write is not in the cache yet.
    if (this.views.some((v) => v.generation !== undefined && v.generation > current)) {
      this.timer(1000);
      return;
    }
    const stale = this.views.filter((v) => v.generation === undefined || v.generation < current);
    for (const v of stale) this.stop(v, 'left over from an earlier group');

    const group = this.views.filter((v) => v.generation === current);
    const byRank = new Map<number, PodView>();
    for (const v of group) {
      if (v.rank === undefined || v.rank >= spec.workers || byRank.has(v.rank))
        this.stop(v, 'not a rank of this group');
      else byRank.set(v.rank, v);
    }

    const desiredPods: k8s.V1Pod[] = [];
    for (let rank = 0; rank < spec.workers; rank++) {
      desiredPods.push(
        buildPod({ meta: this.meta, spec, rank, generation: current, settings: this.ctx.settings }),
      );
    }
    this.out.pods = desiredPods;

    // Rank 0 writes the weights and exits 0 only at the very end: it speaks for the group.
    const rank0 = byRank.get(0);
    if (rank0?.state === 'succeeded') {
      this.applyProgress();
      this.succeed();
      this.finished(spec);
      return;
    }

    const failures: PodFailure[] = [];
    for (const v of byRank.values()) if (v.failure) failures.push(v.failure);
    // Once every pod had been created, a pod that vanished was deleted behind our back.
    if (this.prev.phase === Phase.Starting || this.prev.phase === Phase.Running) {
      for (let rank = 0; rank < spec.workers; rank++) {
        if (!byRank.has(rank)) {
          failures.push({
            reason: Reason.PodDeleted,
            retryable: true,
            message: `${names.pod(this.meta.name, rank)} was deleted`,
          });
        }
      }
    }
    if (failures.length > 0) {
      this.groupFailed(spec, failures, [...byRank.values()]);
      return;
    }

    const missing = desiredPods.filter((p) => !byRank.has(rankOf(p)));
    const all = [...byRank.values()];
    const scheduled = all.filter((v) => v.state !== 'pending').length;
    const running = all.filter((v) => v.state === 'running' || v.state === 'succeeded').length;

    if (running < spec.workers && spec.runPolicy.maxWaitSeconds !== undefined && all.length > 0) {
      const since = Math.min(
        ...all.map((v) => toMs(v.pod.metadata?.creationTimestamp) ?? this.now.getTime()),
      );
      const due = since + spec.runPolicy.maxWaitSeconds * 1000;
      if (this.now.getTime() >= due) {
        const why = waitingSummary(all);
        this.fail(
          Reason.MaxWaitExceeded,
          `${running}/${spec.workers} workers running after maxWaitSeconds=${spec.runPolicy.maxWaitSeconds}${why ? ` (${why})` : ''}`,
        );
        return;
      }
      this.timer(due - this.now.getTime());
    }

    if (missing.length > 0) {
      // Pod names are per rank: the new group can only start once the old one is gone.
      if (stale.length > 0) {
        this.status.phase = Phase.Pending;
        this.setRunning(
          'False',
          Reason.PodsPending,
          `waiting for ${stale.length} pod(s) of an earlier group to go away`,
        );
        return;
      }
      for (const pod of missing) this.actions.push({ kind: 'createPod', pod });
      if (missing.length === spec.workers) {
        this.event(
          'Normal',
          Reason.ChildrenCreated,
          `Created worker group ${current}: ${spec.workers} pod(s)`,
        );
        this.status.conditions = setCondition(
          this.status.conditions,
          {
            type: ConditionType.Created,
            status: 'True',
            reason: Reason.ChildrenCreated,
            message: `worker group ${current}: ${spec.workers} pod(s), Secret, ConfigMap, Service, NetworkPolicy`,
          },
          this.now,
        );
      }
    }

    if (missing.length > 0 || scheduled < spec.workers) {
      this.status.phase = Phase.Pending;
      const why = waitingSummary(all);
      this.setRunning(
        'False',
        Reason.PodsPending,
        `${scheduled}/${spec.workers} workers scheduled${why ? `: ${why}` : ''}`,
      );
    } else if (running < spec.workers) {
      this.status.phase = Phase.Starting;
      const why = waitingSummary(all);
      this.setRunning(
        'False',
        Reason.ContainersStarting,
        `${running}/${spec.workers} workers running${why ? `: ${why}` : ''}`,
      );
    } else {
      if (this.prev.phase !== Phase.Running) {
        this.event(
          'Normal',
          Reason.AllWorkersRunning,
          `All ${spec.workers} workers of group ${current} are running`,
        );
      }
      this.status.phase = Phase.Running;
      this.setRunning(
        'True',
        Reason.AllWorkersRunning,
        `${spec.workers}/${spec.workers} workers running`,
      );
      this.applyProgress();
      this.timer(this.ctx.settings.progressIntervalSeconds * 1000);
    }
    // A node going NotReady becomes a failure only after the grace: look again then.
    for (const v of all) this.nodeTimer(v);
  }

  private groupFailed(spec: TrainingRecipeSpec, failures: PodFailure[], group: PodView[]): void {
    const message = failures.map((f) => f.message).join('; ');
    const terminal = failures.find((f) => !f.retryable);
    if (terminal) {
      this.fail(Reason.WorkerInvalidInput, `${terminal.message} (invalid input: not retried)`);
      return;
    }
    const restarts = this.status.restarts ?? 0;
    if (restarts >= spec.runPolicy.backoffLimit) {
      this.fail(
        Reason.BackoffLimitExceeded,
        `backoffLimit=${spec.runPolicy.backoffLimit} reached after ${restarts} restart(s); last failure: ${message}`,
      );
      return;
    }
    this.status.restarts = restarts + 1;
    this.status.groupGeneration = this.generation() + 1;
    this.status.phase = Phase.Restarting;
    const reason = failures[0]!.reason;
    this.status.conditions = setCondition(
      this.status.conditions,
      {
        type: ConditionType.Restarting,
        status: 'True',
        reason,
        message: `restart ${restarts + 1}/${spec.runPolicy.backoffLimit}: ${message}`,
      },
      this.now,
    );
    this.setRunning('False', Reason.GroupStopped, 'the worker group is restarting');
    this.event(
      'Warning',
      reason,
      `Restarting the worker group (${restarts + 1}/${spec.runPolicy.backoffLimit}): ${message}`,
    );
    // The whole group goes at once: a ring cannot take back one member, and GPUs are freed now.
    for (const v of group) this.stop(v, 'the group restarts', true);
    const delay = restartDelaySeconds(
      restarts + 1,
      this.ctx.settings.restartBackoffBaseSeconds,
      this.ctx.settings.restartBackoffMaxSeconds,
    );
    this.timer(Math.max(delay * 1000, 1000));
  }

  private succeed(): void {
    this.status.phase = Phase.Succeeded;
    this.status.completionTime = this.now.toISOString();
    this.status.conditions = setCondition(
      this.status.conditions,
      {
        type: ConditionType.Succeeded,
        status: 'True',
        reason: Reason.TrainingCompleted,
        message: this.status.weights
          ? `training finished; weights at ${this.status.weights}`
          : 'training finished',
      },
      this.now,
    );
    this.setRunning('False', Reason.TrainingCompleted, 'training finished');
    this.status.conditions = updateIfPresent(
      this.status.conditions,
      {
        type: ConditionType.Restarting,
        status: 'False',
        reason: Reason.TrainingCompleted,
        message: 'training finished',
      },
      this.now,
    );
    this.event(
      'Normal',
      Reason.TrainingCompleted,
      `Training finished${this.status.weights ? `: weights at ${this.status.weights}` : ''}`,
    );
  }

  private fail(reason: Reason, message: string): void {
    this.status.phase = Phase.Failed;
    this.status.completionTime = this.now.toISOString();
    this.status.conditions = setCondition(
      this.status.conditions,
      {
        type: ConditionType.Failed,
        status: 'True',
        reason,
        message,
      },
      this.now,
    );
    this.setRunning('False', reason, message);
    this.status.conditions = updateIfPresent(
      this.status.conditions,
      {
        type: ConditionType.Restarting,
        status: 'False',
        reason,
        message: 'the recipe failed',
      },
      this.now,
    );
    this.event('Warning', reason, message);
    // Release GPUs now; finished pods stay (their logs) until ttlSecondsAfterFinished.
    for (const v of this.views) if (!isFinished(v)) this.stop(v, 'the recipe failed');
  }

  private invalidSpec(err: unknown): void {
    const message =
      err instanceof InputError ? describeError(err).replace(/\n\s*/g, '; ') : describeError(err);
    const prevFailed = findCondition(this.prev.conditions, ConditionType.Failed);
    if (
      this.prev.phase !== Phase.Failed ||
      prevFailed?.reason !== Reason.InvalidRecipe ||
      prevFailed.message !== message
    ) {
      this.status.phase = Phase.Failed;
      this.status.completionTime = this.now.toISOString();
      this.status.conditions = setCondition(
        this.status.conditions,
        {
          type: ConditionType.Failed,
          status: 'True',
          reason: Reason.InvalidRecipe,
          message,
        },
        this.now,
      );
      this.setRunning('False', Reason.InvalidRecipe, 'the spec is invalid');
      this.event('Warning', Reason.InvalidRecipe, message);
    }
    for (const v of this.views) if (!isFinished(v)) this.stop(v, 'the spec is invalid');
  }

  /** Succeeded or Failed: stop stragglers, keep finished pods until the TTL, then clean up. */
  private finished(spec: TrainingRecipeSpec): void {
    const ttl = spec.runPolicy.ttlSecondsAfterFinished;
    const done = toMs(this.status.completionTime) ?? this.now.getTime();
    if (ttl !== undefined) {
      const due = done + ttl * 1000;
      if (this.now.getTime() >= due) {
        this.cleanup(ttl);
        return;
      }
      this.timer(due - this.now.getTime());
    }
    const rank0Done = this.views.find((v) => v.rank === 0 && v.state === 'succeeded')?.finishedAt;
    for (const v of this.views) {
      if (isFinished(v)) continue;
      if (this.status.phase === Phase.Succeeded && !v.terminating && !v.nodeLost) {
        // Other ranks normally exit 0 right after rank 0; give them the chance to.
        const due = (rank0Done?.getTime() ?? done) + this.ctx.settings.successGraceSeconds * 1000;
        if (this.now.getTime() < due) {
          this.timer(due - this.now.getTime());
          continue;
        }
      }
      this.stop(v, 'the recipe has finished');
    }
  }

  /**
   * ttlSecondsAfterFinished passed: the pods (and their logs) and the other children go; the
   * recipe stays as the record of the run (status: metrics, weights URI) until its owner
   * deletes it. Unlike a Job's TTL, which deletes the Job itself — see docs/operator.md.
   */
  private cleanup(ttl: number): void {
    let n = 0;
    for (const v of this.views) {
      this.stop(v, 'ttlSecondsAfterFinished passed', true);
      n++;
    }
    const o = this.observed;
    const children: Array<[k8s.KubernetesObject | undefined, string, string]> = [
      [o.secret, 'v1', 'Secret'],
      [o.configMap, 'v1', 'ConfigMap'],
      [o.service, 'v1', 'Service'],
      [o.networkPolicy, 'networking.k8s.io/v1', 'NetworkPolicy'],
    ];
    for (const [obj, apiVersion, kind] of children) {
      if (!obj?.metadata?.name) continue;
      this.actions.push({
        kind: 'deleteChild',
        apiVersion,
        objectKind: kind,
        name: obj.metadata.name,
      });
      n++;
    }
    if (n > 0) {
      this.event(
        'Normal',
        Reason.CleanedUp,
        `ttlSecondsAfterFinished=${ttl} passed: deleted ${n} pod(s) and children; the recipe keeps its status`,
      );
    }
  }

  // ---- children --------------------------------------------------------------------------

  private ensureChildren(spec: TrainingRecipeSpec): void {
    const o = this.observed;
    // The token is generated once: an existing Secret is never rewritten.
    const secret = o.secret ?? buildSecret(this.meta, this.ctx.newToken);
    this.out.secret = secret;
    if (!o.secret)
      this.actions.push({
        kind: 'apply',
        object: secret as Required<Pick<k8s.V1Secret, 'apiVersion' | 'kind'>> & k8s.V1Secret,
      });
    const others: Array<
      [
        k8s.V1ConfigMap | k8s.V1Service | k8s.V1NetworkPolicy,
        { metadata?: k8s.V1ObjectMeta } | undefined,
      ]
    > = [
      [(this.out.configMap = buildConfigMap(this.meta, spec)), o.configMap],
      [(this.out.service = buildService(this.meta)), o.service],
      [
        (this.out.networkPolicy = buildNetworkPolicy(this.meta, this.ctx.settings)),
        o.networkPolicy,
      ],
    ];
    for (const [want, have] of others) {
      if (specHashOf(want) !== specHashOf(have)) {
        this.actions.push({
          kind: 'apply',
          object: want as typeof want & { apiVersion: string; kind: string },
        });
      }
    }
  }

  // ---- helpers ---------------------------------------------------------------------------

  private generation(): number {
    return this.status.groupGeneration ?? 0;
  }

  /**
   * Deletes a pod (once). Pods whose kubelet is gone are force-deleted: nobody else would
   * ever finish their deletion, and their names block the next group.
   */
  private stop(v: PodView, why: string, includeFinished = true): void {
    if (!includeFinished && isFinished(v)) return;
    if (this.deleting.has(v.uid)) return;
    const s = this.ctx.settings;
    if (v.terminating) {
      if (!v.pod.spec?.nodeName) return;
      if (!v.nodeLost) {
        this.nodeTimer(v);
        return;
      }
      const deadline = toMs(v.pod.metadata?.deletionTimestamp) ?? this.now.getTime();
      const due = deadline + s.forceDeleteAfterSeconds * 1000;
      if (this.now.getTime() < due) {
        this.timer(due - this.now.getTime());
        return;
      }
      this.deleting.add(v.uid);
      this.actions.push({
        kind: 'deletePod',
        name: v.name,
        uid: v.uid,
        force: true,
        why: `${why}; stuck terminating on lost node ${v.pod.spec.nodeName}`,
      });
      this.event(
        'Warning',
        Reason.ForceDeleted,
        `Force-deleted ${v.name}: stuck terminating on lost node ${v.pod.spec.nodeName}`,
      );
      return;
    }
    this.deleting.add(v.uid);
    const force = v.nodeLost || !v.pod.spec?.nodeName;
    this.actions.push({ kind: 'deletePod', name: v.name, uid: v.uid, force, why });
  }

  /** Look again when a NotReady node's grace runs out. */
  private nodeTimer(v: PodView): void {
    const node = v.pod.spec?.nodeName ? this.observed.nodes.get(v.pod.spec.nodeName) : undefined;
    if (!node || node.ready || v.nodeLost || !node.since) return;
    const due = Date.parse(node.since) + this.ctx.settings.nodeLostGraceSeconds * 1000;
    if (due > this.now.getTime()) this.timer(due - this.now.getTime());
  }

  private setRunning(status: 'True' | 'False', reason: string, message: string): void {
    this.status.conditions = setCondition(
      this.status.conditions,
      { type: ConditionType.Running, status, reason, message },
      this.now,
    );
  }

  private applyProgress(): void {
    const p = this.observed.progress;
    if (!p) return;
    mergeProgress(this.status, p);
  }

  private event(type: EventSpec['type'], reason: string, message: string): void {
    this.events.push({ type, reason, message });
  }

  private timer(ms: number): void {
    this.timers.push(Math.max(ms, 100));
  }

  private result(withStatus: boolean): Plan {
    const changed =
      withStatus && canonical(stripUndefined(this.status)) !== canonical(stripUndefined(this.prev));
    const plan: Plan = {
      children: this.out,
      statusPatch: changed ? stripUndefined(this.status) : null,
      actions: this.actions,
      events: this.events,
    };
    if (this.timers.length > 0) plan.requeueAfterMs = Math.min(...this.timers);
    return plan;
  }
}

/**
 * What the CRD schema cannot check: the recipe's name must make valid child names. Pod
 * hostnames (`<name>-worker-<rank>`) are DNS labels of at most 63 characters, and the
 * Service name (`<name>-ring`) must start with a letter.
 */
export function childNameIssues(name: string, workers: number): InputIssue[] {
  const issues: InputIssue[] = [];
  const longest = names.pod(name, Math.max(0, workers - 1));
  if (longest.length > 63) {
    issues.push({
      path: 'metadata.name',
      message: `too long: pod hostname "${longest}" has ${longest.length} characters (max 63); use at most ${63 - (longest.length - name.length)}`,
    });
  }
  if (!/^[a-z]/.test(name)) {
    issues.push({
      path: 'metadata.name',
      message: 'must start with a letter (it names the headless Service)',
    });
  }
  return issues;
}

/** Copies what the trainer reported into the status (only fields it actually reported). */
export function mergeProgress(status: RecipeStatus, p: ProgressReport): void {
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
}

function rankOf(pod: k8s.V1Pod): number {
  return Number(pod.metadata?.labels?.['ringmaster.dev/rank']);
}

function toMs(t: Date | string | undefined | null): number | undefined {
  if (t === undefined || t === null) return undefined;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isFinite(ms) ? ms : undefined;
}

/** JSON round trip: drops undefined fields so "unchanged" compares equal. */
function stripUndefined<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
