import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as names from '../../../api/names.js';
import { OperatorEnv, ProcessEnv, TestEnv, WorkerEnv } from '../../../api/names.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');

/** Files of the rooms that ship (everything but tests, benchmarks, harness and docs). */
function shippedSources(): string[] {
  const out = execFileSync(
    'git',
    [
      'ls-files',
      '--cached',
      '--others',
      '--exclude-standard',
      'api',
      'common',
      'trainer',
      'operator',
      'bin',
      'charts',
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  return out
    .split('\n')
    .filter((f) => /\.(ts|js|yaml|tpl)$|Dockerfile/.test(f))
    .filter((f) => !f.includes('/crds/'));
}

describe('api/names', () => {
  const declared = new Set<string>([
    ...Object.values(WorkerEnv),
    ...Object.values(OperatorEnv),
    ...Object.values(ProcessEnv),
    ...Object.values(TestEnv),
  ]);

  it('declares every RINGMASTER_* variable that shipped code, images or the chart mention', () => {
    const missing = new Map<string, string>();
    for (const file of shippedSources()) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const [name] of text.matchAll(/\bRINGMASTER_[A-Z0-9_]+\b/g)) {
        if (!declared.has(name) && !missing.has(name)) missing.set(name, file);
      }
    }
    assert.deepEqual(
      [...missing].map(([n, f]) => `${n} (${f})`),
      [],
    );
  });

  it('declares each variable once, in one group', () => {
    const all = [
      ...Object.values(WorkerEnv),
      ...Object.values(OperatorEnv),
      ...Object.values(ProcessEnv),
      ...Object.values(TestEnv),
    ];
    assert.equal(new Set(all).size, all.length);
  });

  it('is the only place that spells the API group, the ring port or the progress file', () => {
    const offenders: string[] = [];
    for (const file of shippedSources().filter((f) => f.endsWith('.ts'))) {
      if (file === 'api/names.ts') continue;
      const code = readFileSync(join(ROOT, file), 'utf8')
        // Comments may cite names; code must import them.
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
      if (/['"`]ringmaster\.dev[/'"`]/.test(code)) offenders.push(`${file}: ringmaster.dev`);
      if (/\b2950[01]\b/.test(code)) offenders.push(`${file}: ring port`);
      if (/['"`]progress\.json['"`]/.test(code)) offenders.push(`${file}: progress.json`);
      if (/['"`]TrainingRecipe['"`]/.test(code)) offenders.push(`${file}: kind`);
    }
    assert.deepEqual(offenders, []);
  });

  it('derives the API version and the REST paths from the group and version', () => {
    assert.equal(names.API_VERSION, 'ringmaster.dev/v1alpha1');
    assert.equal(names.recipesPath(), '/apis/ringmaster.dev/v1alpha1/trainingrecipes');
    assert.equal(
      names.recipesPath('ml', 'r'),
      '/apis/ringmaster.dev/v1alpha1/namespaces/ml/trainingrecipes/r',
    );
    assert.equal(names.RING_DATA_PORT, names.RING_PORT + 1);
  });
});
