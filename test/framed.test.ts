// Framed stream sockets (option `framed`): one { data, fds } per message
// sent, both formats, write-time checks, and the protocol errors of a peer
// that breaks the format, each of which destroys the socket with its ERR_*
// code and closes every fd of the broken message.
// Oracles: fd-table delta (leakFree) and probe-socketpair EOF.
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { constants, createServer, connect, lowlevel, socketPair, UnixMessageSocket, type UnixMessage } from '../src/index';
import { assertProbeClosed, closeAll, destroyAll, fileWithContent, inodeOf, leakFree, listen, closeServer, probe, take, tmpPath, waitFor } from './helpers';

const le32 = (h: Buffer): number => h.readUInt32LE(0);
/** A custom format: a 4-byte little-endian length of the whole frame, then the rest. */
function frame(body: Buffer | string): Buffer {
  const b = Buffer.from(body);
  const out = Buffer.alloc(4 + b.length);
  out.writeUInt32LE(out.length, 0);
  b.copy(out, 4);
  return out;
}
const header = (n: number): Buffer => {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(n, 0);
  return h;
};

/** A framed socket over the other end of a raw socketpair end we write with lowlevel.sendmsg. */
function rawPeer(options: Parameters<typeof UnixMessageSocket.fromFd>[1]): [number, UnixMessageSocket] {
  const [raw, theirs] = lowlevel.socketpair('stream');
  return [raw, UnixMessageSocket.fromFd(theirs, options)];
}

async function destroyedWith(t: ExecutionContext, s: UnixMessageSocket, code: string): Promise<Error> {
  const [err] = (await once(s, 'error')) as [Error & { code?: string }];
  t.is(err.code, code, err.message);
  await waitFor(() => s.closed);
  return err;
}

test(
  'framed: true: messages of 0 bytes to 1 MiB arrive one each, header stripped, bytes and fds intact',
  leakFree(async (t, { track }) => {
    const [a, b] = track(...socketPair('stream', { framed: true }));
    const sizes = [0, 1, 3, 4, 5, 64, 65536, 300_000, 1 << 20];
    const files = sizes.map((n) => fileWithContent(`file ${n}`));
    const got = take(b, sizes.length);
    sizes.forEach((n, i) => a.write({ data: Buffer.alloc(n, i + 1), fds: i % 2 === 0 ? [files[i]!] : [] }));
    const messages = await got;
    messages.forEach((m, i) => {
      t.is(m.data.length, sizes[i]!);
      t.true(m.data.equals(Buffer.alloc(sizes[i]!, i + 1)));
      t.is(m.fds.length, i % 2 === 0 ? 1 : 0);
      if (m.fds.length === 1) t.is(inodeOf(m.fds[0]!), inodeOf(files[i]!));
      closeAll(m.fds);
    });
    closeAll(files);
  }),
);

test(
  'framed: true: an empty message may carry fds, and strings, arrays of views and bare Buffers are framed too',
  leakFree(async (t, { track }) => {
    const [a, b] = track(...socketPair('stream', { framed: true }));
    const p = probe();
    const got = take(b, 4);
    a.write({ data: Buffer.alloc(0), fds: [p.fd] });
    a.write('héllo');
    a.write({ data: [Buffer.from('ab'), new Uint8Array([99])] });
    a.write(Buffer.alloc(0));
    lowlevel.close(p.fd);
    const [empty, str, gathered, none] = await got;
    t.is(empty!.data.length, 0);
    t.is(empty!.fds.length, 1);
    t.is(str!.data.toString(), 'héllo');
    t.is(gathered!.data.toString(), 'abc');
    t.is(none!.data.length, 0);
    t.deepEqual(none!.fds, []);
    closeAll(empty!.fds);
    await assertProbeClosed(t, p);
  }),
);

