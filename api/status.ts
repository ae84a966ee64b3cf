/**
 * The words of a recipe's status: phases, condition types and reasons. Named constants next
 * to the status schema (api/schema.ts), so status, events, tests and
 * `kubectl wait --for=condition=…` all spell them the same way.
 */
import type { Phase as PhaseName } from './schema.js';

export type Phase = PhaseName;

/** status.phase values. */
export const Phase = Object.freeze({
  Pending: 'Pending',
  Starting: 'Starting',
  Running: 'Running',
  Restarting: 'Restarting',
  Suspended: 'Suspended',
  Succeeded: 'Succeeded',
  Failed: 'Failed',
} as const satisfies Record<PhaseName, PhaseName>);

/** status.conditions[].type values. */
export const ConditionType = Object.freeze({
  /** Children (Secret, ConfigMap, Service, Pods) exist for the current generation. */
  Created: 'Created',
  /** Every worker pod is running. */
  Running: 'Running',
  /** The group is being restarted from the last checkpoint. */
  Restarting: 'Restarting',
  /** spec.runPolicy.suspend is true and the pods are gone. */
  Suspended: 'Suspended',
  /** Training finished and the weights are published. Terminal. */
  Succeeded: 'Succeeded',
  /** Training cannot finish. Terminal. */
  Failed: 'Failed',
} as const);
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

/** status.conditions[].reason values (CamelCase, as the API conventions ask). */
export const Reason = Object.freeze({
  ChildrenCreated: 'ChildrenCreated',
  PodsPending: 'PodsPending',
  AllWorkersRunning: 'AllWorkersRunning',
  WorkerFailed: 'WorkerFailed',
  WorkerPreempted: 'WorkerPreempted',
  RestartingFromCheckpoint: 'RestartingFromCheckpoint',
  BackoffLimitExceeded: 'BackoffLimitExceeded',
  DeadlineExceeded: 'DeadlineExceeded',
  MaxWaitExceeded: 'MaxWaitExceeded',
  InvalidRecipe: 'InvalidRecipe',
  /** A worker exited with ExitCode.invalidInput: retrying cannot help. */
  WorkerInvalidInput: 'WorkerInvalidInput',
  TrainingCompleted: 'TrainingCompleted',
  SuspendedByUser: 'SuspendedByUser',
  Resumed: 'Resumed',
  /** All pods are bound to nodes; some containers are not running yet. */
  ContainersStarting: 'ContainersStarting',
  /** The group was stopped (restart, suspension or the end of the run). */
  GroupStopped: 'GroupStopped',
  /** A worker's node stayed NotReady past the grace: the group restarts. */
  NodeLost: 'NodeLost',
  /** A worker pod was deleted by someone else: the group restarts. */
  PodDeleted: 'PodDeleted',
  /** The next group was created after a restart. */
  GroupRecreated: 'GroupRecreated',
  /** The API server refused a worker pod (e.g. an invalid resource quantity). */
  PodCreateFailed: 'PodCreateFailed',
  /** Events only: ttlSecondsAfterFinished passed; pod stuck Terminating force-deleted. */
  CleanedUp: 'CleanedUp',
  ForceDeleted: 'ForceDeleted',
} as const);
export type Reason = (typeof Reason)[keyof typeof Reason];
