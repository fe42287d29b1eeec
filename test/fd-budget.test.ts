// The receive side's fd budget under a hostile peer: floods of messages that
// each carry 253 fds (SCM_MAX_FD; the peer sends one fd number 253 times and
// the kernel installs 253 separate fds). A read that brings more fds than
// the process can install loses them (the kernel closes the rest and sets
// MSG_CTRUNC), so a socket reads only while the most fds the next message
// may bring fit both max(maxPendingFds, maxFdsPerMessage) minus the fds
// pending in its buffer and the process's free fds minus a reserve; otherwise
// it waits (waitingForFdRoom) and resumes on its own as fds are freed.
//
// The receiver is a child (test/fixtures/fd-flood-child.js) with the limit
// lowered by `ulimit -n`, which watches itself from a 2 ms timer and from
// every 'data'/'readable': an open() of its own must never fail with EMFILE,
// and its fd count and pendingFds must stay under their bounds.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import { connect, lowlevel, UnixMessageSocket, type SocketType } from '../src/index';
import { abstractName, type ChildStep, fileWithContent, settled, stepChild, withLeakCheck } from './helpers';

const COUNT = 60;
const PER_MESSAGE = 253;
const LIMIT = 1024;
// The reserve the addon keeps free for the rest of the process (DoRead).
const RESERVE = Math.min(lowlevel.constants.FD_RESERVE, Math.floor(LIMIT / 8));
// The default maxPendingFds under `ulimit -n 1024`: a quarter of the limit.
const DEFAULT_BOUND = Math.max(PER_MESSAGE, Math.min(4096, Math.floor(LIMIT / 4)));

interface FloodReport extends ChildStep {
  limit: number;
  fillers: number;
  baseFds: number;
  messages: number;
  fdsDelivered: number;
  fdsTruncated: number;
  wrong: string[];
  emfile: number;
  maxFds: number;
  maxPending: number;
  roomWaits: number;
  sawWaiting: boolean;
  ms: number;
}

interface AcceptReport extends ChildStep {
  accepted: number;
  emfile: number;
  maxFds: number;
  sawWaiting: boolean;
  limit: number;
}

interface FloodConfig {
  mode: 'flowing' | 'holding' | 'paused';
  options?: Record<string, number>;
  readEveryMs?: number;
  free?: number;
}

/**
 * Sends COUNT messages of 253 fds each (message i: data `m<i>`, one file
 * whose content is `m<i>`, 253 times) to a receiver child under
 * `ulimit -n <limit>` (null: the limit this process has) and returns what
 * the child saw.
 */
async function flood(t: ExecutionContext, type: SocketType, config: FloodConfig, limit: number | null = LIMIT): Promise<FloodReport> {
  let report!: FloodReport;
  await withLeakCheck(t, async () => {
    const [mine, theirs] = lowlevel.socketpair(type);
    const socket = UnixMessageSocket.fromFd(mine);
    const ulimit = limit === null ? '' : `ulimit -n ${limit} && `;
    const { next, exited } = stepChild<FloodReport>(
      t,
      'sh',
      ['-c', `${ulimit}exec "$0" test/fixtures/fd-flood-child.js "$1"`, process.execPath, JSON.stringify({ count: COUNT, ...config })],
      theirs,
    );
    t.is((await next()).step, 'start');
    const written: Array<Promise<void>> = [];
    for (let i = 0; i < COUNT; i++) {
      const file = fileWithContent(`m${i}`);
      written.push(
        new Promise((resolve, reject) => {
          socket.write({ data: `m${i}`, fds: new Array<number>(PER_MESSAGE).fill(file) }, (err) => (err ? reject(err) : resolve()));
        }),
      );
      fs.closeSync(file);
    }
    await Promise.all(written);
    report = await next();
    t.is(report.step, 'done');
    const [code, signal] = await exited;
    t.is(code, 0);
    t.is(signal, null);
    socket.destroy();
    await settled(socket);
  });
  t.log(
    `${type} ${JSON.stringify(config)}: ${report.messages} messages, ${report.fdsDelivered} fds in ${report.ms} ms; ` +
      `max fds ${report.maxFds} of ${report.limit}, max pendingFds ${report.maxPending}, room waits seen ${report.roomWaits}`,
  );
  return report;
}

/** The fds a read asks for under a limit too low for a whole message ever to fit (DoRead): half the limit. */
const lowLimitRead = (limit: number): number => Math.min(PER_MESSAGE, Math.floor(limit / 2));

