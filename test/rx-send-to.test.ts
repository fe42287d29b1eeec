// sendTo(): pull-based backpressure for iterables, push for observables,
// end and errors, fd hand-over with closeFds, teardown, and a socket that
// fails under it without crashing the process.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import { firstValueFrom, from, lastValueFrom, NEVER, Subject, toArray } from 'rxjs';
import { socketPair, type UnixMessageSocket } from '../src/index';
import { fromSocket, processMessages, sendTo, type Sendable } from '../src/rx/index';
import { assertProbeClosed, closeAll, contentOf, delay, fileWithContent, isOpen, leakFree, probe, runFixture, settled, take, tick, waitFor } from './helpers';

test(
  'sendTo pulls a generator of 1e5 messages only as fast as a slow reader takes them: queue and lead stay bounded',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket', { writableHighWaterMark: 16, readableHighWaterMark: 16 });
    const N = 100_000;
    let produced = 0;
    let consumed = 0;
    let maxLead = 0;
    let maxQueued = 0;
    function* messages(): Generator<Sendable> {
      for (let i = 0; i < N; i++) {
        produced++;
        maxLead = Math.max(maxLead, produced - consumed);
        maxQueued = Math.max(maxQueued, a.writableLength);
        const data = Buffer.alloc(8);
        data.writeUInt32BE(i, 0);
        yield data;
      }
    }
    const heapBefore = process.memoryUsage().heapUsed;
    let maxHeapGrowth = 0;
    const sent = lastValueFrom(sendTo(a)(messages()));
    let ordered = true;
    await lastValueFrom(
      processMessages(b, async (m) => {
        ordered &&= m.data.readUInt32BE(0) === consumed;
        consumed++;
        if (consumed % 1000 === 0) {
          maxHeapGrowth = Math.max(maxHeapGrowth, process.memoryUsage().heapUsed - heapBefore);
          await delay(2); // a slow consumer, part of the scenario
        }
      }),
    );
    t.is(await sent, N, 'sendTo emits the number of messages written');
    t.is(consumed, N);
    t.true(ordered, 'every message arrived, in order');
    t.true(maxQueued <= 16, `the socket's writable queue never passed its high-water mark (max ${maxQueued})`);
    // The lead is what sits in the writable queue, the kernel (max_dgram_qlen)
    // and the reader's buffer: a few hundred. An eager source would lead by N.
    t.true(maxLead < 2000, `the generator was never far ahead of the reader (max lead ${maxLead})`);
    t.log(`max lead ${maxLead}, max queued ${maxQueued}, max heap growth ${(maxHeapGrowth / 2 ** 20).toFixed(1)} MiB`);
    await Promise.all([settled(a.resume()), settled(b)]);
  }),
);

test(
  "sendTo writes an Observable's messages in order, ends the socket when it completes, and emits the count",
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const received = lastValueFrom(fromSocket(b).pipe(toArray()));
    const count = await lastValueFrom(from(['one', Buffer.from('two'), { data: 'three' }]).pipe(sendTo(a)));
    t.is(count, 3);
    t.true(a.writableFinished, 'the socket was ended');
    t.deepEqual(
      (await received).map((m) => m.data.toString()),
      ['one', 'two', 'three'],
    );
    await Promise.all([settled(a.resume()), settled(b)]);
  }),
);

test(
  'sendTo with end: false completes once every write has called back and leaves the socket writable',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    t.is(await lastValueFrom(sendTo(a, { end: false })(['x', 'y'])), 2);
    t.false(a.writableEnded);
    a.end('z');
    const got = await lastValueFrom(fromSocket(b).pipe(toArray()));
    t.deepEqual(
      got.map((m) => m.data.toString()),
      ['x', 'y', 'z'],
    );
    await Promise.all([settled(a.resume()), settled(b)]);
  }),
);

test(
  'sendTo pulls an async iterable too, and waits for each value',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    async function* slow(): AsyncGenerator<string> {
      for (let i = 0; i < 5; i++) {
        await delay(2); // a slow source, part of the scenario
        yield `m${i}`;
      }
    }
    const received = lastValueFrom(fromSocket(b).pipe(toArray()));
    t.is(await lastValueFrom(sendTo(a)(slow())), 5);
    t.deepEqual(
      (await received).map((m) => m.data.toString()),
      ['m0', 'm1', 'm2', 'm3', 'm4'],
    );
    await Promise.all([settled(a.resume()), settled(b)]);
  }),
);

