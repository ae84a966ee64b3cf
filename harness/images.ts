// The operator and CPU trainer images for the real node, assembled without a container engine
// (no daemon and no registry here) from the repository's own Dockerfiles: the final stage of
// operator/Dockerfile and trainer/Dockerfile is read (harness/dockerfile.ts) and replayed:
//   - FROM ${RUNTIME_IMAGE}/node:20-bookworm-slim → the local base (Debian bookworm minbase +
//     Node 20, .ci/setup.d/34-node-images.sh): the base image is the Dockerfiles' build argument;
//   - COPY --from=<build stage> /app/node_modules → what that stage produces, made by the same
//     commands (`npm ci --omit=dev …` as the Dockerfile runs it, cached by the lockfile's hash;
//     for the trainer, scripts/build-tensorflow.sh's addon and libtensorflow, vendored);
//   - COPY <context paths> → this checkout's files; ENV, WORKDIR, USER, ENTRYPOINT, CMD → the
//     image config;
//   - RUN → the few commands the final stages use (ln -s, chmod +x, mkdir -p, chown); a load
//     check (`node -e …`) is returned as a command for the caller to run in the image on the
//     node (test/cluster does, as a pod). Any other RUN is an error naming it.
// The result is an OCI archive for `ctr image import`.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { parseDockerfile, type FinalStage } from './dockerfile.js';

const ROOT = join(import.meta.dirname, '..');
const WRITER = join(ROOT, 'test', 'cluster', 'images', 'oci-archive.mjs');
/** The tag the cluster tests give the operator image (pullPolicy Never). */
export const OPERATOR_IMAGE = 'ringmaster.local/operator:test';
/** The tag the cluster tests give the CPU trainer image (the chart's workerImage). */
export const TRAINER_IMAGE = 'ringmaster.local/trainer:test';
export const OPERATOR_DOCKERFILE = join(ROOT, 'operator', 'Dockerfile');
export const TRAINER_DOCKERFILE = join(ROOT, 'trainer', 'Dockerfile');
const TFJS_NODE = join('node_modules', '@tensorflow', 'tfjs-node');

function cacheDir(): string {
  return join(process.env.RINGMASTER_CACHE ?? join(homedir(), '.cache', 'ringmaster'), 'images');
}

const tarArgs = ['--owner=0', '--group=0', '--numeric-owner', '--sort=name'];

/**
 * node_modules as the Dockerfile's build stage leaves it (app/node_modules/… as a layer tar),
 * cached by the lockfile's hash and the npm arguments.
 */
