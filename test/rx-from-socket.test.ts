// fromSocket() and processMessages() over real sockets: completion, errors,
// teardown, fd ownership (fd-count and probe oracles), backpressure, and a
// subscription that ends between its socket's failure and its 'error'.
import test from 'ava';
import fs from 'node:fs';
import { firstValueFrom, lastValueFrom, map, mergeMap, take, toArray, type Subscription } from 'rxjs';
import { lowlevel, socketPair, UnixMessageSocket, type UnixMessage } from '../src/index';
import { fromSocket, processMessages } from '../src/rx/index';
import { assertProbeClosed, closeAll, delay, leakFree, type Probe, probe, runFixture, settled, withLeakCheck } from './helpers';

const text = (messages: UnixMessage[]): string[] => messages.map((m) => m.data.toString());

/** Writes n messages, each carrying one copy of the probe's fd, then closes the test's own copy. */
function sendProbeCopies(socket: UnixMessageSocket, p: Probe, n: number): void {
  for (let i = 0; i < n; i++) socket.write({ data: `m${i}`, fds: [p.fd] });
  fs.closeSync(p.fd);
}

test(
  'fromSocket emits each message in order and completes when the peer ends',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    for (let i = 0; i < 5; i++) a.write(`m${i}`);
    a.end();
    const got = await lastValueFrom(fromSocket(b).pipe(toArray()));
    t.deepEqual(text(got), ['m0', 'm1', 'm2', 'm3', 'm4']);
    await Promise.all([settled(a.resume()), settled(b)]);
  }),
);

test(
  "fromSocket completing on the peer's end does not destroy a half-open socket: it can still reply",
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket', { allowHalfOpen: true });
    a.end('request');
    const got = await lastValueFrom(fromSocket(b).pipe(toArray()));
    t.deepEqual(text(got), ['request']);
    t.false(b.destroyed, 'completion is not an unsubscribe: the socket stays open');
    b.end('reply');
    const reply = await lastValueFrom(fromSocket(a).pipe(toArray()));
    t.deepEqual(text(reply), ['reply']);
    await Promise.all([settled(a.resume()), settled(b)]);
  }),
);

test(
  'fromSocket delivers every queued message, then errors with ECONNRESET when the peer closed with unread data',
  leakFree(async (t) => {
    // y never reads what x sent it, so closing y resets x behind y's messages.
    const [x, y] = lowlevel.socketpair('seqpacket');
    lowlevel.sendmsg(x, [Buffer.from('unread-by-y')]);
    for (let i = 0; i < 20; i++) lowlevel.sendmsg(y, [Buffer.from(`m${i}`)]);
    lowlevel.close(y);
    const socket = UnixMessageSocket.fromFd(x);
    const got: UnixMessage[] = [];
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
      fromSocket(socket).subscribe({ next: (m) => got.push(m), error: resolve, complete: () => t.fail('completed') });
    });
    t.is(err.code, 'ECONNRESET');
    t.deepEqual(
      text(got),
      Array.from({ length: 20 }, (_, i) => `m${i}`),
      'the error came after every message',
    );
    await settled(socket);
  }),
);

test(
  'fromSocket errors with ERR_STREAM_PREMATURE_CLOSE when someone else destroys the socket',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const error = firstValueFrom(fromSocket(b)).catch((err: NodeJS.ErrnoException) => err.code);
    b.destroy();
    t.is(await error, 'ERR_STREAM_PREMATURE_CLOSE');
    a.destroy();
    await Promise.all([settled(a.resume()), settled(b)]);
  }),
);