test(
  'framed: true: one message with 253 fds arrives with all of them, after and before fd-less messages gathered with it',
  leakFree(async (t, { track }) => {
    const [a, b] = track(...socketPair('stream', { framed: true }));
    const p = probe();
    const fds = Array.from({ length: 253 }, () => lowlevel.dup(p.fd));
    const got = take(b, 3);
    a.write('before');
    a.write({ data: Buffer.alloc(10, 1), fds });
    a.write('after');
    closeAll(fds);
    lowlevel.close(p.fd);
    const [m1, m2, m3] = await got;
    t.deepEqual([m1!.fds.length, m2!.fds.length, m3!.fds.length], [0, 253, 0]);
    t.is(m3!.data.toString(), 'after');
    closeAll(m2!.fds);
    await assertProbeClosed(t, p);
  }),
);

test(
  'framed: a message with more fds than maxFdsPerMessage arrives fdsTruncated with the ones that fit; its neighbours are unaffected',
  leakFree(async (t, { track }) => {
    const [raw, b] = rawPeer({ framed: true, maxFdsPerMessage: 2 });
    track(b);
    const p = probe();
    const got = take(b, 2);
    lowlevel.sendmsg(raw, [header(3), Buffer.from('abc')], [lowlevel.rights([p.fd, p.fd, p.fd, p.fd])]);
    lowlevel.sendmsg(raw, [header(1), Buffer.from('z')]);
    lowlevel.close(p.fd);
    const [m1, m2] = await got;
    t.true(m1!.fdsTruncated);
    t.is(m1!.fds.length, 2);
    t.false(m2!.fdsTruncated);
    t.is(m2!.data.toString(), 'z');
    closeAll(m1!.fds);
    lowlevel.close(raw);
    await assertProbeClosed(t, p);
  }),
);

test(
  'framed: { headerSize, frameLength }: whole frames round-trip, header included, with their fds',
  leakFree(async (t, { track }) => {
    const framed = { headerSize: 4, frameLength: le32 };
    const [a, b] = track(...socketPair('stream', { framed }));
    const file = fileWithContent('custom');
    const got = take(b, 3);
    a.write({ data: frame(''), fds: [file] });
    a.write(frame('x'.repeat(100_000)));
    a.write({ data: [frame('ab').subarray(0, 3), frame('ab').subarray(3)] });
    lowlevel.close(file);
    const [m1, m2, m3] = await got;
    t.true(m1!.data.equals(frame('')));
    t.is(fs.readFileSync(`/proc/self/fd/${m1!.fds[0]!}`, 'utf8'), 'custom');
    t.true(m2!.data.equals(frame('x'.repeat(100_000))));
    t.true(m3!.data.equals(frame('ab')));
    closeAll(m1!.fds);
  }),
);

test('framed: on seqpacket and dgram sockets is ERR_INVALID_ARG_VALUE, from every constructor', (t) => {
  for (const type of ['seqpacket', 'dgram'] as const) {
    t.throws(() => socketPair(type, { framed: true }), { code: 'ERR_INVALID_ARG_VALUE' });
    t.throws(() => socketPair(type, { framed: { headerSize: 4, frameLength: le32 } }), { code: 'ERR_INVALID_ARG_VALUE' });
    const [x, y] = lowlevel.socketpair(type);
    t.throws(() => UnixMessageSocket.fromFd(x, { framed: true }), { code: 'ERR_INVALID_ARG_VALUE' });
    // fromFd leaves the fd the caller's on an error.
    lowlevel.close(x);
    lowlevel.close(y);
  }
  t.throws(() => createServer({ type: 'seqpacket', framed: true }), { code: 'ERR_INVALID_ARG_VALUE' });
  t.throws(() => connect({ path: '/nonexistent', type: 'seqpacket', framed: true }), { code: 'ERR_INVALID_ARG_VALUE' });
  // false means unframed, on any type.
  const [a, b] = socketPair('seqpacket', { framed: false });
  a.destroy();
  b.destroy();
});

