/** Hang detection's pure part (trainer/comm/hang.ts) and the step clock it reads. */
import assert from 'node:assert/strict';
import {
  findHang,
  hangTimeoutMs,
  HANG_FLOOR_MS,
  HANG_MIN_SAMPLES,
  observe,
  type RankWatch,
} from '../../../trainer/comm/hang.js';
import { percentile, StepClock, type StepReport } from '../../../trainer/comm/step-clock.js';

const rep = (o: Partial<StepReport> = {}): StepReport => ({
  step: 10,
  computed: 10,
  training: true,
  p50OwnMs: 100,
  p99StepMs: 200,
  samples: HANG_MIN_SAMPLES,
  ...o,
});

describe('hang detection', () => {
  it('derives the timeout as 10× the slowest p99, at least the floor, once every rank measured enough', () => {
    const w = new Map<number, RankWatch>();
    observe(w, 0, rep({ p99StepMs: 9_000 }), 0);
    assert.equal(hangTimeoutMs(undefined, w, 2), undefined, 'rank 1 has not reported');
    observe(w, 1, rep({ p99StepMs: 3_000, samples: HANG_MIN_SAMPLES - 1 }), 0);
    assert.equal(hangTimeoutMs(undefined, w, 2), undefined, 'rank 1 has too few steps');
    observe(w, 1, rep({ p99StepMs: 3_000, step: 11, computed: 11 }), 0);
    assert.equal(hangTimeoutMs(undefined, w, 2), 90_000);
    observe(w, 0, rep({ p99StepMs: 100, step: 11, computed: 11 }), 0);
    observe(w, 1, rep({ p99StepMs: 100, step: 12, computed: 12 }), 0);
    assert.equal(hangTimeoutMs(undefined, w, 2), HANG_FLOOR_MS);
    assert.equal(hangTimeoutMs(5_000, new Map(), 2), 5_000, 'an explicit timeout applies at once');
  });

  it('moves a rank forward only when its step, computed step or phase changes', () => {
    const w = new Map<number, RankWatch>();
    observe(w, 1, rep(), 1_000);
    observe(w, 1, rep({ p50OwnMs: 999 }), 2_000);
    assert.equal(w.get(1)!.advancedAt, 1_000);
    observe(w, 1, rep({ computed: 11 }), 3_000);
    assert.equal(w.get(1)!.advancedAt, 3_000);
    observe(w, 1, rep({ computed: 11, training: false }), 4_000);
    assert.equal(w.get(1)!.advancedAt, 4_000);
  });

  it('blames the rank that has not finished its gradients while the others wait for it', () => {
    const w = new Map<number, RankWatch>();
    observe(w, 0, rep({ computed: 11 }), 1_000);
    observe(w, 1, rep({ computed: 10 }), 1_500);
    observe(w, 2, rep({ computed: 11 }), 900);
    assert.equal(findHang(w, 5_000, 5_000, undefined), undefined, 'not yet');
    assert.deepEqual(findHang(w, 6_000, 5_000, undefined), { rank: 1, stalledMs: 5_100, step: 10 });
  });

  it('blames a silent rank first', () => {
    const w = new Map<number, RankWatch>();
    observe(w, 0, rep({ computed: 11 }), 0);
    observe(w, 1, rep({ computed: 10 }), 0);
    observe(w, 2, rep({ computed: 11 }), 0);
    assert.equal(findHang(w, 10_000, 5_000, 2)?.rank, 2);
  });

  it('never counts evaluation, checkpoints or a group before its first step as a hang', () => {
    const w = new Map<number, RankWatch>();
    observe(w, 0, rep({ training: false }), 0);
    observe(w, 1, rep({ training: false }), 0);
    assert.equal(findHang(w, 1e9, 5_000, undefined), undefined);
    observe(w, 0, rep({ training: true, samples: 0 }), 0);
    assert.equal(findHang(w, 1e9, 5_000, undefined), undefined);
  });

  it('the step clock reports ready gradients, percentiles and pauses', () => {
    const c = new StepClock();
    c.startTraining(32);
    assert.deepEqual(
      [c.snapshot().step, c.snapshot().computed, c.snapshot().training],
      [32, 32, true],
    );
    c.gradientsReady();
    assert.equal(c.snapshot().computed, 33);
    for (let i = 1; i <= 100; i++) c.stepped(32 + i, i, 10 * i);
    const s = c.snapshot();
    assert.deepEqual(
      [s.step, s.computed, s.samples, s.p50OwnMs, s.p99StepMs],
      [132, 132, 100, 50, 990],
    );
    assert.equal(c.pause(), true);
    assert.equal(c.pause(), false);
    assert.equal(percentile([], 0.5), 0);
  });
});
