// Error behaviour: argument errors thrown synchronously with nothing sent,
// per-message errno errors that leave the socket usable, connect failures,
// use after destroy(), and a peer that went away.
import test from 'ava';
import { once } from 'node:events';
import fs from 'node:fs';
import {
  connect,
  constants,
  createServer,
  createSocket,
  errnoError,
  lowlevel,
  socketPair,
  UnixMessageSocket,
  type CodedError,
  type ErrnoError,
  type UnixMessage,
} from '../src/index';
import {
  abstractName,
  assertProbeClosed,
  closeServer,
  delay,
  destroyAll,
  fdCount,
  fileWithContent,
  leakFree,
  listen,
  probe,
  readToEnd,
  settled,
  take,
  tmpPath,
  waitFor,
} from './helpers';

function writeResult(socket: UnixMessageSocket, chunk: unknown): Promise<ErrnoError | null> {
  return new Promise((resolve) => {
    socket.write(chunk as never, (err) => resolve((err ?? null) as ErrnoError | null));
  });
}

const badWrite = test.macro({
  exec: leakFree(async (t, _check, chunk: unknown, Class: typeof TypeError | typeof RangeError, code: CodedError['code']) => {
    const [a, b] = socketPair('seqpacket');
    let errorEvents = 0;
    a.on('error', () => errorEvents++);
    let called = false;
    const err = t.throws(
      () =>
        a.write(chunk as never, () => {
          called = true;
        }),
      { instanceOf: Class },
    ) as CodedError;
    t.is(err.code, code);
    t.false(a.destroyed, 'a bad argument does not destroy the socket');
    t.is(a.writableLength, 0, 'nothing was queued');
    // Nothing was sent: the next valid message is the first one b receives.
    a.write('first valid');
    a.write('second valid');
    const got = await take(b, 2);
    t.deepEqual(
      got.map((m) => m.data.toString()),
      ['first valid', 'second valid'],
    );
    t.deepEqual(
      got.map((m) => m.fds.length),
      [0, 0],
    );
    await delay(5); // a negative check: no event marks a callback that never comes
    t.false(called, 'the callback of a write that threw is never called');
    t.is(errorEvents, 0);
    await destroyAll(a, b);
  }),
  title: (provided = '', _chunk: unknown, Class: typeof TypeError | typeof RangeError, code: CodedError['code']) =>
    `write() of ${provided} throws ${Class.name} ${code} synchronously and sends nothing`,
});

test('a number', badWrite, 42, TypeError, 'ERR_INVALID_ARG_TYPE');
test('null', badWrite, null, TypeError, 'ERR_INVALID_ARG_TYPE');
test('a bare array of Buffers', badWrite, [Buffer.from('x')], TypeError, 'ERR_INVALID_ARG_TYPE');
test('{ data: number }', badWrite, { data: 42 }, TypeError, 'ERR_INVALID_ARG_TYPE');
test('{ data: plain object }', badWrite, { data: { length: 3 } }, TypeError, 'ERR_INVALID_ARG_TYPE');
test('{ data: [non-buffers] }', badWrite, { data: [1, 2, 3] }, TypeError, 'ERR_INVALID_ARG_TYPE');
test('{ data: [Buffer, string] }', badWrite, { data: [Buffer.from('a'), 'b'] }, TypeError, 'ERR_INVALID_ARG_TYPE');
test('{ fds: [-1] }', badWrite, { data: 'x', fds: [-1] }, RangeError, 'ERR_OUT_OF_RANGE');
test('{ fds: [1.5] }', badWrite, { data: 'x', fds: [1.5] }, RangeError, 'ERR_OUT_OF_RANGE');
test("{ fds: ['3'] }", badWrite, { data: 'x', fds: ['3'] }, TypeError, 'ERR_INVALID_ARG_TYPE');
test('{ fds: 3 } (not an array)', badWrite, { data: 'x', fds: 3 }, TypeError, 'ERR_INVALID_ARG_TYPE');
test('more than SCM_MAX_FD fds', badWrite, { data: 'x', fds: new Array<number>(constants.SCM_MAX_FD + 1).fill(0) }, RangeError, 'ERR_OUT_OF_RANGE');
test('{ address } on a seqpacket socket', badWrite, { data: 'x', address: '/tmp/nowhere' }, TypeError, 'ERR_INVALID_ARG_VALUE');

