// UnixMessageServer: listen/accept on paths and abstract names, socket-file
// ownership, mode, fd adoption, close semantics, ref/unref, credentials.
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import {
  connect,
  createServer,
  createSocket,
  lowlevel,
  type UnixMessageSocket,
  type ErrnoError,
  type ListenOptions,
  type UnixMessageServer,
} from '../src/index';
import { abstractName, closeServer, delay, fdsFromPython, leakFree, listen, settled, take, tmpPath, waitFor } from './helpers';

type ServerType = 'stream' | 'seqpacket';

/** Resolves with the next 'error' of an emitter. */
async function nextError(emitter: NodeJS.EventEmitter): Promise<ErrnoError> {
  const [err] = (await once(emitter, 'error')) as [ErrnoError];
  return err;
}

/** Connects a client and returns it with the server's accepted end. */
async function connectPair(server: UnixMessageServer, address: string, type: ServerType): Promise<[UnixMessageSocket, UnixMessageSocket]> {
  const accepted = once(server, 'connection') as Promise<[UnixMessageSocket]>;
  const client = connect({ path: address, type });
  await once(client, 'connect');
  const [conn] = await accepted;
  return [client, conn];
}

async function destroyAndWait(...sockets: UnixMessageSocket[]): Promise<void> {
  await Promise.all(
    sockets.map((s) => {
      if (s.destroyed && s.closed) return Promise.resolve();
      const p = settled(s);
      s.destroy();
      return p;
    }),
  );
}

const roundTrip = test.macro({
  exec: leakFree(async (t, _check, type: ServerType, kind: 'path' | 'abstract') => {
    const address = kind === 'path' ? tmpPath(`${type}.sock`) : abstractName(type);
    const server = createServer({ type });
    t.false(server.listening);
    t.is(server.address(), null);
    await listen(server, address);
    t.true(server.listening);
    t.is(server.type, type);
    t.is(server.address(), address);
    if (kind === 'path') t.true(fs.lstatSync(address).isSocket(), 'the socket file exists while listening');

    const [client, conn] = await connectPair(server, address, type);
    t.is(conn.type, type);
    t.is(client.type, type);
    t.is(server.connections, 1);
    t.is(client.remoteAddress, address);
    t.is(conn.address(), address, 'an accepted socket is named like the listener');

    client.write('ping from client');
    const [toServer] = await take(conn, 1);
    t.is(toServer?.data.toString(), 'ping from client');
    conn.write(Buffer.from('pong from server'));
    const [toClient] = await take(client, 1);
    t.is(toClient?.data.toString(), 'pong from server');

    await destroyAndWait(client, conn);
    await closeServer(server);
    t.false(server.listening);
    t.is(server.connections, 0);
    if (kind === 'path') {
      t.false(fs.existsSync(address), 'the socket file is removed on close');
    } else {
      // Nobody holds the abstract name any more.
      const late = connect({ path: address, type });
      const err = await nextError(late);
      t.is(err.code, 'ECONNREFUSED');
    }
  }),
  title: (_provided, type: ServerType, kind: 'path' | 'abstract') =>
    `a ${type} server listening on ${kind === 'path' ? 'a filesystem path' : 'an abstract name'} accepts a connection and carries a message both ways`,
});

test(roundTrip, 'stream', 'path');
test(roundTrip, 'seqpacket', 'path');
test(roundTrip, 'stream', 'abstract');
test(roundTrip, 'seqpacket', 'abstract');

test(
  'listen on a path already in use emits EADDRINUSE with syscall listen and the path in the message',
  leakFree(async (t) => {
    const p = tmpPath('inuse.sock');
    const first = createServer();
    await listen(first, p);
    const second = createServer();
    second.listen(p);
    const err = await nextError(second);
    t.is(err.code, 'EADDRINUSE');
    t.is(err.syscall, 'listen');
    t.true(err.errno < 0);
    t.is(err.address, p);
    t.true(err.message.includes(p), `message names the path: ${err.message}`);
    t.false(second.listening);
    t.is(second.address(), null);
    // The failed server did not remove the first one's socket file.
    t.true(fs.lstatSync(p).isSocket());
    const [client, conn] = await connectPair(first, p, 'seqpacket');
    await destroyAndWait(client, conn);
    await closeServer(first);
  }),
);

