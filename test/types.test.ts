// The public types as a user sees them: test/types/api-types.ts compiled by
// tsc against the built declaration files (dist/*.d.ts), so the typed events,
// write()'s argument and async iteration are proven on what is published,
// not only on the sources. Each `@ts-expect-error` line there is a use that
// must not compile; tsc fails on one that does.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.join(__dirname, '..');

test('the published declarations reject every wrong use in test/types/api-types.ts and accept the right ones', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ums-types-'));
  try {
    const source = fs.readFileSync(path.join(__dirname, 'types', 'api-types.ts'), 'utf8');
    const dist = path.join(root, 'dist');
    t.true(fs.existsSync(path.join(dist, 'index.d.ts')), 'dist/ is built (npm test builds it first)');
    const rewritten = source.replaceAll("'../../src/", `'${dist}/`);
    t.not(rewritten, source, 'the file imports the sources, rewritten to dist/');
    fs.writeFileSync(path.join(dir, 'api-types.ts'), rewritten);
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'ES2022',
          module: 'commonjs',
          moduleResolution: 'node',
          types: ['node'],
          typeRoots: [path.join(root, 'node_modules', '@types')],
          skipLibCheck: false,
          baseUrl: root,
          paths: { rxjs: [path.join(root, 'node_modules', 'rxjs')] },
        },
        files: ['api-types.ts'],
      }),
    );
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
    t.is(r.status, 0, r.stdout + r.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