/** What every flood must show: every message whole, in order, and no EMFILE. */
function assertWhole(t: ExecutionContext, r: FloodReport, limit: number | null = LIMIT): void {
  if (limit !== null) t.is(r.limit, limit, 'the child ran under the lowered limit');
  t.is(r.messages, COUNT, 'every message arrived');
  t.is(r.fdsTruncated, 0, 'no message arrived fdsTruncated');
  t.is(r.fdsDelivered, COUNT * PER_MESSAGE, 'every fd was delivered');
  t.deepEqual(r.wrong, [], 'each message in order, its 253 fds all the file it was sent with');
  t.is(r.emfile, 0, "the process's own open() never failed with EMFILE");
}

for (const type of ['seqpacket', 'stream', 'dgram'] as const satisfies readonly SocketType[]) {
  test(`${type}: under ulimit -n 1024 a flowing reader that closes every fd at once gets 60 messages of 253 fds whole, and the process never runs out of fds`, async (t) => {
    const r = await flood(t, type, { mode: 'flowing' });
    assertWhole(t, r);
    t.true(r.maxFds <= LIMIT - RESERVE, `fds in use stayed under the limit minus the reserve (max ${r.maxFds})`);
    t.true(r.maxPending <= DEFAULT_BOUND, `pendingFds stayed under its default bound ${DEFAULT_BOUND} (max ${r.maxPending})`);
  });

  test(`${type}: under ulimit -n 1024 a reader that reads nothing for a while and then drains gets every message whole, with pendingFds within its default bound`, async (t) => {
    const r = await flood(t, type, { mode: 'paused' });
    assertWhole(t, r);
    t.true(r.maxFds <= LIMIT - RESERVE, `fds in use stayed under the limit minus the reserve (max ${r.maxFds})`);
    t.true(r.maxPending <= DEFAULT_BOUND, `pendingFds stayed under max(default maxPendingFds, 253) = ${DEFAULT_BOUND} (max ${r.maxPending})`);
    t.true(r.maxFds - r.baseFds <= DEFAULT_BOUND, `the fds held while paused stayed under the bound (max ${r.maxFds - r.baseFds})`);
  });

  test(`${type}: under ulimit -n 1024 a reader that keeps each message's fds for a while makes reading wait for fd room, and reading resumes on its own as it closes them`, async (t) => {
    const r = await flood(t, type, { mode: 'holding' });
    assertWhole(t, r);
    t.true(r.sawWaiting, 'waitingForFdRoom was true while the process had no room for another message');
    t.true(r.roomWaits > 0, 'reading waited for fd room at least once');
    t.true(r.maxFds <= LIMIT - RESERVE, `fds in use stayed under the limit minus the reserve (max ${r.maxFds})`);
  });

  test(`${type}: with maxPendingFds 760 and readableHighWaterMark 1000, a paused reader never holds more than 760 unclaimed fds, from the first read of every wakeup on`, async (t) => {
    // The limit this process has (Node raises the soft limit to the hard
    // one): the room never binds, only the budget does.
    const r = await flood(t, type, { mode: 'paused', readEveryMs: 5, options: { maxPendingFds: 760, readableHighWaterMark: 1000 } }, null);
    assertWhole(t, r, null);
    t.true(r.limit - r.baseFds - RESERVE > 1012, `the room (limit ${r.limit}) would have let a fourth message in`);
    t.true(r.maxPending <= 760, `pendingFds never passed 760 (max ${r.maxPending})`);
    t.true(r.maxFds - r.baseFds <= 760, `the process held at most 760 fds more than at start (max ${r.maxFds - r.baseFds})`);
    t.is(r.maxPending, 3 * PER_MESSAGE, 'three whole messages fit 760, and were read');
  });
}

for (const type of ['seqpacket', 'stream', 'dgram'] as const satisfies readonly SocketType[]) {
  test(`${type}: a paused reader whose maxPendingFds is above what the process can hold fills the fd room up to exactly the reserve, waits for fd room, and resumes on its own as it drains; one fd less of room holds one message less`, async (t) => {
    // The child first fills its fd table to leave `free` fds. One fd short
    // of three messages and the reserve, three messages still fit the limit:
    // a read that ignored the reserve would take the third and leave 31.
    const fits = await flood(t, type, { mode: 'paused', free: 3 * PER_MESSAGE + RESERVE, options: { maxPendingFds: 4096, readableHighWaterMark: 100 } });
    assertWhole(t, fits);
    t.true(fits.fillers > 0, 'the child filled its fd table to the free count asked for');
    t.is(fits.maxPending, 3 * PER_MESSAGE, 'three messages were held');
    t.is(fits.maxFds, LIMIT - RESERVE, 'up to the limit minus the reserve, and not one fd more');
    t.true(fits.sawWaiting, 'then reading waited for fd room (waitingForFdRoom), not for maxPendingFds');
    const short = await flood(t, type, { mode: 'paused', free: 3 * PER_MESSAGE + RESERVE - 1, options: { maxPendingFds: 4096, readableHighWaterMark: 100 } });
    assertWhole(t, short);
    t.true(short.sawWaiting, 'reading waited for fd room');
    t.is(short.maxPending, 2 * PER_MESSAGE, 'two messages were held, not three');
    t.true(short.maxFds < LIMIT - RESERVE, `fds in use stayed under the limit minus the reserve (max ${short.maxFds})`);
  });
}