test(
  'sendTo errors with EBADF for a message whose fd is closed, and the socket stays usable',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const fd = fs.openSync('/dev/null', 'r');
    fs.closeSync(fd);
    const err = await lastValueFrom(sendTo(a, { end: false })([{ data: 'bad', fds: [fd] }])).catch((e: NodeJS.ErrnoException) => e);
    t.is((err as NodeJS.ErrnoException).code, 'EBADF');
    t.false(a.destroyed);
    a.end('after');
    const got = await lastValueFrom(fromSocket(b).pipe(toArray()));
    t.deepEqual(
      got.map((m) => m.data.toString()),
      ['after'],
    );
    await Promise.all([settled(a.resume()), settled(b)]);
  }),
);

test(
  'sendTo errors when the source errors, having written what came before, and leaves the socket open',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const source = new Subject<string>();
    const result = lastValueFrom(source.pipe(sendTo(a))).catch((e: Error) => e.message);
    source.next('before');
    source.error(new Error('source failed'));
    t.is(await result, 'source failed');
    t.false(a.writableEnded || a.destroyed, 'an erroring source neither ends nor destroys the socket');
    const [m] = await take(b, 1);
    t.is(m?.data.toString(), 'before');
    a.destroy();
    b.destroy();
    await Promise.all([settled(a), settled(b)]);
  }),
);

test(
  'sendTo with closeFds forwards received fds and closes its own copies: no copy survives the hop',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const [c, d] = socketPair('seqpacket');
    const p = probe();
    for (let i = 0; i < 5; i++) a.write({ data: `m${i}`, fds: [p.fd] });
    a.end();
    fs.closeSync(p.fd);
    const forwarded = await lastValueFrom(fromSocket(b).pipe(sendTo(c, { closeFds: true })));
    t.is(forwarded, 5);
    const arrived = await lastValueFrom(fromSocket(d).pipe(toArray()));
    t.deepEqual(
      arrived.map((m) => m.fds.length),
      [1, 1, 1, 1, 1],
    );
    t.false(p.isClosed(), 'the forwarded copies are open on the far side');
    closeAll(arrived.flatMap((m) => m.fds));
    await assertProbeClosed(t, p);
    await Promise.all([settled(a.resume()), settled(b), settled(c.resume()), settled(d)]);
  }),
);

test(
  'sendTo with closeFds forwards empty messages with fds between framed stream sockets, as write() takes them',
  leakFree(async (t) => {
    const [a, b] = socketPair('stream', { framed: true });
    const [c, d] = socketPair('stream', { framed: true });
    const p = probe();
    for (let i = 0; i < 3; i++) a.write({ data: Buffer.alloc(0), fds: [p.fd] });
    a.end();
    fs.closeSync(p.fd);
    const forwarded = await lastValueFrom(fromSocket(b).pipe(sendTo(c, { closeFds: true })));
    t.is(forwarded, 3);
    const arrived = await lastValueFrom(fromSocket(d).pipe(toArray()));
    t.deepEqual(
      arrived.map((m) => [m.data.length, m.fds.length]),
      [
        [0, 1],
        [0, 1],
        [0, 1],
      ],
    );
    closeAll(arrived.flatMap((m) => m.fds));
    await assertProbeClosed(t, p);
    await Promise.all([settled(a.resume()), settled(b), settled(c.resume()), settled(d)]);
  }),
);

