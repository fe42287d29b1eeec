// The pool's dispatch (src/pool/dispatcher.ts) on its own: fake workers
// whose channels record each frame, so the strategy, the waiting queue,
// re-routing and fd ownership are checked without any process.
import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { constants } from '../src/native/binding';
import type { UnixMessageSocket } from '../src/stream/socket';
import type { UnixMessage } from '../src/index';
import { Dispatcher, type Job } from '../src/pool/dispatcher';
import type { Strategy } from '../src/pool/options';
import { PoolWorker } from '../src/pool/pool-worker';
import { Kind } from '../src/pool/protocol';
import type { PendingRequest } from '../src/pool/requests';
import { assertFdsBack, fdCount, fileWithContent, isOpen } from './helpers';

interface Frame {
  kind: number;
  value: number;
  fds: number[];
  done: (err?: Error | null) => void;
}

class FakeChannel {
  readonly frames: Frame[] = [];
  errored: Error | null = null;
  writableNeedDrain = false;
  full = false;
  write(chunk: { data: Buffer[]; fds: number[] }, done: (err?: Error | null) => void): boolean {
    const h = chunk.data[0]!;
    this.frames.push({ kind: h.readUInt32LE(0), value: h.readUInt32LE(4), fds: [...chunk.fds], done });
    return !this.full;
  }
}

function worker(id: number, state: PoolWorker['state'] = 'online'): { w: PoolWorker; channel: FakeChannel } {
  const channel = new FakeChannel();
  const w = new PoolWorker(id, { pid: 1000 + id } as unknown as ChildProcess, channel as unknown as UnixMessageSocket);
  w.state = state;
  return { w, channel };
}

function setup(n: number, strategy: Strategy = 'round-robin') {
  const slots = Array.from({ length: n }, (_, id) => worker(id));
  const errors: Error[] = [];
  const settled: Array<[number, Error]> = [];
  const live = new Set<number>();
  const flags = { closing: false, sendsNothing: false, gaveUp: false, full: 0 };
  const d = new Dispatcher(
    n,
    strategy,
    {
      worker: (id) => slots[id]?.w ?? null,
      gaveUp: () => flags.gaveUp,
      noWorkerLeft: () => flags.gaveUp,
    },
    {
      has: (id) => live.has(id),
      settle: (id, err) => {
        live.delete(id);
        settled.push([id, err]);
      },
    },
    {
      closing: () => flags.closing,
      sendsNothing: () => flags.sendsNothing,
      error: (err) => errors.push(err),
      channelFull: () => flags.full++,
    },
  );
  return { d, slots, errors, settled, live, flags };
}

const openN = (n: number): number[] => Array.from({ length: n }, () => fileWithContent('x'));
const message = (text: string, fds: number[] = []): { data: Buffer; fds: number[] } => ({ data: Buffer.from(text), fds });

test("round-robin takes the online workers in turn; a written frame closes the primary's copies and calls back", async (t) => {
  const base = fdCount();
  const { d, slots } = setup(3);
  slots[1]!.w.state = 'starting';
  const [mine] = openN(1);
  const calls: Array<Error | null | undefined> = [];
  for (let i = 0; i < 4; i++) d.dispatch(d.job(Kind.Message, 0, message(`m${i}`, [mine!]), null, false, (err) => calls.push(err), null));
  t.deepEqual(
    slots.map((s) => s.channel.frames.length),
    [2, 0, 2],
    'the starting worker is skipped',
  );
  t.deepEqual(
    slots.map((s) => s.w.outstanding),
    [2, 0, 2],
  );
  const sent = slots[0]!.channel.frames[0]!;
  t.is(sent.kind, Kind.Message);
  t.is(sent.fds.length, 1);
  t.not(sent.fds[0], mine, 'without transfer the job sends a duplicate');
  t.true(isOpen(sent.fds[0]!));
  for (const s of slots) for (const f of s.channel.frames) f.done(null);
  t.false(isOpen(sent.fds[0]!), 'the duplicate is closed once the frame is in the kernel');
  t.true(isOpen(mine!), 'the caller keeps its own fd');
  t.deepEqual(calls, [null, null, null, null]);
  fs.closeSync(mine!);
  await assertFdsBack(t, base);
});

