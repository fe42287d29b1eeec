// fd passing through UnixMessageSocket: counts, identity, limits, close-on-exec,
// partial stream writes, dup-at-write, destroy with buffered fds, bad fds.
// Oracles: fd-table delta (fdCount/assertFdsBack) and probe-socketpair EOF.
import test, { type ExecutionContext } from 'ava';
import { spawnSync, type StdioOptions } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import { constants, lowlevel, socketPair, type ErrnoError, type SocketType, type UnixMessage, type UnixMessageSocket } from '../src/index';
import { closeFds } from '../src/stream/fds';
import {
  assertProbeClosed,
  closeAll,
  contentOf,
  delay,
  destroyAll,
  fdCount,
  fileWithContent,
  inodeOf,
  leakFree,
  openFds,
  probe,
  readable,
  readToEnd,
  settled,
  take,
  tick,
  waitFor,
  writeDone,
} from './helpers';

const TYPES: readonly SocketType[] = ['seqpacket', 'stream', 'dgram'];

interface Read {
  /** Stream offset of this read's first byte. */
  offset: number;
  length: number;
  fds: number[];
  truncated: boolean;
  fdsTruncated: boolean;
}

interface Collected {
  data: Buffer;
  fds: number[];
  reads: Read[];
}

/**
 * Reads (paused mode) until `bytes` bytes and `nfds` fds have arrived. With
 * `pauseEvery`, sleeps 1 ms after every that many reads: a slow reader.
 */
async function collect(socket: UnixMessageSocket, bytes: number, nfds: number, pauseEvery = 0): Promise<Collected> {
  const chunks: Buffer[] = [];
  const fds: number[] = [];
  const reads: Read[] = [];
  let total = 0;
  while (total < bytes || fds.length < nfds) {
    const m = socket.read();
    if (m === null) {
      if (socket.readableEnded || socket.destroyed) break;
      await readable(socket);
      continue;
    }
    reads.push({ offset: total, length: m.data.length, fds: m.fds, truncated: m.truncated, fdsTruncated: m.fdsTruncated });
    chunks.push(m.data);
    fds.push(...m.fds);
    total += m.data.length;
    if (pauseEvery > 0 && reads.length % pauseEvery === 0) await delay(1); // a slow reader, part of the scenario
  }
  return { data: Buffer.concat(chunks), fds, reads };
}

/** Receives one logical message: one datagram/packet, or `bytes` bytes and `nfds` fds of a stream. */
async function receiveOne(socket: UnixMessageSocket, bytes: number, nfds: number): Promise<{ data: Buffer; fds: number[] }> {
  if (socket.type === 'stream') return collect(socket, bytes, nfds);
  const [m] = await take(socket, 1);
  if (m === undefined) throw new Error('socket ended before a message arrived');
  return m;
}

/**
 * A number that is not an open fd. Well above the table's used range, so that
 * no dup (which takes the lowest free number) can land on it meanwhile.
 */
function closedFdNumber(): number {
  const open = new Set(openFds());
  let fd = 1000;
  while (open.has(fd)) fd++;
  return fd;
}

// ---------------------------------------------------------------------------
// Counts and identity.

for (const type of TYPES) {
  test(
    `${type}: one fd sent alone arrives as the same open file (probe inode) and its last copy closes`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      const p = probe();
      const ino = inodeOf(p.fd);
      a.write({ data: 'one', fds: [p.fd] });
      fs.closeSync(p.fd);
      const m = await receiveOne(b, 3, 1);
      t.is(m.data.toString(), 'one');
      t.is(m.fds.length, 1);
      t.is(inodeOf(m.fds[0]!), ino);
      t.false(p.isClosed(), 'the received copy still holds the probe open');
      closeAll(m.fds);
      await destroyAll(a, b);
      await assertProbeClosed(t, p);
    }),
  );

  for (const n of [4, 253]) {
    test(
      `${type}: ${n} fds in one message arrive in order as the files that were sent`,
      leakFree(async (t) => {
        const [a, b] = socketPair(type);
        const p = probe();
        const files: number[] = [];
        for (let i = 0; i < n - 1; i++) files.push(fileWithContent(`${type}-${n}-file-${i}`));
        const sent = [...files, p.fd];
        const inodes = sent.map(inodeOf);
        const data = `message with ${n} fds`;
        a.write({ data, fds: sent });
        // dup-at-write: our copies may go at once.
        closeAll(sent);
        const m = await receiveOne(b, Buffer.byteLength(data), n);
        t.is(m.data.toString(), data);
        t.is(m.fds.length, n);
        t.deepEqual(m.fds.map(inodeOf), inodes);
        for (let i = 0; i < n - 1; i++) {
          if (contentOf(m.fds[i]!) !== `${type}-${n}-file-${i}`) {
            t.fail(`fd ${i} holds ${JSON.stringify(contentOf(m.fds[i]!))}`);
            break;
          }
        }
        t.is(new Set(m.fds).size, n, 'every received fd is a distinct descriptor');
        closeAll(m.fds);
        await destroyAll(a, b);
        await assertProbeClosed(t, p);
      }),
    );
  }

  test(
    `${type}: 254 fds in one write() throw ERR_OUT_OF_RANGE synchronously and nothing is sent`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      const p = probe();
      const fds = new Array<number>(254).fill(p.fd);
      const before = fdCount();
      const err = t.throws(() => a.write({ data: 'too many', fds }), { instanceOf: RangeError });
      t.is((err as NodeJS.ErrnoException | undefined)?.code, 'ERR_OUT_OF_RANGE');
      t.is(fdCount(), before, 'no dup of the fds was left behind');
      t.is(a.writableLength, 0, 'nothing was queued');
      fs.closeSync(p.fd);
      a.write('next');
      const m = await receiveOne(b, 4, 0);
      t.is(m.data.toString(), 'next', 'the following message is the first one received');
      t.deepEqual(m.fds, []);
      await destroyAll(a, b);
      await assertProbeClosed(t, p);
    }),
  );
}

