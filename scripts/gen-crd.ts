/**
 * Writes the CRDs (TrainingRecipe, TrainingStudy) to crds/ and to the Helm chart's crds/
 * (identical copies). `--check`: write nothing, exit 1 if a committed copy differs from the
 * schema's output.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crdFiles } from '../api/crd.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CRD_FILES = [...crdFiles().keys()];

const check = process.argv.includes('--check');
let stale = 0;
for (const [rel, text] of crdFiles()) {
  const path = join(root, rel);
  if (check) {
    const current = await readFile(path, 'utf8').catch(() => '');
    if (current !== text) {
      process.stderr.write(`${rel} is out of date: run npx tsx scripts/gen-crd.ts\n`);
      stale++;
    }
  } else {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
    process.stdout.write(`wrote ${rel}\n`);
  }
}
process.exitCode = stale > 0 ? 1 : 0;
