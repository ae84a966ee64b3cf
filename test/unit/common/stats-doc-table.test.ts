/**
 * The figures of docs/methodology.md, "What a difference of x points over n seeds means":
 * the half-widths of the 95% interval of a difference of means, and the 12-seed worked
 * example, recomputed with common/stats.ts (so the page cannot drift from the code).
 */
import assert from 'node:assert/strict';
import { tQuantile, welch } from '../../../common/stats.js';

const halfWidth = (s: number, n: number) => tQuantile(0.975, 2 * (n - 1)) * s * Math.sqrt(2 / n);

describe('docs/methodology.md: statistics over seeds', () => {
  it('the half-width table', () => {
    const ns = [2, 3, 5, 10, 12];
    assert.deepEqual(
      ns.map((n) => tQuantile(0.975, 2 * (n - 1)).toFixed(2)),
      ['4.30', '2.78', '2.31', '2.10', '2.07'],
    );
    assert.deepEqual(
      ns.map((n) => halfWidth(0.08, n).toFixed(2)),
      ['0.34', '0.18', '0.12', '0.08', '0.07'],
    );
    assert.deepEqual(
      ns.map((n) => halfWidth(1.86, n).toFixed(1)),
      ['8.0', '4.2', '2.7', '1.7', '1.6'],
    );
    assert.deepEqual(
      ns.map((n) => halfWidth(4.06, n).toFixed(1)),
      ['17.5', '9.2', '5.9', '3.8', '3.4'],
    );
  });

  it('equal spreads: Welch’s df is 2(n − 1) and the interval is diff ± t·s·√(2/n)', () => {
    const a = [1, 2, 3, 4, 5];
    const b = a.map((x) => x + 0.5);
    const w = welch(a, b);
    assert.ok(Math.abs(w.df - 8) < 1e-12);
    assert.ok(Math.abs(w.se - Math.sqrt(2.5) * Math.sqrt(2 / 5)) < 1e-12);
  });

  it('the 12-seed worked example (bench:learning EMA Acc@1)', () => {
    const [ma, sa, mb, sb, n] = [47.5, 4.06, 46.42, 4.82, 12];
    const va = (sa * sa) / n;
    const vb = (sb * sb) / n;
    const se = Math.sqrt(va + vb);
    const df = (va + vb) ** 2 / (va ** 2 / (n - 1) + vb ** 2 / (n - 1));
    const t = (ma - mb) / se;
    const h = tQuantile(0.975, df) * se;
    assert.equal(se.toFixed(2), '1.82');
    assert.equal(t.toFixed(2), '0.59');
    assert.equal(Math.round(df), 21);
    assert.equal((ma - mb - h).toFixed(1), '-2.7');
    assert.equal((ma - mb + h).toFixed(1), '4.9');
  });
});
