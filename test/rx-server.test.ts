// connect$(), listen$() and connections(): cold connects, accepted
// connections, teardown that leaves nothing open, and errors emitted after
// teardown that must not crash the process.
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import fs from 'node:fs';
import { firstValueFrom, lastValueFrom, switchMap, take, toArray, type Subscription } from 'rxjs';
import { connect, createServer, type UnixMessage, type UnixMessageServer, type UnixMessageSocket } from '../src/index';
import { connect$, connections, fromSocket, listen$ } from '../src/rx/index';
import { abstractName, delay, leakFree, listen, runFixture, settled, tmpPath } from './helpers';

function closed(server: UnixMessageServer): Promise<void> {
  return new Promise((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
}

/** Collects what an observable emits until it has emitted n values. */
function collect<T>(n: number, subscribe: (next: (value: T) => void) => Subscription): Promise<{ values: T[]; subscription: Subscription }> {
  return new Promise((resolve) => {
    const values: T[] = [];
    const subscription = subscribe((value) => {
      values.push(value);
      if (values.length === n) resolve({ values, subscription });
    });
  });
}

test(
  'listen$ accepts 100 connections, and its teardown closes the server, every connection and the socket file',
  leakFree(async (t) => {
    const path = tmpPath('rx-100.sock');
    const server$ = listen$({ path });
    const accepted = collect<UnixMessageSocket>(100, (next) => server$.subscribe(next));
    t.true(fs.lstatSync(path).isSocket(), 'subscribing listened');
    const clients = Array.from({ length: 100 }, () => connect({ path }).resume());
    const { values, subscription } = await accepted;
    t.is(new Set(values).size, 100);
    t.false(values.some((s) => s.destroyed));
    subscription.unsubscribe();
    t.true(
      values.every((s) => s.destroyed),
      'every accepted connection was destroyed',
    );
    t.false(fs.existsSync(path), 'the server closed and removed its socket file');
    await Promise.all(clients.map((c) => once(c, 'end')));
    await Promise.all(clients.map((c) => settled(c.destroy())));
  }),
);

test(
  'listen$ with closeConnections: false closes the server on teardown and leaves the accepted connections open',
  leakFree(async (t) => {
    const path = abstractName('rx-keep');
    const accepted = collect<UnixMessageSocket>(1, (next) => listen$({ path, closeConnections: false }).subscribe(next));
    const client = connect({ path });
    const {
      values: [conn],
      subscription,
    } = await accepted;
    subscription.unsubscribe();
    t.false(conn!.destroyed, 'the connection is still open');
    conn!.write('still here');
    const [m] = (await once(client, 'data')) as [UnixMessage];
    t.is(m.data.toString(), 'still here');
    const refused = connect({ path });
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    t.is(err.code, 'ECONNREFUSED', 'the server no longer accepts');
    conn!.destroy();
    client.destroy();
    await Promise.all([settled(conn!), settled(client), settled(refused)]);
  }),
);

test(
  "listen$ on a path in use errors with EADDRINUSE and leaves the other server's socket file alone",
  leakFree(async (t) => {
    const path = tmpPath('rx-inuse.sock');
    const first = createServer();
    await listen(first, path);
    const err = await firstValueFrom(listen$({ path })).catch((e: NodeJS.ErrnoException) => e);
    t.is((err as NodeJS.ErrnoException).code, 'EADDRINUSE');
    t.true(fs.lstatSync(path).isSocket());
    await closed(first);
  }),
);

test(
  'connections(server) emits the connections of a server created elsewhere, and teardown closes it',
  leakFree(async (t) => {
    const path = abstractName('rx-connections');
    const server = createServer({ type: 'stream' });
    const accepted = collect<UnixMessageSocket>(2, (next) => connections(server).subscribe(next));
    await listen(server, path);
    const clients = [connect({ path, type: 'stream' }).resume(), connect({ path, type: 'stream' }).resume()];
    const { values, subscription } = await accepted;
    t.deepEqual(
      values.map((s) => s.type),
      ['stream', 'stream'],
    );
    const serverClosed = once(server, 'close');
    subscription.unsubscribe();
    t.false(server.listening);
    await serverClosed;
    t.true(values.every((s) => s.destroyed));
    await Promise.all(clients.map((c) => settled(c)));
  }),
);

test(
  'connections(): an error while listening goes to onAcceptError and the server keeps accepting; without it, it errors and closes the server',
  leakFree(async (t) => {
    const path = abstractName('rx-accept-error');
    const server = createServer();
    await listen(server, path);
    const reported: Error[] = [];
    const accepted = collect<UnixMessageSocket>(1, (next) => connections(server, { onAcceptError: (err) => reported.push(err) }).subscribe(next));
    // What #onConnection emits for EMFILE on accept (producing a real EMFILE is emfile.test.ts' job).
    server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }));
    t.deepEqual(
      reported.map((e) => e.message),
      ['accept EMFILE'],
    );
    const client = connect({ path }).resume();
    const {
      values: [conn],
      subscription,
    } = await accepted;
    t.false(conn!.destroyed, 'still accepting after the error');
    subscription.unsubscribe();

    const second = createServer();
    await listen(second, abstractName('rx-accept-error-2'));
    const error = firstValueFrom(connections(second)).catch((err: Error) => err.message);
    second.emit('error', new Error('accept EMFILE'));
    t.is(await error, 'accept EMFILE');
    t.false(second.listening, 'erroring closed the server');
    await settled(client);
  }),
);

