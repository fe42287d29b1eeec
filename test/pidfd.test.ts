// pidfd identity (Linux 6.5+): peerPidfd() (SO_PEERPIDFD) and the passPidfd
// option (SO_PASSPIDFD, each received message's SCM_PIDFD as `pidfd`). A
// pidfd's /proc/self/fdinfo `Pid:` line names the process it refers to, so
// the senders here are child processes, whose pid differs from ours. A
// received pidfd is owned like a received fd: delivered, it is the
// receiver's; undelivered, the library closes it; unread, it counts
// against maxPendingFds.
import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { constants, native } from '../src/native/binding';
import { createServer, createSocket, connect, lowlevel, socketPair, UnixMessageSocket, fdsOf, type SocketType, type UnixMessage } from '../src/index';
import { closeAll, closeServer, destroyAll, delay, inodeOf, leakFree, listen, runFixture, take, tmpPath, waitFor } from './helpers';

const TYPES: SocketType[] = ['seqpacket', 'stream', 'dgram'];

const fdinfo = (fd: number): string => fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');

/** The pid a pidfd refers to (its fdinfo `Pid:` line). */
function pidOf(fd: number): number {
  const m = /^Pid:\s+(-?\d+)$/m.exec(fdinfo(fd));
  if (m === null) throw new Error(`fd ${fd} is not a pidfd`);
  return Number(m[1]);
}

/** The fd's open flags (fdinfo `flags:`, octal). */
const flagsOf = (fd: number): number => parseInt(/^flags:\s+([0-7]+)$/m.exec(fdinfo(fd))![1]!, 8);
const O_CLOEXEC = 0o2000000;

// A python3 child with a socket at fd 3 (argv[1]: its type): it sends
// "from <pid>" twice, the second time with an fd (/dev/null), then waits for
// EOF, so that it is alive while its pidfds are checked.
const SENDER = `
import os, socket, sys
kind = {'stream': socket.SOCK_STREAM, 'seqpacket': socket.SOCK_SEQPACKET, 'dgram': socket.SOCK_DGRAM}[sys.argv[1]]
s = socket.socket(socket.AF_UNIX, kind, 0, 3)
s.setblocking(True)
s.send(b'from %d' % os.getpid())
n = os.open('/dev/null', os.O_RDONLY)
socket.send_fds(s, [b'with fd'], [n])
os.close(n)
print('sent', flush=True)
if kind == socket.SOCK_DGRAM:
    sys.stdin.read()
else:
    while s.recv(16): pass
`;

interface Child {
  process: ChildProcess;
  pid: number;
  exited: Promise<unknown>;
}

function child(type: SocketType, theirs: number): Child {
  const c = spawn('python3', ['-c', SENDER, type], { stdio: ['pipe', 'pipe', 'inherit', theirs] });
  lowlevel.close(theirs);
  return { process: c, pid: c.pid ?? -1, exited: once(c, 'close') };
}

