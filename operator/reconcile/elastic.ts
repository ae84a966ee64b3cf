/**
 * Elastic resize (runPolicy.elastic, docs/elastic.md): the size of the current group, and the
 * three ways it changes — capacity lost (a node lost, or pods unschedulable for graceSeconds:
 * restart at the largest feasible size that fits, from the last checkpoint), capacity back
 * (capacity probes for the missing workers ran for graceSeconds: restart at full size), and
 * spec.workers changed by the user. A feasible size divides spec.workers (api/elastic.ts): the
 * trainer then runs spec.workers / size original ranks per pod as accumulation micro-steps, so
 * the global batch and everything it computes stay those of spec.workers.
 */
import type * as k8s from '@kubernetes/client-node';
import { isFeasibleSize, largestFeasibleSize } from '../../api/elastic.js';
import { buildProbe } from './children.js';
import { ConditionType, Phase, Reason } from './conditions.js';
import { toMs, type Draft } from './draft.js';
import { names } from './names.js';
import type { PodFailure, PodView } from './pods.js';
import type { TrainingRecipeSpec } from './types.js';

type ResizeReason =
  typeof Reason.CapacityLost | typeof Reason.CapacityReturned | typeof Reason.WorkersChanged;

/** The size a fresh group starts at: spec.workers, or the largest feasible ≤ maxWorkers. */
export function targetSize(spec: TrainingRecipeSpec): number {
  const range = spec.runPolicy.elastic;
  if (!range) return spec.workers;
  return largestFeasibleSize(spec.workers, range, spec.workers) ?? spec.workers;
}

/** Pods in the current group: what status.group says, while it still fits the spec. */
export function groupSize(d: Draft, spec: TrainingRecipeSpec): number {
  const g = d.status.group;
  if (g && g.logicalWorkers === spec.workers && fits(spec, g.workers)) return g.workers;
  return targetSize(spec);
}

function fits(spec: TrainingRecipeSpec, size: number): boolean {
  const range = spec.runPolicy.elastic;
  if (!range) return size === spec.workers;
  return isFeasibleSize(spec.workers, size) && size >= range.minWorkers && size <= range.maxWorkers;
}

/** Writes status.group for the group being created or watched. */
export function recordGroup(d: Draft, spec: TrainingRecipeSpec, size: number): void {
  const last = d.status.group?.lastResize;
  d.status.group = {
    workers: size,
    logicalWorkers: spec.workers,
    accumulationSteps: spec.workers / size,
    ...(last ? { lastResize: last } : {}),
  };
}

/** The group restarts at `to` pods from the last checkpoint; not counted as a restart. */
function resize(
  d: Draft,
  spec: TrainingRecipeSpec,
  to: number,
  reason: ResizeReason,
  why: string,
  group: readonly PodView[],
): void {
  const from = d.prev.group?.workers ?? groupSize(d, spec);
  markResize(d, spec, from, to, reason, why);
  d.status.groupGeneration = d.generation + 1;
  d.status.phase = Phase.Restarting;
  d.condition(
    ConditionType.Restarting,
    'True',
    reason,
    `resizing from ${from} to ${to} worker(s): ${why}`,
  );
  d.condition(ConditionType.Running, 'False', Reason.GroupStopped, 'the worker group is resizing');
  for (const v of group) d.stop(v, 'the group resizes');
  d.timer(1000);
}

function markResize(
  d: Draft,
  spec: TrainingRecipeSpec,
  from: number,
  to: number,
  reason: ResizeReason,
  why: string,
): void {
  d.status.group = {
    workers: to,
    logicalWorkers: spec.workers,
    accumulationSteps: spec.workers / to,
    lastResize: { from, to, reason, time: d.now.toISOString() },
  };
  const k = spec.workers / to;
  const message =
    `from ${from} to ${to} worker(s): ${why}; ` +
    `each pod runs ${k} original rank(s) as ${k} accumulation micro-step(s), from the last checkpoint`;
  d.condition(ConditionType.Resizing, 'True', reason, message);
  d.event(reason === Reason.CapacityReturned ? 'Normal' : 'Warning', reason, `Resizing ${message}`);
}

/** The group of the new size runs: Resizing goes False (when it was ever set). */
export function resized(d: Draft, spec: TrainingRecipeSpec, size: number): void {
  d.condition(
    ConditionType.Resizing,
    'False',
    Reason.Resized,
    `running with ${size} worker(s), ${spec.workers / size} accumulation micro-step(s) each`,
    { ifPresent: true },
  );
}

