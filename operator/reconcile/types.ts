/**
 * The shapes the pure planner works on: the recipe as the API server holds it, what the
 * informers observed, and the plan it returns. The status and progress types are the API's
 * (api/status.ts, api/progress.ts), derived from the schema. Kubernetes objects are the client's own
 * types so the apply layer sends them unchanged.
 */
import type * as k8s from '@kubernetes/client-node';
import type { ProgressReport } from '../../api/progress.js';
import type { TrainingRecipeSpec } from '../../api/schema.js';
import type { TrainingRecipeStatus } from '../../api/status.js';
import type { TrainingStudyStatus } from '../../api/study.js';
import type { KueueWorkload } from './kueue.js';

/** A TrainingRecipe object as read from the API (spec unvalidated: the planner validates). */
export interface TrainingRecipeObject {
  apiVersion?: string;
  kind?: string;
  metadata: k8s.V1ObjectMeta & { name: string; namespace: string; uid: string };
  spec: unknown;
  status?: TrainingRecipeStatus;
}

/** A TrainingStudy object as read from the API (spec unvalidated: the planner validates). */
export interface TrainingStudyObject {
  apiVersion?: string;
  kind?: string;
  metadata: k8s.V1ObjectMeta & { name: string; namespace: string; uid: string };
  spec: unknown;
  status?: TrainingStudyStatus;
}

export interface NodeHealth {
  ready: boolean;
  /** When the Ready condition last changed (ISO time); absent = unknown. */
  since?: string;
}

export interface Observed {
  pods: readonly k8s.V1Pod[];
  secret?: k8s.V1Secret;
  configMap?: k8s.V1ConfigMap;
  service?: k8s.V1Service;
  networkPolicy?: k8s.V1NetworkPolicy;
  /** Health of the nodes the recipe's pods are bound to; a node absent here is gone. */
  nodes: ReadonlyMap<string, NodeHealth>;
  progress?: ProgressReport;
  /** The recipe's Kueue Workload (its pod group), when it names a queue and Kueue made one. */
  workload?: KueueWorkload;
}

/** Knobs of the planner; the operator's config fills them, tests shorten them. */
export interface PlannerSettings {
  /** The worker image when the recipe names none (spec.image) and has no GPUs. */
  defaultImage: string;
  /** The same for recipes with gpusPerWorker > 0 (the CUDA image, trainer/Dockerfile.gpu). */
  defaultGpuImage: string;
  /** The worker command; tests swap in a simulated worker. */
  workerCommand: readonly string[];
  /** Namespace and pod labels of the operator, allowed through each recipe's NetworkPolicy. */
  operatorNamespace: string;
  operatorPodLabels: Readonly<Record<string, string>>;
  /** A pod on a NotReady node this long counts as lost. */
  nodeLostGraceSeconds: number;
  /** A pod still Terminating this long past its deletion deadline on a NotReady node is force-deleted. */
  forceDeleteAfterSeconds: number;
  /** After rank 0 exits 0, other ranks get this long to exit by themselves before deletion. */
  successGraceSeconds: number;
  /** Delay before recreating a failed group: base·2^(restarts−1), capped. */
  restartBackoffBaseSeconds: number;
  restartBackoffMaxSeconds: number;
  /** How often progress.json is read while a group runs. */
  progressIntervalSeconds: number;
  /** SIGTERM → SIGKILL time for workers (they checkpoint on SIGTERM). */
  terminationGracePeriodSeconds: number;
}

export interface PlanContext {
  now: Date;
  /** A fresh ring token, used only when the recipe has no token Secret yet. */
  newToken: string;
  settings: PlannerSettings;
}

/** A seed's child TrainingRecipe (spec.seeds), as the operator applies it. */
export interface SeedRecipeManifest {
  apiVersion: string;
  kind: string;
  metadata: k8s.V1ObjectMeta;
  spec: TrainingRecipeSpec;
}

export type Child =
  k8s.V1Secret | k8s.V1ConfigMap | k8s.V1Service | k8s.V1NetworkPolicy | SeedRecipeManifest;

export type Action =
  /** Server-side apply of a Secret/ConfigMap/Service/NetworkPolicy that is missing or differs. */
  | { kind: 'apply'; object: Child & { apiVersion: string; kind: string } }
  | { kind: 'createPod'; pod: k8s.V1Pod }
  /** `force` = grace period 0: the kubelet is gone, nobody else will finish the deletion. */
  | { kind: 'deletePod'; name: string; uid: string; force: boolean; why: string }
  | { kind: 'deleteChild'; apiVersion: string; objectKind: string; name: string }
  /** Merge-patches annotations of a pod (e.g. the last checkpoint time). */
  | { kind: 'annotatePod'; name: string; uid: string; annotations: Record<string, string> };

export interface EventSpec {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface Plan {
  /** Every child the recipe should have now (pods: the current group's full set). */
  children: {
    secret?: k8s.V1Secret;
    configMap?: k8s.V1ConfigMap;
    service?: k8s.V1Service;
    networkPolicy?: k8s.V1NetworkPolicy;
    pods: k8s.V1Pod[];
  };
  /** The whole new status, or null when it equals the observed one (no write). */
  statusPatch: TrainingRecipeStatus | null;
  /** Writes needed to get from observed to desired, in order (after the status patch). */
  actions: Action[];
  events: EventSpec[];
  /** Reconcile again after this long even if nothing changes (timers, progress polling). */
  requeueAfterMs?: number;
}

export type { TrainingRecipeSpec };