test(
  'unsubscribing mid-stream stops reading, destroys the socket and closes the fds of every message not delivered',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const p = probe();
    sendProbeCopies(a, p, 20);
    const delivered: UnixMessage[] = [];
    await new Promise<void>((resolve) => {
      const subscription: Subscription = fromSocket(b).subscribe((m) => {
        delivered.push(m);
        if (delivered.length === 3) {
          subscription.unsubscribe();
          resolve();
        }
      });
    });
    await delay(20); // a negative check: no event marks a value that is never emitted
    t.is(delivered.length, 3, 'nothing is emitted after unsubscribe');
    t.true(b.destroyed);
    closeAll(delivered.flatMap((m) => m.fds));
    await assertProbeClosed(t, p);
    a.destroy();
    await Promise.all([settled(a.resume()), settled(b)]);
  }),
);

test(
  "take(10) then unsubscribe leaks nothing: the 10 taken fds are the subscriber's and the 20 left are closed",
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const p = probe();
    sendProbeCopies(a, p, 30);
    const taken = await lastValueFrom(fromSocket(b).pipe(take(10), toArray()));
    t.deepEqual(
      text(taken),
      Array.from({ length: 10 }, (_, i) => `m${i}`),
    );
    const fds = taken.flatMap((m) => m.fds);
    t.is(fds.length, 10);
    t.false(p.isClosed(), "the taken copies are still open: they are the subscriber's");
    closeAll(fds);
    await assertProbeClosed(t, p);
    a.destroy();
    await Promise.all([settled(a.resume()), settled(b)]);
  }),
);

test(
  'destroyOnUnsubscribe: false leaves the socket open and paused, and a later subscriber gets the rest with nothing lost',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    for (let i = 0; i < 20; i++) a.write(`m${i}`);
    a.end();
    const first = await lastValueFrom(fromSocket(b, { destroyOnUnsubscribe: false }).pipe(take(3), toArray()));
    t.false(b.destroyed);
    t.true(b.isPaused());
    let stray = 0;
    const countStray = (): void => void stray++;
    b.on('data', countStray);
    b.pause();
    await delay(20); // a negative check: no event marks data that is never emitted
    b.off('data', countStray);
    t.is(stray, 0, 'the paused socket emits nothing');
    const rest = await lastValueFrom(fromSocket(b).pipe(toArray()));
    t.deepEqual(
      text([...first, ...rest]),
      Array.from({ length: 20 }, (_, i) => `m${i}`),
    );
    await Promise.all([settled(a.resume()), settled(b)]);
  }),
);

test(
  'a second concurrent fromSocket subscription errors with ERR_INVALID_STATE and leaves the first one reading',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const messages$ = fromSocket(b);
    const all = lastValueFrom(messages$.pipe(toArray()));
    const second = await firstValueFrom(messages$).catch((err: NodeJS.ErrnoException) => err.code);
    t.is(second, 'ERR_INVALID_STATE');
    a.write('one');
    a.end('two');
    t.deepEqual(text(await all), ['one', 'two']);
    await Promise.all([settled(a.resume()), settled(b)]);
  }),
);

test(
  'processMessages stops reading while fn runs: never more than `concurrency` calls, and the rest waits in the kernel',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket', { readableHighWaterMark: 8, writableHighWaterMark: 8 });
    const N = 2000;
    let queued = 0;
    const writer = (async () => {
      for (let i = 0; i < N; i++) {
        queued++;
        if (!a.write(`m${i}`)) await new Promise((resolve) => a.once('drain', resolve));
      }
      a.end();
    })();
    let running = 0;
    let maxRunning = 0;
    let maxBuffered = 0;
    let seen = 0;
    let maxBehind = 0;
    const results = await lastValueFrom(
      processMessages(
        b,
        async (m) => {
          running++;
          maxRunning = Math.max(maxRunning, running);
          maxBuffered = Math.max(maxBuffered, b.readableLength);
          seen++;
          maxBehind = Math.max(maxBehind, queued - seen);
          await delay(seen % 100 === 0 ? 5 : 0); // simulated work, part of the scenario
          running--;
          return m.data.toString();
        },
        { concurrency: 3 },
      ).pipe(toArray()),
    );
    await writer;
    t.is(results.length, N);
    t.is(maxRunning, 3, 'the calls ran three at a time, never more');
    // A wakeup reads one batch (up to 256) past the high-water mark.
    t.true(maxBuffered <= 8 + 256, `the socket's own buffer stayed bounded (max ${maxBuffered})`);
    t.true(maxBehind < N / 2, `the writer was held back by the reader (at most ${maxBehind} ahead)`);
    await Promise.all([settled(a.resume()), settled(b)]);
  }),
);

