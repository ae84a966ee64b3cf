/** The optional mutual TLS of the process group, with a throw-away CA made by openssl. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectGroup, type TlsOptions } from '../../../trainer/comm/index.js';
import { freePort } from './ports.js';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' });
}

/** A CA and one certificate for 127.0.0.1 signed by it (every rank uses the same one here). */
function makeCerts(dir: string): TlsOptions {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=test-ca',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
    ],
    dir,
  );
  openssl(
    [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      'rank.key',
      '-out',
      'rank.csr',
    ],
    dir,
  );
  writeFileSync(
    path.join(dir, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'rank.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      'ext.cnf',
      '-out',
      'rank.pem',
    ],
    dir,
  );
  const read = (f: string): Buffer => readFileSync(path.join(dir, f));
  return { ca: read('ca.pem'), cert: read('rank.pem'), key: read('rank.key') };
}

describe('comm/group with mutual TLS', function () {
  this.timeout(30_000);
  let dir = '';
  let tls: TlsOptions | undefined;

  before(function () {
    dir = mkdtempSync(path.join(tmpdir(), 'ringmaster-tls-'));
    try {
      tls = makeCerts(dir);
    } catch (e) {
      console.log(`      skipped: openssl could not make test certificates (${String(e)})`);
      this.skip();
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('forms the group and all-reduces over TLS; a plaintext member cannot join', async () => {
    const port = await freePort();
    const base = {
      worldSize: 2,
      coordinator: `127.0.0.1:${port}`,
      token: 'tok',
      generation: 1,
      deadlines: { rendezvousMs: 5000, opMs: 3000 },
    };
    const [g0, g1] = await Promise.all([
      connectGroup({ ...base, rank: 0, tls }),
      connectGroup({ ...base, rank: 1, listen: '127.0.0.1:0', tls }),
    ]);
    try {
      const a = new Float32Array([1, 2, 3]);
      const b = new Float32Array([10, 20, 30]);
      await Promise.all([g0.allReduce(a), g1.allReduce(b)]);
      assert.deepEqual([...a], [11, 22, 33]);
      assert.deepEqual([...b], [11, 22, 33]);
    } finally {
      await Promise.all([g0.close(), g1.close()]);
    }
    // A member without TLS against a TLS coordinator never gets through.
    const port2 = await freePort();
    const results = await Promise.allSettled([
      connectGroup({
        ...base,
        coordinator: `127.0.0.1:${port2}`,
        rank: 0,
        tls,
        deadlines: { rendezvousMs: 1500 },
      }),
      connectGroup({
        ...base,
        coordinator: `127.0.0.1:${port2}`,
        rank: 1,
        listen: '127.0.0.1:0',
        deadlines: { rendezvousMs: 1000 },
      }),
    ]);
    for (const r of results) assert.equal(r.status, 'rejected');
  });
});
