// The low-level BSD calls for inet sockets: socket/bind/connect/listen/
// accept/getsockname/getpeername, rinfo-shaped addresses both ways (also in
// sendmsg/recvmsg), IP_PKTINFO, interop with Python's UDP and TCP sockets
// (test/fixtures/py_inet_peer.py), the examples, and every error typed.
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { lowlevel, type CodedError, type ErrnoError } from '../src/index';
import { leakFree } from './helpers';

const { constants } = lowlevel;
const FIXTURE = path.join(__dirname, 'fixtures', 'py_inet_peer.py');
const ROOT = path.join(__dirname, '..');

interface PyLine {
  step: string;
  data?: string;
  address?: lowlevel.InetAddress;
  peer?: lowlevel.InetAddress;
  me?: lowlevel.InetAddress;
}

/** The Python peer, and its JSON lines in order. */
function python(args: string[]): { child: ChildProcessWithoutNullStreams; next: () => Promise<PyLine>; exit: Promise<number | null> } {
  const child = spawn('python3', [FIXTURE, ...args]);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  // 'close': the exit and every stdio pipe closed, so the fd count is back.
  const exit = once(child, 'close').then(([code]) => {
    if (code !== 0) throw new Error(`python exited ${String(code)}: ${stderr}`);
    return code as number | null;
  });
  const next = async (): Promise<PyLine> => {
    const r = await lines.next();
    if (r.done === true) throw new Error(`python said nothing more: ${stderr}`);
    return JSON.parse(r.value as string) as PyLine;
  };
  return { child, next, exit };
}

/** Resolves on the first event watch() reports for fd. */
function ready(fd: number, events: lowlevel.WatchEvents): Promise<lowlevel.WatchEvent> {
  return new Promise((resolve) => {
    const w = lowlevel.watch(fd, events, (event) => {
      w.close();
      resolve(event);
    });
  });
}

/** recvmsg() once the fd is readable. */
async function receive(fd: number, options: lowlevel.RecvmsgOptions = {}): Promise<lowlevel.ReceivedMessage> {
  await ready(fd, { readable: true });
  return lowlevel.recvmsg(fd, options);
}

/** fcntl flags as /proc/self/fdinfo shows them (octal). */
function fdFlags(fd: number): number {
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  return parseInt(/^flags:\s*([0-7]+)/m.exec(info)![1]!, 8);
}
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

function assertNewFd(t: ExecutionContext, fd: number, domain: number, type: number): void {
  t.not(fdFlags(fd) & O_NONBLOCK, 0, 'non-blocking');
  t.not(fdFlags(fd) & O_CLOEXEC, 0, 'close-on-exec');
  t.is(lowlevel.getsockopt(fd, constants.SOL_SOCKET, constants.SO_DOMAIN), domain);
  t.is(lowlevel.getsockopt(fd, constants.SOL_SOCKET, constants.SO_TYPE), type);
}

function errnoOf(t: ExecutionContext, fn: () => unknown, code: string, syscall: string): ErrnoError {
  const err = t.throws(fn) as ErrnoError;
  t.true(err instanceof Error);
  t.is(err.code, code);
  t.is(err.syscall, syscall);
  t.is(typeof err.errno, 'number');
  return err;
}

test('constants name the inet numbers of ip(7), ipv6(7) and socket(7)', (t) => {
  t.is(constants.AF_INET, 2);
  t.is(constants.AF_INET6, 10);
  t.is(constants.IPPROTO_IP, 0);
  t.is(constants.IP_PKTINFO, 8);
  t.is(constants.IPPROTO_IPV6, 41);
  t.is(constants.IPV6_RECVPKTINFO, 49);
  t.is(constants.IPV6_PKTINFO, 50);
  t.is(constants.SO_REUSEADDR, 2);
  t.true(Number.isInteger(constants.SO_TIMESTAMP) && constants.SO_TIMESTAMP > 0);
  t.is(constants.SCM_TIMESTAMP, constants.SO_TIMESTAMP, 'SCM_TIMESTAMP is SO_TIMESTAMP (socket(7))');
});