// A revoked Proxy makes Array.isArray() and every read throw an engine
// TypeError without a code; bytes-like values that are not views would be
// read as message objects without data and sent empty.
const revoked = (): object => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
};
test('a revoked Proxy', badWrite, revoked(), TypeError, 'ERR_INVALID_ARG_TYPE');
test('{ data: revoked Proxy }', badWrite, { data: revoked() }, TypeError, 'ERR_INVALID_ARG_TYPE');
test('{ fds: revoked Proxy }', badWrite, { data: 'x', fds: revoked() }, TypeError, 'ERR_INVALID_ARG_TYPE');
test('an ArrayBuffer', badWrite, new ArrayBuffer(4), TypeError, 'ERR_INVALID_ARG_TYPE');
test('a SharedArrayBuffer', badWrite, new SharedArrayBuffer(4), TypeError, 'ERR_INVALID_ARG_TYPE');
test('an object that only inherits from Uint8Array', badWrite, Object.create(Uint8Array.prototype), TypeError, 'ERR_INVALID_ARG_TYPE');

test(
  'write() with one bad fd among good ones throws and no fd is sent or leaked',
  leakFree(async (t, { track }) => {
    const [a, b] = track(...socketPair('seqpacket'));
    const good = fileWithContent('good');
    const err = t.throws(() => a.write({ data: 'x', fds: [good, -5] }), { instanceOf: RangeError }) as CodedError;
    t.is(err.code, 'ERR_OUT_OF_RANGE');
    fs.closeSync(good);
    a.write('next');
    const [m] = await take(b, 1);
    t.is(m?.data.toString(), 'next');
    t.deepEqual(m?.fds, []);
  }),
);

test(
  '{ address } on a stream socket throws ERR_INVALID_ARG_VALUE naming the socket type',
  leakFree(async (t, { track }) => {
    const [a, b] = track(...socketPair('stream'));
    const err = t.throws(() => a.write({ data: 'x', address: '\0peer' }), { instanceOf: TypeError }) as CodedError;
    t.is(err.code, 'ERR_INVALID_ARG_VALUE');
    t.regex(err.message, /stream/);
    a.write('ok');
    const [m] = await take(b, 1);
    t.is(m?.data.toString(), 'ok');
  }),
);

test(
  'a datagram too large fails its write with EMSGSIZE and the socket keeps working',
  leakFree(async (t, { track }) => {
    const [a, b] = track(...socketPair('dgram'));
    let errorEvents = 0;
    a.on('error', () => errorEvents++);
    const sndbuf = a.getOption(constants.SOL_SOCKET, constants.SO_SNDBUF);
    const err = await writeResult(a, Buffer.alloc(sndbuf + 4096));
    t.truthy(err, 'the oversized write fails');
    t.is(err?.code, 'EMSGSIZE');
    t.is(err?.syscall, 'sendmsg');
    t.true((err?.errno ?? 0) < 0);
    t.false(a.destroyed, 'the socket survives');
    t.is(await writeResult(a, 'small after big'), null);
    const [m] = await take(b, 1);
    t.is(m?.data.toString(), 'small after big', 'the oversized datagram never arrived; the next one did');
    t.is(errorEvents, 0);
  }),
);

test(
  'a seqpacket message too large fails with EMSGSIZE and the connection keeps working',
  leakFree(async (t, { track }) => {
    const [a, b] = track(...socketPair('seqpacket'));
    const sndbuf = a.getOption(constants.SOL_SOCKET, constants.SO_SNDBUF);
    const err = await writeResult(a, Buffer.alloc(sndbuf + 4096));
    t.is(err?.code, 'EMSGSIZE');
    t.false(a.destroyed);
    a.write('after');
    const [m] = await take(b, 1);
    t.is(m?.data.toString(), 'after');
  }),
);

test(
  "connect() to a missing path emits 'error' with ENOENT, syscall connect and the address",
  leakFree(async (t) => {
    const p = tmpPath('missing.sock');
    const client = connect({ path: p, type: 'seqpacket' });
    let connected = false;
    client.on('connect', () => {
      connected = true;
    });
    const [err] = (await once(client, 'error')) as [ErrnoError];
    t.is(err.code, 'ENOENT');
    t.is(err.syscall, 'connect');
    t.is(err.address, p);
    t.true(err.errno < 0);
    t.true(err.message.includes(p), err.message);
    t.false(connected);
    await waitFor(() => client.closed);
    t.true(client.destroyed);
    t.true(client.closed, "'close' followed the error");
  }),
);

