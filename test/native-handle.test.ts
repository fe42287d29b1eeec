// The addon's two forms of the socket layer's sends, side by side: the
// module functions send()/sendBatch(), which take the fd as an argument, and
// the SocketHandle methods, which send on the fd the handle owns (one
// implementation, src/native/send.h). Every case runs against both, so the
// forms give the same results: bytes or count, typed -errno, never an abort.
import test, { type ExecutionContext } from 'ava';
import { constants as os } from 'node:os';
import { constants, native, type FdList, type Gather, type NativeRecvResult, type NativeSocketHandle } from '../src/native/binding';
import { lowlevel } from '../src/index';
import { assertFdsBack, assertProbeClosed, fdCount, inodeOf, probe } from './helpers';

const { EAGAIN, EBADF, EINVAL } = os.errno;

interface SendForm {
  name: string;
  send(h: NativeSocketHandle, data: Gather, fds: FdList, address: string | null, flags: number): number;
  sendBatch(
    h: NativeSocketHandle,
    datas: readonly Gather[],
    fds: readonly FdList[] | undefined,
    addresses: ReadonlyArray<string | null> | undefined,
    start: number,
    end: number,
  ): number;
}

const forms: readonly SendForm[] = [
  {
    name: 'native.send(fd, …)',
    send: (h, data, fds, address, flags) => native.send(h.fd, data, fds, address, flags),
    sendBatch: (h, datas, fds, addresses, start, end) => native.sendBatch(h.fd, datas, fds, addresses, start, end),
  },
  {
    name: 'handle.send(…)',
    send: (h, data, fds, address, flags) => h.send(data, fds, address, flags),
    sendBatch: (h, datas, fds, addresses, start, end) => h.sendBatch(datas, fds, addresses, start, end),
  },
];

/** A socketpair whose first end a SocketHandle owns (opened, not polled). */
function handlePair(type: number): { h: NativeSocketHandle; peer: number; dispose: () => void } {
  const out = new Int32Array(2);
  if (native.socketpair(type, out) !== 0) throw new Error('socketpair');
  const h = new native.SocketHandle();
  if (h.open(out[0]!, type, 1 << 16) !== 0) throw new Error('open');
  const peer = out[1]!;
  return {
    h,
    peer,
    dispose(): void {
      h.close();
      native.close(peer);
    },
  };
}

function receive(t: ExecutionContext, fd: number): NativeRecvResult {
  const r = native.recvmsg(fd, 1 << 16, 4096, 0);
  if (typeof r === 'number') throw new Error(`recvmsg: ${r}`);
  t.teardown(() => {
    for (const one of r.fds) native.close(one);
  });
  return r;
}