function npmLayer(label: string, npmArgs: string[], drop: string[] = []): string {
  const inputs = ['package.json', 'package-lock.json', 'operator/package.json'];
  // What npm ci reads: the lockfile and the manifests' dependency fields (not their scripts).
  const hash = createHash('sha256');
  hash.update(readFileSync(join(ROOT, 'package-lock.json')));
  for (const f of ['package.json', 'operator/package.json']) {
    const m = JSON.parse(readFileSync(join(ROOT, f), 'utf8')) as Record<string, unknown>;
    const deps = ['name', 'dependencies', 'optionalDependencies', 'devDependencies'];
    hash.update(JSON.stringify([...deps, 'workspaces', 'overrides'].map((k) => m[k])));
  }
  hash.update(JSON.stringify([npmArgs, drop]));
  const out = join(cacheDir(), `${label}-deps-${hash.digest('hex').slice(0, 16)}.tar`);
  if (existsSync(out)) return out;
  const work = mkdtempSync(join(tmpdir(), `${label}-deps-`));
  try {
    mkdirSync(join(work, 'app', 'operator'), { recursive: true });
    for (const f of inputs) cpSync(join(ROOT, f), join(work, 'app', f));
    execFileSync('nice', ['-n', '10', 'npm', ...npmArgs, '--prefer-offline'], {
      cwd: join(work, 'app'),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    for (const d of drop) rmSync(join(work, 'app', d), { recursive: true, force: true });
    execFileSync('tar', ['-C', work, ...tarArgs, '-cf', `${out}.tmp`, 'app/node_modules']);
    renameSync(`${out}.tmp`, out);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The native TensorFlow backend as `build-tensorflow.sh --vendor` leaves it in the build stage:
 * the addon under lib/napi-v8 and libtensorflow copied (not linked) into deps/lib. Taken from
 * this checkout's node_modules (built by the same script from PyPI's wheel on the same Debian
 * release as the base), cached by the addon's and libraries' identity.
 */
function tensorflowLayer(): string {
  const pkg = join(ROOT, TFJS_NODE);
  const files = [
    'lib/napi-v8/tfjs_binding.node',
    'deps/lib/libtensorflow_cc.so.2',
    'deps/lib/libtensorflow_framework.so.2',
    'deps/lib/libtensorflow.so.2.9.1',
  ];
  const missing = files.filter((f) => !existsSync(join(pkg, f)));
  if (missing.length) {
    throw new Error(
      `${pkg} lacks ${missing.join(', ')}: run scripts/build-tensorflow.sh (the trainer image needs the native backend)`,
    );
  }
  const hash = createHash('sha256');
  for (const f of files) {
    const real = realpathSync(join(pkg, f));
    const st = statSync(real);
    hash.update(`${f} ${real} ${st.size} ${st.mtimeMs}\n`);
  }
  const out = join(cacheDir(), `trainer-tensorflow-${hash.digest('hex').slice(0, 16)}.tar`);
  if (existsSync(out)) return out;
  const work = mkdtempSync(join(tmpdir(), 'trainer-tf-'));
  try {
    for (const f of files) {
      const dest = join(work, 'app', TFJS_NODE, f);
      mkdirSync(dirname(dest), { recursive: true });
      cpSync(realpathSync(join(pkg, f)), dest);
      chmodSync(dest, 0o644);
    }
    execFileSync('chmod', ['-R', 'a+rX', work]);
    execFileSync('tar', ['-C', work, ...tarArgs, '-cf', `${out}.tmp`, 'app']);
    renameSync(`${out}.tmp`, out);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A RUN command the assembler replays on the staged root, or undefined if it cannot. */
function replayRun(cmd: string, root: string, owners: Array<[string, string]>): boolean {
  const w = cmd.split(/\s+/);
  const at = (p: string) => join(root, p);
  if (w[0] === 'ln' && w[1] === '-s' && w.length === 4) {
    mkdirSync(dirname(at(w[3]!)), { recursive: true });
    symlinkSync(w[2]!, at(w[3]!));
    return true;
  }
  if (w[0] === 'chmod' && w[1] === '+x' && w.length === 3) {
    chmodSync(at(w[2]!), statSync(at(w[2]!)).mode | 0o111);
    return true;
  }
  if (w[0] === 'mkdir' && w[1] === '-p') {
    for (const d of w.slice(2)) mkdirSync(at(d), { recursive: true });
    return true;
  }
  if (w[0] === 'chown' && w.length === 3 && /^\d+:\d+$/.test(w[1]!)) {
    owners.push([w[2]!, w[1]!]);
    return true;
  }
  return false;
}

/** A RUN that only checks the image (loads a binding): run in the image by the caller. */
const isLoadCheck = (cmd: string) => /\bnode -e\b/.test(cmd);

/**
 * How the assembler treats each RUN of a final stage: replayed on the staged root, or a load
 * check for the caller; throws naming the first RUN it cannot follow.
 */
export function planRuns(stage: FinalStage, dockerfile: string): Array<'replay' | 'check'> {
  const scratch = mkdtempSync(join(tmpdir(), 'runs-'));
  try {
    mkdirSync(join(scratch, stage.workdir), { recursive: true });
    return stage.runs.map((r) => {
      if (isLoadCheck(r)) return 'check';
      // chmod needs its target: a dry run on an empty root checks the shape only.
      const dry = r.startsWith('chmod +x ') ? 'true' : r;
      if (dry === 'true' || replayRun(dry, scratch, [])) return 'replay';
      throw new Error(
        `${dockerfile}: harness/images.ts cannot replay "RUN ${r}": teach it, or keep the final stage to COPY, ln -s, chmod +x, mkdir -p, chown and load checks`,
      );
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export interface AssembleOptions {
  dockerfile: string;
  name: string;
  /** Layers standing for `COPY --from=<stage> /app/node_modules`, by stage name. */
  stages: Record<string, string[]>;
  out: string;
}

export interface AssembledImage {
  archive: string;
  name: string;
  /** The Dockerfile's load checks, to run in the image (sh -c) where it runs. */
  checks: string[];
  stage: FinalStage;
}

/** Hash of everything an assembled image is made of. */
function inputsKey(o: AssembleOptions, stage: FinalStage, base: string): string {
  const h = createHash('sha256');
  h.update(readFileSync(o.dockerfile));
  h.update(readFileSync(WRITER));
  h.update(o.name);
  for (const l of [base, ...Object.values(o.stages).flat()]) {
    const st = statSync(l);
    h.update(`${l} ${st.size} ${st.mtimeMs}\n`);
  }
  const walk = (p: string): void => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const e of readdirSync(p).sort()) if (e !== 'node_modules') walk(join(p, e));
    } else {
      h.update(`${p} ${st.mode}\n`);
      h.update(readFileSync(p));
    }
  };
  for (const c of stage.copies)
    if (c.from === undefined) for (const s of c.sources) walk(join(ROOT, s));
  return h.digest('hex');
}

/** Assemble the final stage of a Dockerfile on the local base image (see the file comment). */
export function assembleImage(o: AssembleOptions): AssembledImage {
  const base = join(cacheDir(), 'base.oci.tar');
  if (!existsSync(base)) throw new Error(`${base} missing: run .ci/setup.d/34-node-images.sh`);
  const stage = parseDockerfile(o.dockerfile);
  // Unchanged inputs (Dockerfile, base, layers, copied files, writer): the archive stands.
  const key = inputsKey(o, stage, base);
  const keyFile = `${o.out}.key`;
  const checksOf = () => stage.runs.filter((_, i) => planRuns(stage, o.dockerfile)[i] === 'check');
  if (existsSync(o.out) && existsSync(keyFile) && readFileSync(keyFile, 'utf8') === key)
    return { archive: o.out, name: o.name, checks: checksOf(), stage };
  const work = mkdtempSync(join(tmpdir(), 'image-'));
  try {
    const root = join(work, 'root');
    const abs = (p: string) => (p.startsWith('/') ? p : posix.join(stage.workdir, p));
    mkdirSync(join(root, stage.workdir), { recursive: true });
    const layers: string[] = [];
    for (const c of stage.copies) {
      if (c.from !== undefined) {
        const given = o.stages[c.from];
        if (
          !given ||
          c.sources.join() !== '/app/node_modules' ||
          abs(c.dest) !== '/app/node_modules'
        )
          throw new Error(
            `${o.dockerfile}: COPY --from=${c.from} ${c.sources.join(' ')} ${c.dest}: no layer given for it`,
          );
        layers.push(...given);
        continue;
      }
      const dest = abs(c.dest);
      for (const s of c.sources) {
        const target = dest.endsWith('/') ? posix.join(dest, posix.basename(s)) : dest;
        cpSync(join(ROOT, s), join(root, target), {
          recursive: true,
          filter: (src) => !src.includes('node_modules'),
        });
      }
    }
    const plan = planRuns(stage, o.dockerfile);
    const checks: string[] = [];
    const owners: Array<[string, string]> = [];
    stage.runs.forEach((r, i) => {
      if (plan[i] === 'check') checks.push(r);
      else replayRun(r, root, owners);
    });
    execFileSync('chmod', ['-R', 'a+rX', root]);
    execFileSync('chown', ['-R', '0:0', root]);
    for (const [p, ug] of owners) {
      const [u, g] = ug.split(':').map(Number) as [number, number];
      chownSync(join(root, p), u, g);
    }
    const appTar = join(work, 'app.tar');
    execFileSync('tar', ['-C', root, '--numeric-owner', '--sort=name', '-cf', appTar, '.']);
    const args = ['--out', o.out, '--name', o.name, '--base', base];
    for (const l of [...layers, appTar]) args.push('--layer', l);
    if (stage.user) args.push('--user', stage.user);
    args.push('--workdir', stage.workdir);
    for (const [k, v] of stage.env) args.push('--env', `${k}=${v}`);
    if (stage.entrypoint) args.push('--entrypoint', JSON.stringify(stage.entrypoint));
    if (stage.cmd) args.push('--cmd', JSON.stringify(stage.cmd));
    execFileSync('nice', ['-n', '10', process.execPath, WRITER, ...args]);
    writeFileSync(keyFile, key);
    return { archive: o.out, name: o.name, checks, stage };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The operator image from operator/Dockerfile; resolves with the OCI archive's path. */
export function buildOperatorImage(): string {
  const deps = npmLayer('operator', [
    'ci',
    '--omit=dev',
    '--workspace=ringmaster-operator',
    '--no-audit',
    '--no-fund',
    '--ignore-scripts',
  ]);
  return assembleImage({
    dockerfile: OPERATOR_DOCKERFILE,
    name: OPERATOR_IMAGE,
    stages: { deps: [deps] },
    out: join(cacheDir(), 'operator-test.oci.tar'),
  }).archive;
}

/**
 * The CPU trainer image from trainer/Dockerfile: its build stage's node_modules (npm ci
 * --omit=dev --ignore-scripts, tfjs-node-gpu removed, as the Dockerfile does) plus the native
 * backend (tensorflowLayer).
 */
export function buildTrainerImage(): AssembledImage {
  const deps = npmLayer(
    'trainer',
    ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'],
    ['node_modules/@tensorflow/tfjs-node-gpu'],
  );
  return assembleImage({
    dockerfile: TRAINER_DOCKERFILE,
    name: TRAINER_IMAGE,
    stages: { build: [deps, tensorflowLayer()] },
    out: join(cacheDir(), 'trainer-test.oci.tar'),
  });
}