test(
  'stream: fds with empty data throw ERR_INVALID_ARG_VALUE and nothing is sent',
  leakFree(async (t) => {
    const [a, b] = socketPair('stream');
    const p = probe();
    const before = fdCount();
    for (const data of [undefined, '', Buffer.alloc(0), [] as Buffer[], [Buffer.alloc(0)]]) {
      const err = t.throws(() => a.write({ data, fds: [p.fd] }), { instanceOf: TypeError });
      t.is((err as NodeJS.ErrnoException | undefined)?.code, 'ERR_INVALID_ARG_VALUE');
    }
    t.is(fdCount(), before, 'no dup of the fd was left behind');
    fs.closeSync(p.fd);
    a.write('after');
    const m = await receiveOne(b, 5, 0);
    t.is(m.data.toString(), 'after');
    t.deepEqual(m.fds, []);
    await destroyAll(a, b);
    await assertProbeClosed(t, p);
  }),
);

for (const type of ['seqpacket', 'dgram'] as const) {
  test(
    `${type}: a message with fds and empty data is sent and its fds arrive`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      const p = probe();
      const ino = inodeOf(p.fd);
      a.write({ fds: [p.fd] });
      fs.closeSync(p.fd);
      a.write('second');
      const [m1, m2] = await take(b, 2);
      t.is(m1?.data.length, 0);
      t.deepEqual(m1?.fds.map(inodeOf), [ino]);
      t.is(m2?.data.toString(), 'second');
      closeAll(m1?.fds ?? []);
      await destroyAll(a, b);
      await assertProbeClosed(t, p);
    }),
  );
}

// ---------------------------------------------------------------------------
// Close-on-exec.

