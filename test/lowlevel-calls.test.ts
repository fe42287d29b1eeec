// recvmsgInto() (scatter into the caller's buffers), getsockopt/setsockopt of
// any shape (lowlevel and socket getOption/setOption, peerGroups(),
// peerSecurityContext()) and lowlevel.shutdown().
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import { constants, createSocket, fdsOf, lowlevel, recvmsg, recvmsgInto, rights, sendmsg, socketPair, type CodedError, type ErrnoError } from '../src/index';
import { abstractName, assertProbeClosed, contentOf, fileWithContent, inodeOf, leakFree, probe, settled, take } from './helpers';

function codeOf(t: ExecutionContext, fn: () => unknown, instanceOf: new (...args: never[]) => Error): string | undefined {
  return (t.throws(fn, { instanceOf }) as CodedError).code;
}

function errnoOf(t: ExecutionContext, fn: () => unknown): ErrnoError {
  return t.throws(fn) as ErrnoError;
}

const isCloexec = (fd: number): boolean => {
  const flags = parseInt(/^flags:\s*([0-7]+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
  return (flags & 0o2000000) !== 0;
};

test(
  'recvmsgInto() scatters one message across the buffers in order and writes nothing outside them',
  leakFree(
    (t) => {
      const [a, b] = lowlevel.socketpair('seqpacket');
      const message = Buffer.from('0123456789abcdefghij');
      sendmsg(a, message);
      sendmsg(a, Buffer.from('second'));
      const first = Buffer.alloc(3);
      const backing = new Uint8Array(16).fill(0xee);
      const second = new Uint16Array(backing.buffer, 4, 3); // bytes 4..9 of backing
      const third = new DataView(new ArrayBuffer(32), 8, 16);
      const r = recvmsgInto(b, [first, second, third]);
      t.is(r.bytes, 20);
      t.deepEqual(r.ancillary, []);
      t.is(r.flags, 0);
      t.is(r.address, undefined);
      t.is(first.toString(), '012');
      t.is(Buffer.from(backing.buffer, 4, 6).toString(), '345678');
      t.is(Buffer.from(third.buffer, 8, 11).toString(), '9abcdefghij');
      t.deepEqual([...backing.subarray(0, 4), ...backing.subarray(10)], new Array<number>(10).fill(0xee), 'the bytes around the view are untouched');
      t.deepEqual([...new Uint8Array(third.buffer, 0, 8), ...new Uint8Array(third.buffer, 19)], new Array<number>(21).fill(0), 'and those around the DataView');
      // One recvmsg(2): the second message is still queued, whole.
      t.is(recvmsg(b).data.toString(), 'second');
      lowlevel.close(a);
      lowlevel.close(b);
    },
    { wait: false },
  ),
);

test(
  'recvmsgInto() takes a single view, and returns fds that are the sent files, close-on-exec and the caller’s',
  leakFree(async (t) => {
    const [a, b] = lowlevel.socketpair('stream');
    const file = fileWithContent('through recvmsgInto');
    const p = probe();
    sendmsg(a, Buffer.from('fds'), [rights([file, p.fd])]);
    fs.closeSync(p.fd);
    const into = new Uint8Array(8);
    const r = recvmsgInto(b, into);
    t.is(r.bytes, 3);
    t.is(Buffer.from(into.subarray(0, 3)).toString(), 'fds');
    const fds = fdsOf(r.ancillary);
    t.is(fds.length, 2);
    t.is(inodeOf(fds[0]!), inodeOf(file));
    t.is(contentOf(fds[0]!), 'through recvmsgInto');
    t.true(fds.every(isCloexec), 'MSG_CMSG_CLOEXEC');
    t.is(r.flags & constants.MSG_CMSG_CLOEXEC, 0, 'the flag we add is not echoed back');
    for (const fd of [...fds, file, a, b]) lowlevel.close(fd);
    await assertProbeClosed(t, p);
  }),
);

test(
  'recvmsgInto() reports MSG_TRUNC for a datagram larger than its buffers (with the real length when asked), MSG_CTRUNC for too small a cmsgSize, and the sender’s address',
  leakFree(async (t) => {
    const receiverName = abstractName('into-rx');
    const senderName = abstractName('into-tx');
    const receiver = createSocket({ type: 'dgram', bind: receiverName });
    const sender = createSocket({ type: 'dgram', bind: senderName });
    try {
      sendmsg(sender.fd, Buffer.from('a long datagram'), [], 0, receiverName);
      sendmsg(sender.fd, Buffer.from('another long one'), [], 0, receiverName);
      const small = [Buffer.alloc(2), Buffer.alloc(3)];
      const cut = recvmsgInto(receiver.fd, small);
      t.is(cut.bytes, 5);
      t.not(cut.flags & constants.MSG_TRUNC, 0);
      t.is(Buffer.concat(small).toString(), 'a lon');
      t.is(cut.address, senderName);
      const real = recvmsgInto(receiver.fd, small, { flags: constants.MSG_TRUNC });
      t.is(real.bytes, 'another long one'.length, 'with MSG_TRUNC passed in, the real length (recv(2))');
      t.is(Buffer.concat(small).toString(), 'anoth');
      const file = fileWithContent('x');
      sendmsg(sender.fd, Buffer.from('fd'), [rights([file])], 0, receiverName);
      lowlevel.close(file);
      const none = recvmsgInto(receiver.fd, [Buffer.alloc(4)], { cmsgSize: 0 });
      t.not(none.flags & constants.MSG_CTRUNC, 0, 'no room for the fd: MSG_CTRUNC, and the kernel closed it');
      t.deepEqual(none.ancillary, []);
    } finally {
      await Promise.all([receiver, sender].map((s) => (s.destroy(), settled(s))));
    }
  }),
);

test(
  'recvmsgInto() validates its arguments with ERR_* codes before anything is received',
  leakFree(
    (t) => {
      const [a, b] = lowlevel.socketpair('seqpacket');
      sendmsg(a, Buffer.from('kept'));
      const detached = new Uint8Array(new ArrayBuffer(8));
      structuredClone(detached.buffer, { transfer: [detached.buffer] });
      const cases: Array<[() => unknown, new (...args: never[]) => Error, string]> = [
        [() => recvmsgInto(-1, [Buffer.alloc(1)]), RangeError, 'ERR_OUT_OF_RANGE'],
        [() => recvmsgInto(b, ['x' as unknown as Buffer]), TypeError, 'ERR_INVALID_ARG_TYPE'],
        [() => recvmsgInto(b, new ArrayBuffer(4) as unknown as Buffer), TypeError, 'ERR_INVALID_ARG_TYPE'],
        [() => recvmsgInto(b, [Buffer.alloc(1), detached]), TypeError, 'ERR_INVALID_ARG_VALUE'],
        [() => recvmsgInto(b, new Array<Buffer>(constants.IOV_MAX + 1).fill(Buffer.alloc(1))), RangeError, 'ERR_OUT_OF_RANGE'],
        [() => recvmsgInto(b, [Buffer.alloc(1)], { cmsgSize: -1 }), RangeError, 'ERR_OUT_OF_RANGE'],
        [() => recvmsgInto(b, [Buffer.alloc(1)], { flags: 0.5 }), TypeError, 'ERR_INVALID_ARG_TYPE'],
        [() => recvmsgInto(b, [Buffer.alloc(1)], { flags: constants.MSG_PEEK }), TypeError, 'ERR_INVALID_ARG_VALUE'],
        [() => recvmsgInto(b, [Buffer.alloc(1)], 'x' as unknown as object), TypeError, 'ERR_INVALID_ARG_TYPE'],
      ];
      for (const [call, type, code] of cases) t.is(codeOf(t, call, type), code);
      const out = Buffer.alloc(8);
      t.is(recvmsgInto(b, out, { flags: constants.MSG_PEEK, cmsgSize: 0 }).bytes, 4, 'a peek without a control buffer is allowed');
      t.is(recvmsgInto(b, out).bytes, 4, 'the message was still there');
      const eagain = errnoOf(t, () => recvmsgInto(b, out));
      t.is(eagain.code, 'EAGAIN');
      t.is(eagain.syscall, 'recvmsg');
      lowlevel.close(a);
      lowlevel.close(b);
    },
    { wait: false },
  ),
);

test(
  'recvmsgInto() reads the buffers array once: what a getter returns first is where the bytes go',
  leakFree(
    (t) => {
      const [a, b] = lowlevel.socketpair('seqpacket');
      sendmsg(a, Buffer.from('once'));
      const first = Buffer.alloc(4);
      const other = Buffer.alloc(4);
      let reads = 0;
      const list = [first];
      Object.defineProperty(list, 0, {
        get: () => (reads++ === 0 ? first : other),
      });
      t.is(recvmsgInto(b, list).bytes, 4);
      t.is(reads, 1);
      t.is(first.toString(), 'once');
      t.is(other.toString('hex'), '00000000');
      lowlevel.close(a);
      lowlevel.close(b);
    },
    { wait: false },
  ),
);

test(
  'lowlevel.getsockopt()/setsockopt(): integers, and options of any shape as Buffers',
  leakFree(
    (t) => {
      const [a, b] = lowlevel.socketpair('seqpacket');
      lowlevel.setsockopt(a, constants.SOL_SOCKET, constants.SO_SNDBUF, 65536);
      const set = lowlevel.getsockopt(a, constants.SOL_SOCKET, constants.SO_SNDBUF);
      t.is(set, 131072, 'the kernel doubles SO_SNDBUF (socket(7))');
      // The same option through bytes: set from an Int32Array, read as a Buffer.
      lowlevel.setsockopt(a, constants.SOL_SOCKET, constants.SO_SNDBUF, new Int32Array([32768]));
      const bytes = lowlevel.getsockopt(a, constants.SOL_SOCKET, constants.SO_SNDBUF, 4);
      t.true(Buffer.isBuffer(bytes));
      t.is(bytes.readInt32LE(0), 65536);
      // A struct: SO_PEERCRED is { pid, uid, gid }.
      const cred = lowlevel.getsockopt(b, constants.SOL_SOCKET, constants.SO_PEERCRED, 64);
      t.is(cred.length, 12, 'the length the kernel gave, not the room asked');
      t.deepEqual([cred.readInt32LE(0), cred.readUInt32LE(4), cred.readUInt32LE(8)], [process.pid, process.getuid!(), process.getgid!()]);
      t.is(lowlevel.getsockopt(b, constants.SOL_SOCKET, constants.SO_TYPE, 0).length, 0, 'length 0 reads nothing');
      // SO_PASSCRED from a Buffer, read back as an integer.
      lowlevel.setsockopt(b, constants.SOL_SOCKET, constants.SO_PASSCRED, Buffer.from(new Int32Array([1]).buffer));
      t.is(lowlevel.getsockopt(b, constants.SOL_SOCKET, constants.SO_PASSCRED), 1);
      lowlevel.close(a);
      lowlevel.close(b);
    },
    { wait: false },
  ),
);

test(
  'lowlevel.getsockopt()/setsockopt() refuse bad arguments with ERR_* codes, and report the kernel’s errors as errno errors',
  leakFree(
    (t) => {
      const [a, b] = lowlevel.socketpair('seqpacket');
      const { SOL_SOCKET, SO_SNDBUF } = constants;
      const cases: Array<[() => unknown, new (...args: never[]) => Error, string]> = [
        [() => lowlevel.getsockopt(-1, SOL_SOCKET, SO_SNDBUF), RangeError, 'ERR_OUT_OF_RANGE'],
        [() => lowlevel.getsockopt(a, 1.5, SO_SNDBUF), TypeError, 'ERR_INVALID_ARG_TYPE'],
        [() => lowlevel.getsockopt(a, SOL_SOCKET, SO_SNDBUF, -1), RangeError, 'ERR_OUT_OF_RANGE'],
        [() => lowlevel.getsockopt(a, SOL_SOCKET, SO_SNDBUF, (1 << 20) + 1), RangeError, 'ERR_OUT_OF_RANGE'],
        [() => lowlevel.getsockopt(a, SOL_SOCKET, SO_SNDBUF, '4' as unknown as number), TypeError, 'ERR_INVALID_ARG_TYPE'],
        [() => lowlevel.setsockopt(a, SOL_SOCKET, SO_SNDBUF, 2 ** 31), TypeError, 'ERR_INVALID_ARG_TYPE'],
        [() => lowlevel.setsockopt(a, SOL_SOCKET, SO_SNDBUF, '1' as unknown as number), TypeError, 'ERR_INVALID_ARG_TYPE'],
        [() => lowlevel.setsockopt(a, SOL_SOCKET, SO_SNDBUF, new ArrayBuffer(4) as unknown as number), TypeError, 'ERR_INVALID_ARG_TYPE'],
      ];
      for (const [call, type, code] of cases) t.is(codeOf(t, call, type), code);
      const unknown = errnoOf(t, () => lowlevel.getsockopt(a, SOL_SOCKET, 9999));
      t.is(unknown.code, 'ENOPROTOOPT');
      t.is(unknown.syscall, 'getsockopt');
      const short = errnoOf(t, () => lowlevel.setsockopt(a, SOL_SOCKET, SO_SNDBUF, Buffer.alloc(2)));
      t.is(short.code, 'EINVAL', 'an int option from 2 bytes');
      t.is(short.syscall, 'setsockopt');
      const file = fileWithContent('not a socket');
      t.is(errnoOf(t, () => lowlevel.getsockopt(file, SOL_SOCKET, SO_SNDBUF, 4)).code, 'ENOTSOCK');
      lowlevel.close(file);
      lowlevel.close(a);
      lowlevel.close(b);
    },
    { wait: false },
  ),
);

test(
  'socket.getOption(level, name, length) returns a Buffer, setOption() takes a Buffer, and a Buffer SO_PASSCRED turns credentials on',
  leakFree(async (t, { track }) => {
    const [a, b] = track(...socketPair('seqpacket'));
    t.is(a.getOption(constants.SOL_SOCKET, constants.SO_TYPE), constants.SOCK_SEQPACKET);
    const type = a.getOption(constants.SOL_SOCKET, constants.SO_TYPE, 4);
    t.true(Buffer.isBuffer(type));
    t.is(type.readInt32LE(0), constants.SOCK_SEQPACKET);
    const cred = b.getOption(constants.SOL_SOCKET, constants.SO_PEERCRED, 12);
    t.deepEqual([cred.readInt32LE(0), cred.readUInt32LE(4), cred.readUInt32LE(8)], Object.values(b.peerCredentials()));
    b.setOption(constants.SOL_SOCKET, constants.SO_PASSCRED, new Int32Array([1]));
    t.is(b.getOption(constants.SOL_SOCKET, constants.SO_PASSCRED), 1);
    a.write('with credentials');
    const [m] = await take(b, 1);
    t.is(m!.data.toString(), 'with credentials');
    t.deepEqual(m!.credentials, { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    t.is(
      codeOf(t, () => a.getOption(constants.SOL_SOCKET, constants.SO_TYPE, 1.5), RangeError),
      'ERR_OUT_OF_RANGE',
    );
    t.is(
      codeOf(t, () => a.setOption(constants.SOL_SOCKET, constants.SO_SNDBUF, 'x' as unknown as number), TypeError),
      'ERR_INVALID_ARG_TYPE',
    );
    a.destroy();
    t.is(
      codeOf(t, () => a.getOption(constants.SOL_SOCKET, constants.SO_TYPE, 4), Error),
      'ERR_STREAM_DESTROYED',
    );
    t.is(
      codeOf(t, () => a.peerGroups(), Error),
      'ERR_STREAM_DESTROYED',
    );
    t.is(
      codeOf(t, () => a.peerSecurityContext(), Error),
      'ERR_STREAM_DESTROYED',
    );
  }),
);

test(
  'peerGroups() lists our own supplementary groups on a socketpair; peerSecurityContext() is SO_PEERSEC, or undefined without an LSM (ENOPROTOOPT)',
  leakFree(async (t, { track }) => {
    const [a] = track(...socketPair('stream'));
    const own = fs
      .readFileSync('/proc/self/status', 'utf8')
      .match(/^Groups:[ \t]*([^\n]*)$/m)![1]!
      .trim()
      .split(/\s+/)
      .filter((g) => g !== '')
      .map(Number);
    t.deepEqual(a.peerGroups(), own, 'the Groups: line of /proc/self/status');
    const context = a.peerSecurityContext();
    let raw: Buffer | undefined;
    try {
      raw = lowlevel.getsockopt(a.fd, constants.SOL_SOCKET, constants.SO_PEERSEC, 4096);
    } catch (err) {
      t.is((err as ErrnoError).code, 'ENOPROTOOPT');
    }
    if (raw === undefined) t.is(context, undefined, 'no LSM labels sockets here');
    else t.is(context, raw.toString('utf8').replace(/\0+$/, ''));
  }),
);

test(
  'lowlevel.shutdown(SHUT_RD) makes reads return EOF at once; SHUT_WR makes the peer read EOF and our sends fail with EPIPE',
  leakFree(
    (t) => {
      const [a, b] = lowlevel.socketpair('stream');
      t.is(errnoOf(t, () => recvmsg(b)).code, 'EAGAIN', 'nothing to read yet');
      lowlevel.shutdown(b, constants.SHUT_RD);
      t.is(recvmsg(b).data.length, 0, 'EOF, not EAGAIN');
      t.is(recvmsgInto(b, Buffer.alloc(4)).bytes, 0);
      t.is(errnoOf(t, () => sendmsg(a, Buffer.from('x'))).code, 'EPIPE', 'the peer cannot write to a side shut for reading');

      const [c, d] = lowlevel.socketpair('seqpacket');
      sendmsg(c, Buffer.from('before'));
      lowlevel.shutdown(c, constants.SHUT_WR);
      t.is(recvmsg(d).data.toString(), 'before', 'what was sent before still arrives');
      t.is(recvmsg(d).data.length, 0, 'then the peer reads EOF');
      t.is(errnoOf(t, () => sendmsg(c, Buffer.from('after'))).code, 'EPIPE');
      sendmsg(d, Buffer.from('other way'));
      t.is(recvmsg(c).data.toString(), 'other way', 'the other direction still works');

      const [e, f] = lowlevel.socketpair('stream');
      lowlevel.shutdown(e, constants.SHUT_RDWR);
      t.is(recvmsg(e).data.length, 0);
      t.is(recvmsg(f).data.length, 0);
      for (const fd of [a, b, c, d, e, f]) lowlevel.close(fd);
    },
    { wait: false },
  ),
);

test(
  'lowlevel.shutdown() refuses a how that is not SHUT_*, and reports the kernel’s ENOTSOCK as an errno error',
  leakFree((t) => {
    const [a, b] = lowlevel.socketpair('stream');
    for (const how of [3, -1, 0.5, '1' as unknown as number, constants.SHUT_RDWR + 1]) {
      t.is(
        codeOf(t, () => lowlevel.shutdown(a, how), TypeError),
        'ERR_INVALID_ARG_VALUE',
      );
    }
    t.is(
      codeOf(t, () => lowlevel.shutdown(-1, constants.SHUT_WR), RangeError),
      'ERR_OUT_OF_RANGE',
    );
    t.is(errnoOf(t, () => recvmsg(a)).code, 'EAGAIN', 'the refused calls shut nothing');
    const file = fileWithContent('x');
    const notSock = errnoOf(t, () => lowlevel.shutdown(file, constants.SHUT_WR));
    t.is(notSock.code, 'ENOTSOCK');
    t.is(notSock.syscall, 'shutdown');
    for (const fd of [file, a, b]) lowlevel.close(fd);
  }),
);