test(
  "connect() to an abstract name nobody listens on emits 'error' ECONNREFUSED",
  leakFree(async (t) => {
    const name = abstractName('nobody');
    const client = connect({ path: name, type: 'stream' });
    const [err] = (await once(client, 'error')) as [ErrnoError];
    t.is(err.code, 'ECONNREFUSED');
    t.is(err.syscall, 'connect');
    t.is(err.address, name);
  }),
);

test(
  'a seqpacket client connecting to a stream server fails with EPROTOTYPE or ECONNREFUSED',
  leakFree(async (t) => {
    const p = tmpPath('typemismatch.sock');
    const server = createServer({ type: 'stream' });
    let connections = 0;
    server.on('connection', (s: UnixMessageSocket) => {
      connections++;
      s.destroy();
    });
    await listen(server, p);
    const client = connect({ path: p, type: 'seqpacket' });
    const [err] = (await once(client, 'error')) as [ErrnoError];
    t.true(['EPROTOTYPE', 'ECONNREFUSED'].includes(err.code), err.code);
    t.is(err.syscall, 'connect');
    t.is(err.address, p);
    await delay(20); // a negative check: no event marks a connection that is never accepted
    t.is(connections, 0, 'the server accepted nothing');
    await closeServer(server);
  }),
);

test(
  'a dgram write to a path nobody has bound calls back with ENOENT and the socket keeps working',
  leakFree(async (t) => {
    const sender = createSocket({ type: 'dgram', bind: '' });
    let errorEvents = 0;
    sender.on('error', () => errorEvents++);
    const missing = tmpPath('nobody.sock');
    const err = await writeResult(sender, { data: 'lost', address: missing });
    t.truthy(err);
    t.true(['ENOENT', 'ECONNREFUSED'].includes(err!.code), err!.code);
    t.is(err?.syscall, 'sendmsg');
    t.is(err?.address, missing);
    t.false(sender.destroyed);

    const p = tmpPath('receiver.sock');
    const receiver = createSocket({ type: 'dgram', bind: p });
    t.is(await writeResult(sender, { data: 'found', address: p }), null);
    const [m] = await take(receiver, 1);
    t.is(m?.data.toString(), 'found');
    t.is(m?.address, sender.address());
    t.is(errorEvents, 0);
    await destroyAll(sender, receiver);
    fs.rmSync(p, { force: true });
  }),
);

test(
  'a dgram write to an abstract name nobody has bound calls back with ECONNREFUSED and the socket keeps working',
  leakFree(async (t) => {
    const sender = createSocket({ type: 'dgram' });
    const missing = abstractName('nobody');
    const err = await writeResult(sender, { data: 'lost', address: missing });
    t.is(err?.code, 'ECONNREFUSED');
    t.is(err?.address, missing);
    const name = abstractName('receiver');
    const receiver = createSocket({ type: 'dgram', bind: name });
    t.is(await writeResult(sender, { data: 'found', address: name }), null);
    const [m] = await take(receiver, 1);
    t.is(m?.data.toString(), 'found');
    await destroyAll(sender, receiver);
  }),
);

test(
  'a dgram write to a dead address among good ones fails only that message',
  leakFree(async (t) => {
    const name = abstractName('batch');
    const receiver = createSocket({ type: 'dgram', bind: name });
    const sender = createSocket({ type: 'dgram' });
    const results = await Promise.all([
      writeResult(sender, { data: '1', address: name }),
      writeResult(sender, { data: 'x', address: abstractName('dead') }),
      writeResult(sender, { data: '2', address: name }),
    ]);
    t.is(results[0], null);
    t.is(results[1]?.code, 'ECONNREFUSED');
    t.is(results[2], null);
    const got = await take(receiver, 2);
    t.deepEqual(
      got.map((m) => m.data.toString()),
      ['1', '2'],
    );
    await destroyAll(sender, receiver);
  }),
);

