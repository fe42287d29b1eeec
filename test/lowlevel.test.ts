// The syscall layer: sendmsg/recvmsg with gather, SCM_RIGHTS, truncation
// flags, EAGAIN and datagram sender addresses.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import { constants, createSocket, errnoError, fdsOf, lowlevel, recvmsg, rights, sendmsg, type CodedError, type ErrnoError } from '../src/index';
import { abstractName, assertProbeClosed, contentOf, fileWithContent, inodeOf, leakFree, probe, settled, tmpPath } from './helpers';

function expectEagain(t: ExecutionContext, fd: number, message?: string): void {
  const err = t.throws(() => recvmsg(fd), undefined, message) as ErrnoError;
  t.is(err.code, 'EAGAIN', message);
}

/** O_CLOEXEC as /proc/self/fdinfo shows it (octal flags). */
function isCloexec(fd: number): boolean {
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const flags = parseInt(/^flags:\s*([0-7]+)/m.exec(info)![1]!, 8);
  return (flags & 0o2000000) !== 0;
}

test(
  'sendmsg() gathers several iovecs into one message that recvmsg() reads back whole',
  leakFree(
    (t) => {
      const [a, b] = lowlevel.socketpair('seqpacket');
      const parts = [Buffer.from('gather-'), new Uint8Array([0x31, 0x32]), Buffer.from(''), Buffer.from('-end')];
      const sent = sendmsg(a, parts);
      t.is(sent, 'gather-12-end'.length, 'returns the bytes sent');
      const m = recvmsg(b);
      t.is(m.data.toString(), 'gather-12-end');
      t.deepEqual(m.ancillary, []);
      t.is(m.flags & (constants.MSG_TRUNC | constants.MSG_CTRUNC), 0);
      t.is(m.address, undefined, 'a socketpair peer has no address');
      expectEagain(t, b, 'the gather was one record, not four');
      lowlevel.close(a);
      lowlevel.close(b);
    },
    { wait: false },
  ),
);

test(
  'sendmsg() accepts a single Buffer and a subarray view with an offset',
  leakFree(
    (t) => {
      const [a, b] = lowlevel.socketpair('dgram');
      const backing = Buffer.from('xxxxPAYLOADyyyy');
      t.is(sendmsg(a, backing.subarray(4, 11)), 7);
      t.is(recvmsg(b).data.toString(), 'PAYLOAD');
      lowlevel.close(a);
      lowlevel.close(b);
    },
    { wait: false },
  ),
);

test(
  'sendmsg() sends every byte of wider typed arrays and DataViews, alone and gathered',
  leakFree(
    (t) => {
      const [a, b] = lowlevel.socketpair('seqpacket');
      const f64 = new Float64Array([1.5, -2.25]);
      const u16 = new Uint16Array([0x0102, 0x0304, 0x0506]).subarray(1);
      const view = new DataView(new Uint8Array([9, 8, 7, 6, 5]).buffer, 1, 3);
      const bytesOf = (v: ArrayBufferView): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      for (const parts of [f64, u16, view, [f64, view, u16]]) {
        const list = Array.isArray(parts) ? parts : [parts];
        const expected = Buffer.concat(list.map(bytesOf));
        t.is(sendmsg(a, parts), expected.length, 'byteLength, not the element count');
        t.true(recvmsg(b).data.equals(expected));
      }
      lowlevel.close(a);
      lowlevel.close(b);
    },
    { wait: false },
  ),
);

test(
  'rights() and fdsOf() pass fds that refer to the same open files, close-on-exec',
  leakFree(async (t) => {
    const [a, b] = lowlevel.socketpair('seqpacket');
    const f1 = fileWithContent('first file');
    const f2 = fileWithContent('second file');
    const item = rights([f1, f2]);
    t.deepEqual(item.slice(0, 2), [constants.SOL_SOCKET, constants.SCM_RIGHTS]);
    t.is(item[2].length, 8);
    sendmsg(a, Buffer.from('two fds'), [item]);
    const m = recvmsg(b);
    t.is(m.data.toString(), 'two fds');
    t.is(m.flags & constants.MSG_CTRUNC, 0);
    const got = fdsOf(m.ancillary);
    t.is(got.length, 2);
    t.notDeepEqual(got, [f1, f2], 'new fd numbers, not the sender’s');
    t.is(contentOf(got[0]!), 'first file');
    t.is(contentOf(got[1]!), 'second file');
    t.is(inodeOf(got[0]!), inodeOf(f1));
    t.is(inodeOf(got[1]!), inodeOf(f2));
    t.true(got.every(isCloexec), 'received fds are close-on-exec (MSG_CMSG_CLOEXEC)');
    for (const fd of [f1, f2, ...got]) fs.closeSync(fd);
    lowlevel.close(a);
    lowlevel.close(b);
  }),
);