test('framed: a bad value is refused at creation with ERR_INVALID_ARG_TYPE or ERR_OUT_OF_RANGE, reading each property once', (t) => {
  const bad: Array<[unknown, string]> = [
    [1, 'ERR_INVALID_ARG_TYPE'],
    ['yes', 'ERR_INVALID_ARG_TYPE'],
    [[], 'ERR_INVALID_ARG_TYPE'],
    [{}, 'ERR_INVALID_ARG_TYPE'],
    [{ headerSize: 4 }, 'ERR_INVALID_ARG_TYPE'],
    [{ headerSize: 4, frameLength: 4 }, 'ERR_INVALID_ARG_TYPE'],
    [{ headerSize: '4', frameLength: le32 }, 'ERR_INVALID_ARG_TYPE'],
    [{ headerSize: 0, frameLength: le32 }, 'ERR_OUT_OF_RANGE'],
    [{ headerSize: 1.5, frameLength: le32 }, 'ERR_OUT_OF_RANGE'],
    [{ headerSize: 65537, frameLength: le32 }, 'ERR_OUT_OF_RANGE'],
  ];
  for (const [framed, code] of bad) t.throws(() => socketPair('stream', { framed: framed as true }), { code }, JSON.stringify(framed));
  let reads = 0;
  const tricky = {
    get headerSize(): number {
      reads++;
      return reads === 1 ? 4 : 0;
    },
    frameLength: le32,
  };
  const [a, b] = socketPair('stream', { framed: tricky });
  t.is(reads, 1, 'headerSize read once for both sockets');
  a.destroy();
  b.destroy();
});

test(
  'framed: a custom-framed write that is not one whole frame is refused with ERR_INVALID_ARG_VALUE before anything is queued',
  leakFree(async (t, { track }) => {
    let throwNext = false;
    const framed = {
      headerSize: 4,
      frameLength: (h: Buffer): number => {
        if (throwNext) throw new Error('no');
        return le32(h);
      },
    };
    const [a, b] = track(...socketPair('stream', { framed }));
    const file = fileWithContent('x');
    t.throws(() => a.write({ data: Buffer.alloc(3), fds: [file] }), { code: 'ERR_INVALID_ARG_VALUE' });
    t.throws(() => a.write(frame('abc').subarray(0, 6)), { code: 'ERR_INVALID_ARG_VALUE' });
    t.throws(() => a.write(Buffer.concat([frame('abc'), Buffer.from('!')])), { code: 'ERR_INVALID_ARG_VALUE' });
    throwNext = true;
    const err = t.throws(() => a.write({ data: frame('abc'), fds: [file] }), { code: 'ERR_INVALID_ARG_VALUE' });
    t.is((err!.cause as Error).message, 'no');
    throwNext = false;
    lowlevel.close(file);
    const got = take(b, 1);
    a.write(frame('ok'));
    const [m] = await got;
    t.true(m!.data.equals(frame('ok')), 'nothing of the refused writes reached the peer');
    t.is(a.queuedFds, 0);
  }),
);

test(
  'framed: a write over maxMessageSize is ERR_OUT_OF_RANGE, thrown before anything is queued',
  leakFree((t, { track }) => {
    const [a] = track(...socketPair('stream', { framed: true, maxMessageSize: 100 }));
    t.throws(() => a.write(Buffer.alloc(101)), { code: 'ERR_OUT_OF_RANGE' });
    const [c] = track(...socketPair('stream', { framed: { headerSize: 4, frameLength: le32 }, maxMessageSize: 100 }));
    t.throws(() => c.write(Buffer.alloc(101)), { code: 'ERR_OUT_OF_RANGE' });
    t.notThrows(() => a.write(Buffer.alloc(100)));
  }),
);

test(
  'framed: a header announcing more than maxMessageSize destroys the socket with ERR_FRAME_TOO_LARGE and closes the fds',
  leakFree(async (t, { track }) => {
    const [raw, b] = rawPeer({ framed: true, maxMessageSize: 1000 });
    track(b);
    const p = probe();
    lowlevel.sendmsg(raw, [header(1001), Buffer.alloc(10)], [lowlevel.rights([p.fd])]);
    lowlevel.close(p.fd);
    b.resume();
    await destroyedWith(t, b, 'ERR_FRAME_TOO_LARGE');
    lowlevel.close(raw);
    await assertProbeClosed(t, p);
  }),
);

