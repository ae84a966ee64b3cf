/**
 * What one worker pod says about the group: still coming up, running, done, or failed —
 * and if failed, whether a restart can help. Pure; time and node health are inputs.
 */
import type * as k8s from '@kubernetes/client-node';
import { ExitCode, LABEL_GENERATION, LABEL_RANK } from '../../api/names.js';
import { parseTerminationNote } from '../../api/progress.js';
import { Reason } from './conditions.js';
import { WORKER_CONTAINER } from './names.js';
import type { NodeHealth } from './types.js';

export type PodState = 'pending' | 'scheduled' | 'running' | 'succeeded' | 'failed';

export interface PodFailure {
  reason:
    | typeof Reason.WorkerFailed
    | typeof Reason.WorkerPreempted
    | typeof Reason.WorkerStopped
    | typeof Reason.HangDetected
    | typeof Reason.NodeLost
    | typeof Reason.PodDeleted;
  /** False only for exits that say "your input is wrong" (ExitCode.invalidInput). */
  retryable: boolean;
  exitCode?: number;
  message: string;
  /** The rank the worker's termination note blames (a hung or dead peer). */
  blames?: number;
}

export interface PodView {
  pod: k8s.V1Pod;
  name: string;
  uid: string;
  rank: number | undefined;
  generation: number | undefined;
  state: PodState;
  terminating: boolean;
  /** The kubelet of this pod's node is gone (NotReady past the grace, or the Node deleted). */
  nodeLost: boolean;
  failure?: PodFailure;
  exitCode?: number;
  finishedAt?: Date;
}

export interface ClassifyOptions {
  now: Date;
  nodes: ReadonlyMap<string, NodeHealth>;
  nodeLostGraceSeconds: number;
}

