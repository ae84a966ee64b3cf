/**
 * Reads an epoch's samples ahead of the batches that need them, a window of batches at a time:
 * the members of all the window's batches are planned together, so samples of one shard that
 * fall into different batches of the window share ranged reads (far fewer requests than one
 * plan per batch), and the next window is read while the current one is consumed, which
 * hides the store's latency (the window after next is planned when the oldest is used up,
 * so reads stay a window ahead). The bytes held (ranges read or being read, of at most two
 * windows) stay within `budgetBytes`: a window is the longest run of batches whose planned
 * reads fit in half the budget; one batch larger than that forms a window alone (the budget is
 * then exceeded by that batch's reads, the minimum needed to make progress).
 */
import type { PlannedRead, SampleReader } from './sample-reader.js';

export interface ReadAheadStats {
  /** Bytes of ranges held now (requested and not yet released). */
  heldBytes: number;
  /** Most bytes held at once. */
  peakHeldBytes: number;
  windows: number;
}

interface Window {
  first: number;
  /** One past the last step. */
  end: number;
  bytes: number;
  /** Read of each sample id of the window, and the promise of its bytes. */
  readOf: Map<number, { read: PlannedRead; buf: Promise<Buffer> }>;
  taken: number;
}

export class ReadAhead {
  readonly stats: ReadAheadStats = { heldBytes: 0, peakHeldBytes: 0, windows: 0 };
  private readonly windows: Window[] = [];
  private planned: number;
  private readonly waiting: (() => void)[] = [];

  /**
   * `idsOf(step)` gives the sample ids of a step's batch, for steps in [from, to).
   * Steps must be taken in order, each once.
   */
  constructor(
    private readonly reader: SampleReader,
    private readonly idsOf: (step: number) => ArrayLike<number>,
    from: number,
    private readonly to: number,
    private readonly budgetBytes: number,
  ) {
    this.planned = from;
  }

  /** Encoded bytes of the samples of `step`'s batch, in batch order. */
  async take(step: number): Promise<Uint8Array[]> {
    let w = this.windowOf(step);
    while (!w) {
      if (this.planned >= this.to || step < this.planned)
        throw new RangeError(`step ${step} is not in the epoch or was already taken`);
      // At most two windows are held: a third waits until the oldest is used up.
      if (this.windows.length >= 2) await new Promise<void>((r) => this.waiting.push(r));
      else this.openWindow();
      w = this.windowOf(step);
    }
    try {
      const ids = this.idsOf(step);
      const out = new Array<Uint8Array>(ids.length);
      for (let i = 0; i < ids.length; i++) {
        const r = w.readOf.get(ids[i]!)!;
        out[i] = this.reader.member(await r.buf, r.read.begin, ids[i]!);
      }
      return out;
    } finally {
      if (++w.taken === w.end - w.first) this.release(w);
    }
  }

  private windowOf(step: number): Window | undefined {
    return this.windows.find((x) => x.first <= step && step < x.end);
  }

  /** Drops every window (an epoch abandoned midway). */
  close(): void {
    this.planned = this.to;
    for (const w of [...this.windows]) this.release(w);
  }

  private release(w: Window): void {
    const i = this.windows.indexOf(w);
    if (i < 0) return;
    this.windows.splice(i, 1);
    this.stats.heldBytes -= w.bytes;
    for (const wake of this.waiting.splice(0)) wake();
    // The freed half of the budget goes to the next window at once.
    if (this.windows.length < 2) this.openWindow();
  }

  /** Plans and starts the next window; false at the end of the epoch. */
  private openWindow(): boolean {
    const first = this.planned;
    if (first >= this.to) return false;
    const half = this.budgetBytes / 2;
    const reads = (end: number): PlannedRead[] => {
      const ids: number[] = [];
      for (let s = first; s < end; s++) for (const id of Array.from(this.idsOf(s))) ids.push(id);
      return this.reader.plan(ids);
    };
    const bytesOf = (rs: PlannedRead[]): number => rs.reduce((a, r) => a + r.end - r.begin, 0);
    // Planned bytes only grow with more batches (coverage grows, gaps may be bridged), so the
    // longest window within half the budget is found by bisection.
    let lo = first + 1;
    let hi = this.to;
    let best = reads(lo);
    if (bytesOf(best) <= half && bytesOf(reads(hi)) <= half) {
      lo = hi;
      best = reads(hi);
    } else if (bytesOf(best) <= half) {
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        const rs = reads(mid);
        if (bytesOf(rs) <= half) {
          lo = mid;
          best = rs;
        } else {
          hi = mid;
        }
      }
    }
    const w: Window = { first, end: lo, bytes: bytesOf(best), readOf: new Map(), taken: 0 };
    for (const read of best) {
      const buf = this.reader.fetch(read);
      // Failures surface in take(); until then, no unhandled rejection.
      buf.catch(() => {});
      for (const id of read.ids) w.readOf.set(id, { read, buf });
    }
    this.planned = lo;
    this.windows.push(w);
    this.stats.windows++;
    this.stats.heldBytes += w.bytes;
    this.stats.peakHeldBytes = Math.max(this.stats.peakHeldBytes, this.stats.heldBytes);
    return true;
  }
}
