/**
 * The all-reduce's additions: WebAssembly SIMD and the JavaScript loop give the same bits,
 * and the committed module is sum.wat compiled.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  addInto,
  addIntoJs,
  giveSlot,
  simdAvailable,
  SLOT_BYTES,
  takeSlot,
} from '../../../trainer/comm/sum.js';
import { Rng } from '../../../trainer/rng.js';

const here = dirname(fileURLToPath(import.meta.url));

function randomFloats(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  // Mixed magnitudes, so roundings differ from lane to lane.
  for (let i = 0; i < n; i++) a[i] = (rng.random() - 0.5) * 10 ** rng.randint(-8, 8);
  return a;
}

describe('comm/sum: additions of the ring all-reduce', () => {
  it('runs in WebAssembly SIMD on this Node', () => {
    assert.equal(simdAvailable(), true);
  });

  for (const n of [0, 1, 3, 63, 64, 65, 1001, (1 << 18) + 5, 3 * (1 << 18)]) {
    it(`SIMD and the loop agree bit for bit, n=${n}`, () => {
      const rng = new Rng(n, 17);
      const a = randomFloats(rng, n);
      const b = randomFloats(rng, n);
      const js = a.slice();
      addIntoJs(js, b);
      const simd = a.slice();
      addInto(simd, b);
      assert.deepEqual(new Uint32Array(simd.buffer), new Uint32Array(js.buffer));
      // And what IEEE float32 addition gives, element by element.
      for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 50))) {
        assert.equal(simd[i], Math.fround(a[i]! + b[i]!));
      }
    });
  }

  it('adds into views at any offset, leaving the rest alone', () => {
    const base = new Float32Array(300).fill(1);
    const src = new Float32Array(300).fill(2);
    addInto(base.subarray(7, 207), src.subarray(3, 203));
    assert.equal(base[6], 1);
    assert.equal(base[7], 3);
    assert.equal(base[206], 3);
    assert.equal(base[207], 1);
  });

  it('adds from a receive slot in place, bit-identical; slots come back for reuse', () => {
    const n = 100_003;
    const rng = new Rng(5, 17);
    const a = randomFloats(rng, n);
    const b = randomFloats(rng, n);
    const slot = takeSlot(n * 4)!;
    assert.ok(slot, 'a slot is free');
    const src = new Float32Array(slot.buffer, slot.byteOffset, n);
    src.set(b);
    const viaSlot = a.slice();
    addInto(viaSlot, src);
    const js = a.slice();
    addIntoJs(js, b);
    assert.deepEqual(new Uint32Array(viaSlot.buffer), new Uint32Array(js.buffer));
    // Returned slots are handed out again; foreign buffers are not slots.
    assert.equal(giveSlot(slot), true);
    assert.equal(takeSlot(16)!.byteOffset, slot.byteOffset);
    assert.equal(giveSlot(new Uint8Array(16)), false);
    assert.equal(takeSlot(SLOT_BYTES + 1), undefined, 'larger than a slot: none');
  });

  it('hands out at most its fixed number of slots, then none', () => {
    const taken: Uint8Array[] = [];
    for (let s = takeSlot(8); s; s = takeSlot(8)) taken.push(s);
    assert.ok(taken.length >= 1 && taken.length <= 64, `${taken.length} slots`);
    assert.equal(new Set(taken.map((t) => t.byteOffset)).size, taken.length, 'all distinct');
    for (const t of taken) giveSlot(t);
    assert.ok(takeSlot(8));
  });

  it('the committed module is sum.wat compiled (when wabt is installed)', async function () {
    let build: typeof import('../../../trainer/comm/build-wasm.js');
    try {
      build = await import('../../../trainer/comm/build-wasm.js');
      await import('wabt');
    } catch {
      this.skip();
      return;
    }
    const bytes = await build.compileSumWat();
    const committed = readFileSync(join(here, '../../../trainer/comm/sum-wasm.ts'), 'utf8');
    assert.equal(committed, build.renderModule(bytes), 'run build-wasm.ts after editing sum.wat');
  });
});
