// @ts-check
import tseslint from 'typescript-eslint';

/**
 * Rooms and who may import whom (docs/architecture.md). `api/` is the contract, `common/` the
 * shared kernel (errors, logging, storage); the trainer and the operator meet only there.
 * `harness/` (local servers for tests and benchmarks), `bench/` and `scripts/` are tools.
 * Nothing outside `test/` imports `test/`. test/unit/boundaries.test.ts proves each rule fires.
 */
const room = (/** @type {string} */ name) => `^(\\.\\./)+${name}(/|$)`;
const forbid = (/** @type {string} */ regex, /** @type {string} */ message) => ({
  regex,
  message,
});
const NO_TEST = forbid(
  room('test'),
  'Nothing outside test/ imports test/ (move shared helpers to harness/).',
);
const NO_TOOLS = [
  forbid(
    room('harness'),
    'harness/ is for tests and benchmarks only: shipped code never imports it.',
  ),
  forbid(room('bench'), 'bench/ is not shipped code.'),
  forbid(room('scripts'), 'scripts/ is not shipped code.'),
];
const NO_TRAINER = forbid(
  room('trainer'),
  'Only bin/ and tools import trainer/: share through api/ (the contract) or common/ (the kernel).',
);
const NO_OPERATOR = forbid(
  room('operator'),
  'Only bin/ and tools import operator/: share through api/ (the contract) or common/ (the kernel).',
);

/** @param {string[]} files @param {ReturnType<typeof forbid>[]} patterns */
const boundary = (files, patterns) => ({
  files,
  rules: { 'no-restricted-imports': ['error', { patterns }] },
});

export default tseslint.config(
  { ignores: ['node_modules/**', '.cache/**', 'charts/**', 'crds/**', 'coverage/**', 'runs/**'] },
  {
    files: ['**/*.ts'],
    extends: [...tseslint.configs.recommended],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  boundary(['api/**'], [NO_TRAINER, NO_OPERATOR, NO_TEST, ...NO_TOOLS]),
  boundary(
    ['common/**'],
    [
      NO_TRAINER,
      NO_OPERATOR,
      NO_TEST,
      ...NO_TOOLS,
      forbid(
        '^(\\.\\./)+api/(?!names\\.js$)',
        'common/ sits below api/: of the contract it may use only api/names.ts (pure data).',
      ),
    ],
  ),
  boundary(['trainer/**'], [NO_OPERATOR, NO_TEST, ...NO_TOOLS]),
  boundary(['operator/**'], [NO_TRAINER, NO_TEST, ...NO_TOOLS]),
  boundary(['bin/**', 'bench/**', 'scripts/**', 'harness/**'], [NO_TEST]),
);
