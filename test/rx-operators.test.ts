// fds() and withFds(): marble tests pin values, timing and teardown; real fds
// in the messages check that what an operator does not pass on is closed.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import { lastValueFrom, of, take, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { lowlevel, socketPair, type UnixMessage } from '../src/index';
import { fds, fromSocket, withFds } from '../src/rx/index';
import { assertProbeClosed, closeAll, fileWithContent, isOpen, leakFree, probe, settled } from './helpers';

function scheduler(t: ExecutionContext): TestScheduler {
  return new TestScheduler((actual, expected) => t.deepEqual(actual, expected));
}

function message(data: string, fdList: number[]): UnixMessage {
  return { data: Buffer.from(data), fds: fdList, truncated: false, fdsTruncated: false };
}

/** n real, open fds (unlinked temp files). */
function openFiles(n: number): number[] {
  return Array.from({ length: n }, (_, i) => fileWithContent(`file ${i}`));
}

test('fds() emits every fd of every message in order, at the time of its message, and passes complete through', (t) => {
  scheduler(t).run(({ cold, expectObservable, expectSubscriptions }) => {
    const source = cold('-a--b--c-|', { a: message('a', [10, 11]), b: message('b', []), c: message('c', [12]) });
    expectObservable(source.pipe(fds())).toBe('-(xy)--z-|', { x: 10, y: 11, z: 12 });
    expectSubscriptions(source.subscriptions).toBe('^--------!');
  });
});

test('fds() passes an error through and unsubscribes from its source', (t) => {
  scheduler(t).run(({ cold, expectObservable, expectSubscriptions }) => {
    const source = cold('-a--#', { a: message('a', [10]) }, new Error('boom'));
    expectObservable(source.pipe(fds())).toBe('-x--#', { x: 10 }, new Error('boom'));
    expectSubscriptions(source.subscriptions).toBe('^---!');
  });
});

test(
  'fds() closes the fds of a message that were not emitted when the subscriber leaves in its middle',
  leakFree(
    (t) => {
      const files = openFiles(3);
      scheduler(t).run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b-|', { a: message('a', files), b: message('b', []) });
        expectObservable(source.pipe(fds(), take(2))).toBe('-(xy|)', { x: files[0], y: files[1] });
        expectSubscriptions(source.subscriptions).toBe('^!');
      });
      t.deepEqual(files.map(isOpen), [true, true, false], "the two emitted fds are the subscriber's; the third was closed");
      closeAll(files.slice(0, 2));
    },
    { wait: false },
  ),
);

test(
  'withFds(n) passes the messages carrying exactly n fds and closes the fds of the others',
  leakFree(
    (t) => {
      const [one, two, none, three] = [openFiles(1), openFiles(2), [], openFiles(3)];
      const values = { a: message('a', one), b: message('b', two), c: message('c', none), d: message('d', three) };
      scheduler(t).run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b-c-d-|', values);
        expectObservable(source.pipe(withFds(1))).toBe('-a-------|', values);
        expectSubscriptions(source.subscriptions).toBe('^--------!');
      });
      t.true(isOpen(one[0]!), "the passed message keeps its fd: it is the subscriber's");
      t.false([...two, ...three].some(isOpen), 'every fd of the dropped messages was closed');
      closeAll(one);
    },
    { wait: false },
  ),
);

test(
  'withFds({ min, max }) keeps the messages whose fd count is in the range, bounds included',
  leakFree(
    (t) => {
      const [two, three, four] = [openFiles(2), openFiles(3), openFiles(4)];
      const values = { a: message('a', []), b: message('b', two), c: message('c', three), d: message('d', four) };
      scheduler(t).run(({ cold, expectObservable }) => {
        expectObservable(cold('abcd|', values).pipe(withFds({ min: 2, max: 3 }))).toBe('-bc-|', values);
        expectObservable(cold('a|', values).pipe(withFds({ min: 1 }))).toBe('-|');
      });
      t.false(four.some(isOpen), 'above max: closed');
      closeAll([...two, ...three]);
    },
    { wait: false },
  ),
);

test('withFds() passes an error through', (t) => {
  scheduler(t).run(({ cold, expectObservable }) => {
    expectObservable(cold('a#', { a: message('a', []) }).pipe(withFds(0))).toBe('a#', { a: message('a', []) });
  });
});

test('withFds() refuses a count that no message can have', (t) => {
  for (const bad of [-1, 1.5, { min: 3, max: 2 }, { min: -1 }]) {
    t.throws(() => withFds(bad), { code: 'ERR_OUT_OF_RANGE' }, JSON.stringify(bad));
  }
});

test(
  "fromSocket | fds() | take(5) over real messages: the taken fds are the subscriber's, every other copy is closed",
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const p = probe();
    // Ten messages of three copies each: take(5) stops in the middle of the second.
    for (let i = 0; i < 10; i++) a.write({ data: `m${i}`, fds: [p.fd, p.fd, p.fd] });
    fs.closeSync(p.fd);
    const taken = await lastValueFrom(fromSocket(b).pipe(fds(), take(5), toArray()));
    t.is(taken.length, 5);
    t.true(taken.every(isOpen));
    t.true(b.destroyed, 'unsubscribing destroyed the socket, with what it had buffered');
    closeAll(taken);
    await assertProbeClosed(t, p);
    a.destroy();
    await Promise.all([settled(a), settled(b)]);
  }),
);

test('withFds() refuses a count that is not one with ERR_* codes (a BigInt, null, a revoked Proxy), reading min and max once', (t) => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  for (const count of [10n, null, proxy, 'one', [1]]) {
    const err = t.throws(() => withFds(count as number)) as Error & { code?: string };
    t.true(err instanceof TypeError || err instanceof RangeError);
    t.regex(String(err.code), /^ERR_(INVALID_ARG_TYPE|OUT_OF_RANGE)$/);
  }
  t.throws(() => withFds({ min: 2, max: 1 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' });
  let reads = 0;
  withFds({
    get min(): number {
      reads++;
      return 1;
    },
  });
  t.is(reads, 1);
});

test(
  'withFds() closes the fds of the messages a synchronous source goes on emitting after its subscriber has gone',
  leakFree(async (t) => {
    const probes = [probe(), probe(), probe()];
    const messages = probes.map((p, i) => message(`m${i}`, [lowlevel.dup(p.fd)]));
    for (const p of probes) fs.closeSync(p.fd);
    // take(1) unsubscribes after the first message; of() emits the other two anyway.
    const got = await lastValueFrom(of(...messages).pipe(withFds(1), take(1), toArray()));
    t.is(got.length, 1);
    closeAll(got[0]!.fds);
    for (const p of probes) await assertProbeClosed(t, p);
  }),
);
