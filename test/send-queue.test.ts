// The outgoing queue (src/stream/send-queue.ts) through a fake SendPort: the
// kernel's answers (partial byte counts, EAGAIN, ENOBUFS, ETOOMANYREFS,
// errors) are scripted, so each path is proven without filling a kernel
// queue. Real files stand in for the fds: the queue duplicates them with
// dup(2) and closes its dups, and the tests check which fd numbers are open.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import type { FdList, Gather } from '../src/native/binding';
import { errno } from '../src/stream/errors';
import type { QueuedMessage } from '../src/stream/queued-message';
import { SendQueue, type SendLink, type SendPort } from '../src/stream/send-queue';
import type { SocketType } from '../src/stream/types';
import { assertFdsBack, fdCount, fileWithContent, inodeOf, isOpen } from './helpers';

// Positive errno numbers (errno() gives them negative); the fake port answers -errno, as the binding does.
const [EAGAIN, ENOBUFS, ETOOMANYREFS, EMSGSIZE, EPIPE] = ['EAGAIN', 'ENOBUFS', 'ETOOMANYREFS', 'EMSGSIZE', 'EPIPE'].map((n) => -errno(n)) as [
  number,
  number,
  number,
  number,
  number,
];

function bytesOf(data: Gather): string {
  const parts = Array.isArray(data) ? (data as readonly ArrayBufferView[]) : [data as ArrayBufferView];
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))).toString();
}

interface SendCall {
  kind: 'send';
  data: string;
  fds: number[] | null;
  address: string | null;
}
interface BatchCall {
  kind: 'batch';
  datas: string[];
  fds: Array<number[] | null> | undefined;
  addresses: Array<string | null> | undefined;
}

/** A port that records every call and answers from `answers`, in order. */
class FakePort implements SendPort {
  readonly fd = 1000;
  readonly calls: Array<SendCall | BatchCall> = [];
  readonly answers: number[] = [];

  #next(): number {
    const r = this.answers.shift();
    if (r === undefined) throw new Error('the queue sent more than the test scripted');
    return r;
  }

  send(data: Gather, fds: FdList, address: string | null): number {
    this.calls.push({ kind: 'send', data: bytesOf(data), fds: fds === null ? null : Array.from(fds), address });
    return this.#next();
  }

  sendBatch(
    datas: readonly Gather[],
    fds: readonly FdList[] | undefined,
    addresses: ReadonlyArray<string | null> | undefined,
    start: number,
    end: number,
  ): number {
    this.calls.push({
      kind: 'batch',
      datas: datas.slice(start, end).map(bytesOf),
      fds: fds?.slice(start, end).map((f) => (f === null ? null : Array.from(f))),
      addresses: addresses?.slice(start, end),
    });
    return this.#next();
  }
}

class FakeOwner implements SendLink {
  waits = 0;
  stops = 0;
  retries = 0;
  progress = 0;
  freed = 0;
  readonly remote = '\0peer';
  waitWritable(): void {
    this.waits++;
  }
  stopWatchingWritable(): void {
    this.stops++;
  }
  retryLater(): void {
    this.retries++;
  }
  progressed(): void {
    this.progress++;
  }
  readonly fdRoomFreed = (): void => {
    this.freed++;
  };
}

function setup(type: SocketType, maxQueuedFds = 1000): { port: FakePort; owner: FakeOwner; queue: SendQueue } {
  const port = new FakePort();
  const owner = new FakeOwner();
  return { port, owner, queue: new SendQueue(type, port, owner, maxQueuedFds, owner.fdRoomFreed) };
}

/** Queues chunks as Writable would hand them to _writev (no send from write()). */
function queued(queue: SendQueue, chunks: unknown[]): QueuedMessage[] {
  return chunks.map((c) => {
    const q = queue.queue(c);
    if (q instanceof Error) throw q;
    return q;
  });
}

/** Write callbacks and their arguments. */
function callbacks(): { calls: Array<Error | null | undefined>; cb: (err?: Error | null) => void } {
  const calls: Array<Error | null | undefined> = [];
  return { calls, cb: (err) => calls.push(err) };
}