test('fdsOf() ignores ancillary items that are not SCM_RIGHTS', (t) => {
  const fds = fdsOf([
    [constants.SOL_SOCKET, constants.SCM_CREDENTIALS, Buffer.alloc(12, 1)],
    [constants.SOL_SOCKET, constants.SCM_RIGHTS, Buffer.from([7, 0, 0, 0, 9, 0, 0, 0])],
  ]);
  t.deepEqual(fds, [7, 9]);
});

test('fdsOf() refuses, typed, an SCM_RIGHTS item whose data is over a detached ArrayBuffer', (t) => {
  const data = Buffer.from(new ArrayBuffer(8));
  structuredClone(data.buffer, { transfer: [data.buffer] });
  t.throws(() => fdsOf([[constants.SOL_SOCKET, constants.SCM_RIGHTS, data]]), { code: 'ERR_INVALID_ARG_VALUE', message: /detached/ });
});

test('rights() rejects invalid fds and more than SCM_MAX_FD of them', (t) => {
  const bad = t.throws(() => rights([3, -1]), { instanceOf: RangeError }) as CodedError;
  t.is(bad.code, 'ERR_OUT_OF_RANGE');
  const many = t.throws(() => rights(new Array<number>(constants.SCM_MAX_FD + 1).fill(0)), { instanceOf: RangeError }) as CodedError;
  t.is(many.code, 'ERR_OUT_OF_RANGE');
});

test(
  'recvmsg() on an empty socket throws EAGAIN as an errno error',
  leakFree(
    (t) => {
      const [a, b] = lowlevel.socketpair('stream');
      const err = t.throws(() => recvmsg(b)) as ErrnoError;
      t.is(err.code, 'EAGAIN');
      t.is(err.syscall, 'recvmsg');
      t.is(typeof err.errno, 'number');
      t.true(err.errno < 0);
      t.true(err instanceof Error);
      // And it does not disturb later reads.
      sendmsg(a, Buffer.from('later'));
      t.is(recvmsg(b).data.toString(), 'later');
      lowlevel.close(a);
      lowlevel.close(b);
    },
    { wait: false },
  ),
);

test(
  'recvmsg() on a stream socket whose peer closed returns empty data (EOF), not EAGAIN',
  leakFree(
    (t) => {
      const [a, b] = lowlevel.socketpair('stream');
      lowlevel.close(a);
      const m = recvmsg(b);
      t.is(m.data.length, 0);
      lowlevel.close(b);
    },
    { wait: false },
  ),
);

test(
  'recvmsg() reports MSG_TRUNC when a seqpacket message exceeds maxSize and discards the rest',
  leakFree(
    (t) => {
      const [a, b] = lowlevel.socketpair('seqpacket');
      sendmsg(a, Buffer.from('0123456789abcdef'));
      sendmsg(a, Buffer.from('next'));
      const m = recvmsg(b, { maxSize: 10 });
      t.is(m.data.toString(), '0123456789');
      t.not(m.flags & constants.MSG_TRUNC, 0, 'MSG_TRUNC is set');
      const n = recvmsg(b, { maxSize: 10 });
      t.is(n.data.toString(), 'next', 'the rest of the truncated record was discarded');
      t.is(n.flags & constants.MSG_TRUNC, 0);
      expectEagain(t, b);
      lowlevel.close(a);
      lowlevel.close(b);
    },
    { wait: false },
  ),
);

test(
  'recvmsg() with MSG_PEEK and no control buffer peeks a datagram and reports MSG_TRUNC',
  leakFree(
    (t) => {
      const [a, b] = lowlevel.socketpair('dgram');
      sendmsg(a, Buffer.alloc(300, 0x61));
      const refused = t.throws(() => recvmsg(b, { maxSize: 1, flags: constants.MSG_PEEK }), { instanceOf: TypeError }) as CodedError;
      t.is(refused.code, 'ERR_INVALID_ARG_VALUE', 'peeking with a control buffer would duplicate fds');
      const peek = recvmsg(b, { maxSize: 1, cmsgSize: 0, flags: constants.MSG_PEEK });
      t.is(peek.data.length, 1);
      t.not(peek.flags & constants.MSG_TRUNC, 0);
      const whole = recvmsg(b, { maxSize: 1000 });
      t.is(whole.data.length, 300, 'MSG_PEEK left the datagram in place');
      lowlevel.close(a);
      lowlevel.close(b);
    },
    { wait: false },
  ),
);

