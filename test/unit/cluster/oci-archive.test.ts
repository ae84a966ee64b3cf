/**
 * test/cluster/images/oci-archive.sh writes the OCI archives the real-node tier imports into
 * containerd (no registry here). Checked without containerd: the layout's digests and sizes
 * are those of the blobs, the layer's diff_id is the uncompressed root filesystem's, and
 * the image name is where `ctr image import` looks for it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

const SCRIPT = join(import.meta.dirname, '..', '..', 'cluster', 'images', 'oci-archive.sh');
const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

describe('oci-archive.sh (images for the real node)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'oci-archive-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes an OCI layout whose index, manifest, config and layer agree', () => {
    mkdirSync(join(dir, 'root', 'bin'), { recursive: true });
    writeFileSync(join(dir, 'root', 'bin', 'hello'), '#!/bin/sh\necho hi\n');
    execFileSync('tar', ['-C', join(dir, 'root'), '-cf', join(dir, 'rootfs.tar'), 'bin']);
    execFileSync('bash', [
      SCRIPT,
      join(dir, 'rootfs.tar'),
      'example.local/hello:1.0',
      join(dir, 'out.tar'),
      '/bin/hello',
      'a "quoted" arg',
    ]);
    mkdirSync(join(dir, 'x'));
    execFileSync('tar', ['-C', join(dir, 'x'), '-xf', join(dir, 'out.tar')]);
    const blob = (digest: string) =>
      readFileSync(join(dir, 'x', 'blobs', 'sha256', digest.slice(7)));

    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'x', 'oci-layout'), 'utf8')), {
      imageLayoutVersion: '1.0.0',
    });
    const index = JSON.parse(readFileSync(join(dir, 'x', 'index.json'), 'utf8'));
    const m = index.manifests[0];
    assert.equal(m.annotations['io.containerd.image.name'], 'example.local/hello:1.0');
    assert.equal(m.annotations['org.opencontainers.image.ref.name'], '1.0');
    const manifestBytes = blob(m.digest);
    assert.equal(sha(manifestBytes), m.digest);
    assert.equal(manifestBytes.length, m.size);

    const manifest = JSON.parse(manifestBytes.toString());
    const configBytes = blob(manifest.config.digest);
    assert.equal(sha(configBytes), manifest.config.digest);
    assert.equal(configBytes.length, manifest.config.size);
    const layer = manifest.layers[0];
    const layerBytes = blob(layer.digest);
    assert.equal(sha(layerBytes), layer.digest);
    assert.equal(layerBytes.length, layer.size);
    assert.equal(
      statSync(join(dir, 'x', 'blobs', 'sha256', layer.digest.slice(7))).size,
      layer.size,
    );

    const config = JSON.parse(configBytes.toString());
    assert.deepEqual(config.config.Cmd, ['/bin/hello', 'a "quoted" arg']);
    assert.deepEqual(config.rootfs.diff_ids, [sha(readFileSync(join(dir, 'rootfs.tar')))]);
    assert.deepEqual(gunzipSync(layerBytes), readFileSync(join(dir, 'rootfs.tar')));
  });
});