test(
  'socket() makes non-blocking, close-on-exec fds of every family and type',
  leakFree(
    (t) => {
      const cases = [
        ['unix', 'stream', constants.AF_UNIX, constants.SOCK_STREAM],
        ['unix', 'seqpacket', constants.AF_UNIX, constants.SOCK_SEQPACKET],
        ['unix', 'dgram', constants.AF_UNIX, constants.SOCK_DGRAM],
        ['inet', 'stream', constants.AF_INET, constants.SOCK_STREAM],
        ['inet', 'dgram', constants.AF_INET, constants.SOCK_DGRAM],
        ['inet6', 'stream', constants.AF_INET6, constants.SOCK_STREAM],
        ['inet6', 'dgram', constants.AF_INET6, constants.SOCK_DGRAM],
      ] as const;
      for (const [family, type, domain, number] of cases) {
        const fd = lowlevel.socket(family, type);
        assertNewFd(t, fd, domain, number);
        lowlevel.close(fd);
      }
      // SEQPACKET over IPv4 is SCTP's, which this kernel may not have: whatever it says is an errno error.
      try {
        lowlevel.close(lowlevel.socket('inet', 'seqpacket'));
      } catch (err) {
        t.regex((err as ErrnoError).code, /^E[A-Z]+$/);
        t.is((err as ErrnoError).syscall, 'socket');
      }
    },
    { wait: false },
  ),
);

test(
  'UDP: ours to a Python echo, addresses in the rinfo shape both ways',
  leakFree(async (t) => {
    for (const [family, host] of [
      ['inet', '127.0.0.1'],
      ['inet6', '::1'],
    ] as const) {
      const py = python(['udp-echo', family, host]);
      const bound = await py.next();
      const fd = lowlevel.socket(family, 'dgram');
      try {
        lowlevel.bind(fd, { address: host, port: 0 });
        const me = lowlevel.getsockname(fd) as lowlevel.InetAddress;
        t.is(me.address, host);
        t.is(me.family, family === 'inet' ? 'IPv4' : 'IPv6');
        t.true(me.port > 0);
        t.is(lowlevel.sendmsg(fd, Buffer.from(`hi ${family}`), [], 0, bound.address), `hi ${family}`.length);
        const m = await receive(fd);
        t.is(m.data.toString(), `echo:hi ${family}`);
        t.deepEqual(m.address, bound.address, 'recvmsg reports the sender as rinfo');
        const done = await py.next();
        t.is(done.data, `hi ${family}`);
        t.deepEqual(done.peer, me, 'Python saw our getsockname() address');
        await py.exit;
      } finally {
        lowlevel.close(fd);
        py.child.kill();
      }
    }
  }),
);

function pktinfoAddress(data: Buffer): string {
  return [...data.subarray(8, 12)].join('.');
}

test(
  'UDP: a Python client to our server; IP_PKTINFO shows each datagram’s destination and the reply goes out from it',
  leakFree(async (t) => {
    const fd = lowlevel.socket('inet', 'dgram');
    try {
      lowlevel.setsockopt(fd, constants.IPPROTO_IP, constants.IP_PKTINFO, 1);
      t.is(lowlevel.getsockopt(fd, constants.IPPROTO_IP, constants.IP_PKTINFO), 1);
      lowlevel.bind(fd, { address: '0.0.0.0', port: 0, family: 'IPv4' });
      const { port } = lowlevel.getsockname(fd) as lowlevel.InetAddress;
      const py = python(['udp-send', 'inet', '127.0.0.2', String(port)]);
      const m = await receive(fd, { cmsgSize: 64 });
      t.is(m.data.toString(), 'from python');
      const items = m.ancillary.filter(([level, type]) => level === constants.IPPROTO_IP && type === constants.IP_PKTINFO);
      t.is(items.length, 1, 'one IP_PKTINFO item');
      const data = items[0]![2];
      t.true(Buffer.isBuffer(data));
      t.is(data.length, 12, 'struct in_pktinfo');
      t.is(pktinfoAddress(data), '127.0.0.2', 'ipi_addr: the destination the client used');
      const from = m.address as lowlevel.InetAddress;
      t.is(from.address, '127.0.0.1');
      t.is(from.family, 'IPv4');
      // Reply from 127.0.0.2: ipi_spec_dst is the source (ip(7)).
      const reply = Buffer.alloc(12);
      Buffer.from([127, 0, 0, 2]).copy(reply, 4);
      lowlevel.sendmsg(fd, Buffer.from('pong'), [[constants.IPPROTO_IP, constants.IP_PKTINFO, reply]], 0, from);
      const done = await py.next();
      t.is(done.data, 'pong');
      t.deepEqual(done.peer, { address: '127.0.0.2', port, family: 'IPv4' }, 'the reply came from the address asked');
      t.is(done.me!.port, from.port, 'recvmsg named the Python socket (bound to the wildcard, so by port)');
      await py.exit;
    } finally {
      lowlevel.close(fd);
    }
  }),
);