/** The fd numbers among `fds` that a `sh` child has open. */
function inheritedBy(fds: readonly number[], passThrough: readonly number[] = []): number[] {
  const stdio: StdioOptions = ['ignore', 'pipe', 'inherit'];
  for (const fd of passThrough) {
    while (stdio.length < fd) stdio.push('ignore');
    stdio[fd] = fd;
  }
  // `[ -e ]` is a builtin stat(): the shell opens nothing while checking.
  const script = `for n in ${fds.join(' ')}; do if [ -e /proc/$$/fd/$n ]; then echo $n; fi; done`;
  const r = spawnSync('sh', ['-c', script], { stdio, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sh exited ${String(r.status)}`);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map(Number);
}

function fdFlags(fd: number): number {
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const match = /^flags:\s+([0-7]+)$/m.exec(info);
  if (match === null) throw new Error(`no flags in fdinfo of ${fd}`);
  return parseInt(match[1]!, 8);
}

const O_CLOEXEC = 0o2000000;

for (const type of TYPES) {
  test(
    `${type}: received fds are close-on-exec and a spawned child does not inherit them`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      const p = probe();
      const files = [fileWithContent('cloexec-1'), fileWithContent('cloexec-2'), p.fd];
      a.write({ data: 'exec', fds: files });
      closeAll(files);
      const m = await receiveOne(b, 4, 3);
      t.is(m.fds.length, 3);
      for (const fd of m.fds) t.true((fdFlags(fd) & O_CLOEXEC) !== 0, `fd ${fd} has O_CLOEXEC in fdinfo`);
      t.deepEqual(inheritedBy(m.fds), [], 'no received fd is open in the child');
      // Control: the same check sees an fd that is passed on purpose.
      t.deepEqual(inheritedBy(m.fds, [m.fds[0]!]), [m.fds[0]!], 'the check sees an fd passed explicitly');
      closeAll(m.fds);
      await destroyAll(a, b);
      await assertProbeClosed(t, p);
    }),
  );
}

// ---------------------------------------------------------------------------
// Partial stream writes under backpressure.

const SOL_SOCKET = constants.SOL_SOCKET;

function smallBuffers(writer: UnixMessageSocket, reader: UnixMessageSocket): void {
  writer.setOption(SOL_SOCKET, constants.SO_SNDBUF, 4096);
  reader.setOption(SOL_SOCKET, constants.SO_RCVBUF, 4096);
}

const sha256 = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');

test(
  "stream: messages written in one tick leave gathered, and each fd still arrives with its own message's bytes",
  leakFree(async (t) => {
    // 4-byte reads: a read can then not hold both a message's first byte and
    // the bytes before it, so the read that brings an fd shows where it was attached.
    const [a, b] = socketPair('stream', { maxMessageSize: 4 });
    const p = probe();
    const files = [fileWithContent('first'), p.fd];
    const inodes = files.map(inodeOf);
    // Offsets 0, 4, 8, 12, 16: fds on the second and the fourth message.
    const parts = ['aaaa', 'bbbb', 'cccc', 'dddd', 'eeee'];
    const done = parts.map((data, i) => writeDone(a, { data, fds: i === 1 ? [files[0]!] : i === 3 ? [files[1]!] : [] }));
    closeAll(files);
    t.true((await Promise.all(done)).every((e) => e === null));
    const got = await collect(b, 20, 2);
    t.is(got.data.toString(), parts.join(''));
    t.deepEqual(got.fds.map(inodeOf), inodes, 'both fds, in order');
    const withFds = got.reads.filter((r) => r.fds.length > 0);
    t.deepEqual(
      withFds.map((r) => r.offset),
      [4, 12],
      "each fd arrives with its own message's first byte",
    );
    t.deepEqual(
      withFds.map((r) => inodeOf(r.fds[0]!)),
      inodes,
    );
    closeAll(got.fds);
    await destroyAll(a, b);
    await assertProbeClosed(t, p);
  }),
);

test(
  'stream: a 4 MiB write with fds through a slow reader delivers each fd exactly once and every byte intact',
  leakFree(async (t) => {
    const [a, b] = socketPair('stream');
    smallBuffers(a, b);
    const p = probe();
    const sent = [fileWithContent('big-0'), fileWithContent('big-1'), p.fd];
    const inodes = sent.map(inodeOf);
    const payload = randomBytes(4 * 1024 * 1024);
    let flushed = false;
    const written = new Promise<Error | null | undefined>((resolve) =>
      a.write({ data: payload, fds: sent }, (err) => {
        flushed = true;
        resolve(err);
      }),
    );
    closeAll(sent);
    await tick(); // a negative check: no event marks a write that has not finished
    t.false(flushed, 'the write is still partial before the reader starts');
    const got = await collect(b, payload.length, 0, 4);
    t.is(await written, null);
    t.is(got.data.length, payload.length);
    t.is(sha256(got.data), sha256(payload), 'bytes intact');
    t.true(got.reads.length > 1, 'the data arrived over several reads');
    t.is(got.fds.length, 3, 'each fd arrives exactly once');
    t.deepEqual(got.fds.map(inodeOf), inodes);
    const withFds = got.reads.filter((r) => r.fds.length > 0);
    t.is(withFds.length, 1, 'the fds came with a single read');
    t.is(withFds[0]?.offset, 0, 'the fds came with the first byte');
    t.false(got.reads.some((r) => r.fdsTruncated));
    t.is(contentOf(got.fds[0]!), 'big-0');
    t.is(contentOf(got.fds[1]!), 'big-1');
    closeAll(got.fds);
    // Nothing more is in flight: a final marker is the next thing read.
    a.end('!');
    const rest = await collect(b, 1, 0);
    t.is(rest.data.toString(), '!');
    t.deepEqual(rest.fds, []);
    await destroyAll(a, b);
    await assertProbeClosed(t, p);
  }),
);

test(
  'stream: many messages with fds under backpressure deliver each inode exactly once, in order, with its first byte',
  leakFree(async (t) => {
    // A high-water mark below the 24 writes, so that write() reports backpressure.
    const [a, b] = socketPair('stream', { writableHighWaterMark: 16 });
    smallBuffers(a, b);
    const p = probe();
    const count = 24;
    const size = 48 * 1024;
    const payloads: Buffer[] = [];
    const inodes: string[] = [];
    const callbacks: Array<Promise<Error | null | undefined>> = [];
    let sawBackpressure = false;
    for (let i = 0; i < count; i++) {
      const fd = i === 7 ? p.fd : fileWithContent(`msg-${i}`);
      inodes.push(inodeOf(fd));
      const data = randomBytes(size);
      payloads.push(data);
      callbacks.push(writeDone(a, { data, fds: [fd] }));
      if (a.writableNeedDrain) sawBackpressure = true;
      fs.closeSync(fd);
    }
    t.true(sawBackpressure, 'write() reported backpressure');
    const got = await collect(b, count * size, count, 3);
    const all = Buffer.concat(payloads);
    t.is(got.data.length, all.length);
    t.is(sha256(got.data), sha256(all), 'bytes intact');
    t.is(got.fds.length, count, 'each fd arrives exactly once');
    t.deepEqual(got.fds.map(inodeOf), inodes, 'inodes in write order');
    // Each read carries the fds of at most one write, and that read holds the
    // first byte of the write (docs/kernel.md, "SOCK_STREAM").
    let k = 0;
    for (const r of got.reads) {
      if (r.fds.length === 0) continue;
      t.is(r.fds.length, 1);
      const start = k * size;
      t.true(r.offset <= start && start < r.offset + r.length, `fd of message ${k} arrives with its first byte`);
      k++;
    }
    for (let i = 0; i < count; i++) {
      if (i !== 7) t.is(contentOf(got.fds[i]!), `msg-${i}`);
    }
    for (const err of await Promise.all(callbacks)) t.is(err, null);
    closeAll(got.fds);
    await destroyAll(a, b);
    await assertProbeClosed(t, p);
  }),
);

// ---------------------------------------------------------------------------
// dup-at-write.

for (const type of TYPES) {
  test(
    `${type}: an fd closed by the caller after write() but before the flush still sends the original file`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      const p = probe();
      const fillerSize = 32 * 1024;
      const fillers = 24;
      for (let i = 0; i < fillers; i++) a.write(Buffer.alloc(fillerSize, i));
      const original = fileWithContent('original');
      const originalIno = inodeOf(original);
      const probeIno = inodeOf(p.fd);
      const done = writeDone(a, { data: 'with-fd', fds: [original, p.fd] });
      t.true(a.writableLength >= 2, 'the message is queued behind the fillers, not yet sent');
      fs.closeSync(original);
      fs.closeSync(p.fd);
      // Very likely reuses the number just closed: the queued message must not care.
      const impostor = fileWithContent('impostor');
      const impostor2 = fileWithContent('impostor-2');
      let fd: number[];
      if (type === 'stream') {
        const got = await collect(b, fillers * fillerSize + 7, 2);
        t.is(got.data.subarray(fillers * fillerSize).toString(), 'with-fd');
        fd = got.fds;
      } else {
        const msgs = await take(b, fillers + 1);
        t.is(msgs.length, fillers + 1);
        for (let i = 0; i < fillers; i++) t.deepEqual(msgs[i]?.fds, []);
        const last = msgs[fillers]!;
        t.is(last.data.toString(), 'with-fd');
        fd = last.fds;
      }
      t.is(await done, null);
      t.is(fd.length, 2);
      t.is(inodeOf(fd[0]!), originalIno);
      t.is(contentOf(fd[0]!), 'original');
      t.is(inodeOf(fd[1]!), probeIno);
      closeAll(fd);
      closeAll([impostor, impostor2]);
      await destroyAll(a, b);
      await assertProbeClosed(t, p);
    }),
  );
}

// ---------------------------------------------------------------------------
// An idle socket sends a message with fds from write() itself: no dup.

for (const type of TYPES) {
  test(
    `${type}: on an idle socket write() sends the fds at once, makes no dup, and the caller may close its copies`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      const p = probe();
      const file = fileWithContent('sent-now');
      const ino = inodeOf(file);
      const before = fdCount();
      const done = writeDone(a, { data: 'now', fds: [p.fd, file] });
      t.is(fdCount(), before, 'no dup was made: the kernel holds the only other references');
      fs.closeSync(file);
      fs.closeSync(p.fd);
      t.is(await done, null);
      const fds = type === 'stream' ? (await collect(b, 3, 2)).fds : (await take(b, 1))[0]!.fds;
      t.is(fds.length, 2);
      t.is(inodeOf(fds[1]!), ino);
      t.is(contentOf(fds[1]!), 'sent-now');
      closeAll(fds);
      await destroyAll(a, b);
      await assertProbeClosed(t, p);
    }),
  );
}

for (const type of TYPES) {
  test(
    `${type}: a write sent from write() itself calls back asynchronously, in order with the writes around it, and end() still comes after it`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type, { allowHalfOpen: true });
      const p = probe();
      const calls: string[] = [];
      let sync = true;
      const record =
        (name: string) =>
        (err?: Error | null): void => {
          calls.push(`${name}: ${err === null ? 'ok' : String(err)}${sync ? ' (sync)' : ''}`);
        };
      // Idle: sent from write() itself, with no dup. Then a plain write, which
      // waits for the end of the tick, and behind it a write with fds (a dup).
      t.true(a.write({ data: 'first', fds: [p.fd] }, record('first')));
      t.is(a.writableLength, 0, 'nothing of the first write is left to Writable');
      a.write('second', record('second'));
      a.write({ data: 'third', fds: [p.fd] }, record('third'));
      fs.closeSync(p.fd);
      if (type !== 'dgram') a.end();
      sync = false;
      const got = type === 'stream' ? await collect(b, 16, 2) : null;
      const messages = type === 'stream' ? [] : await take(b, 3);
      t.deepEqual(calls, ['first: ok', 'second: ok', 'third: ok']);
      if (got !== null) {
        t.is(got.data.toString(), 'firstsecondthird');
        // Each fd comes with the read holding its message's first byte (0 and 11).
        const holding = (offset: number): number => got.reads.find((r) => r.offset <= offset && offset < r.offset + r.length)!.fds.length;
        t.deepEqual([holding(0), holding(11)], [1, 1]);
        t.is(got.fds.length, 2);
        closeAll(got.fds);
      } else {
        t.deepEqual(
          messages.map((m) => [m.data.toString(), m.fds.length]),
          [
            ['first', 1],
            ['second', 0],
            ['third', 1],
          ],
        );
        closeAll(messages.flatMap((m) => m.fds));
      }
      if (type !== 'dgram') {
        b.resume();
        await once(b, 'end'); // the shutdown came after every message
      }
      await destroyAll(a, b);
      await assertProbeClosed(t, p);
    }),
  );
}

/**
 * Sends `filler` on a dup of the socket's fd until EAGAIN, behind the
 * library's back, so that its own queue stays empty. Returns the bytes queued.
 */
function fillKernelQueue(t: ExecutionContext, socket: UnixMessageSocket, filler: Buffer): number {
  const raw = lowlevel.dup(socket.fd);
  let bytes = 0;
  for (;;) {
    try {
      bytes += lowlevel.sendmsg(raw, filler);
    } catch (err) {
      t.is((err as ErrnoError).code, 'EAGAIN');
      break;
    }
  }
  lowlevel.close(raw);
  return bytes;
}

for (const type of ['seqpacket', 'dgram'] as const) {
  test(
    `${type}: write() on a socket whose kernel queue is full falls back to a dup, and the message still sends the original file`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      const queued = fillKernelQueue(t, a, Buffer.alloc(1024)) / 1024;
      const p = probe();
      const file = fileWithContent('after-eagain');
      const before = fdCount();
      const done = writeDone(a, { data: 'late', fds: [p.fd, file] });
      t.is(fdCount(), before + 2, 'EAGAIN: the message waits with dups of its fds');
      fs.closeSync(file);
      fs.closeSync(p.fd);
      const msgs = await take(b, queued + 1);
      const last = msgs[queued]!;
      t.is(last.data.toString(), 'late');
      t.is(contentOf(last.fds[1]!), 'after-eagain');
      t.is(await done, null);
      closeAll(last.fds);
      await destroyAll(a, b);
      await assertProbeClosed(t, p);
    }),
  );
}

// The same on a stream socket, whose send buffer counts bytes, not messages:
// the direct sendmsg from write() gets EAGAIN, the message waits with dups,
// and #sendStream later sends them with its first byte.
test(
  "stream: write() on a socket whose kernel send buffer is full falls back to a dup, and the fds arrive once, as the original files, with the message's first byte",
  leakFree(async (t) => {
    const [a, b] = socketPair('stream');
    const queuedBytes = fillKernelQueue(t, a, Buffer.alloc(1024, 'f'));
    t.true(queuedBytes > 0);
    const p = probe();
    const file = fileWithContent('after-eagain');
    const inodes = [inodeOf(p.fd), inodeOf(file)];
    const before = fdCount();
    const done = writeDone(a, { data: 'late', fds: [p.fd, file] });
    t.is(fdCount(), before + 2, 'EAGAIN: the message waits with dups of its fds');
    fs.closeSync(file);
    fs.closeSync(p.fd);
    // Very likely reuses the numbers just closed: the waiting message must not care.
    const impostors = [fileWithContent('impostor'), fileWithContent('impostor-2')];
    t.false(p.isClosed(), 'the dup holds the probe open while the message waits');
    const got = await collect(b, queuedBytes + 4, 2);
    t.is(got.data.length, queuedBytes + 4);
    t.is(got.data.subarray(queuedBytes).toString(), 'late', 'the message follows the filler, intact');
    t.is(got.fds.length, 2, 'each fd arrives exactly once');
    t.deepEqual(got.fds.map(inodeOf), inodes, 'the original files, not what reused their numbers');
    t.is(contentOf(got.fds[1]!), 'after-eagain');
    const withFds = got.reads.filter((r) => r.fds.length > 0);
    t.is(withFds.length, 1, 'the fds came with a single read');
    const r = withFds[0]!;
    t.true(r.offset <= queuedBytes && queuedBytes < r.offset + r.length, "the fds came with the message's first byte");
    t.is(await done, null);
    closeAll(got.fds);
    closeAll(impostors);
    await destroyAll(a, b);
    await assertProbeClosed(t, p);
  }),
);

test(
  'stream: a large write with fds on an idle socket sends the fds with the first byte at once and the rest of the bytes later, without a dup',
  leakFree(async (t) => {
    const [a, b] = socketPair('stream');
    const p = probe();
    const payload = randomBytes(4 * 1024 * 1024);
    const before = fdCount();
    const done = writeDone(a, { data: payload, fds: [p.fd] });
    t.is(fdCount(), before, 'no dup: the fd went with the first byte');
    t.true(a.writableLength > 0, 'the rest of the bytes wait in the queue');
    fs.closeSync(p.fd);
    const got = await collect(b, payload.length, 1);
    t.true(got.data.equals(payload), 'every byte arrived, in order');
    t.deepEqual(
      got.reads.filter((r) => r.fds.length > 0).map((r) => r.offset),
      [0],
      'the fd arrived with the first byte',
    );
    t.is(await done, null);
    closeAll(got.fds);
    await destroyAll(a, b);
    await assertProbeClosed(t, p);
  }),
);

// ---------------------------------------------------------------------------
// cork(): a corked socket is not idle, so write() dups the fds, and uncork()
// hands the messages to _writev as one batch (one sendmmsg, or for a stream
// gathering sendmsgs that each start at a message with fds).

for (const type of TYPES) {
  test(
    `${type}: writes with fds while corked arrive after uncork() each with its own fds as the original files, and nothing leaks`,
    leakFree(async (t) => {
      // Stream: 4-byte messages and 4-byte reads, so the read that brings an
      // fd starts exactly at the first byte the fd was attached to.
      const [a, b] = socketPair(type, type === 'stream' ? { maxMessageSize: 4 } : {});
      const p = probe();
      const parts = ['aaaa', 'bbbb', 'cccc', 'dddd', 'eeee'];
      // fds on the first message, on the next one too, none, two, none.
      const fdsOf: number[][] = [[fileWithContent('corked-0')], [p.fd], [], [fileWithContent('corked-3a'), fileWithContent('corked-3b')], []];
      const inodes = fdsOf.map((fds) => fds.map(inodeOf));
      const all = fdsOf.flat();
      a.cork();
      const before = fdCount();
      const done = parts.map((data, i) => writeDone(a, { data, fds: fdsOf[i]! }));
      t.is(fdCount(), before + all.length, 'corked: each message waits with dups of its fds');
      t.is(a.writableLength, parts.length, 'nothing left the socket while corked');
      closeAll(all);
      // Very likely reuse the numbers just closed: the corked messages must not care.
      const impostors = all.map((_, i) => fileWithContent(`impostor-${i}`));
      await delay(5); // a negative check: no event marks a probe that stays open
      t.false(p.isClosed(), 'the dup holds the probe open while corked');
      a.uncork();
      t.deepEqual(
        await Promise.all(done),
        parts.map(() => null),
      );
      let received: number[][];
      if (type === 'stream') {
        const got = await collect(b, 20, all.length);
        t.is(got.data.toString(), parts.join(''));
        const withFds = got.reads.filter((r) => r.fds.length > 0);
        t.deepEqual(
          withFds.map((r) => r.offset),
          [0, 4, 12],
          "each message's fds arrive with its own first byte",
        );
        t.deepEqual(
          got.reads.map((r) => r.offset),
          [0, 4, 8, 12, 16],
          'one read per message',
        );
        received = got.reads.map((r) => r.fds);
      } else {
        const msgs = await take(b, parts.length);
        t.deepEqual(
          msgs.map((m) => m.data.toString()),
          parts,
        );
        received = msgs.map((m) => m.fds);
      }
      t.deepEqual(
        received.map((fds) => fds.map(inodeOf)),
        inodes,
        'every message carries exactly its own files',
      );
      t.is(contentOf(received[0]![0]!), 'corked-0');
      t.is(contentOf(received[3]![1]!), 'corked-3b');
      closeAll(received.flat());
      closeAll(impostors);
      await destroyAll(a, b);
      await assertProbeClosed(t, p);
    }),
  );
}

// ---------------------------------------------------------------------------
// end(message): its chunk goes through write(), so the fds are sent or
// duplicated before end() returns and the caller may close its copies at
// once. (Writable.end(chunk) alone hands the chunk to _write: behind a write
// in flight it buffered the raw chunk and the fds were duplicated at flush
// time, after the caller closed them, so the peer got whatever reused the
// numbers.)

for (const type of TYPES) {
  const eof = type !== 'dgram';
  for (const busy of [false, true]) {
    test(
      `${type}: end() with fds${busy ? ' behind a write still in flight' : ''} sends the original files although the caller closes its copies right after end()${eof ? ', then the peer reads EOF' : ''}`,
      leakFree(async (t) => {
        const [a, b] = socketPair(type);
        const p = probe();
        const file = fileWithContent('final');
        const inodes = [inodeOf(p.fd), inodeOf(file)];
        // Queued for the end of the tick: the stream is busy when end() runs.
        const first = busy ? writeDone(a, 'first') : Promise.resolve(null);
        const ended = new Promise<Error | null | undefined>((resolve) => a.end({ data: 'last', fds: [p.fd, file] }, (err?: Error | null) => resolve(err)));
        fs.closeSync(file);
        fs.closeSync(p.fd);
        // Very likely reuse the numbers just closed.
        const impostors = [fileWithContent('impostor'), fileWithContent('impostor-2')];
        // Stream and seqpacket: everything the peer reads before 'end'.
        const msgs = eof ? await readToEnd(b) : await take(b, busy ? 2 : 1);
        t.is(Buffer.concat(msgs.map((m) => m.data)).toString(), busy ? 'firstlast' : 'last');
        t.is(msgs.filter((m) => m.fds.length > 0).length, 1, 'the fds came once');
        const fds = msgs.flatMap((m) => m.fds);
        t.is(await first, null);
        t.falsy(await ended);
        t.deepEqual(fds.map(inodeOf), inodes, 'the original files, not what reused their numbers');
        t.is(contentOf(fds[1]!), 'final');
        closeAll(fds);
        closeAll(impostors);
        await destroyAll(a, b);
        await assertProbeClosed(t, p);
      }),
    );
  }
}

// ---------------------------------------------------------------------------
// destroy() with buffered, undelivered messages.

for (const type of TYPES) {
  test(
    `${type}: destroy() closes the fds of messages buffered and never read`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      const probes = [probe(), probe(), probe()];
      const sent: Array<Promise<unknown>> = [];
      for (const [i, p] of probes.entries()) {
        const file = fileWithContent(`buffered-${i}`);
        sent.push(writeDone(a, { data: `buffered-${i}`, fds: [p.fd, file] }));
        fs.closeSync(file);
        fs.closeSync(p.fd);
      }
      // Sent: the only copies are in the kernel, in flight to b.
      t.deepEqual(await Promise.all(sent), [null, null, null]);
      const before = fdCount();
      // Start reading without consuming: messages land in the readable buffer.
      b.read(0);
      await waitFor(() => fdCount() >= before + 6);
      t.is(fdCount(), before + 6, 'all six fds were received into the process');
      t.true(b.readableLength > 0, 'the messages sit unread in the readable buffer');
      for (const p of probes) t.false(p.isClosed());
      b.destroy();
      await settled(b);
      for (const p of probes) await assertProbeClosed(t, p);
      await destroyAll(a);
    }),
  );
}

// ---------------------------------------------------------------------------
// Lent fds (OutgoingMessage.lend): sent as they are, never closed by the socket.

for (const type of TYPES) {
  test(
    `${type}: lend: the caller's fds are sent without a copy and are still the caller's after the callback`,
    leakFree(async (t, { track }) => {
      const [a, b] = track(...socketPair(type));
      const p = probe();
      const file = fileWithContent('lent');
      const before = fdCount();
      const done = writeDone(a, { data: 'lent', fds: [p.fd, file], lend: true });
      t.is(fdCount(), before, 'no dup was made');
      t.is(await done, null);
      const [m] = await take(b, 1);
      t.is(m!.fds.length, 2);
      t.is(inodeOf(m!.fds[1]!), inodeOf(file), 'the file itself arrived');
      t.is(contentOf(file), 'lent', 'the caller still holds its fd');
      closeAll([p.fd, file, ...m!.fds]);
      await assertProbeClosed(t, p);
    }),
  );

  test(
    `${type}: lend: a write that fails or is cut off by destroy() leaves the caller's fds open`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      const file = fileWithContent('kept');
      // Cut off: destroy() in the tick of the write, before it reached the kernel.
      const cut = writeDone(a, { data: 'x', fds: [file], lend: true });
      a.destroy();
      t.is(((await cut) as ErrnoError | null)?.code, 'ERR_STREAM_DESTROYED');
      t.is(contentOf(file), 'kept', 'destroy() did not close a lent fd');
      // Failed: a bad fd next to the lent one makes sendmsg fail with EBADF.
      const [c, d] = socketPair(type);
      const failed = (await writeDone(c, { data: 'y', fds: [file, closedFdNumber()], lend: true })) as ErrnoError | null;
      t.is(failed?.code, 'EBADF');
      t.is(contentOf(file), 'kept', 'a failed send did not close a lent fd');
      fs.closeSync(file);
      await destroyAll(b, c, d);
    }),
  );
}

