/**
 * The operator image holds what the operator runs and nothing else (docs/deploy.md): the
 * rooms `operator/main.ts` imports, copied by operator/Dockerfile, and the npm packages they
 * import, declared by operator/package.json (the workspace the Dockerfile installs alone).
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const readJson = (rel: string) => JSON.parse(readFileSync(join(ROOT, rel), 'utf8'));

/** Files and npm packages reached from `entry` by value imports (type-only ones vanish). */
function closure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const src = readFileSync(join(ROOT, file), 'utf8');
    const specs = [
      ...src.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^'";]*?from\s+['"]([^'"]+)['"]/gm),
      ...src.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm),
      ...src.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g),
    ].map((m) => m[1]!);
    for (const spec of specs) {
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) {
        let target = relative(ROOT, join(ROOT, dirname(file), spec));
        if (!existsSync(join(ROOT, target))) target = target.replace(/\.js$/, '.ts');
        visit(target);
      } else {
        const parts = spec.split('/');
        packages.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
      }
    }
  };
  visit(entry);
  return { files, packages };
}

describe('operator image', () => {
  const { files, packages } = closure('operator/main.ts');
  const manifest = readJson('operator/package.json');
  const declared = Object.keys(manifest.dependencies as Record<string, string>).sort();

  it('copies exactly the rooms the operator imports', () => {
    const rooms = new Set([...files].map((f) => f.split('/')[0]!));
    rooms.add('bin'); // the `ringmaster` entry point
    const dockerfile = readFileSync(join(ROOT, 'operator/Dockerfile'), 'utf8');
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(\S+) \.\/(\S+)$/gm)]
      .map((m) => m[1]!)
      .filter((src) => !src.endsWith('.json'));
    assert.deepEqual(copied.sort(), [...rooms].sort());
    assert.ok(!rooms.has('trainer'), 'the operator imports the trainer');
  });

  it('declares exactly the packages the operator imports (and tsx, which runs it)', () => {
    const used = [...packages, 'tsx'].sort();
    assert.deepEqual(declared, [...new Set(used)].sort());
    for (const heavy of ['@tensorflow/tfjs-core', 'sharp', 'koffi']) {
      assert.ok(!declared.includes(heavy), `${heavy} in the operator's manifest`);
    }
  });

  it('pins each package as the root manifest does, and the lockfile knows the workspace', () => {
    const root = readJson('package.json');
    assert.ok((root.workspaces as string[]).includes('operator'));
    for (const name of declared) {
      assert.equal(manifest.dependencies[name], root.dependencies[name], name);
    }
    const lock = readJson('package-lock.json');
    assert.deepEqual(lock.packages.operator.dependencies, manifest.dependencies);
  });
});