test(
  'framed: messages read before a protocol error are delivered first; then the error',
  leakFree(async (t, { track }) => {
    const [raw, b] = rawPeer({ framed: true });
    track(b);
    lowlevel.sendmsg(raw, [header(2), Buffer.from('ok'), header(0xffffffff)]);
    await waitFor(() => b.readableLength > 0);
    const m = b.read() as UnixMessage;
    t.is(m.data.toString(), 'ok');
    b.read();
    const [err] = (await once(b, 'error')) as [Error & { code?: string }];
    t.is(err.code, 'ERR_FRAME_TOO_LARGE');
    lowlevel.close(raw);
  }),
);

test(
  'framed: fds in a read in which no header begins destroy the socket with ERR_FRAME_STRAY_FDS; every fd is closed',
  leakFree(async (t, { track }) => {
    let headers = 0;
    const [raw, b] = rawPeer({ framed: { headerSize: 4, frameLength: (h: Buffer) => (headers++, le32(h)) } });
    track(b);
    const p1 = probe();
    const p2 = probe();
    // A frame of 20 bytes whose first 8 carry p1; once its header is read,
    // the other 12 come with p2 in a read that begins no header.
    const f = frame('x'.repeat(16));
    lowlevel.sendmsg(raw, [f.subarray(0, 8)], [lowlevel.rights([p1.fd])]);
    b.resume();
    await waitFor(() => headers === 1);
    lowlevel.sendmsg(raw, [f.subarray(8)], [lowlevel.rights([p2.fd])]);
    lowlevel.close(p1.fd);
    lowlevel.close(p2.fd);
    await destroyedWith(t, b, 'ERR_FRAME_STRAY_FDS');
    lowlevel.close(raw);
    await assertProbeClosed(t, p1);
    await assertProbeClosed(t, p2);
  }),
);

test(
  'framed: EOF inside a message destroys the socket with ERR_FRAME_TRUNCATED and closes the fds held for it',
  leakFree(async (t, { track }) => {
    for (const cut of [2, 7]) {
      const [raw, b] = rawPeer({ framed: true });
      track(b);
      const p = probe();
      lowlevel.sendmsg(raw, [Buffer.concat([header(10), Buffer.alloc(3)]).subarray(0, cut)], [lowlevel.rights([p.fd])]);
      lowlevel.close(p.fd);
      b.resume();
      lowlevel.close(raw);
      await destroyedWith(t, b, 'ERR_FRAME_TRUNCATED');
      await assertProbeClosed(t, p);
    }
  }),
);

test(
  'framed: a frameLength that throws or returns no valid length destroys the socket with ERR_FRAME_LENGTH (the throw as cause)',
  leakFree(async (t, { track }) => {
    const boom = new Error('boom');
    const cases: Array<[(h: Buffer) => unknown, string]> = [
      [
        () => {
          throw boom;
        },
        'ERR_FRAME_LENGTH',
      ],
      [() => 'x', 'ERR_FRAME_LENGTH'],
      [() => 1.5, 'ERR_FRAME_LENGTH'],
      [() => Number.NaN, 'ERR_FRAME_LENGTH'],
      [() => 3, 'ERR_FRAME_LENGTH'],
      [() => ({ valueOf: () => 8 }), 'ERR_FRAME_LENGTH'],
      [() => 1 << 30, 'ERR_FRAME_TOO_LARGE'],
    ];
    for (const [frameLength, code] of cases) {
      const [raw, b] = rawPeer({ framed: { headerSize: 4, frameLength: frameLength as (h: Buffer) => number } });
      track(b);
      const p = probe();
      lowlevel.sendmsg(raw, [Buffer.alloc(8)], [lowlevel.rights([p.fd])]);
      lowlevel.close(p.fd);
      b.resume();
      const err = await destroyedWith(t, b, code);
      if (frameLength === cases[0]![0]) t.is(err.cause, boom);
      lowlevel.close(raw);
      await assertProbeClosed(t, p);
    }
  }),
);