test('least-outstanding spreads connections to the least busy, counting what this batch already gave each', async (t) => {
  const base = fdCount();
  const { d, slots } = setup(3, 'least-outstanding');
  slots[0]!.w.took(2);
  const fds = openN(6);
  d.spread(fds);
  const got = slots.map((s) => s.channel.frames.map((f) => f.fds));
  t.deepEqual(got, [[[fds[4]]], [[fds[0], fds[2], fds[5]]], [[fds[1], fds[3]]]], 'one frame per worker, in pick order');
  t.deepEqual(
    slots.map((s) => s.channel.frames[0]!.value),
    [1, 3, 2],
    'a connections frame carries its fd count',
  );
  t.deepEqual(
    slots.map((s) => s.w.outstanding),
    [3, 3, 2],
  );
  for (const s of slots) for (const f of s.channel.frames) f.done(null);
  t.true(
    fds.every((fd) => !isOpen(fd)),
    "handed-off fds are the pool's, closed once sent",
  );
  await assertFdsBack(t, base);
});

test(`connections for one worker go in frames of at most SCM_MAX_FD (${constants.SCM_MAX_FD}) fds`, async (t) => {
  const base = fdCount();
  const { d, slots } = setup(2);
  const fds = openN(constants.SCM_MAX_FD + 7);
  d.handOff(fds, 1);
  t.deepEqual(
    slots[1]!.channel.frames.map((f) => f.fds.length),
    [constants.SCM_MAX_FD, 7],
  );
  t.is(slots[0]!.channel.frames.length, 0);
  t.is(slots[1]!.w.outstanding, fds.length);
  for (const f of slots[1]!.channel.frames) f.done(null);
  await assertFdsBack(t, base);
});

test('with no worker online a job waits, and goes out when one comes online', async (t) => {
  const base = fdCount();
  const { d, slots } = setup(2);
  for (const s of slots) s.w.state = 'starting';
  const fds = openN(2);
  d.spread(fds);
  d.dispatch(d.job(Kind.Message, 0, message('hello'), 1, false, null, null));
  t.is(d.waiting, 2);
  t.true(fds.every(isOpen), 'a waiting job keeps its fds');
  slots[1]!.w.state = 'online';
  d.flushWaiting();
  t.is(d.waiting, 0);
  t.deepEqual(
    slots[1]!.channel.frames.map((f) => [f.kind, f.fds.length]),
    [
      [Kind.Connections, 2],
      [Kind.Message, 0],
    ],
  );
  for (const f of slots[1]!.channel.frames) f.done(null);
  await assertFdsBack(t, base);
});

test('a frame whose worker went away (EPIPE) is re-routed to another worker, and its count moves with it', async (t) => {
  const base = fdCount();
  const { d, slots, errors } = setup(2);
  const fds = openN(1);
  d.handOff(fds, null);
  t.is(slots[0]!.w.outstanding, 1);
  slots[0]!.channel.frames[0]!.done(Object.assign(new Error('gone'), { code: 'EPIPE' }));
  t.is(slots[0]!.w.state, 'disconnected');
  t.is(slots[0]!.w.outstanding, 0);
  t.is(slots[1]!.w.outstanding, 1);
  t.deepEqual(
    slots[1]!.channel.frames.map((f) => f.fds),
    [fds],
  );
  t.true(isOpen(fds[0]!), "still the job's until its frame is in the kernel");
  slots[1]!.channel.frames[0]!.done(null);
  t.deepEqual(errors, []);
  await assertFdsBack(t, base);
});