test(
  'address(), setOption(), getOption(), peerCredentials() and bind() throw ERR_STREAM_DESTROYED after destroy()',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    a.destroy();
    await settled(a);
    t.is(a.fd, -1);
    const calls: Array<[string, () => unknown]> = [
      ['address', () => a.address()],
      ['setOption', () => a.setOption(constants.SOL_SOCKET, constants.SO_PASSCRED, 1)],
      ['getOption', () => a.getOption(constants.SOL_SOCKET, constants.SO_TYPE)],
      ['peerCredentials', () => a.peerCredentials()],
      ['bind', () => a.bind()],
    ];
    for (const [name, call] of calls) {
      const err = t.throws(call, undefined, name) as CodedError;
      t.is(err.code, 'ERR_STREAM_DESTROYED', name);
      t.true(err.message.includes(name), err.message);
    }
    t.is(a.remoteAddress, undefined);
    await destroyAll(b);
  }),
);

test(
  'methods throw ERR_STREAM_DESTROYED synchronously right after destroy(), before close',
  leakFree(async (t, { track }) => {
    const [a] = track(...socketPair('stream'));
    a.destroy();
    const err = t.throws(() => a.address()) as CodedError;
    t.is(err.code, 'ERR_STREAM_DESTROYED');
  }),
);

test(
  'write() after destroy() calls back with ERR_STREAM_DESTROYED and emits no error',
  leakFree(async (t, { track }) => {
    const [a] = track(...socketPair('seqpacket'));
    let errorEvents = 0;
    a.on('error', () => errorEvents++);
    a.destroy();
    const file = fileWithContent('x');
    const err = await writeResult(a, { data: 'late', fds: [file] });
    fs.closeSync(file);
    t.is(err?.code, 'ERR_STREAM_DESTROYED');
    await delay(5); // a negative check: no event marks an 'error' that is never emitted
    t.is(errorEvents, 0);
  }),
);

test(
  'a write pending when the socket is destroyed calls back with ERR_STREAM_DESTROYED',
  leakFree(async (t, { track }) => {
    const [a] = track(...socketPair('seqpacket', { writableHighWaterMark: 1 }));
    // Fill the peer's queue so writes stay pending.
    const payload = Buffer.alloc(32 * 1024);
    const results: Array<Promise<ErrnoError | null>> = [];
    for (let i = 0; i < 64; i++) results.push(writeResult(a, payload));
    await delay(20); // the writes that fit leave; no event marks the peer's queue full
    t.true(a.writableLength > 0, 'some writes are still pending');
    a.destroy();
    const settled = await Promise.all(results);
    const failed = settled.filter((e) => e !== null);
    t.true(failed.length > 0);
    t.true(
      failed.every((e) => e?.code === 'ERR_STREAM_DESTROYED'),
      failed.map((e) => e?.code).join(','),
    );
  }),
);

test(
  'destroy() in the tick of a write: the message is not sent, its fd dups are closed, the callback says ERR_STREAM_DESTROYED',
  leakFree(async (t) => {
    // The writes of a tick go to the kernel at its end (write() corks until
    // then), so the message with fds waits behind the first with its dups (an
    // idle socket would have sent it from write() itself), and this destroy()
    // lands meanwhile.
    const [a, b] = socketPair('seqpacket');
    const p = probe();
    const first = writeResult(a, 'first');
    const result = writeResult(a, { data: 'never', fds: [p.fd] });
    fs.closeSync(p.fd);
    a.destroy();
    t.is((await first)?.code, 'ERR_STREAM_DESTROYED');
    t.is((await result)?.code, 'ERR_STREAM_DESTROYED');
    await assertProbeClosed(t, p);
    t.deepEqual(await readToEnd(b), [], 'the peer reads EOF and no message');
    await destroyAll(b);
  }),
);

test(
  'writing to a seqpacket socket whose peer was destroyed emits EPIPE (or ECONNRESET) without crashing',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    b.destroy();
    await settled(b);
    const errorEvent = once(a, 'error') as Promise<[ErrnoError]>;
    const cbErr = await writeResult(a, 'into the void');
    const [err] = await errorEvent;
    t.true(['EPIPE', 'ECONNRESET'].includes(err.code), err.code);
    t.is(err.syscall, 'sendmsg');
    t.is(cbErr?.code, err.code, 'the write callback gets the same error');
    await waitFor(() => a.closed);
    t.true(a.destroyed);
    t.true(a.closed);
  }),
);