test(
  'framed: headers and bodies split at every byte across reads reassemble into the same messages',
  leakFree(async (t, { track }) => {
    const [raw, b] = rawPeer({ framed: { headerSize: 6, frameLength: (h: Buffer) => h.readUInt16BE(4) } });
    track(b);
    const frames = [0, 1, 5, 30].map((n) => {
      const f = Buffer.alloc(6 + n, n + 65);
      f.writeUInt16BE(6 + n, 4);
      return f;
    });
    const all = Buffer.concat(frames);
    const got = take(b, frames.length);
    const p = probe();
    // One byte per sendmsg; the third frame's fd rides its first byte.
    const third = frames[0]!.length + frames[1]!.length;
    for (let i = 0; i < all.length; i++) {
      lowlevel.sendmsg(raw, [all.subarray(i, i + 1)], i === third ? [lowlevel.rights([p.fd])] : []);
      if (i % 3 === 0) await new Promise((r) => setImmediate(r));
    }
    lowlevel.close(p.fd);
    const messages = await got;
    t.deepEqual(
      messages.map((m) => m.data),
      frames,
    );
    t.deepEqual(
      messages.map((m) => m.fds.length),
      [0, 0, 1, 0],
    );
    closeAll(messages[2]!.fds);
    lowlevel.close(raw);
    await assertProbeClosed(t, p);
  }),
);