test(
  'recvmsg() reports MSG_CTRUNC when cmsgSize is too small, returns the fds that arrived, and the kernel closes the rest',
  leakFree(async (t) => {
    const [a, b] = lowlevel.socketpair('seqpacket');
    for (const cmsgSize of [0, 4]) {
      const probes = [probe(), probe(), probe(), probe()];
      sendmsg(a, Buffer.from(`ctrunc ${cmsgSize}`), [rights(probes.map((p) => p.fd))]);
      for (const p of probes) lowlevel.close(p.fd);
      const m = recvmsg(b, { cmsgSize });
      t.is(m.data.toString(), `ctrunc ${cmsgSize}`);
      t.not(m.flags & constants.MSG_CTRUNC, 0, `MSG_CTRUNC with cmsgSize ${cmsgSize}`);
      const got = fdsOf(m.ancillary);
      if (cmsgSize === 0) t.is(got.length, 0, 'no room: no fd arrives');
      else t.true(got.length >= 1 && got.length < probes.length, `some fds arrive with cmsgSize 4 (got ${got.length})`);
      for (const fd of got) t.notThrows(() => fs.fstatSync(fd), 'a returned fd is open');
      for (const fd of got) lowlevel.close(fd);
      // Every copy is now gone: the ones we received and closed, and the ones
      // the kernel dropped.
      for (const p of probes) await assertProbeClosed(t, p);
    }
    lowlevel.close(a);
    lowlevel.close(b);
  }),
);

test(
  'recvmsg() on a dgram socket reports the sender address (path, abstract, or none)',
  leakFree(async (t) => {
    const receiverPath = tmpPath('rx.sock');
    const senderPath = tmpPath('tx.sock');
    const senderName = abstractName('tx');
    const receiver = createSocket({ type: 'dgram', bind: receiverPath });
    const byPath = createSocket({ type: 'dgram', bind: senderPath });
    const byName = createSocket({ type: 'dgram', bind: senderName });
    const auto = createSocket({ type: 'dgram', bind: '' });
    const unnamed = createSocket({ type: 'dgram' });
    try {
      t.is(sendmsg(byPath.fd, Buffer.from('from path'), [], 0, receiverPath), 9);
      sendmsg(byName.fd, Buffer.from('from name'), [], 0, receiverPath);
      sendmsg(auto.fd, Buffer.from('from autobind'), [], 0, receiverPath);
      sendmsg(unnamed.fd, Buffer.from('from unnamed'), [], 0, receiverPath);
      const m1 = recvmsg(receiver.fd);
      t.is(m1.data.toString(), 'from path');
      t.is(m1.address, senderPath);
      const m2 = recvmsg(receiver.fd);
      t.is(m2.data.toString(), 'from name');
      t.is(m2.address, senderName);
      const m3 = recvmsg(receiver.fd);
      t.is(m3.data.toString(), 'from autobind');
      t.regex(typeof m3.address === 'string' ? m3.address : '', /^\0[0-9a-f]{5}$/, 'autobind gives a 5-hex-digit abstract name');
      t.is(m3.address, auto.address() as string);
      const m4 = recvmsg(receiver.fd);
      t.is(m4.data.toString(), 'from unnamed');
      // The kernel autobinds an unnamed dgram sender on send only with
      // SO_PASSCRED; otherwise there is no address.
      t.is(m4.address, undefined);
    } finally {
      for (const s of [receiver, byPath, byName, auto, unnamed]) {
        const c = settled(s);
        s.destroy();
        await c;
      }
      fs.rmSync(receiverPath, { force: true });
      fs.rmSync(senderPath, { force: true });
    }
  }),
);

test(
  'sendmsg() to a dgram address nobody bound throws an errno error carrying the address',
  leakFree(
    (t) => {
      const [a, b] = lowlevel.socketpair('dgram');
      lowlevel.close(b);
      const sock = createSocket({ type: 'dgram' });
      const missing = tmpPath('nobody.sock');
      const err = t.throws(() => sendmsg(sock.fd, Buffer.from('x'), [], 0, missing)) as ErrnoError;
      t.is(err.code, 'ENOENT');
      t.is(err.syscall, 'sendmsg');
      t.is(err.address, missing);
      sock.destroy();
      lowlevel.close(a);
    },
    { wait: false },
  ),
);