// The kernel reports these once: the first sendmsg() consumes them (a
// seqpacket reset is sk_err; a dead dgram peer is disconnected), and a
// retry would see EPIPE or ENOTCONN instead. (A stream send reports EPIPE
// itself, unix_stream_sendmsg.)
for (const [type, code] of [
  ['seqpacket', 'ECONNRESET'],
  ['dgram', 'ECONNREFUSED'],
] as const) {
  test(
    `${type}: a write with fds to a peer that closed (with our message unread) fails with ${code}, the error the kernel reports once`,
    leakFree(async (t) => {
      const [mine, theirs] = lowlevel.socketpair(type);
      lowlevel.sendmsg(mine, Buffer.from('unread'));
      lowlevel.close(theirs);
      const a = UnixMessageSocket.fromFd(mine);
      const errorEvent = once(a, 'error') as Promise<[ErrnoError]>;
      const p = probe();
      const cbErr = await writeResult(a, { data: 'reply', fds: [p.fd] });
      const [err] = await errorEvent;
      t.is(err.code, code);
      t.is(err.syscall, 'sendmsg');
      t.is(cbErr?.code, code, 'the write callback gets the same error');
      await settled(a);
      t.true(a.destroyed);
      fs.closeSync(p.fd);
      await assertProbeClosed(t, p);
    }),
  );
}

test(
  'writing to a stream socket whose peer was destroyed emits EPIPE (or ECONNRESET) without crashing',
  leakFree(async (t) => {
    const [a, b] = socketPair('stream');
    b.destroy();
    await settled(b);
    const errorEvent = once(a, 'error') as Promise<[ErrnoError]>;
    a.write('into the void');
    const [err] = await errorEvent;
    t.true(['EPIPE', 'ECONNRESET'].includes(err.code), err.code);
    t.true(a.destroyed);
  }),
);

test(
  'write() with an fd that is not open calls back with EBADF and the socket keeps working',
  leakFree(async (t, { track }) => {
    const [a, b] = track(...socketPair('seqpacket'));
    const file = fileWithContent('x');
    fs.closeSync(file);
    const err = await writeResult(a, { data: 'x', fds: [file] });
    t.is(err?.code, 'EBADF');
    t.false(a.destroyed);
    a.write('next');
    const [m] = await take(b, 1);
    t.is(m?.data.toString(), 'next');
  }),
);

test(
  'write() and end() check the encoding as Writable does: an unknown one throws ERR_UNKNOWN_ENCODING and sends nothing',
  leakFree(async (t, { track }) => {
    const [a, b] = track(...socketPair('seqpacket'));
    for (const encoding of ['nope', Symbol('enc'), 42, {}]) {
      const err = t.throws(() => a.write('x', encoding as BufferEncoding), { instanceOf: TypeError }) as CodedError;
      t.is(err.code, 'ERR_UNKNOWN_ENCODING');
      t.throws(() => a.end('x', encoding as BufferEncoding), { code: 'ERR_UNKNOWN_ENCODING' });
    }
    t.is(a.writableLength, 0);
    t.false(a.writableEnded, 'the end() that threw did not end the socket');
    a.write('utf8', 'utf8');
    a.write('buffer', 'buffer' as BufferEncoding);
    a.write('default', '' as BufferEncoding);
    const got = await take(b, 3);
    t.deepEqual(
      got.map((m) => m.data.toString()),
      ['utf8', 'buffer', 'default'],
    );
  }),
);

test(
  'a malformed message is refused with its ERR_* code after end() and after destroy() too, as Writable checks a chunk first',
  leakFree(async (t, { track }) => {
    const [a] = track(...socketPair('seqpacket'));
    a.on('error', () => undefined);
    a.end();
    t.throws(() => a.write({ data: 42 } as never), { code: 'ERR_INVALID_ARG_TYPE' });
    t.throws(() => a.write({ data: 'x', address: '/tmp/x' }), { code: 'ERR_INVALID_ARG_VALUE' });
    t.throws(() => a.end({ fds: [-1] }), { code: 'ERR_OUT_OF_RANGE' });
    a.destroy();
    t.throws(() => a.write({ data: 'x', fds: 'no' } as never), { code: 'ERR_INVALID_ARG_TYPE' });
    t.throws(() => a.end(new ArrayBuffer(1) as never), { code: 'ERR_INVALID_ARG_TYPE' });
    // A well-formed one still gets Writable's state error, through its callback.
    const err = await new Promise<Error | null | undefined>((resolve) => a.write('x', resolve));
    t.is((err as CodedError | undefined)?.code as string | undefined, 'ERR_STREAM_WRITE_AFTER_END');
  }),
);

