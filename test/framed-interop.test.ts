// Framed stream sockets against an independent implementation of the
// `framed: true` format (test/fixtures/framed_peer.py, Python's standard
// library), both ways: what Python sends arrives as the same messages with
// the same files, and what we send Python cuts into the same messages, with
// the fds where its receiver rule puts them. Skips without python3.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { lowlevel, UnixMessageSocket, type UnixMessage } from '../src/index';
import { closeAll, contentOf, fileWithContent, leakFree, take } from './helpers';

const FIXTURE = path.join(__dirname, 'fixtures', 'framed_peer.py');
const hasPython = spawnSync('python3', ['-c', 'import os; os.memfd_create']).status === 0;
const maybe = hasPython ? test : test.skip;
if (!hasPython) console.log('framed-interop.test.ts skipped: python3 (with os.memfd_create) not found');

// [size, fd count] per message: empty ones, many small ones gathered in one
// read, ones larger than the socket buffers (partial writes and reads), 253 fds.
const SPEC: Array<[number, number]> = [
  [0, 0],
  [0, 2],
  [5, 1],
  [1, 0],
  [2, 0],
  [3, 0],
  [300_000, 3],
  [10, 0],
  [70_000, 0],
  [7, 253],
  [0, 0],
  [1_000_000, 1],
  [4, 0],
];
const value = (i: number): number => (i * 7) & 255;

function python(args: string[], theirs: number): { stdout: Promise<string>; exited: Promise<unknown[]> } {
  const child = spawn('python3', [FIXTURE, ...args], { stdio: ['ignore', 'pipe', 'inherit', theirs] });
  lowlevel.close(theirs);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = once(child, 'close');
  return { stdout: exited.then(() => out), exited };
}

maybe(
  'framed: true: messages a Python peer sends by the format arrive one each with their bytes and files',
  leakFree(async (t, { track }) => {
    const [mine, theirs] = lowlevel.socketpair('stream');
    const [s] = track(UnixMessageSocket.fromFd(mine, { framed: true }));
    const child = python(['send', JSON.stringify(SPEC)], theirs);
    const messages: UnixMessage[] = await take(s, SPEC.length + 1);
    t.is(messages.length, SPEC.length, 'then EOF');
    messages.forEach((m, i) => {
      const [size, nfds] = SPEC[i]!;
      t.is(m.data.length, size, `message ${i}`);
      t.true(m.data.every((b) => b === value(i)));
      t.deepEqual(
        m.fds.map(contentOf),
        Array.from({ length: nfds }, (_, k) => `py${i}-${k}`),
      );
      closeAll(m.fds);
    });
    const [code] = await child.exited;
    t.is(code, 0);
  }),
);

maybe(
  'framed: true: a Python peer reading by the receiver rule cuts what we send into the same messages with the same files',
  leakFree(async (t, { track }) => {
    const [mine, theirs] = lowlevel.socketpair('stream');
    const [s] = track(UnixMessageSocket.fromFd(mine, { framed: true }));
    const child = python(['recv', '17'], theirs);
    SPEC.forEach(([size, nfds], i) => {
      const fds = Array.from({ length: nfds }, (_, k) => fileWithContent(`node${i}-${k}`));
      s.write({ data: Buffer.alloc(size, value(i)), fds });
      closeAll(fds);
    });
    s.end();
    const out = JSON.parse(await child.stdout) as Array<[number, number, string[]]>;
    t.deepEqual(
      out,
      SPEC.map(([size, nfds], i) => [size, size === 0 ? 0 : value(i), Array.from({ length: nfds }, (_, k) => `node${i}-${k}`)]),
    );
  }),
);