test(
  'connect$ is cold: it connects on each subscription only, emits the socket once connected, and teardown destroys it',
  leakFree(async (t) => {
    const path = abstractName('rx-connect');
    const server = createServer((s) => s.resume());
    await listen(server, path);
    const socket$ = connect$({ path });
    await delay(20); // a negative check: no event marks a connection that is never made
    t.is(server.connections, 0, 'nothing connects before a subscription');
    const {
      values: [one],
      subscription: first,
    } = await collect<UnixMessageSocket>(1, (next) => socket$.subscribe(next));
    const {
      values: [two],
      subscription: second,
    } = await collect<UnixMessageSocket>(1, (next) => socket$.subscribe(next));
    t.not(one, two, 'each subscription has its own socket');
    t.false(one!.connecting);
    t.is(one!.remoteAddress, path);
    while (server.connections < 2) await once(server, 'connection');
    t.is(server.connections, 2);
    first.unsubscribe();
    second.unsubscribe();
    t.true(one!.destroyed && two!.destroyed);
    await Promise.all([settled(one!), settled(two!)]);
    await closed(server);
  }),
);

test(
  'connect$ errors when nobody listens on the path',
  leakFree(async (t) => {
    const err = await firstValueFrom(connect$({ path: tmpPath('nobody.sock') })).catch((e: NodeJS.ErrnoException) => e);
    t.is((err as NodeJS.ErrnoException).code, 'ENOENT');
    t.is((err as NodeJS.ErrnoException).syscall, 'connect');
  }),
);

test(
  'connect$ + switchMap(fromSocket) reads what the server sends until it ends, then completes once the socket has closed',
  leakFree(async (t) => {
    const path = abstractName('rx-connect-read');
    const server = createServer((s) => {
      s.resume();
      s.write('hello');
      s.end('bye');
    });
    await listen(server, path);
    const got = await lastValueFrom(
      connect$({ path }).pipe(
        switchMap((socket) => fromSocket(socket)),
        toArray(),
      ),
    );
    t.deepEqual(
      got.map((m) => m.data.toString()),
      ['hello', 'bye'],
    );
    await closed(server);
  }),
);

test(
  'listen$ + take(3): the fourth client is refused and the three accepted ones are closed',
  leakFree(async (t) => {
    const path = abstractName('rx-take');
    const done = lastValueFrom(listen$({ path }).pipe(take(3), toArray()));
    const clients = [0, 1, 2].map(() => connect({ path }).resume());
    const accepted = await done;
    t.true(accepted.every((s) => s.destroyed));
    const late = connect({ path });
    const [err] = (await once(late, 'error')) as [NodeJS.ErrnoException];
    t.is(err.code, 'ECONNREFUSED');
    await Promise.all([...clients, late].map((c) => settled(c)));
  }),
);

