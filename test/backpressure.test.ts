// Backpressure in both directions: write() returns false and 'drain' follows;
// a reader that does not read stops polling; unclaimed fds pause reading.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { socketPair, type SocketType, type UnixMessage } from '../src/index';
import { delay, fileWithContent, leakFree, settled, take, waitFor } from './helpers';

for (const type of ['seqpacket', 'stream', 'dgram'] as SocketType[]) {
  test(
    `${type}: 1e5 messages to a paused reader stay bounded in memory and all arrive in order`,
    leakFree(async (t) => {
      // A stream writer gathers queued messages into one sendmsg, and a stream
      // reader reads chunks of up to maxMessageSize: 1 KiB chunks keep the
      // reader's 64-chunk buffer (64 KiB) well below the 800 KB sent.
      const chunk = type === 'stream' ? { maxMessageSize: 1024 } : {};
      const [a, b] = socketPair(type, { writableHighWaterMark: 64, readableHighWaterMark: 64, ...chunk });
      const N = 100_000;
      let maxWritable = 0;
      let maxReadable = 0;
      let drains = 0;
      a.on('drain', () => drains++);
      const writer = (async () => {
        for (let i = 0; i < N; i++) {
          const payload = Buffer.alloc(8);
          payload.writeUInt32BE(i, 0);
          payload.writeUInt32BE(0xfeedface, 4);
          if (!a.write(payload)) {
            maxWritable = Math.max(maxWritable, a.writableLength);
            await once(a, 'drain');
          }
        }
        a.end();
      })();
      // The reader starts paused: the kernel buffers fill and the writer must wait.
      await waitFor(() => a.writableNeedDrain);
      // A negative check follows (the reader does not pull past its high-water
      // mark): no event marks reading that does not happen, so give it time.
      await delay(200);
      t.true(a.writableNeedDrain, 'the writer is held back while nobody reads');
      t.true(b.readableLength <= 64 + 256, 'the reader stopped pulling from the kernel at its high-water mark');
      const seen: Buffer[] = [];
      let bytes = 0;
      await new Promise<void>((resolve, reject) => {
        b.on('data', (m: UnixMessage) => {
          maxReadable = Math.max(maxReadable, b.readableLength);
          bytes += m.data.length;
          seen.push(m.data);
          if (type !== 'stream' && seen.length === N) resolve();
          if (type === 'stream' && bytes === N * 8) resolve();
        });
        b.on('error', reject);
      });
      await writer;
      const all = Buffer.concat(seen);
      t.is(all.length, N * 8, 'nothing lost');
      let ordered = true;
      for (let i = 0; i < N && ordered; i++) {
        ordered = all.readUInt32BE(i * 8) === i && all.readUInt32BE(i * 8 + 4) === 0xfeedface;
      }
      t.true(ordered, 'every message in order, intact');
      t.true(drains > 0, "'drain' was emitted");
      t.true(maxWritable <= 64, `write() said false at the high-water mark (max queued ${maxWritable})`);
      t.true(maxReadable <= 64 + 256, `the readable buffer stayed bounded (max ${maxReadable})`);
      const done = settled(b);
      a.destroy();
      b.destroy();
      await done;
    }),
  );
}

test(
  'seqpacket: reading pauses while received fds sit unclaimed, and resumes when they are read',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket', { maxPendingFds: 300, readableHighWaterMark: 1000 });
    const files = Array.from({ length: 10 }, (_, i) => fileWithContent(`f${i}`));
    const M = 60;
    for (let i = 0; i < M; i++) a.write({ data: `m${i}`, fds: files });
    closeEach(files);
    // Make b poll without consuming: 'readable' listeners pull into the buffer.
    b.on('readable', () => undefined);
    await waitFor(() => b.readableLength > 0);
    // A negative check follows (no more than maxPendingFds pulled in): no event
    // marks reading that does not happen, so give it time.
    await delay(200);
    const unclaimed = b.readableLength * 10;
    t.true(unclaimed <= 300, `at most maxPendingFds fds were pulled in (${unclaimed})`);
    t.true(b.readableLength > 0, 'reading did start');
    t.true(b.readableLength < M, 'but stopped before taking everything from the kernel');
    const got = await take(b, M);
    t.is(got.length, M, 'all messages arrive once the consumer reads');
    t.true(got.every((m, i) => m.data.toString() === `m${i}` && m.fds.length === 10));
    for (const m of got) closeEach(m.fds);
    a.destroy();
    b.destroy();
  }),
);

test(
  'stream: write() returns false at the high-water mark and drain follows under a slow reader',
  leakFree(async (t) => {
    const [a, b] = socketPair('stream', { writableHighWaterMark: 4 });
    const done = Promise.all([settled(a.resume()), settled(b)]);
    const chunk = Buffer.alloc(256 * 1024, 7);
    let falses = 0;
    for (let i = 0; i < 16; i++) if (!a.write(chunk)) falses++;
    t.true(falses > 0);
    a.end();
    let total = 0;
    for await (const m of b) {
      total += (m as UnixMessage).data.length;
      await delay(1); // a slow reader, part of the scenario
    }
    t.is(total, 16 * chunk.length);
    await done;
  }),
);

function closeEach(fds: number[]): void {
  for (const fd of fds) fs.closeSync(fd);
}

// A write whose message fails at once (its dup(2) or sendmsg(2) refused)
// returns false, so that a writer looping while write() returns true stops
// and lets the event loop turn. Before, it returned true: at EMFILE such a
// loop ran until the heap was exhausted, and the process aborted.
for (const type of ['seqpacket', 'stream', 'dgram'] as SocketType[]) {
  for (const mode of ['callback', 'none'] as const) {
    test(`${type}: at EMFILE, a write loop on a busy socket ends at the first failed write (${mode === 'callback' ? "with a callback: it gets EMFILE and 'drain' follows" : 'without a callback: the socket errors with EMFILE'})`, (t) => {
      const r = spawnSync('sh', ['-c', 'ulimit -n 256 && exec "$0" test/fixtures/failing-writes-child.js "$1" "$2"', process.execPath, type, mode], {
        cwd: path.join(__dirname, '..'),
        encoding: 'utf8',
        timeout: 20_000,
      });
      t.is(r.status, 0, r.stderr);
      const report = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
        trueInARow: number;
        drain: boolean;
        callbackError: string | null;
        socketError: string | null;
      };
      t.is(report.trueInARow, 0, 'write() said false at the first failed write');
      if (mode === 'callback') {
        t.like(report, { drain: true, callbackError: 'EMFILE', socketError: null });
      } else {
        t.like(report, { drain: false, socketError: 'EMFILE' });
      }
    });
  }
}

test(
  "seqpacket: a write that fails at once on an idle socket (a closed fd: EBADF from sendmsg) returns false; with a callback, 'drain' follows and the socket keeps working",
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const closed = fs.openSync('/dev/null', 'r');
    fs.closeSync(closed);
    let error: NodeJS.ErrnoException | null | undefined;
    const drained = once(a, 'drain');
    t.false(
      a.write({ data: 'bad', fds: [closed] }, (err) => {
        error = err;
      }),
    );
    await drained;
    t.is(error?.code, 'EBADF');
    const got = once(b, 'data') as Promise<[UnixMessage]>;
    t.true(a.write('still works'));
    t.is((await got)[0].data.toString(), 'still works');
    a.destroy();
    b.destroy();
    await Promise.all([settled(a), settled(b)]);
  }),
);