for (const form of forms) {
  test(`${form.name}: one seqpacket message gathered from views, with fds: the byte count, and the fds arrive`, async (t) => {
    const baseline = fdCount();
    const p = probe();
    const { h, peer, dispose } = handlePair(constants.SOCK_SEQPACKET);
    t.is(form.send(h, [Buffer.from('ab'), new Uint8Array([0x63, 0x64])], [p.fd, p.fd], null, 0), 4);
    const r = receive(t, peer);
    t.is(r.data.toString(), 'abcd');
    t.is(r.fds.length, 2);
    for (const fd of r.fds) t.is(inodeOf(fd), inodeOf(p.fd));
    for (const fd of r.fds) native.close(fd);
    r.fds.length = 0;
    dispose();
    lowlevel.close(p.fd);
    await assertProbeClosed(t, p);
    await assertFdsBack(t, baseline);
  });

  test(`${form.name}: a stream write larger than the send buffer is partial: fewer bytes than given, not an error`, async (t) => {
    const baseline = fdCount();
    const { h, peer, dispose } = handlePair(constants.SOCK_STREAM);
    t.is(native.setsockopt(h.fd, constants.SOL_SOCKET, constants.SO_SNDBUF, 4096), 0);
    const big = Buffer.alloc(4 << 20, 0x61);
    const n = form.send(h, big, null, null, 0);
    t.true(n > 0 && n < big.length, `sent ${n} of ${big.length}`);
    const r = receive(t, peer);
    t.true(r.data.length > 0 && r.data.every((b) => b === 0x61));
    dispose();
    await assertFdsBack(t, baseline);
  });

  test(`${form.name}: one stream byte with an fd: the fd arrives with it`, async (t) => {
    const baseline = fdCount();
    const p = probe();
    const { h, peer, dispose } = handlePair(constants.SOCK_STREAM);
    t.is(form.send(h, Buffer.from('x'), [p.fd], null, 0), 1);
    const r = receive(t, peer);
    t.is(r.data.toString(), 'x');
    t.is(r.fds.length, 1);
    t.is(inodeOf(r.fds[0]!), inodeOf(p.fd));
    dispose();
    lowlevel.close(p.fd);
    native.close(r.fds[0]!);
    r.fds.length = 0;
    await assertProbeClosed(t, p);
    await assertFdsBack(t, baseline);
  });

  test(`${form.name}: a full socket: send() and sendBatch() return -EAGAIN`, async (t) => {
    const baseline = fdCount();
    const { h, dispose } = handlePair(constants.SOCK_SEQPACKET);
    const chunk = Buffer.alloc(4096);
    let r = 0;
    for (let i = 0; i < 100_000 && r >= 0; i++) r = form.send(h, chunk, null, null, 0);
    t.is(r, -EAGAIN);
    t.is(form.sendBatch(h, [chunk, chunk], undefined, undefined, 0, 2), -EAGAIN);
    dispose();
    await assertFdsBack(t, baseline);
  });

  test(`${form.name}: sendBatch() sends messages [start, end) in order, each with its own fds`, async (t) => {
    const baseline = fdCount();
    const p = probe();
    const { h, peer, dispose } = handlePair(constants.SOCK_SEQPACKET);
    const datas = [Buffer.from('skip'), Buffer.from('one'), [Buffer.from('t'), Buffer.from('wo')], Buffer.from('three')];
    t.is(form.sendBatch(h, datas, [null, null, [p.fd], null], undefined, 1, 4), 3);
    const got = [receive(t, peer), receive(t, peer), receive(t, peer)];
    t.deepEqual(
      got.map((r) => r.data.toString()),
      ['one', 'two', 'three'],
    );
    t.deepEqual(
      got.map((r) => r.fds.length),
      [0, 1, 0],
    );
    t.is(inodeOf(got[1]!.fds[0]!), inodeOf(p.fd));
    native.close(got[1]!.fds[0]!);
    got[1]!.fds.length = 0;
    dispose();
    lowlevel.close(p.fd);
    await assertProbeClosed(t, p);
    await assertFdsBack(t, baseline);
  });

  test(`${form.name}: a closed handle: send() and sendBatch() return -EBADF, with or without fds, and nothing is sent`, async (t) => {
    const baseline = fdCount();
    const p = probe();
    const { h, peer, dispose } = handlePair(constants.SOCK_SEQPACKET);
    t.is(h.close(), 0);
    t.is(form.send(h, Buffer.from('x'), null, null, 0), -EBADF);
    t.is(form.send(h, Buffer.from('x'), [p.fd], null, 0), -EBADF);
    t.is(form.sendBatch(h, [Buffer.from('x')], [[p.fd]], undefined, 0, 1), -EBADF);
    t.is(receive(t, peer).data.length, 0, 'EOF: the peer end saw nothing but the close');
    dispose();
    lowlevel.close(p.fd);
    await assertProbeClosed(t, p);
    await assertFdsBack(t, baseline);
  });

  test(`${form.name}: arguments the kernel is never asked about: an empty range and too many fds return -EINVAL`, async (t) => {
    const baseline = fdCount();
    const { h, dispose } = handlePair(constants.SOCK_SEQPACKET);
    const data = [Buffer.from('x')];
    t.is(form.sendBatch(h, data, undefined, undefined, 0, 0), -EINVAL);
    t.is(form.sendBatch(h, data, undefined, undefined, 0, 2), -EINVAL);
    t.is(form.send(h, data, new Array<number>(constants.SCM_MAX_FD + 1).fill(h.fd), null, 0), -EINVAL);
    dispose();
    await assertFdsBack(t, baseline);
  });
}

test('handle.send(…) on a handle never opened returns -EBADF; on a foreign `this` it throws before the addon runs, as every method does', async (t) => {
  const baseline = fdCount();
  const h = new native.SocketHandle();
  t.is(h.send(Buffer.from('x'), null, null, 0), -EBADF);
  t.is(h.sendBatch([Buffer.from('x')], undefined, undefined, 0, 1), -EBADF);
  // V8 checks the receiver of a napi_define_class method against the class.
  const foreign = Object.create(native.SocketHandle.prototype as object) as NativeSocketHandle;
  /* eslint-disable @typescript-eslint/unbound-method -- the point: the handle's methods called on another receiver */
  for (const call of [
    () => Reflect.apply(h.send, foreign, [Buffer.from('x'), null, null, 0]),
    () => Reflect.apply(h.sendBatch, foreign, [[Buffer.from('x')], undefined, undefined, 0, 1]),
    () => Reflect.apply(h.close, foreign, []),
  ]) {
    /* eslint-enable @typescript-eslint/unbound-method */
    t.throws(call, { instanceOf: TypeError, message: 'Illegal invocation' });
  }
  await assertFdsBack(t, baseline);
});

test("handle.send(…) whose fds getter closes the handle, and opens a socket that reuses its number, returns -EBADF: the handle's fd is read after every value", async (t) => {
  const baseline = fdCount();
  const p = probe();
  const { h, dispose } = handlePair(constants.SOCK_SEQPACKET);
  const oldFd = h.fd;
  const reused = new Int32Array(2);
  const fds: number[] = [];
  Object.defineProperty(fds, 0, {
    get(): number {
      h.close();
      t.is(native.socketpair(constants.SOCK_SEQPACKET, reused), 0);
      return p.fd;
    },
    enumerable: true,
  });
  t.is(h.send(Buffer.from('x'), fds, null, 0), -EBADF);
  t.is(reused[0], oldFd, "the new socket took the closed handle's number");
  t.is(native.recvmsg(reused[1]!, 16, 64, 0), -EAGAIN, 'nothing reached the socket that reused the number');
  native.close(reused[0]!);
  native.close(reused[1]!);
  dispose();
  lowlevel.close(p.fd);
  await assertProbeClosed(t, p);
  await assertFdsBack(t, baseline);
});
