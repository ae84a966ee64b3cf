/**
 * Creation: the recipe's children (token Secret, recipe ConfigMap, headless Service,
 * NetworkPolicy) kept as desired by content hash, and the pods of the current group —
 * the whole group in one pass, once no pod of an earlier group holds the names.
 */
import type * as k8s from '@kubernetes/client-node';
import {
  buildConfigMap,
  buildNetworkPolicy,
  buildPod,
  buildSecret,
  buildService,
  specHashOf,
} from './children.js';
import { ConditionType, Phase, Reason } from './conditions.js';
import type { Draft } from './draft.js';
import type { PodView } from './pods.js';
import { groupSize, recordGroup } from './elastic.js';
import type { Child, TrainingRecipeSpec } from './types.js';

/** Applies every non-pod child that is missing or differs from what the spec gives. */
export function ensureChildren(d: Draft, spec: TrainingRecipeSpec): void {
  const o = d.observed;
  const out = d.children;
  // The token is generated once: an existing Secret is never rewritten.
  out.secret = o.secret ?? buildSecret(d.meta, d.ctx.newToken);
  if (!o.secret) apply(d, out.secret);
  const others: Array<[Child, { metadata?: k8s.V1ObjectMeta } | undefined]> = [
    [(out.configMap = buildConfigMap(d.meta, spec)), o.configMap],
    [(out.service = buildService(d.meta)), o.service],
    [(out.networkPolicy = buildNetworkPolicy(d.meta, d.settings)), o.networkPolicy],
  ];
  for (const [want, have] of others) {
    if (specHashOf(want) !== specHashOf(have)) apply(d, want);
  }
}

function apply(d: Draft, object: Child): void {
  d.actions.push({ kind: 'apply', object: object as Child & { apiVersion: string; kind: string } });
}

/** The current group's pods, one per rank (index = rank); also the plan's desired pods. */
export function groupPods(d: Draft, spec: TrainingRecipeSpec): k8s.V1Pod[] {
  const pods: k8s.V1Pod[] = [];
  const size = groupSize(d, spec);
  for (let rank = 0; rank < size; rank++) {
    pods.push(
      buildPod({
        meta: d.meta,
        spec,
        rank,
        generation: d.generation,
        settings: d.settings,
        lastCheckpointTime: d.status.lastCheckpoint?.time,
        worldSize: size,
      }),
    );
  }
  d.children.pods = pods;
  return pods;
}

/**
 * Creates the ranks that have no pod. False when it cannot yet: pod names are per rank, so
 * the new group starts only once the `stale` pods of an earlier group are gone.
 */
export function createMissing(
  d: Draft,
  spec: TrainingRecipeSpec,
  size: number,
  missing: readonly k8s.V1Pod[],
  stale: readonly PodView[],
): boolean {
  if (missing.length === 0) return true;
  if (stale.length > 0) {
    d.status.phase = Phase.Pending;
    d.condition(
      ConditionType.Running,
      'False',
      Reason.PodsPending,
      `waiting for ${stale.length} pod(s) of an earlier group to go away`,
    );
    return false;
  }
  for (const pod of missing) d.actions.push({ kind: 'createPod', pod });
  if (missing.length === size) {
    // The group's size, written with its creation (status.group; elastic.ts reads it).
    recordGroup(d, spec, size);
    const current = d.generation;
    d.event('Normal', Reason.ChildrenCreated, `Created worker group ${current}: ${size} pod(s)`);
    d.condition(
      ConditionType.Created,
      'True',
      Reason.ChildrenCreated,
      `worker group ${current}: ${size} pod(s), Secret, ConfigMap, Service, NetworkPolicy`,
    );
  }
  return true;
}