test(
  'processMessages with concurrency 1 emits the results in message order and completes after the last call settles',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    for (let i = 0; i < 10; i++) a.write(`m${i}`);
    a.end();
    let running = 0;
    const results = await lastValueFrom(
      processMessages(b, async (m) => {
        running++;
        await delay(10 - Number(m.data.toString().slice(1))); // simulated work: later messages finish first
        running--;
        return m.data.toString();
      }).pipe(toArray()),
    );
    t.deepEqual(
      results,
      Array.from({ length: 10 }, (_, i) => `m${i}`),
    );
    t.is(running, 0, 'nothing was still running at completion');
    await Promise.all([settled(a.resume()), settled(b)]);
  }),
);

test(
  'an error from fn errors processMessages and destroys the socket, closing the fds it had not delivered',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const p = probe();
    sendProbeCopies(a, p, 10);
    const handed: number[] = [];
    const err = await lastValueFrom(
      processMessages(b, async (m) => {
        handed.push(...m.fds);
        if (handed.length === 2) throw new Error('handler failed');
      }),
    ).catch((e: Error) => e);
    t.is((err as Error).message, 'handler failed');
    t.is(handed.length, 2, 'fn was not called again after it failed');
    t.true(b.destroyed);
    closeAll(handed);
    await assertProbeClosed(t, p);
    a.destroy();
    await Promise.all([settled(a.resume()), settled(b)]);
  }),
);

test(
  'processMessages accepts an observable from fn and, through mergeMap-style flattening, emits all its values',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    a.write('ab');
    a.end('cd');
    const letters = await lastValueFrom(processMessages(b, (m) => [...m.data.toString()]).pipe(toArray()));
    t.deepEqual(letters, ['a', 'b', 'c', 'd']);
    await Promise.all([settled(a.resume()), settled(b)]);
  }),
);

test('processMessages refuses a concurrency that is not a positive integer', (t) => {
  const [a, b] = socketPair('seqpacket');
  for (const concurrency of [0, -1, 1.5, Number.NaN]) {
    t.throws(() => processMessages(b, () => [], { concurrency }), { code: 'ERR_OUT_OF_RANGE' }, String(concurrency));
  }
  a.destroy();
  b.destroy();
});

test(
  'without processMessages a slow async consumer behind fromSocket gets every message at once (the documented flowing policy)',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    for (let i = 0; i < 50; i++) a.write(`m${i}`);
    a.end();
    let running = 0;
    let maxRunning = 0;
    await lastValueFrom(
      fromSocket(b).pipe(
        mergeMap(async () => {
          maxRunning = Math.max(maxRunning, ++running);
          await delay(5); // simulated work, part of the scenario
          running--;
        }),
        map(() => undefined),
        toArray(),
      ),
    );
    t.true(maxRunning > 10, `fromSocket does not wait for the consumer (max ${maxRunning} at once)`);
    await Promise.all([settled(a.resume()), settled(b)]);
  }),
);

// A socket destroyed by a reset calls its pending write callbacks with the
// error at once and emits 'error' a tick later (Node's destroy(): errorBuffer,
// then emitErrorCloseNT). A pipeline that reports its writes through those
// callbacks errors, and tears the reader down, in between. Each case runs in
// a child (fixtures/rx-teardown-errors.js), so that a crash fails the test.

interface TeardownReport {
  seen: string[];
  errorListeners: number;
  closeListeners: number;
  fdDelta: number;
}

