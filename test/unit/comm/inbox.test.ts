import assert from 'node:assert/strict';
import { Inbox } from '../../../trainer/comm/inbox.js';
import { Kind, type Frame } from '../../../trainer/comm/frame.js';

const frame = (op: number): Frame => ({
  generation: 1,
  op,
  kind: Kind.broadcast,
  count: 0,
  step: 0,
  index: 0,
  data: new Uint8Array(0),
});

describe('comm/Inbox (receive queue with deadlines)', () => {
  it('delivers in order, to a waiting receiver as well', async () => {
    const box = new Inbox(1000, () => new Error('timeout'));
    box.push(frame(1));
    const waiting = box.recv();
    assert.equal((await waiting).op, 1);
    const second = box.recv();
    box.push(frame(2));
    assert.equal((await second).op, 2);
  });

  it('fails a wait after the deadline with the error it is given', async () => {
    const box = new Inbox(50, (ms) => new Error(`nothing for ${ms} ms`));
    const t0 = Date.now();
    await assert.rejects(box.recv(), /nothing for 50 ms/);
    assert.ok(Date.now() - t0 < 1000);
  });

  it('end() lets queued frames through first; abort() drops them', async () => {
    const box = new Inbox(1000, () => new Error('timeout'));
    box.push(frame(1));
    box.end(new Error('peer closed'));
    assert.equal((await box.recv()).op, 1);
    await assert.rejects(box.recv(), /peer closed/);
    const b2 = new Inbox(1000, () => new Error('timeout'));
    b2.push(frame(1));
    b2.abort(new Error('group failed'));
    await assert.rejects(b2.recv(), /group failed/);
    b2.push(frame(2));
    await assert.rejects(b2.recv(), /group failed/);
  });

  it('abort() wakes a waiting receiver at once', async () => {
    const box = new Inbox(10_000, () => new Error('timeout'));
    const p = box.recv();
    box.abort(new Error('peer 3 died'));
    await assert.rejects(p, /peer 3 died/);
  });
});