test(
  'framed: passCredentials gives every message the credentials of the read its header began in',
  leakFree(async (t, { track }) => {
    const [a, b] = track(...socketPair('stream', { framed: true, passCredentials: true }));
    const got = take(b, 3);
    a.write('a');
    a.write(Buffer.alloc(200_000));
    a.write('c');
    for (const m of await got) t.deepEqual(m.credentials, { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
  }),
);

test(
  'framed: a server and connect() with framed: true speak it; accepted connections inherit the option',
  leakFree(async (t, { track }) => {
    const server = createServer({ type: 'stream', framed: true });
    const path = tmpPath('framed');
    await listen(server, path);
    const accepted = once(server, 'connection') as Promise<[UnixMessageSocket]>;
    const c = track(connect({ path, type: 'stream', framed: true }))[0];
    const [s] = await accepted;
    track(s);
    const got = take(s, 2);
    c.write('one');
    c.write(Buffer.alloc(70_000, 2));
    const [m1, m2] = await got;
    t.is(m1!.data.toString(), 'one');
    t.is(m2!.data.length, 70_000);
    await destroyAll(c, s);
    await closeServer(server);
  }),
);

test(
  'framed: a destroyed socket closes the fds held for a message still incomplete',
  leakFree(async (t, { track }) => {
    const [raw, b] = rawPeer({ framed: true });
    track(b);
    const p = probe();
    lowlevel.sendmsg(raw, [header(100), Buffer.alloc(10)], [lowlevel.rights([p.fd])]);
    lowlevel.close(p.fd);
    b.resume();
    await waitFor(() => b.pendingFds === 1);
    t.is(b.pendingFds, 1, 'the incomplete message holds its fd');
    b.destroy();
    lowlevel.close(raw);
    await assertProbeClosed(t, p);
  }),
);

test(
  'framed: passPidfd: a pidfd goes with the last message whose header began in its read; those of reads that begin none are closed',
  leakFree(async (t, { track }) => {
    let pairs: [UnixMessageSocket, UnixMessageSocket];
    try {
      pairs = socketPair('stream', { framed: true, passPidfd: true });
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOPROTOOPT') throw err;
      t.log('skipped: SO_PASSPIDFD needs Linux 6.5');
      t.pass();
      return;
    }
    const [a, b] = track(...pairs);
    const got = take(b, 3);
    a.write('a');
    // Spans many reads, each bringing a pidfd of its own.
    a.write(Buffer.alloc(600_000));
    a.write('c');
    const messages = await got;
    t.deepEqual(
      messages.map((m) => m.data.length),
      [1, 600_000, 1],
    );
    const pidfds = messages.flatMap((m) => (m.pidfd === undefined ? [] : [m.pidfd]));
    t.true(pidfds.length >= 1);
    t.is(messages[2]!.pidfd !== undefined, true, 'the last message of the last read has one');
    closeAll(pidfds);
  }),
);

test(
  'framed: a read of many messages fills the readable buffer only to its high-water mark; the rest, then EOF, follow as the consumer reads',
  leakFree(async (t, { track }) => {
    const [raw, b] = rawPeer({ framed: true, readableHighWaterMark: 8 });
    track(b);
    const p = probe();
    const frames = Array.from({ length: 1000 }, (_, i) => Buffer.concat([header(4), Buffer.from(String(i).padStart(4, '0'))]));
    lowlevel.sendmsg(raw, [Buffer.concat(frames.slice(0, 999))]);
    lowlevel.sendmsg(raw, [frames[999]!], [lowlevel.rights([p.fd])]);
    lowlevel.close(p.fd);
    lowlevel.close(raw);
    await waitFor(() => b.readableLength >= 8);
    await new Promise((r) => setTimeout(r, 20));
    t.true(b.readableLength <= 8, `buffered ${b.readableLength}`);
    t.is(b.pendingFds, 1, 'the fd of a message not yet cut out counts as pending');
    const all = await take(b, 1001);
    t.is(all.length, 1000, 'then EOF');
    t.deepEqual(
      all.map((m) => Number(m.data.toString())),
      Array.from({ length: 1000 }, (_, i) => i),
    );
    t.is(all[999]!.fds.length, 1);
    closeAll(all[999]!.fds);
    t.true(b.readableEnded);
    await assertProbeClosed(t, p);
  }),
);

test(
  'framed: destroying a socket with reads waiting in its backlog closes their fds',
  leakFree(async (t, { track }) => {
    const [raw, b] = rawPeer({ framed: true, readableHighWaterMark: 2 });
    track(b);
    const p = probe();
    const frames = Array.from({ length: 50 }, () => Buffer.concat([header(1), Buffer.from('x')]));
    lowlevel.sendmsg(raw, [Buffer.concat(frames)], [lowlevel.rights([p.fd])]);
    lowlevel.close(p.fd);
    await waitFor(() => b.readableLength >= 2);
    t.is(b.pendingFds, 1);
    b.destroy();
    lowlevel.close(raw);
    await assertProbeClosed(t, p);
  }),
);

test(
  'framed: a frameLength that destroys the socket while a read is being cut leaves no fd behind',
  leakFree(async (t, { track }) => {
    let calls = 0;
    const [raw, theirs] = lowlevel.socketpair('stream');
    const b: UnixMessageSocket = UnixMessageSocket.fromFd(theirs, {
      framed: {
        headerSize: 4,
        frameLength: (h: Buffer) => {
          calls++;
          b.destroy();
          return le32(h);
        },
      },
    });
    track(b);
    const p = probe();
    lowlevel.sendmsg(raw, [frame('one'), frame('two')], [lowlevel.rights([p.fd])]);
    lowlevel.close(p.fd);
    b.resume();
    await waitFor(() => b.closed);
    t.is(calls, 1);
    lowlevel.close(raw);
    await assertProbeClosed(t, p);
  }),
);

test(
  'framed: an incomplete message holding a full fd budget does not stall reading: the rest of it is still read',
  leakFree(async (t, { track }) => {
    const [raw, b] = rawPeer({ framed: true, maxPendingFds: 1 });
    track(b);
    const p = probe();
    const fds = Array.from({ length: 253 }, () => lowlevel.dup(p.fd));
    lowlevel.sendmsg(raw, [header(100), Buffer.alloc(10)], [lowlevel.rights(fds)]);
    closeAll(fds);
    const got = take(b, 2);
    await waitFor(() => b.pendingFds === 253);
    lowlevel.sendmsg(raw, [Buffer.alloc(90)]);
    lowlevel.sendmsg(raw, [header(1), Buffer.from('z')], [lowlevel.rights([p.fd])]);
    lowlevel.close(p.fd);
    const [m1, m2] = await got;
    t.is(m1!.data.length, 100);
    t.is(m1!.fds.length, 253);
    t.is(m2!.fds.length, 1);
    closeAll([...m1!.fds, ...m2!.fds]);
    lowlevel.close(raw);
    await assertProbeClosed(t, p);
  }),
);

test("framed: a 'data' listener that throws is an uncaught exception; the socket is destroyed and every fd it held is closed", (t) => {
  const r = spawnSync(process.execPath, ['test/fixtures/throwing-framed-listener.js'], { cwd: process.cwd(), timeout: 20_000, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim()) as { message: string; destroyed: boolean; delta: number };
  t.is(out.message, 'listener failed on m0');
  t.true(out.destroyed, 'the stream cannot be cut into messages after the throw');
  t.is(out.delta, -2, 'both sockets closed, and no received fd left open');
});

test(
  'framed: headers announcing 16 MiB followed by one byte do not make the receiver reserve 16 MiB each',
  leakFree(async (t, { track }) => {
    const raws: number[] = [];
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 8; i++) {
      const [raw, b] = rawPeer({ framed: true });
      track(b);
      raws.push(raw);
      const p = probe();
      lowlevel.sendmsg(raw, [header(16 * 1024 * 1024), Buffer.from('x')], [lowlevel.rights([p.fd])]);
      lowlevel.close(p.fd);
      p.dispose();
      await waitFor(() => b.pendingFds === 1);
    }
    const grown = process.memoryUsage().arrayBuffers - before;
    t.true(grown < 16 * 1024 * 1024, `ArrayBuffer memory grew by ${(grown / 1048576).toFixed(1)} MiB for 8 peers that sent 5 bytes each`);
    closeAll(raws);
  }),
);

test(
  'framed: true: a write of IOV_MAX buffers arrives whole (the header does not make it one buffer too many)',
  leakFree(async (t, { track }) => {
    const [a, b] = track(...socketPair('stream', { framed: true }));
    const parts = Array.from({ length: constants.IOV_MAX }, (_, i) => Buffer.from([i & 0xff]));
    let result: Error | null | undefined;
    a.write({ data: parts }, (err) => (result = err));
    const [m] = await take(b, 1);
    t.is(result ?? null, null);
    t.true(m!.data.equals(Buffer.concat(parts)));
  }),
);

test(
  'framed: true: an empty message with fds written after destroy() fails with ERR_STREAM_DESTROYED, as any write then',
  leakFree(async (t, { track }) => {
    const [a] = track(...socketPair('stream', { framed: true }));
    a.destroy();
    await once(a, 'close');
    const file = fileWithContent('x');
    const err = await new Promise<Error | null | undefined>((resolve) => a.write({ data: Buffer.alloc(0), fds: [file] }, resolve));
    t.is((err as { code?: string } | null | undefined)?.code, 'ERR_STREAM_DESTROYED');
    lowlevel.close(file);
  }),
);

test(
  'framed: a write whose buffer is detached after part of its frame was sent ends the socket with ERR_INVALID_STATE',
  leakFree(async (t, { track }) => {
    const [raw, a] = rawPeer({ framed: true });
    track(a);
    a.setOption(constants.SOL_SOCKET, constants.SO_SNDBUF, 4096);
    const errors: Error[] = [];
    a.on('error', (err: Error) => errors.push(err));
    const buffer = new ArrayBuffer(1 << 20);
    let first: Error | null | undefined;
    // With a callback the error is the write's alone, unless the socket ends.
    a.write(new Uint8Array(buffer), (err) => (first = err));
    // Part of the frame is in the kernel (the peer could read it), the rest waits for room.
    const peek = (): boolean => {
      try {
        return lowlevel.recvmsg(raw, { maxSize: 1, cmsgSize: 0, flags: lowlevel.constants.MSG_PEEK }).data.length > 0;
      } catch {
        return false;
      }
    };
    t.true(await waitFor(peek));
    await new Promise((r) => setImmediate(r));
    structuredClone(buffer, { transfer: [buffer] });
    a.write('next');
    // The receiver drains the kernel; the sender then finds the rest detached.
    const drain = setInterval(() => {
      try {
        lowlevel.recvmsg(raw, { maxSize: 65536, cmsgSize: 0 });
      } catch {
        // EAGAIN
      }
    }, 1);
    await waitFor(() => a.destroyed);
    clearInterval(drain);
    t.true(a.destroyed, 'the frame cannot be finished: the socket ends');
    t.is((first as { code?: string } | null | undefined)?.code, 'ERR_INVALID_STATE');
    t.is((errors[0] as { code?: string } | undefined)?.code, 'ERR_INVALID_STATE');
    lowlevel.close(raw);
  }),
);
