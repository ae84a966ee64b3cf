import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalStorage } from '../../../common/storage/local-storage.js';
import type { Storage } from '../../../common/storage/storage.js';
import { ReadAhead } from '../../../trainer/data/read-ahead.js';
import { SampleReader } from '../../../trainer/data/sample-reader.js';
import { readIndex, sampleTable, type SampleTable } from '../../../trainer/data/shard-index.js';
import { packSynthetic } from '../../../trainer/data/synthetic.js';
import { Rng } from '../../../trainer/rng.js';

/** A storage whose ranged reads are counted, take `delayMs`, and whose bytes in flight are tracked. */
function counting(inner: Storage, delayMs: number) {
  const c = { requests: 0, bytes: 0, inFlight: 0, peakInFlight: 0 };
  const storage = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop !== 'getRange') return Reflect.get(target, prop, receiver) as unknown;
      return async (key: string, offset: number, length: number) => {
        c.requests++;
        c.bytes += length;
        c.inFlight += length;
        c.peakInFlight = Math.max(c.peakInFlight, c.inFlight);
        try {
          await new Promise((r) => setTimeout(r, delayMs));
          return await target.getRange(key, offset, length);
        } finally {
          c.inFlight -= length;
        }
      };
    },
  });
  return { storage, c };
}

describe('read-ahead of an epoch', function () {
  this.timeout(60_000);
  let dir: string;
  let local: LocalStorage;
  let table: SampleTable;
  let shas: string[];
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rm-readahead-'));
    local = new LocalStorage(path.join(dir, 'train'));
    await packSynthetic(
      'train',
      local,
      { train: 96, size: 32 },
      { samplesPerShard: 24, verify: 'size' },
    );
    const index = await readIndex(local);
    table = sampleTable(index);
    shas = index.shards.map((s) => s.sha256);
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const batchesOf = (perm: Uint32Array, batch: number) => (step: number) =>
    perm.subarray(step * batch, Math.min(perm.length, (step + 1) * batch));

  async function separately(ids: ArrayLike<number>): Promise<Uint8Array[]> {
    // One request per sample: the reference the merged reads must match byte for byte.
    const reader = new SampleReader(local, table, shas, { maxGapBytes: -1 });
    const out: Uint8Array[] = [];
    for (let i = 0; i < ids.length; i++) out.push(...(await reader.read([ids[i]!])));
    return out;
  }

  for (const budget of [Infinity, 0]) {
    it(`merged reads give the same bytes as one read per sample (budget ${budget})`, async () => {
      const { storage, c } = counting(local, 0);
      const reader = new SampleReader(storage, table, shas);
      const perm = new Rng(7).permutation(table.keys.length);
      const batch = 10;
      const steps = Math.ceil(perm.length / batch);
      const idsOf = batchesOf(perm, batch);
      const ra = new ReadAhead(reader, idsOf, 0, steps, budget);
      for (let s = 0; s < steps; s++) {
        const got = await ra.take(s);
        const want = await separately(idsOf(s));
        assert.equal(got.length, want.length);
        got.forEach((g, i) => assert.deepEqual(g, want[i], `step ${s} sample ${i}`));
      }
      if (budget === Infinity) {
        // The whole epoch is one window: one read per run of neighbours, far fewer than samples.
        assert.equal(ra.stats.windows, 1);
        assert.ok(c.requests <= 4, `${c.requests} requests for 4 shards`);
      } else {
        // A zero budget still makes progress, one batch per window.
        assert.equal(ra.stats.windows, steps);
      }
      assert.equal(ra.stats.heldBytes, 0);
    });
  }

  it('keeps the bytes read ahead within the budget while still reading ahead', async () => {
    const { storage, c } = counting(local, 5);
    // No merging across holes: the tiny test images would otherwise make one batch's reads
    // cover whole shards.
    const reader = new SampleReader(storage, table, shas, { maxGapBytes: 0 });
    const perm = new Rng(3).permutation(table.keys.length);
    const batch = 8;
    const steps = Math.ceil(perm.length / batch);
    const idsOf = batchesOf(perm, batch);
    const oneBatch = Math.max(
      ...Array.from({ length: steps }, (_, s) =>
        reader.plan(idsOf(s)).reduce((a, r) => a + r.end - r.begin, 0),
      ),
    );
    const budget = 4 * oneBatch;
    const ra = new ReadAhead(reader, idsOf, 0, steps, budget);
    // A prefetching consumer: three steps requested at once, as the loader does.
    const pending: Promise<Uint8Array[]>[] = [];
    let next = 0;
    while (next < steps || pending.length > 0) {
      while (pending.length < 3 && next < steps) pending.push(ra.take(next++));
      await pending.shift();
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.ok(ra.stats.windows > 2, `budget should split the epoch: ${ra.stats.windows} windows`);
    assert.ok(ra.stats.peakHeldBytes <= budget, `${ra.stats.peakHeldBytes} held > ${budget}`);
    assert.ok(c.peakInFlight <= budget, `${c.peakInFlight} in flight > ${budget}`);
    // Reading ahead happened: more than one batch's bytes were in flight at some point.
    assert.ok(c.peakInFlight > oneBatch, `${c.peakInFlight} in flight ≤ one batch ${oneBatch}`);
    assert.equal(ra.stats.heldBytes, 0);
  });
});