test(
  'UDP over IPv6: IPV6_RECVPKTINFO brings an IPV6_PKTINFO item with the destination',
  leakFree(async (t) => {
    const a = lowlevel.socket('inet6', 'dgram');
    const b = lowlevel.socket('inet6', 'dgram');
    try {
      lowlevel.setsockopt(b, constants.IPPROTO_IPV6, constants.IPV6_RECVPKTINFO, 1);
      lowlevel.bind(b, { address: '::1', port: 0 });
      const to = lowlevel.getsockname(b) as lowlevel.InetAddress;
      lowlevel.sendmsg(a, Buffer.from('six'), [], 0, to);
      const m = await receive(b, { cmsgSize: 64 });
      const item = m.ancillary.find(([level, type]) => level === constants.IPPROTO_IPV6 && type === constants.IPV6_PKTINFO);
      t.truthy(item);
      t.is(item![2].length, 20, 'struct in6_pktinfo');
      t.deepEqual([...item![2].subarray(0, 16)], [...Buffer.alloc(15), 1], 'ipi6_addr is ::1');
      t.is((m.address as lowlevel.InetAddress).family, 'IPv6');
      t.is((m.address as lowlevel.InetAddress).address, '::1');
      const sender = lowlevel.getsockname(a) as lowlevel.InetAddress;
      t.deepEqual(sender.address, '::', 'autobound to the wildcard');
      t.is((m.address as lowlevel.InetAddress).port, sender.port, 'the sender is the autobound socket');
    } finally {
      lowlevel.close(a);
      lowlevel.close(b);
    }
  }),
);

test(
  'TCP: ours connects to a Python echo server (EINPROGRESS as false, then writable and SO_ERROR 0)',
  leakFree(async (t) => {
    const py = python(['tcp-echo', 'inet', '127.0.0.1']);
    const bound = await py.next();
    const fd = lowlevel.socket('inet', 'stream');
    try {
      const at = lowlevel.connect(fd, bound.address!);
      t.is(typeof at, 'boolean');
      const event = await ready(fd, { writable: true });
      t.deepEqual(event, { readable: false, writable: true, error: null });
      t.is(lowlevel.getsockopt(fd, constants.SOL_SOCKET, constants.SO_ERROR), 0);
      t.deepEqual(lowlevel.getpeername(fd), bound.address);
      const me = lowlevel.getsockname(fd);
      lowlevel.sendmsg(fd, Buffer.from('tcp from us'));
      let got = '';
      while (got.length < 'tcp from us'.length) got += (await receive(fd, { cmsgSize: 0 })).data.toString();
      t.is(got, 'tcp from us');
      lowlevel.close(fd);
      const done = await py.next();
      t.is(done.data, 'tcp from us');
      t.deepEqual(done.peer, me, "Python's accept() saw our getsockname() address");
      await py.exit;
    } catch (err) {
      py.child.kill();
      throw err;
    }
  }),
);

test(
  'TCP: a Python client to our listener; accept() gives a non-blocking, close-on-exec fd and the peer as rinfo',
  leakFree(async (t) => {
    const listener = lowlevel.socket('inet6', 'stream');
    try {
      lowlevel.bind(listener, { address: '::1', port: 0 });
      lowlevel.listen(listener, 8);
      const where = lowlevel.getsockname(listener) as lowlevel.InetAddress;
      errnoOf(t, () => lowlevel.accept(listener), 'EAGAIN', 'accept');
      const py = python(['tcp-send', 'inet6', '::1', String(where.port)]);
      const connected = await py.next();
      await ready(listener, { readable: true });
      const { fd, address } = lowlevel.accept(listener);
      try {
        assertNewFd(t, fd, constants.AF_INET6, constants.SOCK_STREAM);
        t.deepEqual(address, connected.me, 'the peer, as Python names its own socket');
        t.deepEqual(lowlevel.getpeername(fd), address);
        t.deepEqual(lowlevel.getsockname(fd), where);
        let got = '';
        for (;;) {
          const m = await receive(fd, { cmsgSize: 0 });
          if (m.data.length === 0) break;
          got += m.data.toString();
        }
        t.is(got, 'tcp from python');
        lowlevel.sendmsg(fd, Buffer.from(got.toUpperCase()));
      } finally {
        lowlevel.close(fd);
      }
      const done = await py.next();
      t.is(done.data, 'TCP FROM PYTHON');
      t.deepEqual(done.peer, where);
      await py.exit;
    } finally {
      lowlevel.close(listener);
    }
  }),
);

