// The operator image for the real node, built without a container engine the way
// operator/Dockerfile builds it: on the local base image (Debian bookworm + Node 20,
// .ci/setup.d/34-node-images.sh), a layer with the operator workspace's production
// dependencies (`npm ci --omit=dev --workspace=ringmaster-operator`, cached by the lockfile's
// hash) and a layer with this checkout's bin/, api/, common/, operator/ and package.json; user
// 65532, entrypoint `ringmaster`. The result is an OCI archive for `ctr image import`.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const WRITER = join(ROOT, 'test', 'cluster', 'images', 'oci-archive.mjs');
/** The tag the cluster tests give the operator image (pullPolicy Never). */
export const OPERATOR_IMAGE = 'ringmaster.local/operator:test';
const APP_DIRS = ['bin', 'api', 'common', 'operator'];

function cacheDir(): string {
  return join(process.env.RINGMASTER_CACHE ?? join(homedir(), '.cache', 'ringmaster'), 'images');
}

const tarArgs = ['--owner=0', '--group=0', '--numeric-owner', '--sort=name'];

/** node_modules of the operator workspace as a layer tar (app/node_modules/…), cached. */
function depsLayer(): string {
  const inputs = ['package.json', 'package-lock.json', 'operator/package.json'];
  const hash = createHash('sha256');
  for (const f of inputs) hash.update(readFileSync(join(ROOT, f)));
  const out = join(cacheDir(), `operator-deps-${hash.digest('hex').slice(0, 16)}.tar`);
  if (existsSync(out)) return out;
  const work = mkdtempSync(join(tmpdir(), 'operator-deps-'));
  try {
    mkdirSync(join(work, 'app', 'operator'), { recursive: true });
    for (const f of inputs) cpSync(join(ROOT, f), join(work, 'app', f));
    execFileSync(
      'npm',
      [
        'ci',
        '--omit=dev',
        '--workspace=ringmaster-operator',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        '--ignore-scripts',
      ],
      { cwd: join(work, 'app'), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    execFileSync('tar', ['-C', work, ...tarArgs, '-cf', `${out}.tmp`, 'app/node_modules']);
    renameSync(`${out}.tmp`, out);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Build the operator image from this checkout; resolves with the OCI archive's path. */
export function buildOperatorImage(): string {
  const base = join(cacheDir(), 'base.oci.tar');
  if (!existsSync(base)) throw new Error(`${base} missing: run .ci/setup.d/34-node-images.sh`);
  const deps = depsLayer();
  const work = mkdtempSync(join(tmpdir(), 'operator-image-'));
  try {
    const app = join(work, 'root', 'app');
    mkdirSync(app, { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
    for (const d of APP_DIRS) {
      cpSync(join(ROOT, d), join(app, d), {
        recursive: true,
        filter: (src) => !src.includes('node_modules'),
      });
    }
    mkdirSync(join(work, 'root', 'usr', 'local', 'bin'), { recursive: true });
    symlinkSync('/app/bin/ringmaster.js', join(work, 'root', 'usr', 'local', 'bin', 'ringmaster'));
    execFileSync('chmod', ['-R', 'a+rX', join(work, 'root')]);
    execFileSync('tar', [
      '-C',
      join(work, 'root'),
      ...tarArgs,
      '-cf',
      join(work, 'app.tar'),
      'app',
      'usr',
    ]);
    const out = join(work, 'operator.oci.tar');
    execFileSync(process.execPath, [
      WRITER,
      '--out',
      out,
      '--name',
      OPERATOR_IMAGE,
      '--base',
      base,
      '--layer',
      deps,
      '--layer',
      join(work, 'app.tar'),
      '--user',
      '65532:65532',
      '--workdir',
      '/app',
      '--env',
      'NODE_ENV=production',
      '--entrypoint',
      '["ringmaster"]',
      '--cmd',
      '["operator"]',
    ]);
    const final = join(cacheDir(), 'operator-test.oci.tar');
    renameSync(out, final);
    return final;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