test('a frame refused for itself fails its job: fds closed, the callback told on a later tick', async (t) => {
  const base = fdCount();
  const { d, slots, errors } = setup(1);
  const [mine] = openN(1);
  const failure = Object.assign(new Error('too big'), { code: 'EMSGSIZE' });
  let got: Error | null | undefined;
  d.dispatch(d.job(Kind.Message, 0, message('big', [mine!]), null, true, (err) => (got = err), null));
  slots[0]!.channel.frames[0]!.done(failure);
  t.false(isOpen(mine!), 'a transferred fd is closed when its job fails');
  t.is(got, undefined, 'not from inside the write callback');
  await new Promise((r) => process.nextTick(r));
  t.is(got, failure);
  t.is(slots[0]!.w.state, 'online');
  t.is(slots[0]!.w.outstanding, 0);
  t.deepEqual(errors, []);
  await assertFdsBack(t, base);
});

test('jobs that no worker will take fail with ERR_POOL_WORKER_EXITED, or ERR_POOL_CLOSED once closing; connections are closed', async (t) => {
  const base = fdCount();
  const { d, slots, errors, settled, live, flags } = setup(1);
  slots[0]!.w.state = 'starting';
  const p: PendingRequest = { id: 7, resolve: (_m: UnixMessage) => undefined, reject: () => undefined, worker: null, timer: null, job: null };
  p.job = d.job(Kind.Request, 7, message('q', openN(1)), null, true, null, p);
  live.add(7);
  d.dispatch(p.job);
  const conns = openN(2);
  d.spread(conns);
  t.is(d.waiting, 2);
  flags.gaveUp = true;
  flags.closing = true;
  d.failWaiting();
  t.is(d.waiting, 0);
  t.deepEqual(
    settled.map(([id, err]) => [id, (err as NodeJS.ErrnoException).code]),
    [[7, 'ERR_POOL_CLOSED']],
  );
  t.deepEqual(errors, [], 'closing: nobody is told about connections the pool was asked to drop');
  flags.closing = false;
  const more = openN(1);
  d.spread(more);
  t.false(isOpen(more[0]!));
  t.deepEqual(
    errors.map((e) => (e as NodeJS.ErrnoException).code),
    ['ERR_POOL_WORKER_EXITED'],
  );
  flags.sendsNothing = true;
  const late = openN(1);
  d.spread(late);
  t.is(errors.length, 1, 'after destroy() connections are closed without an error');
  await assertFdsBack(t, base);
});

test('release(): a request settled while it waits leaves the queue with its fds closed; one already sent frees its worker', async (t) => {
  const base = fdCount();
  const { d, slots } = setup(1);
  slots[0]!.w.state = 'starting';
  const p: PendingRequest = { id: 1, resolve: () => undefined, reject: () => undefined, worker: null, timer: null, job: null };
  const job: Job = d.job(Kind.Request, 1, message('q', openN(2)), null, true, null, p);
  p.job = job;
  d.dispatch(job);
  t.is(d.waiting, 1);
  d.release(p);
  t.is(d.waiting, 0);
  t.deepEqual(job.fds, []);
  slots[0]!.w.state = 'online';
  const q: PendingRequest = { id: 2, resolve: () => undefined, reject: () => undefined, worker: null, timer: null, job: null };
  q.job = d.job(Kind.Request, 2, message('q2'), null, false, null, q);
  d.dispatch(q.job);
  t.is(q.worker, slots[0]!.w, 'set when written, as a reply may beat the write callback');
  t.is(slots[0]!.w.outstanding, 1);
  d.release(q);
  t.is(slots[0]!.w.outstanding, 0);
  slots[0]!.channel.frames[0]!.done(null);
  await assertFdsBack(t, base);
});

test('a connections frame that fills the channel tells the pool, which may pause accepting', async (t) => {
  const base = fdCount();
  const { d, slots, flags } = setup(1);
  slots[0]!.channel.full = true;
  const fds = openN(1);
  d.spread(fds);
  t.is(flags.full, 1);
  d.dispatch(d.job(Kind.Message, 0, message('m'), null, false, null, null));
  t.is(flags.full, 1, 'only connections count');
  for (const f of slots[0]!.channel.frames) f.done(null);
  t.false(isOpen(fds[0]!));
  await assertFdsBack(t, base);
});