test(
  'sendmsg() and recvmsg() validate their arguments with ERR_* codes',
  leakFree(
    (t) => {
      const [a, b] = lowlevel.socketpair('seqpacket');
      const cases: Array<[() => unknown, CodedError['code']]> = [
        [() => sendmsg(-1, Buffer.from('x')), 'ERR_OUT_OF_RANGE'],
        [() => sendmsg(a, ['x' as unknown as Buffer]), 'ERR_INVALID_ARG_TYPE'],
        [() => sendmsg(a, Buffer.from('x'), [[1, 1, 'x' as unknown as Buffer]]), 'ERR_INVALID_ARG_TYPE'],
        [() => sendmsg(a, Buffer.from('x'), [], 1.5), 'ERR_INVALID_ARG_TYPE'],
        [() => recvmsg(b, { maxSize: -1 }), 'ERR_OUT_OF_RANGE'],
        [() => recvmsg(b, { cmsgSize: 0.5 }), 'ERR_OUT_OF_RANGE'],
        [() => recvmsg(1.5), 'ERR_OUT_OF_RANGE'],
        [() => recvmsg(b, { flags: 0.5 }), 'ERR_INVALID_ARG_TYPE'],
      ];
      for (const [call, code] of cases) {
        const err = t.throws(call) as CodedError;
        t.is(err.code, code);
      }
      expectEagain(t, b, 'nothing was sent by the rejected calls');
      lowlevel.close(a);
      lowlevel.close(b);
    },
    { wait: false },
  ),
);

test(
  'recvmsg() takes null options as none; revoked Proxies and arrays where sendmsg(), recvmsg(), rights() and fdsOf() read are refused with ERR_INVALID_ARG_TYPE and nothing is sent',
  leakFree(
    (t) => {
      const [a, b] = lowlevel.socketpair('seqpacket');
      const { proxy, revoke } = Proxy.revocable([], {});
      revoke();
      const calls: Array<() => unknown> = [
        () => sendmsg(a, proxy),
        () => sendmsg(a, Buffer.from('x'), proxy),
        () => sendmsg(a, Buffer.from('x'), [proxy as unknown as [number, number, Buffer]]),
        () => recvmsg(b, proxy as object),
        () => recvmsg(b, [] as object),
        () => rights(proxy),
        () => fdsOf(proxy),
        () => fdsOf([proxy as unknown as [number, number, Buffer]]),
      ];
      for (const call of calls) {
        const err = t.throws(call, { instanceOf: TypeError }) as CodedError;
        t.is(err.code, 'ERR_INVALID_ARG_TYPE');
      }
      expectEagain(t, b, 'nothing was sent by the rejected calls');
      sendmsg(a, Buffer.from('hi'));
      t.is(recvmsg(b, null as unknown as object).data.toString(), 'hi');
      lowlevel.close(a);
      lowlevel.close(b);
    },
    { wait: false },
  ),
);

test("errnoError() refuses arguments of the wrong type with ERR_INVALID_ARG_TYPE, and gives an errno libuv does not name Node's code UNKNOWN", (t) => {
  for (const args of [
    [Symbol('e'), 'read'],
    [-9, Symbol('s')],
    [-9, 'read', 42],
    [1.5, 'read'],
    [{}, 'read'],
  ] as const) {
    const err = t.throws(() => errnoError(...(args as unknown as [number, string, string?])), { instanceOf: TypeError }) as CodedError;
    t.is(err.code, 'ERR_INVALID_ARG_TYPE');
  }
  const unknown = errnoError(-4242, 'read', '\0name');
  t.is(unknown.code, 'UNKNOWN');
  t.is(unknown.errno, -4242);
  t.is(unknown.message, 'read UNKNOWN: unknown error -4242 @name');
  t.is(errnoError(-9, 'close').code, 'EBADF');
});

test("fdsOf() reads an SCM_RIGHTS Buffer through a view of its own: the item's shadowed length or readInt32LE is never called", (t) => {
  const data = Buffer.from([7, 0, 0, 0, 9, 0, 0, 0]);
  Object.defineProperty(data, 'length', { get: () => t.fail('length was read') });
  Object.defineProperty(data, 'readInt32LE', { value: () => t.fail('readInt32LE was called') });
  t.deepEqual(fdsOf([[constants.SOL_SOCKET, constants.SCM_RIGHTS, data]]), [7, 9]);
});

test('fdsOf() checks the level, type and data of every item, not only of those that carry fds', (t) => {
  t.throws(() => fdsOf([[0, 'x' as unknown as number, Buffer.alloc(0)]]), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => fdsOf([[new Proxy([], {}) as unknown as number, 1, Buffer.alloc(0)]]), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => fdsOf([[0, 1, 'not a Buffer' as unknown as Buffer]]), { code: 'ERR_INVALID_ARG_TYPE' });
});