test(
  'unsubscribing from sendTo stops pulling and returns the iterator; the socket is neither ended nor destroyed',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket', { writableHighWaterMark: 4 });
    let produced = 0;
    let returned = false;
    function* endless(): Generator<string> {
      try {
        for (;;) {
          produced++;
          yield `m${produced}`;
        }
      } finally {
        returned = true;
      }
    }
    // b does not read: the kernel fills, then the writable queue, then sendTo waits for 'drain'.
    b.pause();
    const subscription = sendTo(a)(endless()).subscribe();
    await waitFor(() => a.writableNeedDrain);
    const before = produced;
    t.true(before > 4, 'it did write');
    subscription.unsubscribe();
    t.true(returned, 'the generator was returned (its finally ran)');
    b.resume();
    await waitFor(() => !a.writableNeedDrain);
    await delay(50); // a negative check: no event marks a value that is never pulled
    t.is(produced, before, 'nothing more was pulled, also after drain');
    t.false(a.writableEnded || a.destroyed);
    a.destroy();
    b.destroy();
    await Promise.all([settled(a), settled(b)]);
  }),
);

test(
  'sendTo errors with ERR_STREAM_PREMATURE_CLOSE when the socket is destroyed while the source is idle',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const result = firstValueFrom(NEVER.pipe(sendTo(a))).catch((e: NodeJS.ErrnoException) => e.code);
    a.destroy();
    t.is(await result, 'ERR_STREAM_PREMATURE_CLOSE');
    const late = await firstValueFrom(NEVER.pipe(sendTo(a))).catch((e: NodeJS.ErrnoException) => e.code);
    t.is(late, 'ERR_STREAM_DESTROYED', 'a socket already destroyed is refused at once');
    b.destroy();
    await Promise.all([settled(a), settled(b)]);
  }),
);

// A socket whose write fails for good (the peer went away, or the caller
// ended it) calls the write's callback first and emits the same error as
// 'error' a tick later (Node's writable.js onwriteError, and _write() for a
// write after end). sendTo has errored its subscriber and unsubscribed by
// then; that 'error' must not crash the process. Each case runs in a child
// (fixtures/rx-send-to-peer-gone.js), so that a crash fails the test.

interface PeerGoneReport {
  seen: string[];
  errored: boolean;
  uncaught: string | null;
  errorListeners: number;
  closeListeners: number;
  fdDelta: number;
}

type SocketKind = 'seqpacket' | 'stream';
type SourceKind = 'observable' | 'iterable';

function peerGone(t: ExecutionContext, type: SocketKind, cause: string, source: SourceKind): PeerGoneReport | undefined {
  const run = runFixture<PeerGoneReport>('rx-send-to-peer-gone.js', [type, cause, source]);
  t.is(run.status, 0, `the child exited with ${String(run.status ?? run.signal)}:\n${run.stderr}`);
  return run.report;
}

const failures: Array<{ cause: string; code: string; when: string }> = [
  { cause: 'reset', code: 'ECONNRESET', when: 'the peer closes with our messages unread' },
  { cause: 'pipe', code: 'EPIPE', when: 'the peer has closed before a write' },
  { cause: 'after-end', code: 'ERR_STREAM_WRITE_AFTER_END', when: 'the caller ended the socket before the source emitted' },
];

for (const { cause, code, when } of failures) {
  for (const type of ['seqpacket', 'stream'] as const) {
    for (const source of ['observable', 'iterable'] as const) {
      test(`sendTo from an ${source} on ${type}: when ${when}, the subscriber gets ${code} once and the socket's 'error' after it does not crash the process`, (t) => {
        const report = peerGone(t, type, cause, source);
        if (report === undefined) return;
        t.deepEqual(report.seen, [`error ${code}`], 'one error, nothing else');
        t.true(report.errored, "the subscriber's error is the socket's own (socket.errored)");
        t.is(report.uncaught, null);
        t.is(report.errorListeners, 0, "no 'error' listener left on the closed socket");
        t.is(report.closeListeners, 0, "no 'close' listener left on the closed socket");
        t.is(report.fdDelta, 0, 'fd count back to baseline');
      });
    }
  }
}

for (const [type, source] of [
  ['seqpacket', 'observable'],
  ['stream', 'iterable'],
] as const) {
  test(`sendTo from an ${source} on ${type} swallows only the error its subscriber got: a different 'error' that nobody handles still reaches 'uncaughtException'`, (t) => {
    // The subscriber gets EPIPE from the write's callback and destroys the
    // socket with E_OTHER before Writable destroys it with EPIPE: the socket
    // emits E_OTHER, which nobody was given.
    const report = peerGone(t, type, 'other', source);
    if (report === undefined) return;
    t.deepEqual(report.seen, ['error EPIPE']);
    t.is(report.uncaught, 'E_OTHER');
    t.is(report.fdDelta, 0, 'fd count back to baseline');
  });
}