async function withFds(t: ExecutionContext, n: number, body: (files: number[]) => void | Promise<void>): Promise<void> {
  const baseline = fdCount();
  const files = Array.from({ length: n }, (_, i) => fileWithContent(`file ${i}`));
  try {
    await body(files);
  } finally {
    for (const f of files) fs.closeSync(f);
  }
  await assertFdsBack(t, baseline);
}

test('stream: a partial write resends exactly the rest, without the fds, which went with the first byte; EAGAIN asks for a writable wait', async (t) => {
  await withFds(t, 1, ([file]) => {
    const { port, owner, queue } = setup('stream');
    const [a, b] = queued(queue, [{ data: Buffer.from('aaaaaaaaaa'), fds: [file] }, Buffer.from('bbbbb')]);
    const dup = a!.dups![0]!;
    t.not(dup, file, 'the queued message holds a dup of its own');
    t.is(inodeOf(dup), inodeOf(file!), 'the dup is the same file');
    t.is(queue.queuedFds, 1);
    const { calls, cb } = callbacks();
    port.answers.push(4, -EAGAIN);
    queue.start([a, b], cb, false);
    t.deepEqual(
      port.calls,
      [
        { kind: 'send', data: 'aaaaaaaaaabbbbb', fds: [dup], address: null },
        { kind: 'send', data: 'aaaaaabbbbb', fds: null, address: null },
      ],
      'one gathering sendmsg, then the rest of the first message and all of the second, with no fds',
    );
    t.false(isOpen(dup), 'the dup was closed once its first byte was in the kernel');
    t.is(queue.queuedFds, 0);
    t.is(owner.waits, 1, 'EAGAIN asked for a writable wait');
    t.is(owner.retries, 0);
    t.deepEqual(calls, [], 'no callback while bytes remain');
    t.true(queue.writing);
    // The dup's number is free again: whatever opens next may take it. A
    // second close of the dup would close that file instead.
    const reuse = fileWithContent('reuse');
    try {
      port.answers.push(11);
      queue.flush();
      t.deepEqual(port.calls[2], { kind: 'send', data: 'aaaaaabbbbb', fds: null, address: null });
      t.deepEqual(calls, [null], 'the callback came once, with no error');
      t.is(owner.stops, 1, 'the writable wait is no longer needed');
      t.true(owner.progress >= 2);
      t.true(a!.sent && b!.sent);
      queue.flush();
      queue.close(null);
      t.is(port.calls.length, 3, 'nothing is sent twice');
      t.deepEqual(calls, [null], 'the callback did not come again');
      t.true(isOpen(reuse), 'the dup was closed exactly once');
    } finally {
      fs.closeSync(reuse);
    }
  });
});

test('stream: each message with fds starts its own sendmsg, so its fds go with its own first byte', async (t) => {
  await withFds(t, 2, ([f1, f2]) => {
    const { port, queue } = setup('stream');
    const ms = queued(queue, [Buffer.from('xx'), { data: Buffer.from('yyy'), fds: [f1] }, Buffer.from('zz'), { data: Buffer.from('w'), fds: [f2] }]);
    const d1 = ms[1]!.dups![0]!,
      d2 = ms[3]!.dups![0]!;
    const { calls, cb } = callbacks();
    port.answers.push(2, 5, 1);
    queue.start(ms, cb, false);
    t.deepEqual(port.calls, [
      { kind: 'send', data: 'xx', fds: null, address: null },
      { kind: 'send', data: 'yyyzz', fds: [d1], address: null },
      { kind: 'send', data: 'w', fds: [d2], address: null },
    ]);
    t.deepEqual(calls, [null]);
    t.false(isOpen(d1) || isOpen(d2), 'every dup closed');
    t.is(queue.queuedFds, 0);
  });
});

