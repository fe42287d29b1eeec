// The rx entry point as published: the 'unix-message-socket/rx' subpath from
// dist/, in CJS and ESM, and the example that uses it.
import test from 'ava';
import { spawnSync } from 'node:child_process';

const run = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, args, { cwd: process.cwd(), encoding: 'utf8', timeout: 20_000 });

const NAMES = 'connect$, connections, fds, fromSocket, listen$, processMessages, sendTo, withFds';

test('require() of unix-message-socket/rx gives every operator', (t) => {
  const r = run(['-e', `const { ${NAMES} } = require('unix-message-socket/rx'); console.log([${NAMES}].map((f) => typeof f).join())`]);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), Array(8).fill('function').join());
});

test('import of unix-message-socket/rx gives named ESM exports', (t) => {
  const r = run(['--input-type=module', '-e', `import { ${NAMES} } from 'unix-message-socket/rx'; console.log([${NAMES}].map((f) => typeof f).join())`]);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), Array(8).fill('function').join());
});

test('examples/rx-pipeline answers both clients correctly, exits 0 on its own, and ends with as many fds as it started with', (t) => {
  const r = run(['examples/rx-pipeline/index.js']);
  t.is(r.status, 0, r.stdout + r.stderr);
  t.false(r.stdout.includes('WRONG'), r.stdout);
  t.is(r.stdout.split('\n').filter((line) => line.startsWith('client ')).length, 6, r.stdout);
  const [, before, after] = /fds open before: (\d+), after: (\d+)/.exec(r.stdout) ?? [];
  t.truthy(before, r.stdout);
  t.is(after, before);
});