/** spec.workers changed under a running group: restart it at the new size. */
export function resizeForSpecChange(d: Draft, spec: TrainingRecipeSpec): boolean {
  const g = d.prev.group;
  if (!g || g.logicalWorkers === spec.workers) return false;
  const live = d.views.filter((v) => v.generation === d.generation);
  if (live.length === 0) return false;
  resize(
    d,
    spec,
    targetSize(spec),
    Reason.WorkersChanged,
    `spec.workers changed from ${g.logicalWorkers} to ${spec.workers}: the global batch becomes ` +
      `${spec.workers} × ${spec.recipe.batchSize}`,
    live,
  );
  return true;
}

/**
 * A restart after lost nodes: an elastic group comes back at the largest feasible size the
 * surviving capacity holds (the pods of lost nodes are not counted).
 */
export function shrinkAfterFailures(
  d: Draft,
  spec: TrainingRecipeSpec,
  failures: readonly PodFailure[],
): void {
  const range = spec.runPolicy.elastic;
  if (!range) return;
  const lost = failures.filter((f) => f.reason === Reason.NodeLost).length;
  if (lost === 0) return;
  const size = groupSize(d, spec);
  const to = largestFeasibleSize(spec.workers, range, size - lost);
  if (to === null || to >= size) return;
  markResize(d, spec, size, to, Reason.CapacityLost, `${lost} worker(s) on lost node(s)`);
}

/** When a pod became unschedulable (PodScheduled False, Unschedulable), epoch ms. */
function unschedulableSince(pod: k8s.V1Pod): number | undefined {
  const c = pod.status?.conditions?.find((x) => x.type === 'PodScheduled');
  if (c?.status !== 'False' || c.reason !== 'Unschedulable') return undefined;
  return toMs(c.lastTransitionTime) ?? toMs(pod.metadata?.creationTimestamp);
}

/** Pods unschedulable for graceSeconds: restart at the largest feasible size that was placed. */
export function shrinkIfUnschedulable(
  d: Draft,
  spec: TrainingRecipeSpec,
  group: readonly PodView[],
): boolean {
  const range = spec.runPolicy.elastic;
  if (!range) return false;
  const stuck = group
    .map((v) => ({ v, since: v.state === 'pending' ? unschedulableSince(v.pod) : undefined }))
    .filter((x): x is { v: PodView; since: number } => x.since !== undefined);
  if (stuck.length === 0) return false;
  const size = groupSize(d, spec);
  const to = largestFeasibleSize(spec.workers, range, size - stuck.length);
  if (to === null || to >= size) return false;
  const since = Math.min(...stuck.map((x) => x.since));
  if (!d.reached(since + range.graceSeconds * 1000)) return false;
  const msg = stuck[0]!.v.pod.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message;
  resize(
    d,
    spec,
    to,
    Reason.CapacityLost,
    `${stuck.length} pod(s) unschedulable for ${range.graceSeconds} s${msg ? ` (${msg})` : ''}`,
    group,
  );
  return true;
}

/**
 * A running group smaller than its target keeps one capacity probe per missing worker; when
 * all of them have run for graceSeconds, the probes go and the group restarts at full size.
 */
export function growWhenCapacityReturns(
  d: Draft,
  spec: TrainingRecipeSpec,
  group: readonly PodView[],
): boolean {
  const range = spec.runPolicy.elastic;
  const size = groupSize(d, spec);
  const target = targetSize(spec);
  const want = range && size < target ? target - size : 0;
  const byName = new Map(d.probes.map((p) => [p.name, p]));
  const wanted = Array.from({ length: want }, (_, i) => names.probe(d.meta.name, i));
  for (const p of d.probes) if (!wanted.includes(p.name)) d.stop(p, 'capacity probe not needed');
  if (want === 0) return false;
  const live: PodView[] = [];
  for (const [i, name] of wanted.entries()) {
    const p = byName.get(name);
    if (!p || p.terminating || p.state === 'failed' || p.state === 'succeeded') {
      if (p) d.stop(p, 'capacity probe ended');
      else d.actions.push({ kind: 'createPod', pod: buildProbe(d.meta, spec, i, d.settings) });
      continue;
    }
    if (p.state === 'running') live.push(p);
  }
  const grace = range!.graceSeconds;
  if (live.length < want) {
    d.timer(grace * 1000);
    return false;
  }
  const since = Math.max(...live.map((p) => toMs(p.pod.status?.startTime) ?? d.now.getTime()));
  if (!d.reached(since + grace * 1000)) return false;
  for (const p of live) d.stop(p, 'capacity confirmed: the group grows into it');
  resize(
    d,
    spec,
    target,
    Reason.CapacityReturned,
    `${want} capacity probe(s) ran for ${grace} s`,
    group,
  );
  return true;
}

/** Outside a running group no probe is needed. */
export function dropProbes(d: Draft): void {
  for (const p of d.probes) d.stop(p, 'capacity probe not needed');
}