test(
  'listen on an abstract name already in use emits EADDRINUSE naming it as @name',
  leakFree(async (t) => {
    const name = abstractName('inuse');
    const first = createServer();
    await listen(first, name);
    const second = createServer();
    second.listen(name);
    const err = await nextError(second);
    t.is(err.code, 'EADDRINUSE');
    t.is(err.syscall, 'listen');
    t.is(err.address, name);
    t.true(err.message.includes(`@${name.slice(1)}`), err.message);
    await closeServer(first);
  }),
);

test(
  'the server removes its socket file when it closes',
  leakFree(async (t) => {
    const p = tmpPath('removed.sock');
    const server = createServer({ type: 'stream' });
    await listen(server, p);
    t.true(fs.lstatSync(p).isSocket());
    const done = closeServer(server);
    t.false(fs.existsSync(p), 'removed as soon as close() is called');
    await done;
    t.false(fs.existsSync(p));
    // The path is free again.
    const again = createServer({ type: 'stream' });
    await listen(again, p);
    await closeServer(again);
    t.false(fs.existsSync(p));
  }),
);

test(
  'listen on an existing regular file fails with EADDRINUSE and leaves the file alone',
  leakFree(async (t) => {
    const p = tmpPath('regular');
    fs.writeFileSync(p, 'keep me');
    try {
      const server = createServer();
      server.listen(p);
      const err = await nextError(server);
      t.is(err.code, 'EADDRINUSE');
      t.is(err.syscall, 'listen');
      t.false(server.listening);
      t.is(fs.readFileSync(p, 'utf8'), 'keep me');
      await new Promise<void>((resolve) =>
        server.close((closeErr) => {
          t.is((closeErr as ErrnoError | undefined)?.code, 'ERR_SERVER_NOT_RUNNING');
          resolve();
        }),
      );
      await delay(10); // a negative check: no event marks a file that is not deleted
      t.is(fs.readFileSync(p, 'utf8'), 'keep me', 'close() after a failed listen deletes nothing');
    } finally {
      fs.rmSync(p, { force: true });
    }
  }),
);

test(
  'listen on a stale socket file left by someone else fails and the file survives',
  leakFree(async (t) => {
    const p = tmpPath('stale.sock');
    const other = createSocket({ type: 'dgram', bind: p });
    other.destroy();
    await settled(other);
    const before = fs.lstatSync(p);
    t.true(before.isSocket());
    try {
      const server = createServer();
      server.listen(p);
      const err = await nextError(server);
      t.is(err.code, 'EADDRINUSE');
      const after = fs.lstatSync(p);
      t.is(after.ino, before.ino, 'the stale socket file is untouched');
    } finally {
      fs.rmSync(p, { force: true });
    }
  }),
);

test(
  'close() does not delete a regular file that replaced the socket file',
  leakFree(async (t) => {
    const p = tmpPath('replaced');
    const server = createServer();
    await listen(server, p);
    fs.unlinkSync(p);
    fs.writeFileSync(p, 'not yours');
    try {
      await closeServer(server);
      t.true(fs.existsSync(p), 'the replacement file survives close()');
      t.is(fs.readFileSync(p, 'utf8'), 'not yours');
    } finally {
      fs.rmSync(p, { force: true });
    }
  }),
);

test(
  'close() does not delete the socket file of another server now bound at the same path',
  leakFree(async (t) => {
    const p = tmpPath('rebound.sock');
    const first = createServer();
    await listen(first, p);
    fs.unlinkSync(p);
    const second = createServer();
    await listen(second, p);
    await closeServer(first);
    t.true(fs.existsSync(p), "the second server's socket file survives the first one's close()");
    const [client, conn] = await connectPair(second, p, 'seqpacket');
    t.pass('the second server is still reachable');
    await destroyAndWait(client, conn);
    await closeServer(second);
    t.false(fs.existsSync(p), 'the second server removes its own file');
  }),
);

const modeMacro = test.macro({
  exec: leakFree(async (t, _check, mode: number) => {
    const p = tmpPath('mode.sock');
    const server = createServer();
    await listen(server, { path: p, mode });
    t.is(fs.statSync(p).mode & 0o777, mode);
    const [client, conn] = await connectPair(server, p, 'seqpacket');
    await destroyAndWait(client, conn);
    await closeServer(server);
  }),
  title: (_provided, mode: number) => `listen({ mode: 0o${mode.toString(8)} }) sets the socket file mode to 0o${mode.toString(8)}`,
});