test(
  "sendTo leaves no listener on a socket that stays open after a message's own error (EBADF)",
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const errorListeners = a.listenerCount('error');
    const closeListeners = a.listenerCount('close');
    const fd = fs.openSync('/dev/null', 'r');
    fs.closeSync(fd);
    const err = await lastValueFrom(sendTo(a, { end: false })([{ data: 'bad', fds: [fd] }])).catch((e: NodeJS.ErrnoException) => e);
    t.is((err as NodeJS.ErrnoException).code, 'EBADF');
    await tick(); // a negative check: no event marks a socket that is not destroyed
    t.false(a.destroyed);
    t.is(a.listenerCount('error'), errorListeners, "no 'error' listener left behind");
    t.is(a.listenerCount('close'), closeListeners, "no 'close' listener left behind");
    a.destroy();
    b.destroy();
    await Promise.all([settled(a), settled(b)]);
  }),
);

test('sendTo() refuses a socket, option or source that is not one, with ERR_* codes, when called or applied', (t) => {
  const [a, b] = socketPair('seqpacket');
  const codeOf = (call: () => unknown): unknown => (t.throws(call) as Error & { code?: string }).code;
  t.is(
    codeOf(() => sendTo(42 as unknown as UnixMessageSocket)),
    'ERR_INVALID_ARG_TYPE',
  );
  t.is(
    codeOf(() => sendTo(a, { closeFds: 'yes' as unknown as boolean })),
    'ERR_INVALID_ARG_TYPE',
  );
  t.is(
    codeOf(() => sendTo(a, { end: 1 as unknown as boolean })),
    'ERR_INVALID_ARG_TYPE',
  );
  for (const source of [42, null, {}, Buffer.from('one message, not a source'), Object.create(Uint8Array.prototype) as object]) {
    t.is(
      codeOf(() => sendTo(a)(source as Iterable<Sendable>)),
      'ERR_INVALID_ARG_TYPE',
    );
  }
  a.destroy();
  b.destroy();
});

test(
  'sendTo() writes nothing more once a write of a synchronous source has failed',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const err = (await lastValueFrom(sendTo(a, { end: false })(from(['first', { data: 42 } as unknown as Sendable, 'after the failure']))).catch(
      (e: unknown) => e,
    )) as Error & { code?: string };
    t.is(err.code, 'ERR_INVALID_ARG_TYPE');
    await waitFor(() => b.readableLength > 0);
    await delay(20); // a negative check: no event marks a write that never happens
    const got: string[] = [];
    for (let m = b.read(); m !== null; m = b.read()) got.push(m.data.toString());
    t.deepEqual(got, ['first']);
    a.destroy();
    b.destroy();
    await Promise.all([settled(a), settled(b)]);
  }),
);

test(
  'sendTo({ closeFds: true }) reads each message once, closes exactly the fds it wrote, and sends lent fds before closing them',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const written = fileWithContent('written');
    const other = fileWithContent('other');
    let reads = 0;
    // A getter that names another fd on a second read: the fd closed must be the one sent.
    const changing = {
      data: 'changing',
      get fds(): number[] {
        return ++reads === 1 ? [written] : [other];
      },
    };
    const lentFile = fileWithContent('lent');
    const lent = { data: 'lent', fds: [lentFile], lend: true };
    await lastValueFrom(sendTo(a, { closeFds: true, end: false })(from([changing, lent])));
    t.is(reads, 1);
    t.false(isOpen(written), 'the fd written was closed');
    t.true(isOpen(other), 'an fd the message named only on a second read is left alone');
    t.false(isOpen(lentFile));
    const got = await take(b, 2);
    t.deepEqual(
      got.map((m) => m.data.toString()),
      ['changing', 'lent'],
    );
    t.deepEqual(
      got.map((m) => m.fds.map(contentOf)),
      [['written'], ['lent']],
    );
    for (const m of got) closeAll(m.fds);
    closeAll([other]);
    a.destroy();
    b.destroy();
    await Promise.all([settled(a), settled(b)]);
  }),
);
