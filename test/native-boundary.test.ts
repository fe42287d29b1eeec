// The native module called directly, as a caller that require()s the .node
// file would, with values whose getters run JS in the middle of a call
// (js_values.h: every value that may run JS is read before any view's bytes
// are taken, and a call re-entered from a getter is refused). Our
// TypeScript layer never passes such values; the addon must still neither
// abort, nor read freed memory, nor mix one call's fds into another's. Each
// case runs in a child of its own (test/fixtures/native-boundary.js).
import test from 'ava';
import { constants } from '../src/native/binding';
import { runFixture } from './helpers';

const EINVAL = -22;
const EAGAIN = -11;

interface Received {
  length: number;
  bytes: string;
  fds: string[];
}

function run<R>(name: string): R {
  const r = runFixture<R>('native-boundary.js', [name]);
  if (r.status !== 0 || r.report === undefined) {
    throw new Error(`the child ended with status ${String(r.status)}, signal ${String(r.signal)}: ${r.stderr}`);
  }
  return r.report;
}

test('send() with a getter in its data array that frees an earlier buffer sends what the views hold once every element is read, never the freed memory', (t) => {
  const r = run<{ sent: number; received: Received }>('send-frees-earlier-view');
  // The first view is detached (0 bytes) by the time its bytes are taken.
  t.deepEqual({ sent: r.sent, length: r.received.length, bytes: r.received.bytes }, { sent: 1, length: 1, bytes: 'Z' });
});

test("sendBatch() with a getter in a later message that frees an earlier message's buffer sends the earlier one empty, never the freed memory", (t) => {
  const r = run<{ sent: number; first: Received; second: Received }>('sendbatch-frees-earlier-message');
  t.is(r.sent, 2);
  t.is(r.first.length, 0);
  t.is(r.second.bytes, 'Z');
});

test('sendmsg() with an ancillary item whose getter frees the data buffer sends what the buffer holds then, never the freed memory', (t) => {
  const r = run<{ sent: number; received: Received }>('sendmsg-ancillary-frees-data');
  t.is(r.sent, 0);
  t.is(r.received.length, 0);
  t.is(r.received.fds.length, 1);
});

test('recvmsgInto() with a getter in its buffers array that frees an earlier buffer receives into what the views hold once every element is read, never into the freed memory', (t) => {
  const r = run<{ bytes: number; target: string }>('recvmsginto-frees-earlier-view');
  // The first view is detached (0 bytes) by the time its bytes are taken.
  t.deepEqual(r, { bytes: 8, target: 'payload!' });
});

test("send() re-entered from a getter of another send()'s fds is refused with EINVAL, and the outer message carries only its own fds", (t) => {
  const r = run<{ sent: number; inner: number; outer: Received; innerReceived: { errno?: number }; mine: string }>('send-reentered-from-fds-getter');
  t.is(r.inner, EINVAL);
  t.is(r.sent, 5);
  t.deepEqual(r.outer.fds, [r.mine, r.mine]);
  t.is(r.innerReceived.errno, EAGAIN, 'the inner message was never sent');
});

test("closeAll() re-entered from a getter of another closeAll()'s list is refused, and closes exactly the fds of the outer list, once", (t) => {
  const r = run<{ outer: number; inner: number; xOpen: boolean; yOpen: boolean; zOpen: boolean }>('closeall-reentered-from-getter');
  t.deepEqual(r, { outer: 0, inner: EINVAL, xOpen: false, yOpen: false, zOpen: true });
});

test('sendBatch() with start and end at the int32 extremes returns EINVAL (computed without signed overflow: UBSan checks it under test:asan)', (t) => {
  const r = run<{ results: number[] }>('sendbatch-extreme-range');
  t.deepEqual(r.results, [EINVAL, EINVAL]);
});

test('a handle polled with a budget below its maxFdsPerMessage reports STATUS_NO_FD_ROOM instead of being polled again and again without reading', (t) => {
  const r = run<{ count?: number; status: number | string }>('handle-budget-below-message');
  t.deepEqual(r, { count: 0, status: constants.STATUS_NO_FD_ROOM });
});
