// Cancellation and disposal of worker pools: pool.request(msg, { signal })
// rejects with an AbortError (before it is sent: its fds stay the caller's,
// or are closed with the job; after: the late reply is dropped with its fds
// closed), createPool({ signal }) closes the pool, and
// WorkerPool[Symbol.asyncDispose] closes it too. Few pools: each spawns a
// process.
import test from 'ava';
import { getEventListeners } from 'node:events';
import path from 'node:path';
import { lowlevel } from '../src/index';
import { createPool, type WorkerPool } from '../src/pool';
import { assertProbeClosed, fdCount, fileWithContent, isAlive, isOpen, leakFree, probe } from './helpers';

const WORKER = path.join(__dirname, 'fixtures', 'pool-worker.js');
const abortListeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length;
const op = (name: string): string => JSON.stringify({ op: name });

test('createPool({ signal }) refuses a non-AbortSignal with ERR_INVALID_ARG_TYPE before it spawns anything', (t) => {
  for (const signal of ['abort', {}, { aborted: true }]) {
    t.throws(() => createPool({ script: WORKER, size: 1, signal: signal as AbortSignal }), { code: 'ERR_INVALID_ARG_TYPE' });
  }
});

test(
  'request({ signal }): an already aborted signal rejects with an AbortError and sends nothing (the fds stay the caller’s, even with transfer); one that aborts while the worker holds the request rejects, and the late reply is dropped with its fds closed',
  leakFree(async (t) => {
    const pool = createPool({ script: WORKER, size: 1, execArgv: [] });
    try {
      await pool.ready();
      t.throws(() => void pool.request(op('stats'), { signal: 'x' as unknown as AbortSignal }), { code: 'ERR_INVALID_ARG_TYPE' });

      const pre = new AbortController();
      pre.abort('no need');
      const fd = fileWithContent('mine');
      const before = fdCount();
      const early = pool.request({ data: op('echo'), fds: [fd] }, { signal: pre.signal, transfer: true });
      t.is(fdCount(), before, 'nothing duplicated');
      t.is(pool.workers[0]!.outstanding, 0, 'nothing sent');
      const err = await t.throwsAsync(early);
      t.is(err?.name, 'AbortError');
      t.is((err as NodeJS.ErrnoException).code, 'ABORT_ERR');
      t.is(err?.cause, 'no need');
      t.true(isOpen(fd), 'the fd is still the caller’s');
      lowlevel.close(fd);

      // A normal reply removes the listener.
      const quiet = new AbortController();
      await pool.request(op('stats'), { signal: quiet.signal });
      t.is(abortListeners(quiet.signal), 0, 'removed once the request settled');

      const ac = new AbortController();
      const p = probe();
      const held = pool.request({ data: op('holdEcho'), fds: [p.fd] }, { signal: ac.signal });
      lowlevel.close(p.fd); // the pool sent a duplicate
      await pool.request(op('stats')); // same channel: the worker has the held request now
      t.is(abortListeners(ac.signal), 1);
      ac.abort(new Error('user gave up'));
      const aborted = await t.throwsAsync(held);
      t.is(aborted?.name, 'AbortError');
      t.is((aborted?.cause as Error).message, 'user gave up');
      t.is(abortListeners(ac.signal), 0);
      t.is(pool.workers[0]!.outstanding, 0, 'the aborted request is off the worker’s count');
      // The worker answers the held request (with the probe) before this one.
      t.is((await pool.request(op('releaseHeld'))).data.toString(), 'released');
      await assertProbeClosed(t, p);
    } finally {
      await pool.close();
    }
  }),
);

test(
  'request({ signal }) aborted while it waits for a worker to come online is never sent: its duplicated fds are closed',
  leakFree(async (t) => {
    const pool = createPool({ script: WORKER, size: 1, execArgv: [] });
    try {
      const ac = new AbortController();
      const p = probe();
      const waiting = pool.request({ data: op('echo'), fds: [p.fd] }, { signal: ac.signal });
      lowlevel.close(p.fd);
      t.false(pool.workers[0]?.online ?? false, 'no worker online yet: the request waits in the primary');
      ac.abort();
      const err = await t.throwsAsync(waiting);
      t.is((err as NodeJS.ErrnoException).code, 'ABORT_ERR');
      await assertProbeClosed(t, p);
      await pool.ready();
      t.is((await pool.request(op('releaseHeld'))).data.toString(), 'released', 'the pool still works');
    } finally {
      await pool.close();
    }
  }),
);

test(
  'createPool({ signal }) closes the pool when aborted (and on the next tick when already aborted); the listener goes with the pool',
  leakFree(async (t) => {
    const ac = new AbortController();
    const pool = createPool({ script: WORKER, size: 1, execArgv: [], signal: ac.signal });
    await pool.ready();
    const pid = pool.workers[0]!.pid!;
    t.is(abortListeners(ac.signal), 1);
    const closed = new Promise<void>((resolve) => pool.once('close', resolve));
    ac.abort();
    await closed;
    t.false(isAlive(pid), 'the worker exited');
    t.is(abortListeners(ac.signal), 0);
    await t.throwsAsync(pool.request(op('stats')), { code: 'ERR_POOL_CLOSED' });

    const pre = new AbortController();
    pre.abort();
    const never = createPool({ script: WORKER, size: 1, execArgv: [], signal: pre.signal });
    await new Promise<void>((resolve) => never.once('close', resolve));
    await t.throwsAsync(never.ready(), { code: 'ERR_POOL_CLOSED' });
    t.is(abortListeners(pre.signal), 0);
  }),
);

test(
  'await using a pool closes it at the end of the block: drained, every worker exited',
  leakFree(async (t) => {
    let kept: WorkerPool;
    let pid: number | undefined;
    {
      await using pool = createPool({ script: WORKER, size: 1, execArgv: [] });
      kept = pool;
      await pool.ready();
      pid = pool.workers[0]!.pid!;
      t.truthy(JSON.parse((await pool.request(op('stats'))).data.toString()));
    }
    t.false(isAlive(pid!), 'the worker exited before the block was left');
    t.true(kept.workers.every((w) => w === null));
  }),
);