test('lend must be a boolean', (t) => {
  const [a, b] = socketPair('seqpacket');
  const err = t.throws(() => a.write({ data: 'x', fds: [0], lend: 'yes' } as never), { instanceOf: TypeError });
  t.is((err as ErrnoError).code, 'ERR_INVALID_ARG_TYPE');
  a.destroy();
  b.destroy();
});

// ---------------------------------------------------------------------------
// Bad fds.

for (const type of TYPES) {
  test(
    `${type}: an fd closed at write() time fails that write with EBADF, other messages still arrive, the socket stays open`,
    leakFree(async (t, { track }) => {
      const [a, b] = track(...socketPair(type));
      a.write('before');
      const bad = closedFdNumber();
      const err = (await writeDone(a, { data: 'bad', fds: [bad] })) as ErrnoError | null | undefined;
      t.is(err?.code, 'EBADF');
      t.false(a.destroyed, 'the socket stays open');
      // One bad fd in a list of five: nothing of the message is sent and the dups are closed.
      const p = probe();
      const good = [p.fd, fileWithContent('g1'), fileWithContent('g2'), fileWithContent('g3')];
      const bad2 = closedFdNumber();
      const before = fdCount();
      const err2 = (await writeDone(a, { data: 'bad2', fds: [good[0]!, good[1]!, bad2, good[2]!, good[3]!] })) as ErrnoError | null | undefined;
      t.is(err2?.code, 'EBADF');
      t.is(fdCount(), before, 'the dups of the good fds were closed');
      closeAll(good);
      await assertProbeClosed(t, p);
      a.write('after');
      if (type === 'stream') {
        const got = await collect(b, 11, 0);
        t.is(got.data.toString(), 'beforeafter');
        t.deepEqual(got.fds, []);
      } else {
        const msgs = await take(b, 2);
        t.deepEqual(
          msgs.map((m) => m.data.toString()),
          ['before', 'after'],
        );
        t.deepEqual(
          msgs.map((m) => m.fds.length),
          [0, 0],
        );
      }
      t.false(a.destroyed);
      t.false(b.destroyed);
    }),
  );

  for (const busy of [false, true]) {
    // Idle, write() sends at once and sendmsg(2) finds the bad fd; behind
    // another write, the message waits with dups and dup(2) finds it.
    const syscall = busy ? 'dup' : 'sendmsg';
    test(
      `${type}: an fd closed at write() time without a callback makes the socket emit 'error' with EBADF (${busy ? 'queued' : 'idle'} socket: ${syscall})`,
      leakFree(async (t, { track }) => {
        const [a] = track(...socketPair(type));
        const bad = closedFdNumber();
        const errored = once(a, 'error');
        if (busy) a.write('first');
        a.write({ data: 'bad', fds: [bad] });
        const [err] = (await errored) as [ErrnoError];
        t.is(err.code, 'EBADF');
        t.is(err.syscall, syscall);
      }),
    );
  }
}

