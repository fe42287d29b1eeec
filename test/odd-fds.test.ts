// fds of odd kinds from a hostile peer, through every socket type: an epoll
// instance, a memfd, an eventfd, a pidfd, a listening Unix socket, a
// listening and a connected TCP socket, a socket that itself has fds in
// flight, and sockets sent over themselves. Each must arrive as the same
// open file it was sent as (/proc/self/fd and /proc/self/fdinfo agree with
// the original), and nothing may be left open afterwards. A socket whose own
// end sits unread in its own queue is a reference cycle that only the
// kernel's garbage collector frees (unix_gc): the library must not keep it
// alive either.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import { fdsOf, lowlevel, socketPair, type SocketType } from '../src/index';
import { assertProbeClosed, closeAll, contentOf, delay, fdsFromPython, fileWithContent, inodeOf, leakFree, probe, settled, take, waitFor } from './helpers';

const KINDS = ['epoll', 'memfd', 'eventfd', 'pidfd', 'unix listener', 'tcp listener', 'tcp connected'] as const;

// Creates one fd of each kind of KINDS, in that order, and sends them all to
// fd 3. The pidfd is of the process given as argv[1].
const MAKE_ODD_FDS = `
import os, select, socket, sys
e = select.epoll()
m = os.memfd_create('odd-memfd')
os.write(m, b'memfd-content')
ev = os.eventfd(7)
e.register(ev, select.EPOLLIN)
p = os.pidfd_open(int(sys.argv[1]))
ul = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
ul.bind(b'\\0ums-odd-fds-%d' % os.getpid())
ul.listen()
tl = socket.socket()
tl.bind(('127.0.0.1', 0))
tl.listen()
tc = socket.create_connection(tl.getsockname())
out = socket.socket(fileno=3)
socket.send_fds(out, [b'odd'], [e.fileno(), m, ev, p, ul.fileno(), tl.fileno(), tc.fileno()])
`;

const readlink = (fd: number): string => fs.readlinkSync(`/proc/self/fd/${fd}`);

// fdinfo without the line that belongs to the fd rather than to the open
// file (flags carries the fd's close-on-exec bit).
const fdinfo = (fd: number): string =>
  fs
    .readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith('flags:'))
    .join('\n');

