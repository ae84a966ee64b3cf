/**
 * test/cluster/images/oci-archive.mjs writes the OCI archives the real-node tier imports into
 * containerd (no registry here). Checked without containerd: the layout's digests and sizes
 * are those of the blobs, each layer's diff_id is its uncompressed root filesystem's, the
 * image name is where `ctr image import` looks for it, and --base stacks layers like FROM.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

const SCRIPT = join(import.meta.dirname, '..', '..', 'cluster', 'images', 'oci-archive.mjs');
const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

interface Descriptor {
  digest: string;
  size: number;
}
interface Image {
  name: string;
  manifest: { config: Descriptor; layers: Descriptor[] };
  config: { config: Record<string, unknown>; rootfs: { diff_ids: string[] } };
  layers: Buffer[];
}

/** Unpacks an archive, checking every descriptor against its blob on the way. */
function readArchive(archive: string, into: string): Image {
  mkdirSync(into);
  execFileSync('tar', ['-C', into, '-xf', archive]);
  const blob = (d: Descriptor) => {
    const b = readFileSync(join(into, 'blobs', 'sha256', d.digest.slice(7)));
    assert.equal(sha(b), d.digest);
    assert.equal(b.length, d.size);
    return b;
  };
  assert.deepEqual(JSON.parse(readFileSync(join(into, 'oci-layout'), 'utf8')), {
    imageLayoutVersion: '1.0.0',
  });
  const index = JSON.parse(readFileSync(join(into, 'index.json'), 'utf8'));
  const m = index.manifests[0];
  const manifest = JSON.parse(blob(m).toString());
  return {
    name: m.annotations['io.containerd.image.name'],
    manifest,
    config: JSON.parse(blob(manifest.config).toString()),
    layers: manifest.layers.map((l: Descriptor) => gunzipSync(blob(l))),
  };
}

describe('oci-archive.mjs (images for the real node)', () => {
  let dir: string;
  const rootfs = (name: string, file: string, text: string) => {
    mkdirSync(join(dir, name, 'bin'), { recursive: true });
    writeFileSync(join(dir, name, 'bin', file), text);
    execFileSync('tar', ['-C', join(dir, name), '-cf', join(dir, `${name}.tar`), 'bin']);
    return join(dir, `${name}.tar`);
  };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'oci-archive-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes an OCI layout whose index, manifest, config and layer agree', () => {
    const tar = rootfs('one', 'hello', '#!/bin/sh\necho hi\n');
    execFileSync(process.execPath, [
      SCRIPT,
      '--out',
      join(dir, 'one.oci.tar'),
      '--name',
      'example.local/hello:1.0',
      '--layer',
      tar,
      '--cmd',
      '["/bin/hello","a \\"quoted\\" arg"]',
    ]);
    const img = readArchive(join(dir, 'one.oci.tar'), join(dir, 'x1'));
    assert.equal(img.name, 'example.local/hello:1.0');
    assert.deepEqual(img.config.config.Cmd, ['/bin/hello', 'a "quoted" arg']);
    assert.deepEqual(img.config.rootfs.diff_ids, [sha(readFileSync(tar))]);
    assert.deepEqual(img.layers, [readFileSync(tar)]);
  });

  it('--base stacks the base layers first and keeps its config unless overridden', () => {
    const app = rootfs('app', 'app', 'app\n');
    execFileSync(process.execPath, [
      SCRIPT,
      '--out',
      join(dir, 'two.oci.tar'),
      '--name',
      'example.local/app:2',
      '--base',
      join(dir, 'one.oci.tar'),
      '--layer',
      app,
      '--user',
      '65532:65532',
      '--workdir',
      '/app',
      '--env',
      'NODE_ENV=production',
      '--entrypoint',
      '["/bin/app"]',
    ]);
    const base = readArchive(join(dir, 'one.oci.tar'), join(dir, 'x2'));
    const img = readArchive(join(dir, 'two.oci.tar'), join(dir, 'x3'));
    assert.equal(img.name, 'example.local/app:2');
    assert.deepEqual(img.manifest.layers[0], base.manifest.layers[0]);
    assert.deepEqual(img.config.rootfs.diff_ids, [
      ...base.config.rootfs.diff_ids,
      sha(readFileSync(app)),
    ]);
    assert.equal(img.config.config.User, '65532:65532');
    assert.equal(img.config.config.WorkingDir, '/app');
    assert.deepEqual(img.config.config.Entrypoint, ['/bin/app']);
    assert.deepEqual(img.config.config.Cmd, base.config.config.Cmd);
    assert.ok((img.config.config.Env as string[]).includes('NODE_ENV=production'));
    assert.ok((img.config.config.Env as string[]).some((e) => e.startsWith('PATH=')));
  });
});