for (const type of ['seqpacket', 'stream', 'dgram'] as const satisfies readonly SocketType[]) {
  test(`${type}: under ulimit -n 256, too low for a whole 253-fd message, a read asks the kernel for half the limit and no more: each message arrives fdsTruncated with that many fds, and the process never runs out of fds`, async (t) => {
    const limit = 256;
    const reserve = Math.min(lowlevel.constants.FD_RESERVE, Math.floor(limit / 8));
    const r = await flood(t, type, { mode: 'flowing' }, limit);
    t.is(r.limit, limit);
    t.is(r.messages, COUNT, 'every message arrived');
    t.is(r.fdsTruncated, COUNT, 'each flagged fdsTruncated');
    t.is(r.fdsDelivered, COUNT * lowLimitRead(limit), 'each with exactly half the limit of fds');
    t.deepEqual(r.wrong, [], 'in order, the fds that came all the file sent');
    t.is(r.emfile, 0, "the process's own open() never failed with EMFILE");
    t.true(r.maxFds <= limit - reserve, `fds in use stayed under the limit minus the reserve (max ${r.maxFds})`);
  });

  test(`${type}: under ulimit -n 400, a 253-fd message arrives whole while it fits, and with fewer free fds than it brings the read asks for half the limit instead of filling the fd table`, async (t) => {
    const limit = 400;
    const reserve = Math.min(lowlevel.constants.FD_RESERVE, Math.floor(limit / 8));
    const whole = await flood(t, type, { mode: 'flowing' }, limit);
    assertWhole(t, whole, limit);
    // The child holds enough fds that 253 more never fit, but half the limit does.
    const free = PER_MESSAGE - 3;
    const short = await flood(t, type, { mode: 'flowing', free }, limit);
    t.is(short.messages, COUNT, 'every message arrived');
    t.is(short.fdsTruncated, COUNT, 'each flagged fdsTruncated');
    t.is(short.fdsDelivered, COUNT * lowLimitRead(limit), 'each with half the limit of fds, not all that would have fit');
    t.deepEqual(short.wrong, []);
    t.is(short.emfile, 0, "the process's own open() never failed with EMFILE");
    t.true(short.maxFds <= limit - reserve, `fds in use stayed under the limit minus the reserve (max ${short.maxFds})`);
  });
}

test('seqpacket: maxPendingFds is exact: 759 (three full messages) lets three messages wait unclaimed, 758 only two', async (t) => {
  const three = await flood(t, 'seqpacket', { mode: 'paused', options: { maxPendingFds: 759, readableHighWaterMark: 1000 } }, null);
  assertWhole(t, three, null);
  t.is(three.maxPending, 759);
  const two = await flood(t, 'seqpacket', { mode: 'paused', options: { maxPendingFds: 758, readableHighWaterMark: 1000 } }, null);
  assertWhole(t, two, null);
  t.is(two.maxPending, 506);
});

test('a server under ulimit -n 128 that 300 clients connect to accepts only while the process has room, waits for fd room, and accepts them all as connections close; it never runs out of fds', async (t) => {
  const limit = 128;
  const reserve = Math.min(lowlevel.constants.FD_RESERVE, Math.floor(limit / 8));
  const expected = 300;
  const name = abstractName('accept-room');
  const [mine, theirs] = lowlevel.socketpair('stream');
  lowlevel.close(mine);
  const { next, exited } = stepChild<AcceptReport>(
    t,
    'sh',
    ['-c', `ulimit -n ${limit} && exec "$0" test/fixtures/accept-room-child.js "$1"`, process.execPath, JSON.stringify({ name, expected, holdMs: 20 })],
    theirs,
  );
  t.is((await next()).step, 'start');
  t.is((await next()).step, 'listening');
  const clients: UnixMessageSocket[] = [];
  for (let i = 0; i < expected; i++) {
    const c = connect({ path: name });
    c.on('error', () => undefined); // the child lets go of them
    clients.push(c);
  }
  const r = await next();
  t.like(r, { step: 'done', accepted: expected, emfile: 0, limit, sawWaiting: true });
  t.true(r.maxFds <= limit - reserve, `fds in use stayed under the limit minus the reserve (max ${r.maxFds})`);
  t.deepEqual(await exited, [0, null]);
  for (const c of clients) c.destroy();
  await Promise.all(clients.map((c) => settled(c)));
});