for (const reader of ['fromSocket', 'processMessages'] as const) {
  for (const type of ['seqpacket', 'stream'] as const) {
    test(`${reader} on ${type}: a reset reported first to write callbacks ends the subscription with ECONNRESET, and the socket's 'error' after it does not crash the process`, (t) => {
      const run = runFixture<TeardownReport>('rx-teardown-errors.js', [reader, type]);
      t.is(run.status, 0, `the child exited with ${String(run.status ?? run.signal)}:\n${run.stderr}`);
      if (run.report === undefined) return;
      t.deepEqual(run.report.seen, ['error ECONNRESET']);
      t.is(run.report.errorListeners, 0, "no 'error' listener left on the closed socket");
      t.is(run.report.closeListeners, 0, "no 'close' listener left on the closed socket");
      t.is(run.report.fdDelta, 0, 'fd count back to baseline');
    });
  }
}

test(
  'fromSocket() and processMessages() refuse a socket, fn or option that is not one when called, with ERR_* codes, and read each option once',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const codeOf = (call: () => unknown): unknown => (t.throws(call) as Error & { code?: string }).code;
    t.is(
      codeOf(() => fromSocket(42 as unknown as UnixMessageSocket)),
      'ERR_INVALID_ARG_TYPE',
    );
    t.is(
      codeOf(() => fromSocket({} as UnixMessageSocket)),
      'ERR_INVALID_ARG_TYPE',
    );
    t.is(
      codeOf(() => fromSocket(a, { destroyOnUnsubscribe: 'no' as unknown as boolean })),
      'ERR_INVALID_ARG_TYPE',
    );
    t.is(
      codeOf(() => processMessages(null as unknown as UnixMessageSocket, () => [])),
      'ERR_INVALID_ARG_TYPE',
    );
    t.is(
      codeOf(() => processMessages(a, 42 as unknown as () => [])),
      'ERR_INVALID_ARG_TYPE',
    );
    t.is(
      codeOf(() => processMessages(a, () => [], { concurrency: 0 })),
      'ERR_OUT_OF_RANGE',
    );
    t.is(
      codeOf(() => processMessages(a, () => [], { concurrency: Symbol('c') as unknown as number })),
      'ERR_OUT_OF_RANGE',
    );
    let reads = 0;
    const sub = fromSocket(a, {
      get destroyOnUnsubscribe(): boolean {
        reads++;
        return true;
      },
    }).subscribe();
    sub.unsubscribe();
    t.is(reads, 1, 'read when fromSocket() was called, not again at teardown');
    t.true(a.destroyed);
    await Promise.all([settled(a), (b.destroy(), settled(b))]);
  }),
);

test('processMessages() errors with ERR_INVALID_RETURN_VALUE when fn returns no ObservableInput (a number, a symbol, a revoked Proxy) and the socket is destroyed', async (t) => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  for (const value of [42, Symbol('s'), proxy, Object.create(Uint8Array.prototype) as object]) {
    await withLeakCheck(t, async () => {
      const [a, b] = socketPair('seqpacket');
      const p = probe();
      b.write({ data: 'x', fds: [p.fd] });
      fs.closeSync(p.fd);
      const err = (await lastValueFrom(
        processMessages(a, (m) => {
          closeAll(m.fds);
          return value as never;
        }),
      ).catch((e: unknown) => e)) as Error & { code?: string };
      t.true(err instanceof TypeError);
      t.is(err.code, 'ERR_INVALID_RETURN_VALUE');
      await settled(a);
      b.destroy();
      await settled(b);
      await assertProbeClosed(t, p);
    });
  }
});

test('processMessages() refuses a concurrency beyond the safe integers, which cannot be counted', (t) => {
  const [a, b] = socketPair();
  t.throws(() => processMessages(a, () => Promise.resolve(), { concurrency: 2 ** 60 }), { code: 'ERR_OUT_OF_RANGE' });
  a.destroy();
  b.destroy();
});