function intLabel(pod: k8s.V1Pod, key: string): number | undefined {
  const v = pod.metadata?.labels?.[key];
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

function toDate(t: Date | string | undefined): Date | undefined {
  if (t === undefined) return undefined;
  return t instanceof Date ? t : new Date(t);
}

function workerTermination(pod: k8s.V1Pod): k8s.V1ContainerStateTerminated | undefined {
  const cs =
    pod.status?.containerStatuses?.find((c) => c.name === WORKER_CONTAINER) ??
    pod.status?.containerStatuses?.[0];
  return cs?.state?.terminated ?? cs?.lastState?.terminated;
}

/** Is the node of this pod gone long enough that its kubelet will not report back? */
export function nodeIsLost(
  nodeName: string | undefined,
  nodes: ReadonlyMap<string, NodeHealth>,
  now: Date,
  graceSeconds: number,
): boolean {
  if (!nodeName) return false;
  const node = nodes.get(nodeName);
  if (!node) return true;
  if (node.ready) return false;
  const since = toDate(node.since);
  if (!since) return true;
  return now.getTime() - since.getTime() >= graceSeconds * 1000;
}

function tail(message: string | undefined, max = 400): string {
  if (!message) return '';
  const m = message.trim();
  return m.length <= max ? m : `…${m.slice(m.length - max)}`;
}

export function classifyPod(pod: k8s.V1Pod, opts: ClassifyOptions): PodView {
  const view: PodView = {
    pod,
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid ?? '',
    rank: intLabel(pod, LABEL_RANK),
    generation: intLabel(pod, LABEL_GENERATION),
    state: 'pending',
    terminating:
      pod.metadata?.deletionTimestamp !== undefined && pod.metadata?.deletionTimestamp !== null,
    nodeLost: nodeIsLost(pod.spec?.nodeName, opts.nodes, opts.now, opts.nodeLostGraceSeconds),
  };
  const phase = pod.status?.phase;
  const term = workerTermination(pod);
  if (term) {
    view.exitCode = term.exitCode;
    view.finishedAt = toDate(term.finishedAt);
  }
  if (phase === 'Succeeded') {
    view.state = 'succeeded';
    view.exitCode ??= 0;
    return view;
  }
  if (phase === 'Failed') {
    view.state = 'failed';
    if (pod.status?.reason === 'Evicted' || hasDisruption(pod)) {
      view.failure = {
        reason: Reason.WorkerPreempted,
        retryable: true,
        message: `${view.name} evicted: ${pod.status?.message ?? pod.status?.reason ?? 'disruption'}`,
      };
    } else if (
      term &&
      (term.exitCode === ExitCode.hang || term.exitCode === ExitCode.interrupted)
    ) {
      view.failure = noteFailure(view.name, term);
    } else if (term) {
      const terminal = term.exitCode === ExitCode.invalidInput;
      const what = term.reason && term.reason !== 'Error' ? ` (${term.reason})` : '';
      const msg = tail(term.message);
      view.failure = {
        reason: Reason.WorkerFailed,
        retryable: !terminal,
        exitCode: term.exitCode,
        message: `${view.name} exited with code ${term.exitCode}${what}${msg ? `: ${msg}` : ''}`,
      };
    } else {
      view.failure = {
        reason: Reason.WorkerFailed,
        retryable: true,
        message:
          `${view.name} failed: ${pod.status?.reason ?? ''} ${pod.status?.message ?? ''}`.trim(),
      };
    }
    return view;
  }
  if (phase === 'Running') view.state = 'running';
  else if (pod.spec?.nodeName) view.state = 'scheduled';
  if (view.terminating) {
    view.failure = {
      reason: Reason.PodDeleted,
      retryable: true,
      message: `${view.name} was deleted`,
    };
  } else if (view.nodeLost) {
    view.failure = {
      reason: Reason.NodeLost,
      retryable: true,
      message: `${view.name}: node ${pod.spec?.nodeName} is not ready`,
    };
  }
  return view;
}

/** A worker that stopped on purpose: a hang verdict (exit 76) or a SIGTERM stop (exit 130). */
function noteFailure(name: string, term: k8s.V1ContainerStateTerminated): PodFailure {
  if (term.exitCode === ExitCode.interrupted) {
    return {
      reason: Reason.WorkerStopped,
      retryable: true,
      exitCode: term.exitCode,
      message: `${name} stopped on SIGTERM after writing a checkpoint`,
    };
  }
  const note = parseTerminationNote(term.message);
  return {
    reason: Reason.HangDetected,
    retryable: true,
    exitCode: term.exitCode,
    message: `${name}: ${note?.message ?? tail(term.message) ?? 'the group made no progress'}`,
    ...(note?.rank !== undefined ? { blames: note.rank } : {}),
  };
}

function hasDisruption(pod: k8s.V1Pod): boolean {
  return (
    pod.status?.conditions?.some((c) => c.type === 'DisruptionTarget' && c.status === 'True') ??
    false
  );
}

/** The finished state of a pod, as the API shows it: it holds no node resources any more. */
export function isFinished(v: PodView): boolean {
  return v.state === 'succeeded' || v.state === 'failed';
}

/** Container waiting reasons that mean the image will not come by itself. */
const IMAGE_PULL_REASONS = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'ErrImageNeverPull',
  'InvalidImageName',
]);

export interface ImagePullProblem {
  pod: string;
  image: string;
  reason: string;
  message?: string;
}

/** The first worker whose image the kubelet cannot pull, with the image it names. */
export function imagePullProblem(views: readonly PodView[]): ImagePullProblem | undefined {
  for (const v of views) {
    for (const cs of v.pod.status?.containerStatuses ?? []) {
      const w = cs.state?.waiting;
      if (!w?.reason || !IMAGE_PULL_REASONS.has(w.reason)) continue;
      const image =
        v.pod.spec?.containers?.find((c) => c.name === cs.name)?.image ?? cs.image ?? '?';
      return { pod: v.name, image, reason: w.reason, ...(w.message ? { message: w.message } : {}) };
    }
  }
  return undefined;
}

/** Short human summary of why pods are not running yet (shown in the Running condition). */
export function waitingSummary(views: readonly PodView[]): string {
  const reasons = new Map<string, number>();
  for (const v of views) {
    const cs = v.pod.status?.containerStatuses?.[0];
    const waiting = cs?.state?.waiting?.reason;
    const unsched = v.pod.status?.conditions?.find(
      (c) => c.type === 'PodScheduled' && c.status === 'False',
    );
    const r = waiting ?? (unsched ? (unsched.reason ?? 'Unschedulable') : undefined);
    if (r) reasons.set(r, (reasons.get(r) ?? 0) + 1);
  }
  return [...reasons.entries()].map(([r, n]) => `${n}× ${r}`).join(', ');
}