test('seqpacket: ETOOMANYREFS asks for a timed retry and keeps the dups; the retry sends the batch, then the rest alone', async (t) => {
  await withFds(t, 3, (files) => {
    const { port, owner, queue } = setup('seqpacket');
    const ms = queued(
      queue,
      files.map((f, i) => ({ data: Buffer.from(`m${i}`), fds: [f] })),
    );
    const dups = ms.map((m) => m.dups![0]!);
    t.is(queue.queuedFds, 3);
    const { calls, cb } = callbacks();
    port.answers.push(-ETOOMANYREFS);
    queue.start(ms, cb, false);
    t.is(owner.retries, 1, 'ETOOMANYREFS asked for a timed retry');
    t.is(owner.waits, 0, 'no poll event announces room for fds in flight');
    t.true(dups.every(isOpen), 'the dups wait with their messages');
    t.deepEqual(calls, []);
    port.answers.push(2, -ENOBUFS);
    queue.flush();
    t.deepEqual(port.calls[1], { kind: 'batch', datas: ['m0', 'm1', 'm2'], fds: [[dups[0]!], [dups[1]!], [dups[2]!]], addresses: undefined });
    t.false(isOpen(dups[0]!) || isOpen(dups[1]!), 'the two messages the kernel took released their dups');
    t.true(isOpen(dups[2]!));
    t.is(queue.queuedFds, 1);
    t.deepEqual(port.calls[2], { kind: 'send', data: 'm2', fds: [dups[2]!], address: null }, 'the one left goes by plain sendmsg');
    t.is(owner.waits, 1, 'ENOBUFS asked for a writable wait');
    port.answers.push(2);
    queue.flush();
    t.is(port.calls.length, 4);
    t.deepEqual(calls, [null], 'the callback came once');
    t.false(isOpen(dups[2]!));
    t.is(queue.queuedFds, 0);
  });
});

test('seqpacket: EMSGSIZE fails only its message; EPIPE fails the write and releases every dup still held', async (t) => {
  await withFds(t, 3, (files) => {
    const { port, queue } = setup('seqpacket');
    const ms = queued(
      queue,
      files.map((f, i) => ({ data: Buffer.from(`m${i}`), fds: [f] })),
    );
    const dups = ms.map((m) => m.dups![0]!);
    const { calls, cb } = callbacks();
    // A sendmmsg error with nothing sent is its first message's: m0 is too
    // big and fails alone; the batch of m1 and m2 then meets a reset.
    port.answers.push(-EMSGSIZE);
    port.answers.push(-EPIPE);
    queue.start(ms, cb, false);
    t.is((ms[0]!.error as NodeJS.ErrnoException | null)?.code, 'EMSGSIZE', 'the first message failed on its own');
    t.false(isOpen(dups[0]!));
    t.is(port.calls.length, 2);
    t.is(calls.length, 1, 'one callback');
    t.is((calls[0] as NodeJS.ErrnoException).code, 'EPIPE', 'the write failed with EPIPE');
    t.false(dups.some(isOpen), 'every dup was released');
    t.is(queue.queuedFds, 0);
    t.false(queue.writing);
  });
});

test('dgram: EAGAIN to an address backs off on a timer, as poll() reports an unconnected socket writable', (t) => {
  const { port, owner, queue } = setup('dgram');
  const ms = queued(queue, [{ data: Buffer.from('to'), address: '\0somewhere' }]);
  const { calls, cb } = callbacks();
  port.answers.push(-EAGAIN);
  queue.start(ms, cb, false);
  t.deepEqual(port.calls, [{ kind: 'send', data: 'to', fds: null, address: '\0somewhere' }]);
  t.is(owner.retries, 1);
  t.is(owner.waits, 0);
  t.deepEqual(calls, []);
  port.answers.push(2);
  queue.flush();
  t.deepEqual(calls, [null]);
});

test("write() on an idle queue sends the caller's fds at once, with no dup; EAGAIN falls back to dups", async (t) => {
  await withFds(t, 1, ([file]) => {
    const { port, queue } = setup('seqpacket');
    port.answers.push(3);
    const now = queue.queue({ data: Buffer.from('now'), fds: [file] }, () => true) as QueuedMessage;
    t.deepEqual(port.calls, [{ kind: 'send', data: 'now', fds: [file], address: null }], "the caller's own fd went");
    t.true(now.sent);
    t.is(now.dups, null);
    t.is(queue.queuedFds, 0);
    port.answers.push(-EAGAIN);
    const later = queue.queue({ data: Buffer.from('later'), fds: [file] }, () => true) as QueuedMessage;
    t.false(later.sent);
    t.is(later.dups!.length, 1);
    t.not(later.dups![0], file);
    t.is(queue.queuedFds, 1);
    const dup = later.dups![0]!;
    const { calls, cb } = callbacks();
    port.answers.push(5);
    queue.start([later], cb, false);
    t.deepEqual(port.calls[2], { kind: 'send', data: 'later', fds: [dup], address: null });
    t.deepEqual(calls, [null]);
    t.false(isOpen(dup));
  });
});

