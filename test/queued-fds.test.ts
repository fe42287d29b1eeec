// The send side's fd budget (maxQueuedFds) against a peer that never reads.
// A message that has to wait holds a duplicate of each of its fds (the
// caller may close its own as soon as write() returns), so a writer that
// respects write() === false could otherwise hold writableHighWaterMark x 253
// dups and push its process into EMFILE. write() returns false once the dups
// the socket holds reach max(maxQueuedFds, 253), and 'drain' follows when
// they fall below: a writer that waits for it holds at most that bound plus
// one message's fds (the write that crossed it).
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import { lowlevel, socketPair, UnixMessageSocket, type SocketOptions, type SocketType, type UnixMessage } from '../src/index';
import {
  assertProbeClosed,
  closeAll,
  delay,
  fdCount,
  fileWithContent,
  inodeOf,
  leakFree,
  nextEvent,
  probe,
  settled,
  take,
  waitFor,
  withLeakCheck,
} from './helpers';

const PER_MESSAGE = 253;
const { SOL_SOCKET, SO_SNDBUF } = lowlevel.constants;

/** The soft RLIMIT_NOFILE of this process. */
function fdLimit(): number {
  return Number(/Max open files\s+(\d+)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'))![1]);
}

interface Stalled {
  maxQueued: number;
  maxHeld: number;
  needDrainWhileStalled: boolean;
  falses: number;
  drains: number;
}

/**
 * Writes `count` messages of 253 fds (message i: one file, 253 times; the
 * last one a probe) to a peer that reads nothing until the writer has been
 * held back for 100 ms, waiting for 'drain' whenever write() says false.
 * Checks that every message arrives in order with its fds.
 */
async function sendToStalledPeer(t: ExecutionContext, type: SocketType, options: SocketOptions, count: number): Promise<Stalled> {
  const s: Stalled = { maxQueued: 0, maxHeld: 0, needDrainWhileStalled: true, falses: 0, drains: 0 };
  await withLeakCheck(t, async () => {
    const p = probe();
    const [mine, peer] = lowlevel.socketpair(type);
    const a = UnixMessageSocket.fromFd(mine, options);
    // The kernel's smallest send buffer: it is full after a few messages.
    a.setOption(SOL_SOCKET, SO_SNDBUF, 1);
    const base = fdCount();
    let stalled = true; // until the peer starts reading
    const sample = (): void => {
      s.maxQueued = Math.max(s.maxQueued, a.queuedFds);
      // Once the peer reads, the fds it receives are in this process too.
      if (stalled) s.maxHeld = Math.max(s.maxHeld, fdCount() - base);
    };
    const timer = setInterval(sample, 2);
    a.on('drain', () => {
      s.drains++;
      sample();
    });

    const inodes: string[] = [];
    const received: Array<{ data: string; ok: boolean }> = [];
    let reader: UnixMessageSocket | null = null;
    const startReading = async (): Promise<void> => {
      // The reader stays away for ~100 ms (part of the scenario) while the
      // writer is sampled for writableNeedDrain.
      for (let i = 0; i < 50; i++) {
        await delay(2);
        if (!a.writableNeedDrain) s.needDrainWhileStalled = false;
      }
      stalled = false;
      reader = UnixMessageSocket.fromFd(peer);
      reader.on('data', (m: UnixMessage) => {
        const want = inodes[received.length];
        received.push({ data: m.data.toString(), ok: m.fds.length === PER_MESSAGE && m.fds.every((fd) => inodeOf(fd) === want) });
        closeAll(m.fds);
      });
    };
    let reading: Promise<void> | null = null;

    for (let i = 0; i < count; i++) {
      const fd = i === count - 1 ? p.fd : fileWithContent(`m${i}`);
      inodes.push(inodeOf(fd));
      const room = a.write({ data: `m${i}`, fds: new Array<number>(PER_MESSAGE).fill(fd) });
      fs.closeSync(fd);
      sample();
      if (!room) {
        s.falses++;
        t.true(a.writableNeedDrain, 'writableNeedDrain is true after write() said false');
        const drained = nextEvent(a, ['drain']);
        reading ??= startReading();
        await drained;
      }
    }
    // A writer never held back (as before maxQueuedFds) lets the peer read now.
    reading ??= startReading();
    await new Promise<void>((resolve) => a.end(resolve));
    clearInterval(timer);
    sample();
    t.log(`${type} ${JSON.stringify(options)}: max queuedFds ${s.maxQueued}, max dups held ${s.maxHeld}, ${s.falses} false returns, ${s.drains} drains`);
    await reading;
    await waitFor(() => received.length >= count);
    t.deepEqual(
      received.map((r) => r.data),
      inodes.map((_, i) => `m${i}`),
      'every message arrived, in order',
    );
    t.true(
      received.every((r) => r.ok),
      'each with its 253 fds, all the file it was sent with',
    );
    t.is(a.queuedFds, 0, 'no dup is held once everything is sent');
    a.destroy();
    reader!.destroy();
    await Promise.all([settled(a), settled(reader!)]);
    await assertProbeClosed(t, p);
  });
  return s;
}

for (const type of ['seqpacket', 'stream', 'dgram'] as const satisfies readonly SocketType[]) {
  for (const maxQueuedFds of [1000, undefined]) {
    const label = maxQueuedFds === undefined ? 'the default maxQueuedFds (a quarter of RLIMIT_NOFILE, at most 4096)' : `maxQueuedFds ${maxQueuedFds}`;
    test(`${type}: with ${label}, a writer that waits for 'drain' while the peer never reads holds at most the bound plus one message's dups, and every message arrives once the peer reads`, async (t) => {
      const bound = Math.max(maxQueuedFds ?? Math.max(PER_MESSAGE, Math.min(4096, Math.floor(fdLimit() / 4))), PER_MESSAGE);
      // Enough messages to pass the bound with the kernel's queue full.
      const count = Math.ceil(bound / PER_MESSAGE) + 24;
      const s = await sendToStalledPeer(t, type, maxQueuedFds === undefined ? {} : { maxQueuedFds }, count);
      t.true(s.maxQueued >= bound, `the writer reached the bound (max queuedFds ${s.maxQueued})`);
      t.true(s.maxQueued <= bound + PER_MESSAGE - 1, `queuedFds never passed the bound plus one message's fds less one (max ${s.maxQueued}, bound ${bound})`);
      t.true(s.maxHeld <= bound + PER_MESSAGE - 1, `the process held at most that many dups (max ${s.maxHeld})`);
      t.true(s.needDrainWhileStalled, 'writableNeedDrain stayed true while the peer did not read');
      t.true(s.falses > 0, 'write() said false');
      t.is(s.drains, s.falses, "exactly one 'drain' per false return");
    });
  }
}

/**
 * Reads until `data` has arrived (a stream read may join messages) and
 * returns the bytes and how many fds came with them, closed.
 */
async function received(socket: UnixMessageSocket, data: string): Promise<[string, number]> {
  let bytes = '';
  let fds = 0;
  while (bytes.length < data.length) {
    const [m] = await take(socket, 1);
    bytes += m!.data.toString();
    fds += m!.fds.length;
    closeAll(m!.fds);
  }
  return [bytes, fds];
}

for (const type of ['seqpacket', 'stream', 'dgram'] as const satisfies readonly SocketType[]) {
  test(
    `${type}: 'drain' comes once, after both the message count and the fds held the writer back, and only when both are below their bounds`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type, { writableHighWaterMark: 2, maxQueuedFds: PER_MESSAGE });
      const file = fileWithContent('both');
      let drains = 0;
      a.on('drain', () => drains++);
      t.true(a.write('first'), 'one message: under both bounds');
      const room = a.write({ data: 'second', fds: new Array<number>(PER_MESSAGE).fill(file) });
      fs.closeSync(file);
      t.false(room, 'false: two messages reach writableHighWaterMark and 253 dups reach maxQueuedFds');
      t.is(a.queuedFds, PER_MESSAGE, 'the second message holds its dups');
      t.true(a.writableNeedDrain);
      await nextEvent(a, ['drain']);
      t.is(a.queuedFds, 0, "the dups were released before 'drain'");
      t.false(a.writableNeedDrain, "writableNeedDrain is false at 'drain'");
      t.deepEqual(await received(b, 'firstsecond'), ['firstsecond', PER_MESSAGE]);
      await delay(20); // a negative check: no event marks a second 'drain' that never comes
      t.is(drains, 1, "one 'drain' for one false return");
      a.destroy();
      b.destroy();
      await Promise.all([settled(a), settled(b)]);
    }),
  );

  test(
    `${type}: write() says false for the fds alone, under writableHighWaterMark, and one 'drain' follows once they are sent`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type, { maxQueuedFds: PER_MESSAGE });
      const file = fileWithContent('fds');
      let drains = 0;
      a.on('drain', () => drains++);
      t.true(a.write('first'));
      const room = a.write({ data: 'second', fds: new Array<number>(PER_MESSAGE).fill(file) });
      fs.closeSync(file);
      t.false(room, '253 dups reach maxQueuedFds');
      t.true(a.writableLength < a.writableHighWaterMark, 'the message count alone would not have held the writer back');
      await nextEvent(a, ['drain']);
      t.is(a.queuedFds, 0);
      t.deepEqual(await received(b, 'firstsecond'), ['firstsecond', PER_MESSAGE]);
      await delay(20); // a negative check: no event marks a second 'drain' that never comes
      t.is(drains, 1, "one 'drain' for one false return");
      a.destroy();
      b.destroy();
      await Promise.all([settled(a), settled(b)]);
    }),
  );
}