test(
  "read(size) refuses a size that is not a number with ERR_INVALID_ARG_TYPE, never running the value's toString()",
  leakFree(async (t, { track }) => {
    const [a] = track(...socketPair('seqpacket'));
    let ran = false;
    const size = {
      toString: () => {
        ran = true;
        return '1';
      },
      [Symbol.toPrimitive]: () => {
        ran = true;
        return 1;
      },
    };
    t.throws(() => a.read(size as unknown as number), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' });
    t.throws(() => a.read(Symbol('n') as unknown as number), { code: 'ERR_INVALID_ARG_TYPE' });
    t.false(ran);
    t.is(a.read(0), null);
  }),
);

test(
  'socket options are read once and checked before a socket is made: both ends of socketPair() get the same values, and a flag that is not a boolean is refused',
  leakFree(async (t) => {
    let reads = 0;
    // A getter that answers 300 once, then an invalid value: read twice, the
    // second socket would get (or throw on) something else than the first.
    const options = {
      get maxPendingFds(): number {
        return ++reads === 1 ? 300 : -1;
      },
    };
    const [a, b] = socketPair('seqpacket', options);
    t.is(reads, 1, 'maxPendingFds read once for both sockets');
    await destroyAll(a, b);
    for (const [name, value] of [
      ['passCredentials', 'no'],
      ['acceptFds', 0],
      ['allowHalfOpen', 'yes'],
    ] as const) {
      const err = t.throws(() => socketPair('seqpacket', { [name]: value }), { instanceOf: TypeError }) as CodedError;
      t.is(err.code, 'ERR_INVALID_ARG_TYPE', name);
      t.throws(() => createSocket({ [name]: value }), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    t.throws(() => socketPair('seqpacket', { maxMessageSize: 0 }), { code: 'ERR_OUT_OF_RANGE' });
    t.throws(() => createSocket({ bind: 42 as unknown as string }), { code: 'ERR_INVALID_ARG_TYPE' });
  }),
);

test(
  'connect() refuses an onConnect that is not a function before it makes a socket, and reads path and type once',
  leakFree(async (t) => {
    const name = abstractName('connect-once');
    const server = createServer();
    await listen(server, name);
    const during = fdCount();
    t.throws(() => connect({ path: name }, 42 as unknown as () => void), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' });
    t.is(fdCount(), during, 'no socket was made for the call that threw');
    let pathReads = 0;
    let typeReads = 0;
    const client = connect({
      get path(): string {
        pathReads++;
        return name;
      },
      get type(): 'seqpacket' {
        typeReads++;
        return 'seqpacket';
      },
    });
    await once(client, 'connect');
    t.is(pathReads, 1);
    t.is(typeReads, 1);
    await destroyAll(client);
    server.closeAllConnections();
    await closeServer(server);
  }),
);

test(
  'setEncoding() throws ERR_INVALID_STATE (a message socket emits objects, which a decoder cannot decode) and the socket keeps delivering messages with their fds',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const err = t.throws(() => b.setEncoding('utf8'));
    t.is((err as NodeJS.ErrnoException).code, 'ERR_INVALID_STATE');
    t.is(b.readableEncoding, null);
    const p = probe();
    const got = once(b, 'data') as Promise<[UnixMessage]>;
    a.write({ data: 'still a message', fds: [p.fd] });
    lowlevel.close(p.fd);
    const [m] = await got;
    t.is(m.data.toString(), 'still a message');
    t.is(m.fds.length, 1);
    lowlevel.close(m.fds[0]!);
    await assertProbeClosed(t, p);
    a.destroy();
    b.destroy();
  }),
);

test('errnoError(): an address Buffer is read through the engine, not its own buffer/byteOffset/byteLength getters', (t) => {
  const address = Buffer.from('/real.sock');
  const other = Buffer.from('/lie');
  let reads = 0;
  for (const [key, value] of [
    ['buffer', other.buffer],
    ['byteOffset', other.byteOffset],
    ['byteLength', other.byteLength],
  ] as const) {
    Object.defineProperty(address, key, {
      get: () => {
        reads++;
        return value;
      },
    });
  }
  const err = errnoError(-2, 'connect', address);
  t.is(err.address, '/real.sock');
  t.is(reads, 0);
});
