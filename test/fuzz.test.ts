// The fuzz campaign of `npm run test:fuzz` (test/fuzz/run.ts), seeded and
// small: a few hundred cases of every public function with hostile values,
// run in child processes. Fails on any case that aborts, throws or reports
// an untyped error, reads a user value twice, queues something after a
// throw, delivers other fds than it was given, or leaks an fd.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const SEED = 20240613;
const CASES = 500;

test(`${CASES} seeded fuzz cases (seed ${SEED}) of every public function break no invariant`, (t) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fuzz', 'run.ts'), '--seed', String(SEED), '--cases', String(CASES)], {
    cwd: path.join(__dirname, '..'),
    encoding: 'utf8',
    timeout: 55_000,
  });
  const summary = r.stdout
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('fuzz: '))
    .join('\n');
  t.log(summary);
  if (r.status !== 0) t.log(`${r.stdout.slice(-6000)}\n${r.stderr.slice(-2000)}`);
  t.is(r.signal, null, 'the runner finished');
  t.is(r.status, 0, 'every case passed');
  t.regex(summary, new RegExp(`fuzz: ${CASES} cases`));
  t.regex(summary, /fuzz: 0 failing cases, 0 child crashes/);
});