test(
  'seqpacket: maxQueuedFds is exact: write() says false on the write whose dups reach it, not one write earlier or later',
  leakFree(async (t) => {
    for (const [maxQueuedFds, falseAt] of [
      [4 * PER_MESSAGE, 4],
      [4 * PER_MESSAGE + 1, 5],
    ] as const) {
      const [a, b] = socketPair('seqpacket', { maxQueuedFds, writableHighWaterMark: 1000 });
      const file = fileWithContent('exact');
      // Corked, every message waits and holds its dups (an idle socket would
      // send the first one from write() itself, without dups).
      a.cork();
      const rooms: boolean[] = [];
      for (let i = 1; i <= falseAt; i++) rooms.push(a.write({ data: `m${i}`, fds: new Array<number>(PER_MESSAGE).fill(file) }));
      fs.closeSync(file);
      t.deepEqual(rooms, [...new Array<boolean>(falseAt - 1).fill(true), false], `maxQueuedFds ${maxQueuedFds}: false on write ${falseAt}`);
      t.is(a.queuedFds, falseAt * PER_MESSAGE);
      t.true(a.queuedFds <= maxQueuedFds + PER_MESSAGE - 1, 'at most the bound plus one message less one fd');
      const drained = nextEvent(a, ['drain']);
      a.uncork();
      await drained;
      const got = await take(b, falseAt);
      t.true(got.every((m) => m.fds.length === PER_MESSAGE));
      for (const m of got) closeAll(m.fds);
      a.destroy();
      b.destroy();
      await Promise.all([settled(a), settled(b)]);
    }
  }),
);

