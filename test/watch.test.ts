// lowlevel.watch(): readiness of raw fds through a uv_poll_t on a duplicate
// of the fd (src/native/watcher.cc). Events as { readable, writable, error },
// stop/start, close() leaving the caller's fd open, the caller closing its
// fd while watching (in a child: an abort would be its exit status), a
// terminated worker's watchers, fd counts, and typed errors.
import test from 'ava';
import { lowlevel, type CodedError, type ErrnoError } from '../src/index';
import { delay, fdCount, inodeOf, isOpen, leakFree, runFixture, tick } from './helpers';

function next(fd: number, events: lowlevel.WatchEvents): Promise<lowlevel.WatchEvent> {
  return new Promise((resolve) => {
    const w = lowlevel.watch(fd, events, (event) => {
      w.close();
      resolve(event);
    });
  });
}

test(
  'readable fires when a message arrives, writable while there is room, each as { readable, writable, error }',
  leakFree(async (t) => {
    const [a, b] = lowlevel.socketpair('seqpacket');
    try {
      let fired = 0;
      const quiet = lowlevel.watch(b, { readable: true }, () => fired++);
      await delay(30);
      t.is(fired, 0, 'nothing to read, no event');
      quiet.close();
      const readable = next(b, { readable: true });
      lowlevel.sendmsg(a, Buffer.from('ready'));
      t.deepEqual(await readable, { readable: true, writable: false, error: null });
      t.is(lowlevel.recvmsg(b).data.toString(), 'ready');
      t.deepEqual(await next(a, { writable: true }), { readable: false, writable: true, error: null });
      lowlevel.sendmsg(a, Buffer.from('both'));
      const both = await next(b, { readable: true, writable: true });
      t.true(both.readable && both.writable, 'both in one event');
      t.is(lowlevel.recvmsg(b).data.toString(), 'both');
    } finally {
      lowlevel.close(a);
      lowlevel.close(b);
    }
  }),
);

test(
  'events are level-triggered; stop() silences them, start() resumes with new events',
  leakFree(async (t) => {
    const [a, b] = lowlevel.socketpair('dgram');
    try {
      lowlevel.sendmsg(a, Buffer.from('stays queued'));
      const seen: lowlevel.WatchEvent[] = [];
      const w = lowlevel.watch(b, { readable: true }, (e) => seen.push(e));
      for (let i = 0; i < 50 && seen.length < 3; i++) await delay(2);
      t.true(seen.length >= 3, 'again each turn while the datagram stays queued');
      t.is(w.stop(), w);
      await tick();
      const stopped = seen.length;
      await delay(20);
      t.is(seen.length, stopped, 'no event after stop()');
      w.start({ writable: true });
      for (let i = 0; i < 50 && seen.length === stopped; i++) await delay(2);
      t.deepEqual(seen[seen.length - 1], { readable: false, writable: true, error: null }, 'start() with the new set');
      w.close();
      t.true(w.closed);
      w.close();
      w.stop();
      const err = t.throws(() => w.start({ readable: true })) as ErrnoError;
      t.is(err.code, 'EBADF', 'a closed watcher cannot start');
      t.is(lowlevel.recvmsg(b).data.toString(), 'stays queued');
    } finally {
      lowlevel.close(a);
      lowlevel.close(b);
    }
  }),
);

test('close() closes the watcher’s duplicate and never the caller’s fd; fd count back to baseline', async (t) => {
  const [a, b] = lowlevel.socketpair('stream');
  const before = inodeOf(b);
  const base = fdCount();
  const w = lowlevel.watch(b, { readable: true }, () => undefined);
  t.is(fdCount(), base + 1, 'the watcher holds one duplicate');
  w.close();
  t.is(fdCount(), base, 'close() closed it at once');
  t.true(isOpen(b));
  t.is(inodeOf(b), before, 'the caller’s fd is the same socket');
  lowlevel.sendmsg(a, Buffer.from('still works'));
  t.is(lowlevel.recvmsg(b).data.toString(), 'still works');
  lowlevel.close(a);
  lowlevel.close(b);
});

test(
  'ref() and unref() are chainable and keep the watcher working',
  leakFree(async (t) => {
    const [a, b] = lowlevel.socketpair('dgram');
    try {
      const got = new Promise<lowlevel.WatchEvent>((resolve) => {
        const w = lowlevel.watch(b, { readable: true }, (e) => {
          w.close();
          resolve(e);
        });
        t.is(w.unref(), w);
        t.is(w.ref(), w);
      });
      lowlevel.sendmsg(a, Buffer.from('x'));
      t.true((await got).readable);
    } finally {
      lowlevel.close(a);
      lowlevel.close(b);
    }
  }),
);

for (const which of ['same-tick', 'while-polled'] as const) {
  test(`the caller closing its fd while watching (${which}) does not abort; the watcher still sees the socket, not the reused number`, (t) => {
    const run = runFixture<{ result: string; events: number; readable: boolean; reused: boolean; reusedIsDevNull: boolean; leaked: number }>(
      'watch-closed-fd.js',
      [which],
    );
    t.is(run.signal, null, run.stderr);
    t.is(run.status, 0, run.stderr);
    t.like(run.report, { result: 'ok', readable: true, reused: true, reusedIsDevNull: true, leaked: 0 });
    t.is(run.report?.events, which === 'same-tick' ? 1 : 2);
  });
}

test('a terminated worker’s open watchers are closed by the env teardown, without an abort', (t) => {
  const run = runFixture<{ result: string; duplicatesLeft: number; leaked: number }>('watch-closed-fd.js', ['worker']);
  t.is(run.signal, null, run.stderr);
  t.is(run.status, 0, run.stderr);
  t.deepEqual(run.report, { result: 'ok', duplicatesLeft: 0, leaked: 0 });
});

test(
  'every error is typed',
  leakFree(
    (t) => {
      const coded = (fn: () => unknown, Type: typeof TypeError | typeof RangeError, code: CodedError['code']): void => {
        const err = t.throws(fn) as CodedError;
        t.true(err instanceof Type, err.message);
        t.is(err.code, code);
      };
      const [a, b] = lowlevel.socketpair('dgram');
      try {
        coded(() => lowlevel.watch(-1, { readable: true }, () => undefined), RangeError, 'ERR_OUT_OF_RANGE');
        coded(() => lowlevel.watch('3' as never, { readable: true }, () => undefined), TypeError, 'ERR_INVALID_ARG_TYPE');
        coded(() => lowlevel.watch(a, {}, () => undefined), TypeError, 'ERR_INVALID_ARG_VALUE');
        coded(() => lowlevel.watch(a, { readable: false }, () => undefined), TypeError, 'ERR_INVALID_ARG_VALUE');
        coded(() => lowlevel.watch(a, { readable: 1 } as never, () => undefined), TypeError, 'ERR_INVALID_ARG_TYPE');
        coded(() => lowlevel.watch(a, 'readable' as never, () => undefined), TypeError, 'ERR_INVALID_ARG_TYPE');
        coded(() => lowlevel.watch(a, { readable: true }, 'cb' as never), TypeError, 'ERR_INVALID_ARG_TYPE');
        const base = fdCount();
        lowlevel.close(b);
        const err = t.throws(() => lowlevel.watch(b, { readable: true }, () => undefined)) as ErrnoError;
        t.is(err.code, 'EBADF');
        t.is(err.syscall, 'watch');
        t.is(fdCount(), base - 1, 'nothing left open by the failed watch');
      } finally {
        lowlevel.close(a);
      }
    },
    { wait: false },
  ),
);
