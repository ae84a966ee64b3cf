/**
 * The rooms' import rules (eslint.config.js) fire: ESLint, with the repository's own config,
 * lints a one-line import placed in each room and must reject the forbidden ones and accept
 * the allowed ones. Type-aware parsing is switched off here (the snippets are not files of
 * the TS project); the boundary rules do not need types.
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { ESLint } from 'eslint';

const ROOT = join(import.meta.dirname, '..', '..');

const eslint = new ESLint({
  cwd: ROOT,
  overrideConfig: {
    languageOptions: { parserOptions: { projectService: false, project: null } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-misused-promises': 'off',
    },
  },
});

/** The messages of no-restricted-imports for `import … from spec` in a file at `filePath`. */
async function boundaryErrors(
  filePath: string,
  spec: string,
  code = `import * as m from '${spec}';\nexport const used = m;\n`,
): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, filePath) });
  const messages = result!.messages;
  const other = messages.filter((m) => m.ruleId !== 'no-restricted-imports');
  assert.deepEqual(
    other.map((m) => m.message),
    [],
    `unexpected lint messages for ${filePath}`,
  );
  return messages.map((m) => m.message);
}

const FORBIDDEN: ReadonlyArray<[file: string, spec: string, why: string]> = [
  ['trainer/train-x.ts', '../operator/reconcile/names.js', 'trainer → operator'],
  ['trainer/comm/x.ts', '../../operator/main.js', 'trainer → operator, from a subfolder'],
  ['operator/x.ts', '../trainer/models/arch.js', 'operator → trainer'],
  ['operator/reconcile/x.ts', '../../trainer/plan.js', 'operator → trainer, from a subfolder'],
  ['api/x.ts', '../trainer/models/arch.js', 'api → trainer'],
  ['api/x.ts', '../operator/reconcile/names.js', 'api → operator'],
  ['common/x.ts', '../trainer/train.js', 'common → trainer'],
  ['common/storage/x.ts', '../../operator/progress.js', 'common → operator'],
  ['common/x.ts', '../api/load.js', 'common → api beyond names'],
  ['trainer/x.ts', '../test/unit/operator/builders.js', 'trainer → test'],
  ['operator/x.ts', '../test/support/node-agent.js', 'operator → test'],
  ['api/x.ts', '../test/unit/api/rule-cases.js', 'api → test'],
  ['bench/operator/x.ts', '../../test/support/node-agent.js', 'bench → test'],
  ['scripts/x.ts', '../test/unit/api/rule-cases.js', 'scripts → test'],
  ['harness/x.ts', '../test/support/node-agent.js', 'harness → test'],
  ['trainer/x.ts', '../harness/minio.js', 'trainer → harness'],
  ['operator/x.ts', '../harness/kube.js', 'operator → harness'],
];

const ALLOWED: ReadonlyArray<[file: string, spec: string, why: string]> = [
  ['trainer/x.ts', '../api/load.js', 'trainer → api'],
  ['trainer/data/x.ts', '../../common/storage/storage.js', 'trainer → common'],
  ['operator/x.ts', '../api/names.js', 'operator → api'],
  ['operator/kube/x.ts', '../../common/log.js', 'operator → common'],
  ['api/x.ts', '../common/errors.js', 'api → common'],
  ['common/x.ts', '../api/names.js', 'common → api/names (pure data)'],
  ['trainer/comm/x.ts', './group.js', 'inside a room'],
  ['harness/x.ts', '../operator/kube/rest.js', 'harness → operator'],
  ['bench/operator/x.ts', '../../harness/control-plane.js', 'bench → harness'],
  ['test/unit/x.test.ts', '../../harness/minio.js', 'test → harness'],
  ['test/unit/x.test.ts', '../../operator/main.js', 'test → operator'],
  ['test/unit/x.test.ts', '../support/node-agent.js', 'test → test'],
];

describe('room boundaries (eslint no-restricted-imports)', function () {
  this.timeout(120_000);

  for (const [file, spec, why] of FORBIDDEN) {
    it(`rejects ${why}`, async () => {
      const errors = await boundaryErrors(file, spec);
      assert.equal(errors.length, 1, `${file}: import '${spec}' passed lint`);
    });
  }

  it('rejects type-only imports and re-exports too', async () => {
    const spec = '../operator/reconcile/types.js';
    const typeOnly = `import type { Plan } from '${spec}';\nexport type P = Plan;\n`;
    assert.equal((await boundaryErrors('trainer/x.ts', spec, typeOnly)).length, 1);
    const reExport = `export { names } from '../operator/reconcile/names.js';\n`;
    assert.equal((await boundaryErrors('trainer/x.ts', spec, reExport)).length, 1);
  });

  for (const [file, spec, why] of ALLOWED) {
    it(`allows ${why}`, async () => {
      assert.deepEqual(await boundaryErrors(file, spec), []);
    });
  }
});