for (const type of ['seqpacket', 'stream', 'dgram'] as const satisfies readonly SocketType[]) {
  test(
    `${type}: destroying a writer whose 253-fd messages wait for a peer that never reads closes every dup it holds`,
    leakFree(async (t, { base }) => {
      const p = probe();
      const [mine, peer] = lowlevel.socketpair(type);
      const a = UnixMessageSocket.fromFd(mine, { writableHighWaterMark: 1000, maxQueuedFds: 100_000 });
      a.setOption(SOL_SOCKET, SO_SNDBUF, 1);
      const errors: Array<Error | null | undefined> = [];
      for (let i = 0; i < 20; i++) a.write({ data: `m${i}`, fds: new Array<number>(PER_MESSAGE).fill(p.fd) }, (err) => errors.push(err));
      fs.closeSync(p.fd);
      await delay(20); // a negative check: the messages that cannot leave are still waiting (no event marks that)
      t.true(a.queuedFds > 0, `messages wait with their dups (${a.queuedFds})`);
      t.true(fdCount() - base >= a.queuedFds, 'the dups are open in this process');
      a.destroy();
      await settled(a);
      t.is(a.queuedFds, 0, 'no dup is counted after destroy');
      t.true(errors.filter((e) => e != null).length > 0, 'the waiting writes failed');
      // The messages the kernel took are in the peer's queue until it closes.
      lowlevel.close(peer);
      await assertProbeClosed(t, p);
    }),
  );
}