test(modeMacro, 0o600);
test(modeMacro, 0o660);
test(modeMacro, 0o666);

test(
  'listen() rejects a mode for an abstract name and an out-of-range mode synchronously',
  leakFree(
    (t) => {
      const server = createServer();
      const abstract = t.throws(() => server.listen({ path: abstractName('mode'), mode: 0o600 }));
      t.is((abstract as ErrnoError).code, 'ERR_INVALID_ARG_VALUE');
      const range = t.throws(() => server.listen({ path: tmpPath('m'), mode: 0o17777 }), { instanceOf: RangeError });
      t.is((range as ErrnoError).code, 'ERR_OUT_OF_RANGE');
      const both = t.throws(() => server.listen({ path: tmpPath('m'), fd: 0 }));
      t.is((both as ErrnoError).code, 'ERR_INVALID_ARG_VALUE');
      t.false(server.listening);
    },
    { wait: false },
  ),
);

test(
  'listen({ fd }) adopts a bound socket, listens on it and closes the fd on close()',
  leakFree(async (t) => {
    const p = tmpPath('adopt.sock');
    const holder = createSocket({ type: 'seqpacket', bind: p });
    const fd = lowlevel.dup(holder.fd);
    holder.destroy();
    await settled(holder);
    try {
      const server = createServer({ type: 'seqpacket' });
      await listen(server, { fd });
      t.true(server.listening);
      t.is(server.address(), p);
      const [client, conn] = await connectPair(server, p, 'seqpacket');
      client.write('via adopted fd');
      const [m] = await take(conn, 1);
      t.is(m?.data.toString(), 'via adopted fd');
      await destroyAndWait(client, conn);
      await closeServer(server);
      t.throws(() => fs.fstatSync(fd), { code: 'EBADF' }, 'the server closed the adopted fd');
      t.true(fs.existsSync(p), 'a file the server did not bind is not removed');
    } finally {
      fs.rmSync(p, { force: true });
    }
  }),
);

test(
  'listen({ fd }) adopts a socket that is already listening',
  leakFree(async (t) => {
    const p = tmpPath('listening.sock');
    const [fd] = await fdsFromPython(
      [
        'import socket, sys',
        's = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)',
        's.bind(sys.argv[1])',
        's.listen(5)',
        'c = socket.socket(fileno=3)',
        'socket.send_fds(c, [b"x"], [s.fileno()])',
      ].join('\n'),
      [p],
    );
    t.true(fd !== undefined);
    try {
      const server = createServer({ type: 'seqpacket' });
      await listen(server, { fd: fd! });
      t.is(server.address(), p);
      const [client, conn] = await connectPair(server, p, 'seqpacket');
      conn.write('hello');
      const [m] = await take(client, 1);
      t.is(m?.data.toString(), 'hello');
      await destroyAndWait(client, conn);
      await closeServer(server);
    } finally {
      fs.rmSync(p, { force: true });
    }
  }),
);

test(
  'listen({ fd }) of the wrong socket type throws ERR_INVALID_FD_TYPE and leaves the fd to the caller',
  leakFree(async (t) => {
    const [a, b] = lowlevel.socketpair('stream');
    const server = createServer({ type: 'seqpacket' });
    const err = t.throws(() => server.listen({ fd: a }), { instanceOf: TypeError });
    t.is((err as ErrnoError).code, 'ERR_INVALID_FD_TYPE');
    t.false(server.listening);
    t.notThrows(() => fs.fstatSync(a), 'the fd is still open');
    lowlevel.close(a);
    lowlevel.close(b);
  }),
);

test(
  "'close' waits until every accepted connection has closed",
  leakFree(async (t) => {
    const p = tmpPath('wait.sock');
    const server = createServer();
    await listen(server, p);
    const [client, conn] = await connectPair(server, p, 'seqpacket');
    let closeEvents = 0;
    server.on('close', () => closeEvents++);
    let callbackCalled = false;
    server.close(() => {
      callbackCalled = true;
    });
    t.false(server.listening);
    t.is(server.connections, 1);
    t.false(fs.existsSync(p), 'no new connections: the file is gone');
    await delay(50); // a negative check: no event marks a 'close' that is never emitted
    t.is(closeEvents, 0, "no 'close' while a connection is open");
    t.false(callbackCalled);
    // The open connection still works.
    client.write('still here');
    const [m] = await take(conn, 1);
    t.is(m?.data.toString(), 'still here');
    // The peer hangs up; the accepted socket reads EOF and closes.
    conn.resume();
    client.destroy();
    t.true(await waitFor(() => callbackCalled), "'close' follows the last connection's close");
    t.is(closeEvents, 1);
    t.is(server.connections, 0);
  }),
);

