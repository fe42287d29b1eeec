// The pool's request correlation (src/pool/requests.ts) on its own, no
// worker process: ids, settling once, timeouts, and the fds of a reply that
// comes too late.
import test from 'ava';
import fs from 'node:fs';
import type { UnixMessage } from '../src/index';
import { Requests, type PendingRequest } from '../src/pool/requests';
import { assertFdsBack, contentOf, fdCount, fileWithContent, isOpen } from './helpers';

interface Trace {
  requests: Requests;
  events: string[];
  pending(id: number): { p: PendingRequest; result: Promise<UnixMessage> };
}

function trace(): Trace {
  const events: string[] = [];
  const requests = new Requests({
    release: (p) => events.push(`release ${p.id}`),
    settled: () => events.push('settled'),
  });
  return {
    requests,
    events,
    pending(id) {
      let p!: PendingRequest;
      const result = new Promise<UnixMessage>((resolve, reject) => {
        p = { id, resolve, reject, worker: null, timer: null, job: null };
      });
      return { p, result };
    },
  };
}

const reply = (fds: number[]): UnixMessage => ({ data: Buffer.from('answer'), fds, truncated: false, fdsTruncated: false });

test('request ids count up from 1, one per request', (t) => {
  const { requests } = trace();
  t.deepEqual([requests.nextId(), requests.nextId(), requests.nextId()], [1, 2, 3]);
  t.deepEqual([new Requests({ release: () => undefined, settled: () => undefined }).nextId()], [1], 'each pool has its own ids');
});

test('a request settles once: the reply resolves it, released before its promise runs, and a second reply finds it gone', async (t) => {
  const base = fdCount();
  const tr = trace();
  const { p, result } = tr.pending(tr.requests.nextId());
  tr.requests.add(p, undefined, true);
  t.is(tr.requests.size, 1);
  t.true(tr.requests.has(p.id));
  t.is(tr.requests.get(p.id), p);
  const fd = fileWithContent('kept');
  tr.requests.settle(p.id, reply([fd]));
  t.deepEqual(tr.events, ['release 1', 'settled']);
  t.false(tr.requests.has(p.id));
  const m = await result;
  t.deepEqual(m.fds, [fd]);
  t.is(contentOf(fd), 'kept', 'the caller owns the reply fds');
  const late = fileWithContent('late');
  tr.requests.settle(p.id, reply([late]));
  t.false(isOpen(late), 'a reply for a settled request has its fds closed');
  t.true(isOpen(fd));
  t.deepEqual(tr.events, ['release 1', 'settled'], 'a second result releases and settles nothing');
  tr.requests.settle(p.id, new Error('late error'));
  t.deepEqual(tr.events, ['release 1', 'settled']);
  fs.closeSync(fd);
  await assertFdsBack(t, base);
});

test('a request with a timeout is rejected with ERR_POOL_REQUEST_TIMEOUT, and a reply after that is closed', async (t) => {
  const base = fdCount();
  const tr = trace();
  const { p, result } = tr.pending(tr.requests.nextId());
  tr.requests.add(p, 20, true);
  t.not(p.timer, null);
  await t.throwsAsync(result, { code: 'ERR_POOL_REQUEST_TIMEOUT', message: 'Request 1 got no reply within 20 ms' });
  t.deepEqual(tr.events, ['release 1', 'settled']);
  t.is(tr.requests.size, 0);
  const late = fileWithContent('late');
  tr.requests.settle(p.id, reply([late]));
  t.false(isOpen(late));
  await assertFdsBack(t, base);
});

test('settling before the timeout clears the timer; list() is a snapshot that settling does not change', async (t) => {
  const tr = trace();
  const a = tr.pending(tr.requests.nextId());
  const b = tr.pending(tr.requests.nextId());
  tr.requests.add(a.p, 10, false);
  tr.requests.add(b.p, undefined, false);
  tr.requests.ref();
  tr.requests.unref();
  const list = tr.requests.list();
  t.deepEqual(
    list.map((p) => p.id),
    [1, 2],
  );
  for (const p of list) tr.requests.settle(p.id, new Error(`no ${p.id}`));
  t.deepEqual(
    list.map((p) => p.id),
    [1, 2],
  );
  await t.throwsAsync(a.result, { message: 'no 1' });
  await t.throwsAsync(b.result, { message: 'no 2' });
  await new Promise((r) => setTimeout(r, 30));
  t.deepEqual(tr.events, ['release 1', 'settled', 'release 2', 'settled'], 'the cleared timer never fired');
});