/** The line of /proc/net/<table> for a socket inode, split into fields. */
function netEntry(table: 'unix' | 'tcp', fd: number): string[] | undefined {
  const inode = /^socket:\[(\d+)\]$/.exec(readlink(fd))?.[1];
  const column = table === 'unix' ? 6 : 9;
  return fs
    .readFileSync(`/proc/net/${table}`, 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .find((f) => f[column] === inode);
}

/** Asserts that `got` is the same open file as `sent`, as /proc describes both. */
function assertSame(t: ExecutionContext, label: string, got: number, sent: number): void {
  t.not(got, sent, `${label}: a new fd`);
  t.is(readlink(got), readlink(sent), `${label}: the same file`);
  t.is(fdinfo(got), fdinfo(sent), `${label}: the same open file (fdinfo)`);
}

for (const type of ['seqpacket', 'stream', 'dgram'] as const satisfies readonly SocketType[]) {
  test(
    `${type}: fds of odd kinds (epoll, memfd, eventfd, pidfd, listening and TCP sockets, a socket with fds in flight, both ends of the socket itself) arrive as what they were sent as, and nothing is left open`,
    leakFree(async (t) => {
      const odd = await fdsFromPython(MAKE_ODD_FDS, [String(process.pid)]);
      t.is(odd.length, KINDS.length, 'python sent one fd of each kind');
      // A socket with an fd in flight: the probe waits in its queue.
      const p = probe();
      const [x, y] = lowlevel.socketpair('stream');
      lowlevel.sendmsg(x, Buffer.from('in flight'), [lowlevel.rights([p.fd])]);
      const probeInode = inodeOf(p.fd);
      fs.closeSync(p.fd);
      const [a, b] = socketPair(type);
      const sent = [...odd, y, a.fd, b.fd];
      a.write({ data: 'odd', fds: sent });
      const [m] = await take(b, 1);
      t.is(m!.data.toString(), 'odd');
      t.false(m!.fdsTruncated);
      t.is(m!.fds.length, sent.length, 'every fd arrived');
      const got = m!.fds;
      const labels = [...KINDS, 'socket with an fd in flight', "the sender's own end", "the receiver's own end"];
      got.forEach((fd, i) => assertSame(t, labels[i]!, fd, sent[i]!));

      const [epoll, memfd, eventfd, pidfd, unixListener, tcpListener, tcpConnected, inflight, own, self] = got as [
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
      ];
      t.is(readlink(epoll), 'anon_inode:[eventpoll]');
      t.regex(fdinfo(epoll), /^tfd:/m, 'the epoll instance still watches its eventfd');
      t.regex(readlink(memfd), /^\/memfd:odd-memfd/);
      t.is(contentOf(memfd), 'memfd-content', "the memfd's content is intact");
      t.is(readlink(eventfd), 'anon_inode:[eventfd]');
      t.regex(fdinfo(eventfd), /^eventfd-count:\s+7$/m, "the eventfd's counter is intact");
      t.regex(readlink(pidfd), /pidfd/);
      t.regex(fdinfo(pidfd), new RegExp(`^Pid:\\s+${process.pid}$`, 'm'), 'the pidfd refers to this process');
      t.is(netEntry('unix', unixListener)?.[3], '00010000', 'the Unix socket is listening (__SO_ACCEPTCON)');
      t.is(netEntry('tcp', tcpListener)?.[3], '0A', 'the TCP socket is listening');
      t.is(netEntry('tcp', tcpConnected)?.[3], '01', 'the TCP socket is connected');
      t.regex(fdinfo(inflight), /^scm_fds:\s+1$/m, 'the socket still has its fd in flight');
      const inner = lowlevel.recvmsg(inflight);
      const [probeCopy] = fdsOf(inner.ancillary);
      t.is(inner.data.toString(), 'in flight');
      t.is(inodeOf(probeCopy!), probeInode, 'the fd in flight arrives through the passed socket');
      t.is(inodeOf(own), inodeOf(a.fd), "the sender's own end");
      t.is(inodeOf(self), inodeOf(b.fd), "the receiver's own end");

      closeAll([...got, probeCopy!, ...odd]);
      lowlevel.close(x);
      lowlevel.close(y);
      a.destroy();
      b.destroy();
      await Promise.all([settled(a), settled(b)]);
      await assertProbeClosed(t, p);
    }),
  );

  test(
    `${type}: a socket whose own end is sent to it and left unread when it is destroyed is freed by the kernel's garbage collector, with the fds in flight beside it`,
    leakFree(async (t) => {
      // A budget of one message: once b holds 253 unclaimed fds it reads no
      // more, so the next message stays in its queue.
      const [a, b] = socketPair(type, { maxPendingFds: 253 });
      b.read(0); // reads into its buffer without a consumer (an unnamed dgram end waits to be asked)
      const file = fileWithContent('fill');
      a.write({ data: 'fill', fds: new Array<number>(253).fill(file) });
      fs.closeSync(file);
      await waitFor(() => b.pendingFds >= 253);
      t.is(b.pendingFds, 253, 'b holds one message of fds and reads no more');
      const p = probe();
      a.write({ data: 'self', fds: [b.fd, p.fd] });
      fs.closeSync(p.fd);
      await delay(20); // a negative check: no event marks a message that is not read
      t.false(p.isClosed(), "the probe sits in flight in b's queue, beside b itself");
      t.is(b.pendingFds, 253, 'b did not read it');
      // b's queue now holds b's own socket: destroying b drops its last fd
      // but not its last reference (a cycle), so b is never released. The
      // kernel collects such cycles when another Unix socket is released while
      // fds are in flight (unix_release_sock calls unix_gc, which runs in a
      // workqueue): a is destroyed after b for that. A run that started before
      // the cycle was complete misses it, so release throwaway sockets until
      // one catches it. None of this frees b while anything holds an fd to it.
      b.destroy();
      a.destroy();
      await Promise.all([settled(a), settled(b)]);
      for (let i = 0; i < 100 && !p.isClosed(); i++) {
        const [x, y] = lowlevel.socketpair('stream');
        lowlevel.close(x);
        lowlevel.close(y);
        await delay(10);
      }
      await assertProbeClosed(t, p);
    }),
  );
}