test(
  "closeAllConnections() destroys accepted sockets and lets 'close' follow",
  leakFree(async (t) => {
    const name = abstractName('closeall');
    const server = createServer({ type: 'stream' });
    await listen(server, name);
    const pairs = [await connectPair(server, name, 'stream'), await connectPair(server, name, 'stream')];
    t.is(server.connections, 2);
    const serverClosed = once(server, 'close');
    server.close();
    server.closeAllConnections();
    await serverClosed;
    t.is(server.connections, 0);
    for (const [, conn] of pairs) t.true(conn.destroyed);
    await destroyAndWait(...pairs.map(([client]) => client));
  }),
);

test(
  'close() on a server that is not listening calls back with ERR_SERVER_NOT_RUNNING',
  leakFree(async (t) => {
    const never = createServer();
    const [err1] = (await new Promise<[Error | undefined]>((resolve) => never.close((err) => resolve([err])))) as [ErrnoError | undefined];
    t.is(err1?.code, 'ERR_SERVER_NOT_RUNNING');

    const server = createServer();
    await listen(server, abstractName('twice'));
    await closeServer(server);
    const [err2] = (await new Promise<[Error | undefined]>((resolve) => server.close((err) => resolve([err])))) as [ErrnoError | undefined];
    t.is(err2?.code, 'ERR_SERVER_NOT_RUNNING', 'a second close() is also an error');
  }),
);

test(
  'listen() twice without closing throws ERR_SERVER_ALREADY_LISTEN',
  leakFree(async (t) => {
    const server = createServer();
    await listen(server, abstractName('again'));
    const err = t.throws(() => server.listen(abstractName('again2')));
    t.is((err as ErrnoError).code, 'ERR_SERVER_ALREADY_LISTEN');
    await closeServer(server);
  }),
);

// A child process listens, then unrefs (or not); it must exit on its own only
// when unref'd.
const CHILD_SCRIPT = `
const lib = require(${JSON.stringify(path.resolve(__dirname, '..', 'src', 'index.ts'))});
const [mode, address] = process.argv.slice(2); // abstract name without its NUL
const server = lib.createServer();
if (mode === 'unref-before') server.unref();
server.listen('\\0' + address, () => console.log('listening'));
if (mode === 'unref-after') server.unref();
if (mode === 'unref-then-ref') server.unref().ref();
`;

async function runChild(mode: string, waitMs: number): Promise<{ exited: boolean; code: number | null; stdout: string }> {
  const script = tmpPath('child.ts');
  fs.writeFileSync(script, CHILD_SCRIPT);
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', script, mode, abstractName('child').slice(1)], {
      cwd: path.resolve(__dirname, '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const exit = once(child, 'exit') as Promise<[number | null, string | null]>;
    const result = await Promise.race([exit.then(([code]) => ({ exited: true, code })), delay(waitMs).then(() => ({ exited: false, code: null }))]);
    if (!result.exited) {
      // Wait until it has listened before judging, then stop it.
      await waitFor(() => stdout.includes('listening'), 5000);
      child.kill('SIGKILL');
      await exit;
    }
    return { ...result, stdout };
  } finally {
    fs.rmSync(script, { force: true });
  }
}

test(
  'an unref()ed listening server lets the process exit',
  leakFree(async (t) => {
    const r = await runChild('unref-after', 15000);
    t.true(r.exited, 'the child exited on its own');
    t.is(r.code, 0);
    t.true(r.stdout.includes('listening'), "'listening' was emitted before exit");
  }),
);

test(
  'unref() before listen() also lets the process exit',
  leakFree(async (t) => {
    const r = await runChild('unref-before', 15000);
    t.true(r.exited);
    t.is(r.code, 0);
    t.true(r.stdout.includes('listening'));
  }),
);

test(
  'a listening server that is referenced (or re-ref()ed) keeps the process alive',
  leakFree(async (t) => {
    for (const mode of ['ref', 'unref-then-ref']) {
      const r = await runChild(mode, 2500);
      t.false(r.exited, `${mode}: the child is still running after 2.5 s`);
      t.true(r.stdout.includes('listening'), `${mode}: it did listen`);
    }
  }),
);

