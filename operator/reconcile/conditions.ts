/**
 * Phases, condition types and reasons. Reasons are named constants so tests, docs, events
 * and `kubectl wait --for=condition=…` all spell them the same way.
 */
import type { Condition, ConditionType } from '../../api/status.js';

// Phases, condition types and reasons are the API's (api/status.ts).
export { ConditionType, Phase, Reason } from '../../api/status.js';

/**
 * Sets a condition, keeping lastTransitionTime when the status does not change (the
 * Kubernetes convention: the time says when it became true/false, not when last written).
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: Omit<Condition, 'lastTransitionTime'>,
  now: Date,
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const prev = i >= 0 ? list[i] : undefined;
  const lastTransitionTime =
    prev && prev.status === next.status ? prev.lastTransitionTime : now.toISOString();
  const cond: Condition = { ...next, lastTransitionTime };
  if (i >= 0) list[i] = cond;
  else list.push(cond);
  return list;
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: ConditionType,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
