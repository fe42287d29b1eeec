// The fuzz child's zoo: one open file of every kind an fd argument may name
// (regular file, directory, pipe, memfd, eventfd, epoll, pidfd, listening and
// connected Unix sockets, a socket with fds in flight, TCP, UDP). Cases get
// fresh duplicates, never the zoo's own fds, and the runner checks after
// every case that each zoo fd still names the same file.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fdsOf, lowlevel, rights, sendmsg } from '../../src/index';
import type { ZooKind } from './recipe';

// Kinds Node cannot make itself; Python sends them over fd 3.
const PYTHON = `
import os, select, socket, array
s = socket.socket(fileno=3)
r, w = os.pipe()
ep = select.epoll()
l = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
l.bind(b'\\0ums-fuzz-zoo-%d' % os.getpid())
l.listen()
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.bind(('127.0.0.1', 0))
t.listen()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
fds = [os.memfd_create('fuzz'), os.eventfd(0), os.dup(ep.fileno()), os.pidfd_open(os.getpid()), r,
       l.detach(), t.detach(), u.detach()]
s.sendmsg([b'z'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', fds))])
`;
const FROM_PYTHON: ZooKind[] = ['memfd', 'eventfd', 'epoll', 'pidfd', 'pipe', 'unixListener', 'tcp', 'udp'];

/** dev:ino and what /proc says the fd is: equal for the same open file (anon inodes only by kind). */
export function identity(fd: number): string | null {
  try {
    const st = fs.fstatSync(fd);
    return `${st.dev}:${st.ino}:${fs.readlinkSync(`/proc/self/fd/${fd}`)}`;
  } catch {
    return null;
  }
}

export class Zoo {
  readonly fds = new Map<ZooKind, number>();
  readonly dir: string;

  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `ums-fuzz-${process.pid}-`));
  }

  open(): void {
    const file = path.join(this.dir, 'file');
    fs.writeFileSync(file, 'zoo');
    this.fds.set('file', fs.openSync(file, 'r+'));
    this.fds.set('dir', fs.openSync(this.dir, 'r'));
    this.fds.set('devnull', fs.openSync('/dev/null', 'r+'));
    const [mine, theirs] = lowlevel.socketpair('stream');
    const r = spawnSync('python3', ['-c', PYTHON], { stdio: ['ignore', 'inherit', 'inherit', theirs] });
    lowlevel.close(theirs);
    if (r.status !== 0) throw new Error(`python3 exited with ${String(r.status)}`);
    const received = fdsOf(lowlevel.recvmsg(mine).ancillary);
    lowlevel.close(mine);
    FROM_PYTHON.forEach((kind, i) => this.fds.set(kind, received[i]!));
    const [a, b] = lowlevel.socketpair('stream');
    this.fds.set('unixStream', a);
    this.#keep(b);
    const [c, d] = lowlevel.socketpair('dgram');
    this.fds.set('unixDgram', c);
    this.#keep(d);
    const [e, f] = lowlevel.socketpair('seqpacket');
    this.fds.set('unixSeqpacket', e);
    this.#keep(f);
    // A socket with a message and an fd queued to it, unread.
    const [g, h] = lowlevel.socketpair('seqpacket');
    sendmsg(h, [Buffer.from('inflight')], [rights([this.fds.get('memfd')!])]);
    lowlevel.close(h);
    this.fds.set('inflight', g);
  }

  // The other ends stay open so that the zoo's sockets stay connected.
  readonly #peers: number[] = [];
  #keep(fd: number): void {
    this.#peers.push(fd);
  }

  /** Each zoo fd with the file it names now. */
  snapshot(): Map<ZooKind, string | null> {
    const out = new Map<ZooKind, string | null>();
    for (const [kind, fd] of this.fds) out.set(kind, identity(fd));
    return out;
  }

  close(): void {
    for (const fd of [...this.fds.values(), ...this.#peers]) {
      try {
        fs.closeSync(fd);
      } catch {
        // Reported by the per-case zoo check already.
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
