import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Reflector, type ChangeType } from '../../../operator/kube/reflector.js';
import { KubeRest } from '../../../operator/kube/rest.js';
import { waitFor } from '../../../harness/kube.js';

/** A scripted API server: each list/watch request takes the next step of its script. */
function scriptedServer(lists: object[][], watches: Array<(res: http.ServerResponse) => void>) {
  let l = 0;
  let w = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('watch') === 'true') {
      const step = watches[Math.min(w++, watches.length - 1)]!;
      step(res);
      return;
    }
    const items = lists[Math.min(l, lists.length - 1)]!;
    l++;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ metadata: { resourceVersion: String(10 * l) }, items }));
  });
  return server;
}

const obj = (name: string, rv: string) => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv },
});

describe('operator reflector (informer)', () => {
  it('restarts after a watch error and relists, reporting what vanished meanwhile', async () => {
    const server = scriptedServer(
      [
        [obj('a', '1'), obj('b', '2')],
        [obj('a', '1'), obj('c', '12')],
      ],
      [
        (res) => {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(`${JSON.stringify({ type: 'ADDED', object: obj('c', '11') })}\n`);
        },
        (res) => {
          res.writeHead(500, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ kind: 'Status', code: 500, message: 'etcd is sad' }));
        },
        () => undefined, // hangs: a quiet, healthy watch
      ],
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const rest = new KubeRest(kc);
    const errors: string[] = [];
    const r = new Reflector<ReturnType<typeof obj>>(
      rest,
      { name: 'things', path: '/api/v1/things', relistIntervalMs: 60_000, backoffBaseMs: 10 },
      pino({ level: 'silent' }),
      { onError: (_, err) => errors.push(String(err)) },
    );
    const events: Array<[ChangeType, string]> = [];
    r.on((type, o) => events.push([type, o.metadata.name]));
    r.start();
    await r.waitForSync();
    await waitFor(() => r.get('ns/c')?.metadata.resourceVersion === '12', {
      timeoutMs: 5000,
      what: 'relist',
    });
    assert.deepEqual(
      r
        .list()
        .map((o) => o.metadata.name)
        .sort(),
      ['a', 'c'],
    );
    assert.deepEqual(events, [
      ['add', 'a'],
      ['add', 'b'],
      ['add', 'c'],
      ['update', 'c'],
      ['delete', 'b'],
    ]);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /500/);
    await r.stop();
    rest.close();
    server.closeAllConnections();
    server.close();
  });
});
