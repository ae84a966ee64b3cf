/**
 * A rank's training clock: which step it completed, whether it has its gradients ready (it
 * waits in the all-reduce) and how long its steps take. The training loop sets it; the
 * heartbeat carries a snapshot to the coordinator, which watches every rank's progress
 * (hang detection, stragglers: coordinator.ts, hang.ts).
 */

/** What a heartbeat carries (proto StepReport). */
export interface StepReport {
  /** Optimizer steps of the run completed by this rank. */
  step: number;
  /** `step`, or `step + 1` once this rank's gradients are ready (it waits on its peers). */
  computed: number;
  /** False while evaluating or checkpointing: no step is due then. */
  training: boolean;
  /** Median of this rank's own part of a step: data, forward, backward — not the all-reduce. */
  p50OwnMs: number;
  /** 99th percentile of whole steps (the hang timeout is derived from it). */
  p99StepMs: number;
  /** Steps measured in this group so far. */
  samples: number;
  /** Median of whole steps (this process only; heartbeats do not carry it). */
  p50StepMs?: number;
}

/** Steps kept for the percentiles. */
const WINDOW = 100;

export class StepClock {
  private step = 0;
  private computed = 0;
  private training = false;
  private samples = 0;
  private readonly own: number[] = [];
  private readonly wall: number[] = [];

  /** The loop starts (or resumes) training at global step `step`. */
  startTraining(step: number): void {
    this.step = step;
    this.computed = step;
    this.training = true;
  }

  /** Evaluating, checkpointing, publishing: not a hang, however long. True if it was training. */
  pause(): boolean {
    const was = this.training;
    this.training = false;
    return was;
  }

  resume(): void {
    this.training = true;
  }

  /** This rank's gradients are ready; it enters the all-reduce. */
  gradientsReady(): void {
    this.computed = this.step + 1;
  }

  /** Global step `step` is done: its own part took `ownMs`, the whole step `wallMs`. */
  stepped(step: number, ownMs: number, wallMs: number): void {
    this.step = step;
    this.computed = step;
    this.samples++;
    push(this.own, ownMs);
    push(this.wall, wallMs);
  }

  snapshot(): StepReport {
    return {
      step: this.step,
      computed: this.computed,
      training: this.training,
      p50OwnMs: percentile(this.own, 0.5),
      p99StepMs: percentile(this.wall, 0.99),
      p50StepMs: percentile(this.wall, 0.5),
      samples: this.samples,
    };
  }
}

function push(window: number[], v: number): void {
  window.push(v);
  if (window.length > WINDOW) window.shift();
}

/** Nearest-rank percentile; 0 for no samples. */
export function percentile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
