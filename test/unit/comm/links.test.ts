/** One admission rule for the successor, whichever kind of link it connects over. */
import assert from 'node:assert/strict';
import { RingLinks } from '../../../trainer/comm/links.js';
import { resolveOptions } from '../../../trainer/comm/options.js';
import { Peers } from '../../../trainer/comm/peers.js';
import { tokenMetadata } from '../../../trainer/comm/proto.js';
import {
  REFUSE_FAILED_PRECONDITION,
  REFUSE_UNAUTHENTICATED,
} from '../../../trainer/comm/tcp-records.js';
import { log } from '../../../common/log.js';

const TOKEN = 'a-job-token-of-some-length';

function links(transport: 'tcp' | 'grpc', closing = false): RingLinks {
  const o = resolveOptions({
    rank: 1,
    worldSize: 3,
    coordinator: '127.0.0.1:29500',
    token: TOKEN,
    generation: 4,
    transport,
    logger: log,
  });
  return new RingLinks(o, new Peers(1, 3), () => closing, o.log.child({}, { level: 'silent' }));
}

describe('comm/links: who may become the successor', () => {
  it('the TCP hello: token, generation, rank, once, not while closing', () => {
    const l = links('tcp');
    const hello = { token: TOKEN, generation: 4, rank: 2 };
    assert.equal(l.checkDataHello({ ...hello, token: 'wrong' }).code, REFUSE_UNAUTHENTICATED);
    const stale = l.checkDataHello({ ...hello, generation: 3 });
    assert.equal(stale.code, REFUSE_FAILED_PRECONDITION);
    assert.match(stale.message, /stale generation: rank 1 is at generation 4, caller at 3/);
    assert.match(l.checkDataHello({ ...hello, rank: 0 }).message, /successor is 2/);
    assert.deepEqual(l.checkDataHello(hello), { ok: true, code: 0, message: '' });
    assert.match(l.checkDataHello(hello).message, /already connected: true/);
    assert.equal(links('tcp', true).checkDataHello(hello).ok, false);
  });

  it('a Pull call is refused by a rank whose frames go over TCP, saying so', () => {
    const emitted: { code: number; details: string }[] = [];
    const call = {
      request: { generation: 4, rank: 2 },
      metadata: tokenMetadata(TOKEN),
      getPeer: () => 'peer',
      emit: (_: string, e: { code: number; details: string }) => emitted.push(e),
    };
    links('tcp').acceptPull(call as never);
    assert.equal(emitted[0]?.code, REFUSE_FAILED_PRECONDITION);
    assert.match(emitted[0]!.details, /TCP data plane, not Pull/);
    emitted.length = 0;
    links('grpc').acceptPull({ ...call, metadata: tokenMetadata('wrong') } as never);
    assert.equal(emitted[0]?.code, REFUSE_UNAUTHENTICATED);
  });
});
