// ESLint's flat config: which rules every JS and TS file in the repository
// is held to (`npm run lint`). Formatting is prettier's job alone
// (.prettierrc.json), so eslint-config-prettier turns off every stylistic
// rule that would fight it.
//
// TypeScript files get the type-checked rules (typescript-eslint's
// projectService reads tsconfig.json): they catch what a reviewer misses,
// such as a promise nobody awaits or handles (no-floating-promises), an
// `any` leaking through (no-explicit-any and the no-unsafe-* family), and
// `==` (eqeqeq). The JavaScript files (scripts, bench, examples, test
// fixtures) are CommonJS or ES modules run by Node as they are; they get
// ESLint's recommended rules, without type information.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['dist/', 'build/', 'prebuilds/', 'docs/api/', '**/node_modules/', 'bench/build/', 'bench/results/'],
  },
  js.configs.recommended,
  {
    // Every file runs under Node.
    languageOptions: { ecmaVersion: 2022, globals: { ...globals.node } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // `x != null` (null or undefined) stays allowed: it says what it means.
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      // `catch {}` is how the scripts say "best effort, a failure is fine".
      'no-empty': ['error', { allowEmptyCatch: true }],
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'prefer-const': 'error',
      'no-var': 'error',
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module' },
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      'no-unused-vars': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      // The code already writes `import { type X }` for types only; keep it
      // so (a type-only import is erased and never loads a module).
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // The pool's wire protocol compares a received byte (a number) with
      // Kind's members on purpose: a frame's kind comes off the socket, and
      // an unknown one goes to the switch's default branch.
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      // Its --fix removed casts that tsc needs (a generic listener's event
      // name in src/rx/pool.ts, an errno code narrowed for t.is), and its
      // contextual check asks for t.throws<ErrnoError>(), which still
      // returns `| undefined`. tsc judges casts well enough on its own.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // A test or callback is async to fit its caller (ava, rxjs) even when
      // it awaits nothing.
      '@typescript-eslint/require-await': 'off',
    },
  },
  prettier,
);
