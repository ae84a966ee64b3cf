import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Rng } from '../../trainer/rng.js';

describe('Rng', () => {
  it('is deterministic per seed and stream, and differs across streams', () => {
    const a = new Rng(42, 3, 1);
    const b = new Rng(42, 3, 1);
    const c = new Rng(42, 3, 2);
    const xs = Array.from({ length: 8 }, () => a.nextUint32());
    assert.deepEqual(
      xs,
      Array.from({ length: 8 }, () => b.nextUint32()),
    );
    assert.notDeepEqual(
      xs,
      Array.from({ length: 8 }, () => c.nextUint32()),
    );
  });

  it('restores from a saved state mid-stream', () => {
    const a = new Rng(7);
    for (let i = 0; i < 100; i++) a.random();
    const b = Rng.fromState(a.state());
    assert.deepEqual(
      Array.from({ length: 5 }, () => a.random()),
      Array.from({ length: 5 }, () => b.random()),
    );
  });

  it('draws permutations and in-range integers', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 1, max: 500 }),
        (seed, n) => {
          const p = new Rng(seed).permutation(n);
          assert.deepEqual(
            [...p].sort((x, y) => x - y),
            Array.from({ length: n }, (_, i) => i),
          );
          const r = new Rng(seed).randint(-3, n);
          assert.ok(r >= -3 && r < n);
        },
      ),
    );
  });

  it('matches the first two moments of Beta(0.2, 0.2) and uniform', () => {
    const rng = new Rng(1);
    const n = 20000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const x = rng.beta(0.2, 0.2);
      s += x;
      s2 += x * x;
    }
    const mean = s / n;
    const variance = s2 / n - mean * mean;
    // Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)) = 0.1786 for a = 0.2
    assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
    assert.ok(Math.abs(variance - 1 / (4 * 1.4)) < 0.01, `variance ${variance}`);
    let u = 0;
    for (let i = 0; i < n; i++) u += rng.random();
    assert.ok(Math.abs(u / n - 0.5) < 0.01);
  });
});
