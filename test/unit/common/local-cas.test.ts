import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStorage } from '../../../common/storage/local-storage.js';

describe('LocalStorage compare-and-swap (putIfVersion)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-cas-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('writes only over the version it read; null means "must not exist"', async () => {
    const st = new LocalStorage(dir);
    assert.equal(await st.getVersioned('i.json'), undefined);
    assert.equal(await st.putIfVersion('i.json', Buffer.from('1'), null), true);
    assert.equal(await st.putIfVersion('i.json', Buffer.from('x'), null), false);
    const v1 = (await st.getVersioned('i.json'))!;
    assert.equal(await st.putIfVersion('i.json', Buffer.from('2'), v1.version), true);
    assert.equal(await st.putIfVersion('i.json', Buffer.from('3'), v1.version), false);
    assert.equal((await st.get('i.json')).toString(), '2');
    assert.deepEqual(await st.list(''), ['i.json'], 'no lock left behind, none listed');
  });

  it('breaks a crashed writer’s lock (older than 30 s), waits for a live one', async () => {
    const st = new LocalStorage(dir);
    const lock = join(dir, 'i.json.lock');
    await writeFile(lock, '');
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    assert.equal(await st.putIfVersion('i.json', Buffer.from('1'), null), true);
    // A fresh lock released 100 ms later: the writer waits for it instead of failing.
    await writeFile(lock, '');
    setTimeout(() => void rm(lock, { force: true }), 100);
    const v = (await st.getVersioned('i.json'))!;
    assert.equal(await st.putIfVersion('i.json', Buffer.from('2'), v.version), true);
    assert.equal((await st.get('i.json')).toString(), '2');
  });
});
