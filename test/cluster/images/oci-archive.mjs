#!/usr/bin/env node
// Writes an OCI image archive (an OCI image layout in a tar) with no registry and no container
// engine: what `ctr -n k8s.io image import` loads. Node built-ins and the `tar` command only,
// so .ci/setup.d can run it before `npm ci`.
//
//   node oci-archive.mjs --out OUT.tar --name IMAGE:TAG [--base BASE.oci.tar]
//        [--layer ROOTFS.tar]... [--user U] [--workdir DIR] [--env K=V]...
//        [--entrypoint JSON-ARRAY] [--cmd JSON-ARRAY]
//
// --base works like a Dockerfile's FROM: the base's layers and config come first, then each
// --layer (an uncompressed root filesystem tar, stored gzip'd; one over 256 MiB, such as
// libtensorflow's, is stored as it is: gzip would cost more CPU than the disk it saves) on
// top. IMAGE:TAG is the full
// reference (e.g. registry.k8s.io/pause:3.10): containerd names the image from the
// io.containerd.image.name annotation.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  statSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

const { values: o } = parseArgs({
  options: {
    out: { type: 'string' },
    name: { type: 'string' },
    base: { type: 'string' },
    layer: { type: 'string', multiple: true, default: [] },
    user: { type: 'string' },
    workdir: { type: 'string' },
    env: { type: 'string', multiple: true, default: [] },
    entrypoint: { type: 'string' },
    cmd: { type: 'string' },
  },
});
if (!o.out || !o.name) {
  console.error(
    'usage: oci-archive.mjs --out OUT.tar --name IMAGE:TAG [--base B.oci.tar] [--layer R.tar]...',
  );
  process.exit(2);
}

const PLAIN_LAYER_BYTES = 256 * 1024 * 1024;
const work = mkdtempSync(join(tmpdir(), 'oci-archive-'));
const blobs = join(work, 'blobs', 'sha256');
mkdirSync(blobs, { recursive: true });
const digestOf = (buf) => 'sha256:' + createHash('sha256').update(buf).digest('hex');
function putBlob(buf) {
  const digest = digestOf(buf);
  writeFileSync(join(blobs, digest.slice(7)), buf);
  return { digest, size: buf.length };
}

try {
  let config = {
    architecture: 'amd64',
    os: 'linux',
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      WorkingDir: '/',
    },
    rootfs: { type: 'layers', diff_ids: [] },
  };
  const layers = [];
  if (o.base) {
    const b = join(work, 'base');
    mkdirSync(b);
    execFileSync('tar', ['-C', b, '-xf', o.base]);
    const blob = (d) => readFileSync(join(b, 'blobs', 'sha256', d.replace('sha256:', '')));
    const index = JSON.parse(readFileSync(join(b, 'index.json'), 'utf8'));
    const manifest = JSON.parse(blob(index.manifests[0].digest).toString());
    config = JSON.parse(blob(manifest.config.digest).toString());
    for (const l of manifest.layers) {
      copyFileSync(join(b, 'blobs', 'sha256', l.digest.slice(7)), join(blobs, l.digest.slice(7)));
      layers.push(l);
    }
  }
  for (const path of o.layer) {
    if (statSync(path).size > PLAIN_LAYER_BYTES) {
      const hex = execFileSync('sha256sum', [path], { encoding: 'utf8' }).slice(0, 64);
      copyFileSync(path, join(blobs, hex));
      config.rootfs.diff_ids.push(`sha256:${hex}`);
      layers.push({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: `sha256:${hex}`,
        size: statSync(path).size,
      });
      continue;
    }
    const tar = readFileSync(path);
    config.rootfs.diff_ids.push(digestOf(tar));
    layers.push({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      ...putBlob(gzipSync(tar, { level: 1 })),
    });
  }
  const c = config.config;
  if (o.user !== undefined) c.User = o.user;
  if (o.workdir !== undefined) c.WorkingDir = o.workdir;
  for (const kv of o.env) {
    const key = kv.split('=')[0];
    c.Env = [...(c.Env ?? []).filter((e) => e.split('=')[0] !== key), kv];
  }
  if (o.entrypoint !== undefined) c.Entrypoint = JSON.parse(o.entrypoint);
  if (o.cmd !== undefined) c.Cmd = JSON.parse(o.cmd);

  const cfg = putBlob(Buffer.from(JSON.stringify(config)));
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
    layers,
  };
  const m = putBlob(Buffer.from(JSON.stringify(manifest)));
  writeFileSync(join(work, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(work, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: manifest.mediaType,
          ...m,
          annotations: {
            'io.containerd.image.name': o.name,
            'org.opencontainers.image.ref.name': o.name.slice(o.name.lastIndexOf(':') + 1),
          },
        },
      ],
    }),
  );
  mkdirSync(dirname(o.out), { recursive: true });
  const tmp = `${o.out}.tmp`;
  execFileSync('tar', [
    '-C',
    work,
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-cf',
    tmp,
    'oci-layout',
    'index.json',
    'blobs',
  ]);
  renameSync(tmp, o.out);
} finally {
  rmSync(work, { recursive: true, force: true });
}