// A python3 child that connects to argv[1] (seqpacket), says "connected"
// and waits for EOF: its connection's SO_PEERPIDFD names it.
const CONNECTOR = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
print('connected', flush=True)
while s.recv(16): pass
`;

async function until(c: Child, line: string): Promise<void> {
  const [chunk] = (await once(c.process.stdout!, 'data')) as [Buffer];
  if (chunk.toString().trim() !== line) throw new Error(`child said ${chunk.toString()}`);
}

async function ended(c: Child): Promise<void> {
  c.process.stdin!.end();
  await c.exited;
}

test(
  'peerPidfd(): a new close-on-exec pidfd for the peer process, which the caller owns',
  leakFree(async (t, { track }) => {
    const server = createServer({ type: 'seqpacket' });
    const where = tmpPath('pidfd-peer');
    await listen(server, where);
    const accepted = once(server, 'connection') as Promise<[UnixMessageSocket]>;
    const py = spawn('python3', ['-c', CONNECTOR, where], { stdio: ['ignore', 'pipe', 'inherit'] });
    const c: Child = { process: py, pid: py.pid!, exited: once(py, 'close') };
    await until(c, 'connected');
    const [s] = track((await accepted)[0]);
    const pidfd = s.peerPidfd();
    try {
      t.is(pidOf(pidfd), c.pid, "the pidfd's Pid: line is the child's pid");
      t.not(pidOf(pidfd), process.pid);
      t.true((flagsOf(pidfd) & O_CLOEXEC) !== 0, 'O_CLOEXEC');
      t.regex(fs.readlinkSync(`/proc/self/fd/${pidfd}`), /pidfd/);
      const again = s.peerPidfd();
      t.not(again, pidfd, 'each call makes a new fd');
      lowlevel.close(again);
    } finally {
      lowlevel.close(pidfd); // the caller's to close: the library holds no copy
    }
    s.destroy();
    await c.exited;
    await closeServer(server);
  }),
);

test(
  'peerPidfd() on an accepted connection and its client names this process; errors are typed',
  leakFree(async (t, { track }) => {
    const server = createServer({ type: 'seqpacket' });
    const where = tmpPath('pidfd');
    await listen(server, where);
    const accepted = once(server, 'connection') as Promise<[UnixMessageSocket]>;
    const [client] = track(connect({ path: where, type: 'seqpacket' }));
    const [conn] = await accepted;
    track(conn);
    for (const s of [client, conn]) {
      const p = s.peerPidfd();
      t.is(pidOf(p), process.pid);
      lowlevel.close(p);
    }
    const [dgram, other] = track(...socketPair('dgram'));
    dgram.destroy();
    other.destroy();
    t.throws(() => dgram.peerPidfd(), { code: 'ERR_STREAM_DESTROYED' });
    const [lone] = track(createSocket({ type: 'dgram' }));
    const err = t.throws(() => lone.peerPidfd(), { code: 'ENODATA' });
    t.is((err as NodeJS.ErrnoException).syscall, 'getsockopt');
    await destroyAll(client, conn);
    await closeServer(server);
  }),
);

for (const type of TYPES) {
  test(
    `${type}: passPidfd gives each received message a pidfd for its sender, apart from its fds`,
    leakFree(async (t, { track }) => {
      const [mine, theirs] = lowlevel.socketpair(type);
      const [s] = track(UnixMessageSocket.fromFd(mine, { passPidfd: true })); // takes mine over
      t.is(s.getOption(constants.SOL_SOCKET, constants.SO_PASSPIDFD), 1);
      const c = child(type, theirs);
      await until(c, 'sent');
      const got: UnixMessage[] = [];
      while (!got.some((m) => m.fds.length > 0)) got.push(...(await take(s, 1)));
      const bytes = Buffer.concat(got.map((m) => m.data)).toString();
      t.true(bytes.startsWith(`from ${c.pid}`), bytes);
      for (const m of got) {
        t.is(typeof m.pidfd, 'number');
        t.is(pidOf(m.pidfd!), c.pid, "the pidfd's Pid: line is the sender's pid");
        t.true((flagsOf(m.pidfd!) & O_CLOEXEC) !== 0, 'O_CLOEXEC');
        t.false(m.fds.includes(m.pidfd!));
      }
      const withFd = got.find((m) => m.fds.length > 0)!;
      t.is(withFd.fds.length, 1);
      const devNull = fs.openSync('/dev/null', 'r');
      t.is(inodeOf(withFd.fds[0]!), inodeOf(devNull));
      fs.closeSync(devNull);
      t.is(s.pendingFds, 0);
      // Delivered: the receiver's to close.
      for (const m of got) closeAll([...m.fds, m.pidfd!]);
      s.destroy();
      await ended(c);
    }),
  );
}

test(
  'passPidfd: messages of this process carry a pidfd naming it; without passPidfd none',
  leakFree(async (t, { track }) => {
    const [a, b] = track(...socketPair('seqpacket', { passPidfd: true }));
    b.write('x');
    const [m] = await take(a, 1);
    t.is(pidOf(m!.pidfd!), process.pid);
    lowlevel.close(m!.pidfd!);
    const [c, d] = track(...socketPair('seqpacket'));
    d.write('y');
    const [n] = await take(c, 1);
    t.is(n!.pidfd, undefined);
    t.false('pidfd' in n!);
  }),
);

test(
  'passPidfd on a server: set on the listening socket (the kernel copies SO_PASSPIDFD into each connection), so messages sent before accept carry the pidfd too',
  leakFree(async (t, { track }) => {
    const server = createServer({ type: 'seqpacket', passPidfd: true });
    const where = tmpPath('pidfd-srv');
    await listen(server, where);
    const [client] = track(connect({ path: where, type: 'seqpacket' }));
    client.write('early');
    const [conn] = (await once(server, 'connection')) as [UnixMessageSocket];
    track(conn);
    t.is(conn.getOption(constants.SOL_SOCKET, constants.SO_PASSPIDFD), 1);
    const [m] = await take(conn, 1);
    t.is(m!.data.toString(), 'early');
    t.is(pidOf(m!.pidfd!), process.pid);
    lowlevel.close(m!.pidfd!);
    await destroyAll(client, conn);
    await closeServer(server);
  }),
);

test(
  'undelivered pidfds are closed: destroy() with unread messages, and messages dropped while flowing with no listener',
  leakFree(async (t, { track }) => {
    const [a, b] = track(...socketPair('seqpacket', { passPidfd: true }));
    for (let i = 0; i < 5; i++) b.write({ data: `m${i}`, fds: [0] });
    t.true(await waitFor(() => a.pendingFds === 10), 'five fds and five pidfds are pending');
    a.destroy();
    const [c, d] = track(...socketPair('dgram', { passPidfd: true }));
    c.resume(); // flowing, no 'data' listener: Readable drops what arrives
    for (let i = 0; i < 5; i++) d.write({ data: `m${i}`, fds: [1] });
    await delay(50);
    t.is(c.pendingFds, 0);
  }),
);

test(
  'a pidfd counts against maxPendingFds like one more fd, also for a socket that refuses fds',
  leakFree(async (t, { track }) => {
    const [a, b] = track(...socketPair('seqpacket', { passPidfd: true, maxPendingFds: 4, maxFdsPerMessage: 1, readableHighWaterMark: 1000 }));
    for (let i = 0; i < 10; i++) b.write({ data: `m${i}`, fds: [0] });
    await delay(50);
    t.true(a.pendingFds > 0);
    t.true(a.pendingFds <= 4, `pendingFds ${a.pendingFds} stays within max(maxPendingFds, 1 + 1)`);
    t.is(a.pendingFds % 2, 0, 'each message holds its fd and its pidfd');
    const all = await take(a, 10);
    t.deepEqual(
      all.map((m) => [m.data.toString(), m.fds.length, pidOf(m.pidfd!)]),
      Array.from({ length: 10 }, (_, i) => [`m${i}`, 1, process.pid]),
    );
    for (const m of all) closeAll([...m.fds, m.pidfd!]);

    const [c, d] = track(...socketPair('seqpacket', { passPidfd: true, acceptFds: false, maxPendingFds: 2, readableHighWaterMark: 1000 }));
    for (let i = 0; i < 6; i++) d.write(`n${i}`);
    await delay(50);
    t.true(c.pendingFds > 0 && c.pendingFds <= 2, `pendingFds ${c.pendingFds}`);
    const refused = await take(c, 6);
    t.deepEqual(
      refused.map((m) => [m.data.toString(), m.fds.length, pidOf(m.pidfd!)]),
      Array.from({ length: 6 }, (_, i) => [`n${i}`, 0, process.pid]),
    );
    for (const m of refused) lowlevel.close(m.pidfd!);
  }),
);

test(
  'more fds than maxFdsPerMessage with passPidfd: the extra fds are closed, the message arrives fdsTruncated',
  leakFree(async (t, { track }) => {
    const [a, b] = track(...socketPair('seqpacket', { passPidfd: true, maxFdsPerMessage: 2 }));
    b.write({ data: 'many', fds: [0, 1, 2, 0, 1, 2] });
    b.write({ data: 'two', fds: [0, 1] });
    const [many, two] = await take(a, 2);
    t.is(many!.fds.length, 2);
    t.true(many!.fdsTruncated);
    t.is(two!.fds.length, 2);
    t.false(two!.fdsTruncated);
    t.is(pidOf(two!.pidfd!), process.pid);
    for (const m of [many!, two!]) closeAll(m.pidfd === undefined ? m.fds : [...m.fds, m.pidfd]);
  }),
);

test(
  'setOption(SO_PASSPIDFD) turns pidfds on and off on an open socket',
  leakFree(async (t, { track }) => {
    const [a, b] = track(...socketPair('seqpacket'));
    a.setOption(constants.SOL_SOCKET, constants.SO_PASSPIDFD, 1);
    b.write('on');
    const [on] = await take(a, 1);
    t.is(pidOf(on!.pidfd!), process.pid);
    t.false(on!.fdsTruncated);
    lowlevel.close(on!.pidfd!);
    a.setOption(constants.SOL_SOCKET, constants.SO_PASSPIDFD, 0);
    b.write('off');
    const [off] = await take(a, 1);
    t.is(off!.pidfd, undefined);
  }),
);

for (const type of ['seqpacket', 'dgram'] as const) {
  test(`${type}: under ulimit -n 40, messages of 7 fds to a passPidfd reader with maxFdsPerMessage 1 each bring their 1 fd (the pidfd's room filled with fds is counted per recvmmsg slot)`, (t) => {
    const r = spawnSync('sh', ['-c', 'ulimit -n 40 && exec "$0" test/fixtures/pidfd-extra-fds-child.js "$1"', process.execPath, type], {
      cwd: path.join(__dirname, '..'),
      encoding: 'utf8',
      timeout: 20_000,
    });
    t.is(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { messages: number; fds: number };
    t.deepEqual(report, { messages: 100, fds: 100 });
  });
}