test(
  'unix family: bind, connect and accept take and give names as strings (null for an unnamed peer)',
  leakFree(
    (t) => {
      const name = `\0ums-inet-test-${process.pid}`;
      const listener = lowlevel.socket('unix', 'stream');
      const client = lowlevel.socket('unix', 'stream');
      lowlevel.bind(listener, name);
      lowlevel.listen(listener);
      t.is(lowlevel.getsockname(listener), name);
      t.true(lowlevel.connect(client, name), 'a Unix connect completes at once');
      const { fd, address } = lowlevel.accept(listener);
      t.is(address, null);
      t.is(lowlevel.getpeername(client), name);
      t.is(lowlevel.getsockname(client), null);
      lowlevel.sendmsg(client, Buffer.from('unix'));
      t.is(lowlevel.recvmsg(fd).data.toString(), 'unix');
      for (const f of [fd, client, listener]) lowlevel.close(f);
    },
    { wait: false },
  ),
);

test(
  'every error is typed: bad arguments before any syscall, system errors as errno errors',
  leakFree(
    (t) => {
      const coded = (fn: () => unknown, Type: typeof TypeError | typeof RangeError, code: CodedError['code']): void => {
        const err = t.throws(fn) as CodedError;
        t.true(err instanceof Type, `${code}: ${err.message}`);
        t.is(err.code, code);
      };
      coded(() => lowlevel.socket('ipx' as never, 'dgram'), TypeError, 'ERR_INVALID_ARG_VALUE');
      coded(() => lowlevel.socket('inet', 'raw' as never), TypeError, 'ERR_INVALID_ARG_VALUE');
      const fd = lowlevel.socket('inet', 'dgram');
      try {
        coded(() => lowlevel.bind(fd, 42 as never), TypeError, 'ERR_INVALID_ARG_TYPE');
        coded(() => lowlevel.bind(fd, { address: 'localhost', port: 0 }), TypeError, 'ERR_INVALID_ARG_VALUE');
        coded(() => lowlevel.bind(fd, { address: 'fe80::1%lo', port: 0 }), TypeError, 'ERR_INVALID_ARG_VALUE');
        coded(() => lowlevel.bind(fd, { address: 7 as never, port: 0 }), TypeError, 'ERR_INVALID_ARG_TYPE');
        coded(() => lowlevel.bind(fd, { address: '127.0.0.1', port: 65536 }), RangeError, 'ERR_OUT_OF_RANGE');
        coded(() => lowlevel.bind(fd, { address: '127.0.0.1' } as never), TypeError, 'ERR_INVALID_ARG_TYPE');
        coded(() => lowlevel.bind(fd, { address: '127.0.0.1', port: 0, family: 'IPv6' }), TypeError, 'ERR_INVALID_ARG_VALUE');
        coded(() => lowlevel.sendmsg(fd, Buffer.from('x'), [], 0, { address: '::1', port: -1 }), RangeError, 'ERR_OUT_OF_RANGE');
        coded(() => lowlevel.listen(fd, -1), RangeError, 'ERR_OUT_OF_RANGE');
        coded(() => lowlevel.setsockopt(fd, constants.SOL_SOCKET, constants.SO_RCVBUF, 1.5), TypeError, 'ERR_INVALID_ARG_TYPE');
        coded(() => lowlevel.accept(-1), RangeError, 'ERR_OUT_OF_RANGE');
        // System errors.
        const e1 = errnoOf(t, () => lowlevel.bind(fd, { address: '::1', port: 0 }), 'EAFNOSUPPORT', 'bind');
        t.regex(e1.message, /\[::1\]:0/, 'the address is named in the message');
        errnoOf(t, () => lowlevel.getpeername(fd), 'ENOTCONN', 'getpeername');
        errnoOf(t, () => lowlevel.accept(fd), 'ENOTSUP', 'accept');
        errnoOf(t, () => lowlevel.bind(fd, '/nonexistent-dir/x.sock'), 'EAFNOSUPPORT', 'bind');
        errnoOf(t, () => lowlevel.sendmsg(fd, Buffer.from('x'), [], 0, '\0unix-name'), 'EINVAL', 'sendmsg');
        errnoOf(t, () => lowlevel.getsockopt(fd, constants.SOL_SOCKET, 0x7fff), 'ENOPROTOOPT', 'getsockopt');
      } finally {
        lowlevel.close(fd);
      }
      const unix = lowlevel.socket('unix', 'dgram');
      try {
        errnoOf(t, () => lowlevel.sendmsg(unix, Buffer.from('x'), [], 0, { address: '127.0.0.1', port: 9 }), 'EINVAL', 'sendmsg');
        errnoOf(t, () => lowlevel.connect(unix, { address: '127.0.0.1', port: 9 }), 'EINVAL', 'connect');
      } finally {
        lowlevel.close(unix);
      }
      const closed = lowlevel.socket('inet', 'stream');
      lowlevel.close(closed);
      errnoOf(t, () => lowlevel.getsockname(closed), 'EBADF', 'getsockname');
      errnoOf(t, () => lowlevel.connect(closed, { address: '127.0.0.1', port: 9 }), 'EBADF', 'connect');
    },
    { wait: false },
  ),
);