test(
  'peerCredentials() on an accepted connection are this process’s pid, uid and gid',
  leakFree(async (t) => {
    const name = abstractName('creds');
    const server = createServer();
    await listen(server, name);
    const [client, conn] = await connectPair(server, name, 'seqpacket');
    const me = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };
    t.deepEqual(conn.peerCredentials(), me);
    t.deepEqual(client.peerCredentials(), me, 'and the client sees the listener’s credentials');
    await destroyAndWait(client, conn);
    await closeServer(server);
  }),
);

test(
  'peerCredentials() on a connection from a child process report the child’s pid',
  leakFree(async (t) => {
    const p = tmpPath('childcreds.sock');
    const server = createServer({ type: 'stream' });
    await listen(server, p);
    const accepted = once(server, 'connection') as Promise<[UnixMessageSocket]>;
    const child = spawn(
      'python3',
      ['-c', ['import socket, sys', 's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)', 's.connect(sys.argv[1])', 's.recv(1)'].join('\n'), p],
      { stdio: 'ignore' },
    );
    const [conn] = await accepted;
    t.deepEqual(conn.peerCredentials(), { pid: child.pid!, uid: process.getuid!(), gid: process.getgid!() });
    const exit = once(child, 'exit');
    conn.end('x');
    await exit;
    conn.destroy();
    await closeServer(server);
  }),
);

test(
  '100 connections are accepted, each carries a message, and all close without leaking an fd',
  leakFree(async (t) => {
    const p = tmpPath('many.sock');
    const accepted: UnixMessageSocket[] = [];
    const server = createServer({ type: 'seqpacket' }, (conn) => {
      accepted.push(conn);
      conn.on('data', (m: { data: Buffer }) => conn.write(Buffer.concat([Buffer.from('echo:'), m.data])));
    });
    await listen(server, p);
    const clients = Array.from({ length: 100 }, () => connect({ path: p, type: 'seqpacket' }));
    await Promise.all(clients.map((c) => once(c, 'connect')));
    t.true(await waitFor(() => accepted.length === 100));
    t.is(server.connections, 100);
    clients.forEach((c, i) => c.write(`m${i}`));
    const replies = await Promise.all(clients.map((c) => take(c, 1)));
    t.deepEqual(
      replies.map(([m]) => m?.data.toString()),
      clients.map((_c, i) => `echo:m${i}`),
    );
    await destroyAndWait(...clients);
    t.true(await waitFor(() => server.connections === 0), 'every accepted socket closed after its peer hung up');
    t.true(accepted.every((c) => c.destroyed));
    await closeServer(server);
    t.false(fs.existsSync(p));
  }),
);

test('a connected client with no reader keeps its process alive until the server ends the connection, like net.Socket', async (t) => {
  const where = tmpPath('alive');
  let ended = false;
  const server = createServer((socket) => {
    socket.resume();
    // A child not kept alive would exit well within this window, before the end.
    setTimeout(() => {
      ended = true;
      socket.end();
    }, 400);
  });
  server.listen(where);
  await once(server, 'listening');
  const script = `require('./src/index').connect({ path: ${JSON.stringify(where)} }, () => console.log('connected'));`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  t.is(code, 0);
  t.is(out.trim(), 'connected');
  t.true(ended, 'the child exited only after the server ended the connection');
  const closing = settled(server);
  server.close();
  await closing;
});

test(
  'close() refuses a callback that is not a function before it closes anything, and listen() refuses a revoked Proxy with ERR_INVALID_ARG_TYPE',
  leakFree(async (t) => {
    const server = createServer();
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    t.throws(() => server.listen(proxy as ListenOptions), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' });
    await new Promise<void>((resolve) => server.listen(abstractName('close-cb'), resolve));
    t.throws(() => server.close(42 as unknown as () => void), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' });
    t.true(server.listening, 'the close() that threw left the server listening');
    const client = connect({ path: server.address()! });
    await once(client, 'connect');
    client.destroy();
    await settled(client);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }),
);

test('createServer({ type: null }) is a seqpacket server, as an option set to null means its default everywhere', (t) => {
  const server = createServer({ type: null as unknown as 'seqpacket' });
  t.is(server.type, 'seqpacket');
  t.throws(() => createServer({ type: 'dgram' as unknown as 'seqpacket' }), { code: 'ERR_INVALID_ARG_VALUE' });
});