// Each case runs in a child (fixtures/rx-teardown-errors.js), so that a crash
// fails the test instead of killing the runner.

interface TeardownReport {
  seen: string[];
  errorListeners: number;
  closeListeners: number;
  fdDelta: number;
}

function teardownCase(t: ExecutionContext, name: string, type: string): TeardownReport | undefined {
  const run = runFixture<TeardownReport>('rx-teardown-errors.js', [name, type]);
  t.is(run.status, 0, `the child exited with ${String(run.status ?? run.signal)}:\n${run.stderr}`);
  return run.report;
}

for (const type of ['seqpacket', 'stream'] as const) {
  test(`connect$ on ${type}: a reset reported first to write callbacks ends the subscription with ECONNRESET, and the socket's 'error' after it does not crash the process`, (t) => {
    // The socket is destroyed with ECONNRESET, calls the pending write
    // callbacks with it, which error the pipeline and tear connect$ down,
    // and emits 'error' a tick later.
    const report = teardownCase(t, 'connect$', type);
    if (report === undefined) return;
    t.deepEqual(report.seen, ['error ECONNRESET']);
    t.is(report.errorListeners, 0, "no 'error' listener left on the closed socket");
    t.is(report.closeListeners, 0, "no 'close' listener left on the closed socket");
    t.is(report.fdDelta, 0, 'fd count back to baseline');
  });
}

test('listen$ unsubscribed in the tick of its subscription: the failed listen() reported on the next tick does not crash the process', (t) => {
  const report = teardownCase(t, 'listen$', 'seqpacket');
  if (report === undefined) return;
  t.deepEqual(report.seen, [], 'the subscriber, gone, is told nothing');
  t.is(report.fdDelta, 0, 'fd count back to baseline');
});

test(
  'connect$(), listen$() and connections() check their arguments when called, with ERR_* codes, and read each option once',
  leakFree(async (t) => {
    const codeOf = (call: () => unknown): unknown => (t.throws(call) as Error & { code?: string }).code;
    t.is(
      codeOf(() => connect$({ path: 42 as unknown as string })),
      'ERR_INVALID_ARG_TYPE',
    );
    t.is(
      codeOf(() => connect$(null as unknown as { path: string })),
      'ERR_INVALID_ARG_TYPE',
    );
    t.is(
      codeOf(() => connect$({ path: abstractName('x'), passCredentials: 'yes' as unknown as boolean })),
      'ERR_INVALID_ARG_TYPE',
    );
    t.is(
      codeOf(() => listen$({})),
      'ERR_INVALID_ARG_VALUE',
    );
    t.is(
      codeOf(() => listen$({ path: abstractName('x'), type: 'dgram' as 'stream' })),
      'ERR_INVALID_ARG_VALUE',
    );
    t.is(
      codeOf(() => listen$({ path: abstractName('x'), onAcceptError: 42 as unknown as () => void })),
      'ERR_INVALID_ARG_TYPE',
    );
    t.is(
      codeOf(() => connections({} as UnixMessageServer)),
      'ERR_INVALID_ARG_TYPE',
    );
    t.is(
      codeOf(() => connections(createServer(), { closeConnections: 'no' as unknown as boolean })),
      'ERR_INVALID_ARG_TYPE',
    );
    // A cold observable read its options at each subscription.
    const name = abstractName('read-once');
    let reads = 0;
    const server$ = listen$({
      get path(): string {
        reads++;
        return name;
      },
    });
    const client$ = connect$({
      get path(): string {
        reads++;
        return name;
      },
    });
    const sub = server$.subscribe();
    const socket = await firstValueFrom(client$.pipe(take(1)));
    t.true(socket instanceof Object);
    const again = client$.subscribe();
    again.unsubscribe();
    t.is(reads, 2, 'each path read once, when listen$() and connect$() were called');
    sub.unsubscribe();
  }),
);