test(
  'a refused TCP connect is reported: false then SO_ERROR ECONNREFUSED, or an ECONNREFUSED errno error',
  leakFree(async (t) => {
    // A port nobody listens on: bound and closed just now.
    const probe = lowlevel.socket('inet', 'stream');
    lowlevel.bind(probe, { address: '127.0.0.1', port: 0 });
    const dead = lowlevel.getsockname(probe) as lowlevel.InetAddress;
    lowlevel.close(probe);
    const fd = lowlevel.socket('inet', 'stream');
    try {
      let at: boolean | undefined;
      try {
        at = lowlevel.connect(fd, dead);
      } catch (err) {
        t.is((err as ErrnoError).code, 'ECONNREFUSED');
        t.is((err as ErrnoError).syscall, 'connect');
        return;
      }
      t.false(at);
      await ready(fd, { writable: true });
      t.is(lowlevel.getsockopt(fd, constants.SOL_SOCKET, constants.SO_ERROR), os.constants.errno.ECONNREFUSED);
    } finally {
      lowlevel.close(fd);
    }
  }),
);

for (const [script, args, expect] of [
  ['udp-pktinfo.js', [], /each reply came from the address its datagram was sent to/],
  ['tcp-echo.js', [], /client: echo "TCP"/],
  ['tcp-echo.js', ['--ipv6'], /server: accepted ::1:\d+ \(IPv6\)/],
] as const) {
  test(`examples/${script} ${args.join(' ')} runs and exits 0 on its own`, (t) => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'examples', script), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, expect);
  });
}

test(
  'recvmsgInto() reports an inet sender in the rinfo shape too',
  leakFree(async (t) => {
    const a = lowlevel.socket('inet', 'dgram');
    const b = lowlevel.socket('inet', 'dgram');
    try {
      lowlevel.bind(a, { address: '127.0.0.1', port: 0 });
      lowlevel.bind(b, { address: '127.0.0.1', port: 0 });
      lowlevel.sendmsg(a, Buffer.from('into'), [], 0, lowlevel.getsockname(b)!);
      const into = Buffer.alloc(16);
      await new Promise<void>((resolve) => {
        const w = lowlevel.watch(b, { readable: true }, () => {
          w.close();
          resolve();
        });
      });
      const r = lowlevel.recvmsgInto(b, into);
      t.is(into.subarray(0, r.bytes).toString(), 'into');
      t.deepEqual(r.address, lowlevel.getsockname(a));
      t.is((r.address as lowlevel.InetAddress).family, 'IPv4');
    } finally {
      lowlevel.close(a);
      lowlevel.close(b);
    }
  }),
);