test('passPidfd must be a boolean (ERR_INVALID_ARG_TYPE, before anything is made)', (t) => {
  for (const bad of ['yes', 1, null]) {
    t.throws(() => socketPair('seqpacket', { passPidfd: bad as unknown as boolean }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' });
  }
});

test(
  "low-level recvmsg: an SCM_PIDFD item, whose fd is the receiver's (fdsOf lists SCM_RIGHTS fds only)",
  leakFree((t) => {
    const [x, y] = lowlevel.socketpair('seqpacket');
    try {
      t.is(native.setsockopt(y, constants.SOL_SOCKET, constants.SO_PASSPIDFD, 1), 0);
      lowlevel.sendmsg(x, Buffer.from('p'));
      const r = lowlevel.recvmsg(y);
      const item = r.ancillary.find(([level, type]) => level === constants.SOL_SOCKET && type === constants.SCM_PIDFD);
      t.truthy(item);
      const pidfd = item![2].readInt32LE(0);
      t.deepEqual(fdsOf(r.ancillary), []);
      t.is(pidOf(pidfd), process.pid);
      lowlevel.close(pidfd);
    } finally {
      closeAll([x, y]);
    }
  }),
);

test('worker.terminate() with pidfds unread, in flight and delivered-to-JS leaves no fd behind', (t) => {
  const run = runFixture<{ leftOpen: string[]; pending: number; exitCode: number; handedOk: boolean }>('pidfd-terminate.js', []);
  t.is(run.status, 0, run.stderr);
  t.truthy(run.report, run.stderr);
  t.is(run.report!.exitCode, 1, 'terminated');
  t.is(run.report!.pending, 8, 'four fds and four pidfds were pending in the worker');
  t.true(run.report!.handedOk, 'the pidfd delivered and handed to the main thread is left to it');
  t.deepEqual(run.report!.leftOpen, [], 'every pidfd the worker held undelivered was closed');
});
