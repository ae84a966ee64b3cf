/**
 * The TrainingRecipe resource as the operator sees it: names, the TS type, and the condition
 * types and reasons it reports (named constants next to the types, so status, events and
 * tests cannot drift apart). Spec and status schemas live in trainer/recipe/schema.ts — the
 * trainer validates the same spec and must not import the operator.
 */
import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { Phase as PhaseName, TrainingRecipeSpec, TrainingRecipeStatus } from './schema.js';

export const GROUP = 'ringmaster.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}` as const;
export const KIND = 'TrainingRecipe';
export const LIST_KIND = 'TrainingRecipeList';
export const PLURAL = 'trainingrecipes';
export const SINGULAR = 'trainingrecipe';
export const SHORT_NAMES: readonly string[] = Object.freeze(['recipe', 'tr']);
export const CATEGORIES: readonly string[] = Object.freeze(['ringmaster']);
/** metadata.name of the CRD object. */
export const CRD_NAME = `${PLURAL}.${GROUP}`;

export interface TrainingRecipe {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: V1ObjectMeta;
  spec: TrainingRecipeSpec;
  status?: TrainingRecipeStatus;
}

export interface TrainingRecipeList {
  apiVersion: typeof API_VERSION;
  kind: typeof LIST_KIND;
  metadata: { resourceVersion?: string; continue?: string };
  items: TrainingRecipe[];
}

export type { TrainingRecipeSpec, TrainingRecipeStatus };
export type Phase = PhaseName;
export type { Condition } from './schema.js';

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
  // Used by the operator's plan (operator/reconcile/plan.ts and its phase files).
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
