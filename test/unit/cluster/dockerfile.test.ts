/**
 * The real-node tier assembles the operator and trainer images from the final stages of
 * operator/Dockerfile and trainer/Dockerfile (harness/images.ts; no container engine here).
 * These checks keep the Dockerfiles and the assembler in step: the parser reads what the
 * images hold (their COPY list, user, entrypoint, env), the base is a build argument, every
 * RUN of a final stage is one the assembler replays or runs as a check, and a RUN it cannot
 * follow fails the assembly by name instead of being skipped.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDockerfile } from '../../../harness/dockerfile.js';
import { OPERATOR_DOCKERFILE, planRuns, TRAINER_DOCKERFILE } from '../../../harness/images.js';

const contextCopies = (f: string) =>
  parseDockerfile(f)
    .copies.filter((c) => c.from === undefined)
    .flatMap((c) => c.sources)
    .sort();

describe('Dockerfiles as the real-node assembler reads them', () => {
  it('trainer/Dockerfile: base from a build argument, node_modules from the build stage, the trainer sources, non-root, native backend', () => {
    const s = parseDockerfile(TRAINER_DOCKERFILE);
    assert.equal(s.from, '${RUNTIME_IMAGE}');
    assert.equal(s.baseDefault, 'node:20-bookworm-slim');
    assert.deepEqual(
      s.copies.filter((c) => c.from !== undefined),
      [{ from: 'build', sources: ['/app/node_modules'], dest: './node_modules' }],
    );
    assert.deepEqual(contextCopies(TRAINER_DOCKERFILE), [
      'api',
      'bin',
      'common',
      'package.json',
      'proto',
      'trainer',
    ]);
    assert.equal(s.user, '65532:65532');
    assert.equal(s.workdir, '/app');
    assert.deepEqual(s.entrypoint, ['ringmaster']);
    assert.deepEqual(s.cmd, ['worker']);
    assert.equal(new Map(s.env).get('RINGMASTER_BACKEND'), 'tensorflow');
    assert.equal(new Map(s.env).get('TMPDIR'), '/scratch');
    assert.deepEqual(s.expose, [29500, 29501]);
    const plan = planRuns(s, TRAINER_DOCKERFILE);
    assert.deepEqual(
      s.runs.filter((_, i) => plan[i] === 'check'),
      [`TF_CPP_MIN_LOG_LEVEL=3 node -e "require('@tensorflow/tfjs-node').tensor([1]).dataSync()"`],
    );
    assert.ok(s.runs.includes('chown 65532:65532 /scratch'));
  });

  it('operator/Dockerfile: base from a build argument, the operator sources only', () => {
    const s = parseDockerfile(OPERATOR_DOCKERFILE);
    assert.equal(s.from, '${NODE_IMAGE}');
    assert.equal(s.baseDefault, 'node:20-bookworm-slim');
    assert.deepEqual(contextCopies(OPERATOR_DOCKERFILE), [
      'api',
      'bin',
      'common',
      'operator',
      'package.json',
    ]);
    assert.deepEqual(s.entrypoint, ['ringmaster']);
    assert.deepEqual(s.cmd, ['operator']);
    assert.deepEqual(planRuns(s, OPERATOR_DOCKERFILE), ['replay', 'replay']);
  });

  it('a RUN the assembler cannot replay is an error naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dockerfile-'));
    try {
      const f = join(dir, 'Dockerfile');
      writeFileSync(
        f,
        'ARG B=debian\nFROM ${B}\nWORKDIR /app\nRUN mkdir -p /x \\\n && apt-get install -y curl\n',
      );
      const s = parseDockerfile(f);
      assert.deepEqual(s.runs, ['mkdir -p /x', 'apt-get install -y curl']);
      assert.throws(() => planRuns(s, f), /cannot replay "RUN apt-get install -y curl"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an instruction the parser does not know is an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dockerfile-'));
    try {
      const f = join(dir, 'Dockerfile');
      writeFileSync(f, 'FROM debian\nVOLUME /data\n');
      assert.throws(() => parseDockerfile(f), /does not understand VOLUME/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
