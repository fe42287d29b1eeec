// Hostile uses of the `signal` options: an AbortSignal.prototype whose
// `aborted` getter was replaced after the library loaded (so registering the
// abort listener throws, after the socket, server or pool exists), and an
// abort that belongs to one listen() reaching a later one.
import test from 'ava';
import { getEventListeners } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { connect, createServer, createSocket, lowlevel } from '../src/index';
import { createPool } from '../src/pool';
import { abstractName, closeServer, fdCount, fileWithContent, leakFree, listen, tick, tmpPath, waitFor } from './helpers';

const WORKER = path.join(__dirname, 'fixtures', 'pool-worker.js');

/** Runs `body` while reading AbortSignal.prototype.aborted throws (events.addAbortListener reads it by name). */
function withThrowingAborted<T>(body: () => T): T {
  const original = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted')!;
  Object.defineProperty(AbortSignal.prototype, 'aborted', {
    configurable: true,
    get() {
      throw new Error('patched aborted getter');
    },
  });
  try {
    return body();
  } finally {
    Object.defineProperty(AbortSignal.prototype, 'aborted', original);
  }
}

/** Pids of this process's children (the pool's workers). */
function children(): string[] {
  const text = fs.readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(' ');
}

test(
  'connect() and createSocket() that throw because the abort listener cannot be added leave no socket open',
  leakFree(async (t) => {
    const name = abstractName('patched-aborted');
    const listener = lowlevel.socket('unix', 'seqpacket');
    lowlevel.bind(listener, name);
    lowlevel.listen(listener, 8);
    const base = fdCount();
    const { signal } = new AbortController();
    withThrowingAborted(() => {
      t.throws(() => connect({ path: name, signal }), { message: 'patched aborted getter' });
      t.throws(() => createSocket({ type: 'dgram', signal }), { message: 'patched aborted getter' });
    });
    // Give a leaked socket's queued connect() its tick.
    await tick();
    const clean = fdCount() === base;
    t.true(clean, 'no socket left open');
    // A leaked connected socket would throw ECONNRESET (no 'error' listener) once the listener goes.
    if (clean) lowlevel.close(listener);
  }),
);

test(
  'listen({ signal }) that throws because the abort listener cannot be added leaves the server closed, with no socket file',
  leakFree(async (t) => {
    const file = tmpPath('patched-aborted.sock');
    const server = createServer();
    const { signal } = new AbortController();
    withThrowingAborted(() => t.throws(() => server.listen({ path: file, signal }), { message: 'patched aborted getter' }));
    await tick();
    t.false(server.listening, 'a listen() that threw does not listen');
    t.false(fs.existsSync(file));
  }),
);

test(
  'listen({ fd, signal }) that throws ERR_INVALID_FD_TYPE (not a socket) leaves no abort listener on the signal',
  leakFree((t) => {
    const server = createServer();
    const ac = new AbortController();
    const fd = fileWithContent('not a socket');
    t.throws(() => server.listen({ fd, signal: ac.signal }), { code: 'ERR_INVALID_FD_TYPE' });
    t.is(getEventListeners(ac.signal, 'abort').length, 0);
    t.false(server.listening);
    lowlevel.close(fd);
  }),
);

test('createPool({ signal }) that throws because the abort listener cannot be added leaves no worker running', async (t) => {
  const before = children().length;
  const base = fdCount();
  const { signal } = new AbortController();
  withThrowingAborted(() => t.throws(() => createPool({ script: WORKER, size: 1, execArgv: [], signal }), { message: 'patched aborted getter' }));
  t.true(await waitFor(() => children().length === before && fdCount() === base), `no worker left (children: ${children().join(' ')})`);
});

test(
  'request({ signal }) that rejects because the abort listener cannot be added closes the duplicates it made, and close() does not wait for it',
  leakFree(async (t) => {
    const pool = createPool({ script: WORKER, size: 1, execArgv: [] });
    await pool.ready();
    const before = fdCount();
    const fd = fileWithContent('mine');
    const { signal } = new AbortController();
    const request = withThrowingAborted(() => pool.request({ data: JSON.stringify({ op: 'echo' }), fds: [fd] }, { signal }));
    await t.throwsAsync(request, { message: 'patched aborted getter' });
    lowlevel.close(fd);
    t.is(fdCount(), before, 'no duplicate of the fd is left');
    let closed = false;
    void pool.close().then(() => (closed = true));
    t.true(await waitFor(() => closed), 'close() does not wait for the request that failed');
  }),
);

test(
  "an already aborted listen({ signal }) does not close a later listen() of the same server: the abort's close() is for its own listen",
  leakFree(async (t) => {
    const server = createServer();
    server.listen({ path: tmpPath('first.sock'), signal: AbortSignal.abort() });
    server.close();
    const second = tmpPath('second.sock');
    let listening = false;
    server.listen(second, () => (listening = true));
    // Both nextTicks (the abort's close() and 'listening') have run by then.
    await tick();
    t.true(server.listening, 'the second listen (no signal) still listens');
    t.true(listening);
    t.true(fs.existsSync(second));
    await closeServer(server);
  }),
);

test(
  'a listen({ signal }) closed while a connection keeps it from emitting close: aborting that signal later does not close a new listen()',
  leakFree(async (t, { track }) => {
    const server = createServer((c) => track(c));
    const ac = new AbortController();
    const first = abstractName('first');
    await listen(server, { path: first, signal: ac.signal });
    const client = connect({ path: first });
    track(client);
    await new Promise((resolve) => client.once('connect', resolve));
    t.true(await waitFor(() => server.connections === 1));
    server.close();
    await listen(server, abstractName('second'));
    ac.abort();
    await tick();
    t.true(server.listening, 'the new listen (no signal) still listens');
    server.closeAllConnections();
    client.destroy();
    await closeServer(server);
  }),
);

test(
  'with EventTarget.prototype.removeEventListener throwing, closing a listen({ signal }), destroying a connect({ signal }) socket and settling a request({ signal }) still finish',
  leakFree(async (t) => {
    const pool = createPool({ script: WORKER, size: 1, execArgv: [] });
    await pool.ready();
    const ac = new AbortController();
    const server = createServer();
    const name = abstractName('throwing-remove');
    await listen(server, { path: name, signal: ac.signal });
    const client = connect({ path: name, signal: ac.signal });
    await new Promise((resolve) => client.once('connect', resolve));
    const original = Object.getOwnPropertyDescriptor(EventTarget.prototype, 'removeEventListener')!;
    Object.defineProperty(EventTarget.prototype, 'removeEventListener', {
      ...original,
      value() {
        throw new Error('patched removeEventListener');
      },
    });
    try {
      t.notThrows(() => server.close());
      const closed = new Promise((resolve) => client.once('close', resolve));
      t.notThrows(() => client.destroy());
      await closed;
      server.closeAllConnections();
      let reply: unknown = 'pending';
      pool.request(JSON.stringify({ op: 'echo' }), { signal: ac.signal }).then(
        (m) => (reply = m.data.toString()),
        (err: unknown) => (reply = err),
      );
      t.true(await waitFor(() => reply !== 'pending'), 'the request settles');
      t.is(reply, JSON.stringify({ op: 'echo' }));
    } finally {
      Object.defineProperty(EventTarget.prototype, 'removeEventListener', original);
    }
    t.false(server.listening);
    await pool.close();
  }),
);
