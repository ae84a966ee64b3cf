/** The goodput ledger across restarts (trainer/report/goodput.ts). */
import assert from 'node:assert/strict';
import { GoodputLedger, ledgerStart } from '../../../trainer/report/goodput.js';

const T = Date.parse('2026-01-01T00:00:00Z');
const prev = (step: number, stepsComputed: number, secondsLost = 0) => ({
  phase: 'training' as const,
  step,
  updatedAt: new Date(T).toISOString(),
  goodput: { stepsComputed, stepsKept: step, secondsLost, recipeHash: 'h', stepSeconds: 2 },
});

describe('goodput ledger', () => {
  it('a fresh run counts from its resume point and keeps everything', () => {
    const l = new GoodputLedger(ledgerStart(undefined, 0, 'h', T), 0, 'h');
    assert.deepEqual(
      { ...l.at(40), recipeHash: undefined },
      { stepsComputed: 40, stepsKept: 40, secondsLost: 0, recipeHash: undefined, stepSeconds: 0 },
    );
  });

  it('a crash after the checkpoint: the steps past it were computed and thrown away', () => {
    // The old group reported step 48 (48 computed), its last checkpoint was 40; 30 s pass.
    const start = ledgerStart(prev(48, 48, 5), 40, 'h', T + 30_000);
    assert.deepEqual(start, { computedBefore: 48, secondsLost: 5 + 30 + 8 * 2, stepsLost: 8 });
    const l = new GoodputLedger(start, 40, 'h');
    const g = l.at(100);
    assert.equal(g.stepsComputed, 108);
    assert.equal(g.stepsKept, 100);
    assert.equal(g.secondsLost, 51);
  });

  it('a SIGTERM stop (checkpoint at the last step) loses only the downtime', () => {
    const start = ledgerStart(prev(44, 44), 44, 'h', T + 12_000);
    assert.deepEqual(start, { computedBefore: 44, secondsLost: 12, stepsLost: 0 });
  });

  it("starts over on another recipe's ledger, a finished run's, or a file without one", () => {
    const fresh = { computedBefore: 10, secondsLost: 0, stepsLost: 0 };
    assert.deepEqual(ledgerStart(prev(48, 48), 10, 'other', T), fresh);
    assert.deepEqual(ledgerStart({ ...prev(48, 48), phase: 'done' }, 10, 'h', T), fresh);
    assert.deepEqual(ledgerStart({ ...prev(48, 48), goodput: undefined }, 10, 'h', T), fresh);
  });
});