// ---------------------------------------------------------------------------
// The library's own close of fd lists (closeFds: one fd, or many in one native call).

test(
  'closeFds closes a single fd and a list of many, so every probe peer reads EOF',
  leakFree(async (t) => {
    const one = probe();
    closeFds([one.fd]);
    await assertProbeClosed(t, one);
    const many = Array.from({ length: 300 }, () => probe());
    closeFds(many.map((p) => p.fd));
    for (const p of many) await assertProbeClosed(t, p);
    closeFds([]);
  }),
);

for (const type of ['seqpacket', 'stream', 'dgram'] as const) {
  test(
    `${type}: on a busy socket, a closed fd after a good one fails the write with EBADF, even though the good one's dup takes the closed number`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      const good = fileWithContent('good');
      // The lowest free number now: the dup of `good` would get it.
      const closed = fileWithContent('closed');
      fs.closeSync(closed);
      a.cork(); // busy: write() duplicates the fds instead of sending them at once
      const done = writeDone(a, { data: 'x', fds: [good, closed] });
      a.uncork();
      const err = (await done) as NodeJS.ErrnoException;
      t.is(err?.code, 'EBADF', 'the closed fd is reported, not replaced by a copy of the good one');
      a.write('after');
      const [m] = await take(b, 1);
      t.is(m?.data.toString(), 'after', 'nothing of the failed message was sent');
      fs.closeSync(good);
      a.destroy();
      b.destroy();
      await Promise.all([settled(a), settled(b)]);
    }),
  );
}