test('stream: a partial write from write() leaves the rest queued without fds', async (t) => {
  await withFds(t, 1, ([file]) => {
    const { port, queue } = setup('stream');
    port.answers.push(2);
    const q = queue.queue({ data: Buffer.from('abcdef'), fds: [file] }, () => true) as QueuedMessage;
    t.false(q.sent);
    t.is(q.byteLength, 4);
    t.is(q.dups, null, 'no dups: the fds went with the first byte');
    t.is(queue.queuedFds, 0);
    const { calls, cb } = callbacks();
    port.answers.push(4);
    queue.start([q], cb, false);
    t.deepEqual(port.calls[1], { kind: 'send', data: 'cdef', fds: null, address: null });
    t.deepEqual(calls, [null]);
  });
});

test('a fatal error from write() itself fails the write when it reaches _write, with nothing resent', async (t) => {
  await withFds(t, 1, ([file]) => {
    const { port, queue } = setup('seqpacket');
    port.answers.push(-EPIPE);
    const q = queue.queue({ data: Buffer.from('x'), fds: [file] }, () => true) as QueuedMessage;
    t.true(q.fatal);
    const { calls, cb } = callbacks();
    queue.start([q], cb, false);
    t.is(port.calls.length, 1);
    t.is((calls[0] as NodeJS.ErrnoException).code, 'EPIPE');
    t.is(calls.length, 1);
  });
});

test('the dups held are bounded: overFdBound() owes a drain, and fdRoomFreed() comes once they fall below', async (t) => {
  await withFds(t, 2, ([f1, f2]) => {
    const { port, owner, queue } = setup('seqpacket', 2);
    const ms = queued(queue, [{ data: Buffer.from('a'), fds: [f1] }]);
    t.false(queue.overFdBound());
    ms.push(...queued(queue, [{ data: Buffer.from('b'), fds: [f2] }]));
    t.true(queue.overFdBound());
    t.true(queue.needDrain);
    const { calls, cb } = callbacks();
    port.answers.push(2);
    queue.start(ms, cb, false);
    t.is(owner.freed, 1, 'fdRoomFreed() once');
    t.false(queue.needDrain);
    t.deepEqual(calls, [null]);
  });
});

test('close() while a write waits releases its dups once and fails it with ERR_STREAM_DESTROYED once', async (t) => {
  await withFds(t, 1, ([file]) => {
    const { port, queue } = setup('seqpacket');
    const ms = queued(queue, [{ data: Buffer.from('a'), fds: [file] }]);
    const dup = ms[0]!.dups![0]!;
    const { calls, cb } = callbacks();
    port.answers.push(-EAGAIN);
    queue.start(ms, cb, false);
    t.true(isOpen(dup));
    queue.close(null);
    t.false(isOpen(dup));
    t.is(queue.queuedFds, 0);
    t.is(calls.length, 1);
    t.is((calls[0] as NodeJS.ErrnoException).code, 'ERR_STREAM_DESTROYED');
    const reuse = fileWithContent('reuse');
    try {
      queue.close(null);
      queue.flush();
      t.is(port.calls.length, 1, 'a closed queue sends nothing');
      t.true(isOpen(reuse), 'the dup was closed exactly once');
      t.is(calls.length, 1);
    } finally {
      fs.closeSync(reuse);
    }
  });
});

test('a connecting socket holds the write until flush()', (t) => {
  const { port, queue } = setup('seqpacket');
  const ms = queued(queue, [Buffer.from('a')]);
  const { calls, cb } = callbacks();
  queue.start(ms, cb, true);
  t.is(port.calls.length, 0);
  t.true(queue.writing);
  port.answers.push(1);
  queue.flush();
  t.deepEqual(calls, [null]);
});
