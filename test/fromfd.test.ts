// UnixMessageSocket.fromFd(): adopting raw fds, type detection, and refusal of
// anything that is not an AF_UNIX socket (without closing the caller's fd).
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import { lowlevel, UnixMessageSocket, type CodedError, type ErrnoError, type SocketType } from '../src/index';
import { contentOf, fdsFromPython, fileWithContent, isOpen, leakFree, runFixture, settled, take, tmpPath } from './helpers';

const adoptPair = test.macro({
  exec: leakFree(async (t, _check, type: SocketType) => {
    const [fa, fb] = lowlevel.socketpair(type);
    // The socket polls a duplicate of its own and closes the fd it was given
    // (checked before the next fd can reuse the number).
    const a = UnixMessageSocket.fromFd(fa);
    t.false(isOpen(fa), 'fromFd() closed the fd it took over');
    const b = UnixMessageSocket.fromFd(fb);
    t.false(isOpen(fb));
    t.is(a.type, type, 'the type is read from SO_TYPE');
    t.is(b.type, type);
    t.true(a.fd >= 0 && b.fd >= 0 && a.fd !== b.fd);

    const file = fileWithContent(`payload for ${type}`);
    a.write({ data: `hello ${type}`, fds: [file] });
    fs.closeSync(file);
    const [m] = await take(b, 1);
    t.is(m?.data.toString(), `hello ${type}`);
    t.is(m?.fds.length, 1);
    t.is(contentOf(m!.fds[0]!), `payload for ${type}`);
    for (const fd of m!.fds) fs.closeSync(fd);

    b.write(`reply ${type}`);
    const [r] = await take(a, 1);
    t.is(r?.data.toString(), `reply ${type}`);

    const ca = settled(a);
    const cb = settled(b);
    const [ownA, ownB] = [a.fd, b.fd];
    a.destroy();
    b.destroy();
    await Promise.all([ca, cb]);
    t.false(isOpen(ownA), "destroy() closes the socket's fd");
    t.false(isOpen(ownB));
  }),
  title: (_provided, type: SocketType) => `fromFd() adopts a raw ${type} socketpair fd, detects its type and carries messages both ways`,
});

test(adoptPair, 'stream');
test(adoptPair, 'seqpacket');
test(adoptPair, 'dgram');

test(
  'fromFd() of a TCP socket fd throws ERR_INVALID_FD_TYPE and leaves the fd open for the caller',
  leakFree(async (t) => {
    const server = net.createServer((s) => s.destroy());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP port');
    // A connected TCP socket made by a child and passed to us with SCM_RIGHTS.
    const fds = await fdsFromPython(
      [
        'import socket, sys',
        't = socket.create_connection(("127.0.0.1", int(sys.argv[1])))',
        'c = socket.socket(fileno=3)',
        'socket.send_fds(c, [b"x"], [t.fileno()])',
      ].join('\n'),
      [String(address.port)],
    );
    t.is(fds.length, 1);
    const tcp = fds[0]!;
    const err = t.throws(() => UnixMessageSocket.fromFd(tcp), { instanceOf: TypeError }) as CodedError;
    t.is(err.code, 'ERR_INVALID_FD_TYPE');
    t.regex(err.message, /not an AF_UNIX socket/);
    t.true(err.message.includes(`fd ${tcp}`), `the message names the fd: ${err.message}`);
    t.true(isOpen(tcp), 'the fd still belongs to the caller');
    lowlevel.close(tcp);
    server.close();
    await once(server, 'close');
  }),
);

test(
  'fromFd() of a UDP socket fd throws ERR_INVALID_FD_TYPE',
  leakFree(async (t) => {
    const [udp] = await fdsFromPython(
      ['import socket', 'u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)', 'c = socket.socket(fileno=3)', 'socket.send_fds(c, [b"x"], [u.fileno()])'].join(
        '\n',
      ),
    );
    const err = t.throws(() => UnixMessageSocket.fromFd(udp!), { instanceOf: TypeError }) as CodedError;
    t.is(err.code, 'ERR_INVALID_FD_TYPE');
    t.true(isOpen(udp!));
    lowlevel.close(udp!);
  }),
);

test(
  'fromFd() of a listening AF_UNIX socket throws ERR_INVALID_FD_TYPE pointing to createServer().listen({ fd })',
  leakFree(async (t) => {
    const p = tmpPath('listening.sock');
    try {
      const [listener] = await fdsFromPython(
        [
          'import socket, sys',
          's = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)',
          's.bind(sys.argv[1])',
          's.listen(1)',
          'c = socket.socket(fileno=3)',
          'socket.send_fds(c, [b"x"], [s.fileno()])',
        ].join('\n'),
        [p],
      );
      const err = t.throws(() => UnixMessageSocket.fromFd(listener!), { instanceOf: TypeError }) as CodedError;
      t.is(err.code, 'ERR_INVALID_FD_TYPE');
      t.regex(err.message, /listening/);
      t.true(isOpen(listener!));
      lowlevel.close(listener!);
    } finally {
      fs.rmSync(p, { force: true });
    }
  }),
);