// ---------------------------------------------------------------------------
// Messages that Readable drops: flowing with no 'data' listener.

for (const type of ['seqpacket', 'stream'] as const satisfies readonly SocketType[]) {
  test(
    `${type}: resume() with no 'data' listener discards the messages, and the library closes their fds (nobody ever gets them)`,
    leakFree(async (t, { track }) => {
      const [a, b] = track(...socketPair(type));
      b.resume(); // the Node idiom for "consume and discard"
      const probes = Array.from({ length: 20 }, () => probe());
      for (const p of probes) {
        a.write({ data: 'discarded', fds: [p.fd, p.fd] });
        lowlevel.close(p.fd);
      }
      for (const p of probes) await assertProbeClosed(t, p);
      t.is(b.pendingFds, 0);
    }),
  );

  test(
    `${type}: once the last 'data' listener of a flowing socket is removed, later messages' fds are closed, while those delivered before stay the listener's`,
    leakFree(async (t, { track }) => {
      const [a, b] = track(...socketPair(type));
      const kept = probe();
      const got = once(b, 'data') as Promise<[UnixMessage]>;
      a.write({ data: 'kept', fds: [kept.fd] });
      lowlevel.close(kept.fd);
      const [first] = await got; // once() removed its listener: b flows with none now
      t.is(first.fds.length, 1);
      const dropped = probe();
      a.write({ data: 'dropped', fds: [dropped.fd] });
      lowlevel.close(dropped.fd);
      await assertProbeClosed(t, dropped);
      t.false(kept.isClosed(), 'the delivered fd is left to its owner');
      lowlevel.close(first.fds[0]!);
      await assertProbeClosed(t, kept);
    }),
  );
}
