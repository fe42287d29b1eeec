// The published entry points: CJS and ESM by package name, from dist/.
import test from 'ava';
import { spawnSync } from 'node:child_process';

const run = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, args, { cwd: process.cwd(), encoding: 'utf8', timeout: 20_000 });

const program = `
  const [a, b] = socketPair();
  b.once('data', (m) => { console.log(m.data.toString(), typeof createServer, typeof sendmsg, constants.SCM_MAX_FD); a.destroy(); b.destroy(); });
  a.write('ok');
`;

test('require() of the package name loads dist/ and works', (t) => {
  const r = run(['-e', `const { socketPair, createServer, sendmsg, constants } = require('unix-message-socket');${program}`]);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), 'ok function function 253');
});

test('import of the package name gives named ESM exports', (t) => {
  const r = run(['--input-type=module', '-e', `import { socketPair, createServer, sendmsg, constants } from 'unix-message-socket';${program}`]);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), 'ok function function 253');
});