test(
  'fromFd() of a regular file fd throws ERR_INVALID_FD_TYPE saying it is not a socket',
  leakFree(async (t) => {
    const fd = fileWithContent('plain file');
    const err = t.throws(() => UnixMessageSocket.fromFd(fd), { instanceOf: TypeError }) as CodedError;
    t.is(err.code, 'ERR_INVALID_FD_TYPE');
    t.regex(err.message, /not a socket/);
    t.is(contentOf(fd), 'plain file', 'the file fd is untouched and still open');
    fs.closeSync(fd);
  }),
);

test(
  'fromFd() of a pipe fd throws ERR_INVALID_FD_TYPE',
  leakFree(async (t) => {
    // /proc/self/fd of a pipe: spawn gives us pipe fds we do not own as numbers,
    // so use a FIFO opened non-blocking instead.
    const p = tmpPath('fifo');
    const mk = spawn('mkfifo', [p]);
    await once(mk, 'exit');
    const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const err = t.throws(() => UnixMessageSocket.fromFd(fd), { instanceOf: TypeError }) as CodedError;
      t.is(err.code, 'ERR_INVALID_FD_TYPE');
      t.true(isOpen(fd));
    } finally {
      fs.closeSync(fd);
      fs.rmSync(p, { force: true });
    }
  }),
);

test(
  'fromFd() with an invalid fd argument throws TypeError or RangeError with an ERR_* code and opens nothing',
  leakFree(
    (t) => {
      const cases: Array<[unknown, typeof TypeError | typeof RangeError, CodedError['code']]> = [
        [-1, RangeError, 'ERR_OUT_OF_RANGE'],
        [1.5, RangeError, 'ERR_OUT_OF_RANGE'],
        [Number.NaN, RangeError, 'ERR_OUT_OF_RANGE'],
        [2 ** 31, RangeError, 'ERR_OUT_OF_RANGE'],
        ['3', TypeError, 'ERR_INVALID_ARG_TYPE'],
        [null, TypeError, 'ERR_INVALID_ARG_TYPE'],
        [undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
      ];
      for (const [fd, Class, code] of cases) {
        const err = t.throws(() => UnixMessageSocket.fromFd(fd as number), { instanceOf: Class }, `fd ${String(fd)}`) as CodedError;
        t.is(err.code, code, `fd ${String(fd)}`);
      }
    },
    { wait: false },
  ),
);

test(
  'fromFd() of a closed fd number throws an EBADF errno error',
  leakFree(
    (t) => {
      const [a, b] = lowlevel.socketpair('seqpacket');
      lowlevel.close(a);
      lowlevel.close(b);
      const err = t.throws(() => UnixMessageSocket.fromFd(a)) as ErrnoError;
      t.is(err.code, 'EBADF');
      t.true(err.errno < 0);
    },
    { wait: false },
  ),
);

test(
  'fromFd() passes socket options through to the adopted socket',
  leakFree(async (t) => {
    const [fa, fb] = lowlevel.socketpair('seqpacket');
    const a = UnixMessageSocket.fromFd(fa, { maxMessageSize: 4 });
    const b = UnixMessageSocket.fromFd(fb);
    b.write('0123456789');
    const [m] = await take(a, 1);
    t.is(m?.data.toString(), '0123', 'maxMessageSize applies');
    t.true(m?.truncated);
    a.destroy();
    b.destroy();
    await Promise.all([settled(a), settled(b)]);
  }),
);

// A socket's own fd is the socket's: the library refuses to close or adopt
// it, whoever asks. Closing it in the tick the socket started to read (before
// the loop registered the poll) would make libuv abort the process, so each
// case runs in a child (test/fixtures/close-polled-fd.js).
for (const [which, expected] of [
  ['lowlevel.close', 'EBUSY'],
  ['fromFd', 'ERR_INVALID_ARG_VALUE'],
  ['listen', 'ERR_INVALID_ARG_VALUE'],
  ['sendTo closeFds', 'sent'],
] as const) {
  test(`${which} of a socket's own fd is refused in the tick it starts reading: no abort, and the socket goes on working`, (t) => {
    const run = runFixture<{ result?: string; echo?: string; error?: string }>('close-polled-fd.js', [which]);
    t.is(run.signal, null, run.stderr);
    t.is(run.status, 0, run.stderr);
    t.like(run.report, { result: expected, echo: 'still works' });
  });
}
