// Every socket type: round trip, gather, message boundaries, half-close, and
// a peer that closes with unread data (POLLERR must not lose messages).
import test from 'ava';
import { once } from 'node:events';
import v8 from 'node:v8';
import { lowlevel, rights, socketPair, UnixMessageSocket, type SocketType, type UnixMessage } from '../src/index';
import { assertProbeClosed, delay, fdCount, leakFree, probe, readToEnd, settled, take, waitFor, writeDone } from './helpers';

const TYPES: SocketType[] = ['stream', 'seqpacket', 'dgram'];

/** Reads chunks until `bytes` bytes have arrived (stream sockets keep no boundaries). */
async function takeBytes(socket: UnixMessageSocket, bytes: number): Promise<UnixMessage[]> {
  const got: UnixMessage[] = [];
  let n = 0;
  while (n < bytes) {
    const [m] = await take(socket, 1);
    got.push(m!);
    n += m!.data.length;
  }
  return got;
}

function text(messages: UnixMessage[]): string {
  return messages.map((m) => m.data.toString()).join('');
}

for (const type of TYPES) {
  test(
    `${type}: a message written on one end is read on the other`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      a.write(Buffer.from('hello'));
      const [m] = await take(b, 1);
      t.is(m!.data.toString(), 'hello');
      t.deepEqual(m!.fds, []);
      t.false(m!.truncated);
      t.false(m!.fdsTruncated);
      a.destroy();
      b.destroy();
      await Promise.all([settled(a), settled(b)]);
    }),
  );

  test(
    `${type}: an array of buffers is gathered into one sendmsg`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      a.write({ data: [Buffer.from('ga'), new Uint8Array([116, 104]), Buffer.from('er')] });
      const [m] = await take(b, 1);
      t.is(m!.data.toString(), 'gather', 'one message holds all the parts, in order');
      a.destroy();
      b.destroy();
    }),
  );

  test(
    `${type}: strings are sent as UTF-8`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      a.write({ data: 'héllo' });
      const [m] = await take(b, 1);
      t.is(m!.data.toString('utf8'), 'héllo');
      a.destroy();
      b.destroy();
    }),
  );

  test(
    `${type}: a read batch of more than 64 KiB (a Buffer per message) keeps every message's bytes, boundaries and fds`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      b.pause();
      // Queued in the kernel before b reads, so that one wakeup reads them all:
      // 8 messages, 1 B to 18 KiB, each byte naming its message.
      const sizes = [18_000, 1, 17_000, 0, 16_500, 18_432, 3, 17_999];
      if (type === 'stream') sizes[3] = 2; // a stream cannot send fds with no bytes
      const probes = sizes.map(() => probe());
      const sent = sizes.map((n, i) => writeDone(a, { data: Buffer.alloc(n, 0x41 + i), fds: i % 2 === 0 ? [probes[i]!.fd] : [] }));
      t.true((await Promise.all(sent)).every((e) => e === null));
      for (const p of probes) (await import('node:fs')).closeSync(p.fd);
      const total = sizes.reduce((x, y) => x + y, 0);
      const got = type === 'stream' ? await takeBytes(b, total) : await take(b, sizes.length);
      const bytes = Buffer.concat(got.map((m) => m.data));
      t.true(bytes.equals(Buffer.concat(sizes.map((n, i) => Buffer.alloc(n, 0x41 + i)))), 'every byte, in order');
      if (type !== 'stream')
        t.deepEqual(
          got.map((m) => m.data.length),
          sizes,
          'message boundaries',
        );
      const fds = got.flatMap((m) => m.fds);
      t.is(fds.length, 4);
      for (const fd of fds) (await import('node:fs')).closeSync(fd);
      for (const [i, p] of probes.entries()) {
        if (i % 2 === 0) await assertProbeClosed(t, p);
        else p.dispose(); // never sent
      }
      a.destroy();
      b.destroy();
    }),
  );
}

// A small read batch is copied into a shared 8 KiB slab, as Buffer.allocUnsafe()
// uses Buffer.poolSize (AddonData::SlabCopy).
const detach = ((): ((buffer: ArrayBufferLike) => void) => {
  v8.setFlagsFromString('--allow-natives-syntax');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- V8 natives syntax only parses at run time
  return new Function('buffer', '%ArrayBufferDetach(buffer)') as (buffer: ArrayBufferLike) => void;
})();

/** One message per batch: each is read before the next is written. */
async function oneByOne(a: UnixMessageSocket, b: UnixMessageSocket, payloads: Buffer[], each?: (m: UnixMessage) => void): Promise<UnixMessage[]> {
  const got: UnixMessage[] = [];
  for (const p of payloads) {
    a.write(p);
    const [m] = await take(b, 1);
    each?.(m!);
    got.push(m!);
  }
  return got;
}

for (const type of TYPES) {
  test(
    `${type}: small batches share a slab; every message keeps its bytes while later batches fill that slab and the next`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      // 200 batches of 100 bytes (104 with alignment): about three slabs.
      const payloads = Array.from({ length: 200 }, (_, i) => Buffer.alloc(100, i));
      const got = await oneByOne(a, b, payloads);
      t.true(
        got.every((m, i) => m.data.equals(payloads[i]!)),
        'no later batch overwrote an earlier message',
      );
      t.true(
        got.every((m) => m.data.byteOffset % 8 === 0),
        '8-byte aligned, like the Buffer pool',
      );
      const slabs = new Set(got.map((m) => m.data.buffer));
      t.true(slabs.size >= 3 && slabs.size < 100, `${slabs.size} slabs for 200 messages: shared, and a full one is replaced`);
      a.destroy();
      b.destroy();
    }),
  );
}

test("transferring a small message's ArrayBuffer copies it: it is marked untransferable, like Buffer.allocUnsafe()'s pool", async (t) => {
  const [a, b] = socketPair('seqpacket');
  const payloads = [Buffer.from('first'), Buffer.from('second')];
  const [first, second] = await oneByOne(a, b, payloads);
  t.is(first!.data.buffer, second!.data.buffer, 'one slab');
  const { port1, port2 } = new MessageChannel();
  try {
    const slab = first!.data.buffer as ArrayBuffer; // not shared memory
    port1.postMessage(slab, [slab]);
  } catch (err) {
    t.is((err as Error).name, 'DataCloneError'); // newer Node refuses instead of copying
  }
  port1.close();
  port2.close();
  t.is(first!.data.toString(), 'first');
  t.is(second!.data.toString(), 'second');
  a.destroy();
  b.destroy();
});

// Serial: the slab is shared by every socket of this process, and detaching
// it takes the bytes of any other test's messages in it.
test.serial(
  'a slab that is detached anyway (ArrayBuffer.prototype.transfer() on Node 22) is never written again: later messages get a new one',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const payloads = Array.from({ length: 6 }, (_, i) => Buffer.from(`message ${i}`));
    let slab: ArrayBufferLike | null = null;
    let refused = false;
    const got = await oneByOne(a, b, payloads, (m) => {
      if (slab === null) {
        slab = m.data.buffer;
        try {
          detach(slab);
        } catch (err) {
          // Node 24: markAsUntransferable() also makes the slab non-detachable.
          t.is((err as Error).name, 'TypeError');
          refused = true;
        }
      }
    });
    if (refused) {
      t.is(got[0]!.data.toString(), 'message 0', 'the slab could not be detached: the first message is intact');
    } else {
      t.is(got[0]!.data.length, 0, 'the first message went with its slab');
      t.true(
        got.slice(1).every((m) => m.data.buffer !== slab),
        'later messages are in a new slab',
      );
    }
    t.deepEqual(
      got.slice(1).map((m) => m.data.toString()),
      payloads.slice(1).map(String),
    );
    a.destroy();
    b.destroy();
  }),
);

for (const type of ['seqpacket', 'dgram'] as const) {
  test(
    `${type}: message boundaries are kept, including empty messages`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      const sent = ['one', '', 'three', 'x'.repeat(100_000), 'five'];
      for (const s of sent) a.write({ data: s });
      const got = await take(b, sent.length);
      t.deepEqual(
        got.map((m) => m.data.toString()),
        sent,
      );
      a.destroy();
      b.destroy();
    }),
  );

  test(
    `${type}: an empty message can carry fds`,
    leakFree(async (t, { base }) => {
      const [a, b] = socketPair(type);
      const p = probe();
      t.is(await writeDone(a, { fds: [p.fd] }), null);
      t.is(fdCount(), base + 4, 'two sockets and the probe pair: the dup was closed once the kernel took it');
      const [m] = await take(b, 1);
      t.is(m!.data.length, 0);
      t.is(m!.fds.length, 1);
      for (const fd of [p.fd, ...m!.fds]) (await import('node:fs')).closeSync(fd);
      await assertProbeClosed(t, p);
      a.destroy();
      b.destroy();
    }),
  );

  test(
    `${type}: a datagram larger than maxMessageSize arrives truncated and flagged`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type, { maxMessageSize: 16 });
      a.write({ data: 'x'.repeat(40) });
      a.write({ data: 'small' });
      const [big, small] = await take(b, 2);
      t.true(big!.truncated);
      t.is(big!.data.length, 16);
      t.false(small!.truncated);
      t.is(small!.data.toString(), 'small');
      a.destroy();
      b.destroy();
    }),
  );
}

test(
  'stream: a read after a full one goes into a Buffer of its own; each chunk has exactly the bytes read',
  leakFree(async (t) => {
    const [a, b] = socketPair('stream', { maxMessageSize: 1024 });
    const bytes = (n: number, first: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (first + i) % 251));
    // Both chunks wait in the kernel, so one wakeup reads 1024 (full: the next
    // read is direct) and then 700: more than half of its 1024-byte Buffer, so
    // JS gets that Buffer, trimmed to 700.
    b.pause();
    t.is(await writeDone(a, Buffer.concat([bytes(1024, 0), bytes(700, 1)])), null);
    const first = await take(b, 2);
    t.deepEqual(
      first.map((m) => m.data.length),
      [1024, 700],
    );
    t.true(first[0]!.data.equals(bytes(1024, 0)) && first[1]!.data.equals(bytes(700, 1)));
    // A direct read of 100 bytes is under half full: copied out, not pinned.
    b.pause();
    t.is(await writeDone(a, Buffer.concat([bytes(1024, 2), bytes(100, 3)])), null);
    const second = await take(b, 2);
    t.deepEqual(
      second.map((m) => m.data.length),
      [1024, 100],
    );
    t.true(second[0]!.data.equals(bytes(1024, 2)) && second[1]!.data.equals(bytes(100, 3)));
    t.true(second[1]!.data.buffer.byteLength < 1024 || second[1]!.data.byteOffset > 0, 'the 100 bytes are not a view of a 1024-byte read Buffer');
    a.destroy();
    b.destroy();
  }),
);

test(
  'stream: bytes arrive in order though chunk boundaries are not kept',
  leakFree(async (t) => {
    const [a, b] = socketPair('stream');
    const done = Promise.all([settled(a.resume()), settled(b)]);
    const parts = Array.from({ length: 50 }, (_, i) => `<${i}>`);
    for (const p of parts) a.write(p);
    a.end();
    const got = await readToEnd(b);
    t.is(text(got), parts.join(''));
    await done;
  }),
);

for (const type of ['stream', 'seqpacket'] as const) {
  test(
    `${type}: end() half-closes; the peer sees 'end' and can still reply`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type, { allowHalfOpen: true });
      const done = Promise.all([settled(a), settled(b)]);
      a.write('request');
      a.end();
      const got = await readToEnd(b);
      t.is(text(got), 'request', "the peer's readable side ends after the data");
      b.end('reply');
      const reply = await readToEnd(a);
      t.is(text(reply), 'reply', 'the half-closed end still reads');
      await done;
    }),
  );

  test(
    `${type}: without allowHalfOpen, the peer's end() ends both sides`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      b.resume();
      a.end('bye');
      await Promise.all([once(b, 'end'), settled(b), settled(a.resume())]);
      t.true(b.writableFinished, 'b ended its writable side too');
    }),
  );

  test(
    `${type}: every queued message arrives when the peer closes with unread data`,
    leakFree(async (t) => {
      // Raw peer y never reads what x sent it, so closing y resets x (POLLERR)
      // while y's messages still sit in x's queue. x is adopted only then, so
      // the first thing its poll sees is the error.
      const [x, y] = lowlevel.socketpair(type);
      lowlevel.sendmsg(x, [Buffer.from('unread-by-y')]);
      const messages = Array.from({ length: 20 }, (_, i) => `m${i};`);
      for (const m of messages) lowlevel.sendmsg(y, [Buffer.from(m)]);
      lowlevel.close(y);
      const a = UnixMessageSocket.fromFd(x);
      const got: UnixMessage[] = [];
      const error = await new Promise<Error | undefined>((resolve) => {
        a.on('data', (m: UnixMessage) => got.push(m));
        a.on('error', resolve);
        a.on('end', () => resolve(undefined));
      });
      t.is(text(got), messages.join(''), 'nothing queued before the reset is lost');
      t.is((error as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET', 'the reset is reported, after the data');
      await settled(a);
    }),
  );
}

test(
  'seqpacket: a message with fds queued before a reset still delivers its fds',
  leakFree(async (t) => {
    const [x, y] = lowlevel.socketpair('seqpacket');
    const p = probe();
    lowlevel.sendmsg(x, [Buffer.from('unread')]);
    lowlevel.sendmsg(y, [Buffer.from('with-fd')], [rights([p.fd])]);
    lowlevel.close(p.fd);
    lowlevel.close(y);
    const a = UnixMessageSocket.fromFd(x);
    const got: UnixMessage[] = [];
    a.on('data', (m: UnixMessage) => got.push(m));
    const errors: Error[] = [];
    a.on('error', (err) => errors.push(err));
    await settled(a);
    t.deepEqual(
      errors.map((e) => (e as NodeJS.ErrnoException).code),
      ['ECONNRESET'],
      'the reset comes after the message',
    );
    t.is(got.length, 1);
    t.is(got[0]!.data.toString(), 'with-fd');
    t.is(got[0]!.fds.length, 1, 'the fd arrived with its message');
    t.false(p.isClosed(), 'the consumer now holds the only copy');
    lowlevel.close(got[0]!.fds[0]!);
    await assertProbeClosed(t, p);
  }),
);

test(
  'stream: write() callbacks fire in order once the data is in the kernel',
  leakFree(async (t) => {
    const [a, b] = socketPair('stream');
    const order: number[] = [];
    await Promise.all([0, 1, 2].map((i) => new Promise<void>((resolve, reject) => a.write(`${i}`, (err) => (err ? reject(err) : (order.push(i), resolve()))))));
    t.deepEqual(order, [0, 1, 2]);
    a.destroy();
    b.destroy();
  }),
);

for (const type of TYPES) {
  test(
    `${type}: cork() holds back only the writes after it, a write made before it in the same tick still leaves, and writableCorked counts only the caller's corks`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      a.write('before');
      t.is(a.writableCorked, 0, 'the end-of-tick batching is not a cork of the caller');
      a.cork();
      t.is(a.writableCorked, 1);
      a.write('after');
      const [first] = await take(b, 1);
      t.is(first!.data.toString(), 'before');
      await delay(20); // a negative check: no event marks a message that is not sent
      t.is(b.readableLength, 0, "'after' waits for uncork()");
      t.is(a.writableLength, 1);
      a.uncork();
      t.is(a.writableCorked, 0);
      const [second] = await take(b, 1);
      t.is(second!.data.toString(), 'after');
      a.destroy();
      b.destroy();
    }),
  );
}

test(
  'ref() and unref() return the socket and hasRef follows them',
  leakFree(async (t) => {
    const [a, b] = socketPair();
    t.is(a.unref(), a);
    t.is(a.ref(), a);
    a.destroy();
    b.destroy();
  }),
);

for (const type of TYPES) {
  test(
    `${type}: a socketPair end reads into its buffer from the start, before anyone asks, as a net.Socket does`,
    leakFree(async (t) => {
      const [a, b] = socketPair(type);
      a.write('early');
      // No read(), no listener: the message reaches b's own buffer anyway.
      await waitFor(() => b.readableLength > 0);
      t.is((b.read() as UnixMessage).data.toString(), 'early');
      a.destroy();
      b.destroy();
      await Promise.all([settled(a), settled(b)]);
    }),
  );
}

test('an unref()ed socket that is reading does not keep the process alive', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const script = `
    const { socketPair } = require('./src/index');
    const [a, b] = socketPair();
    a.unref(); b.unref();
    a.resume(); b.resume();
    setTimeout(() => { console.log('timer fired'); }, 5000).unref();
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: process.cwd(), timeout: 20_000, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.false(r.stdout.includes('timer fired'));
  t.is(r.signal, null, 'the child exited on its own, not killed at the spawnSync timeout');
});

test(
  'peerCredentials() of a socketpair is this process',
  leakFree(async (t) => {
    const [a, b] = socketPair();
    t.deepEqual(a.peerCredentials(), { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    a.destroy();
    b.destroy();
  }),
);

test(
  'passCredentials attaches the sender credentials to each message',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket', { passCredentials: true });
    a.write('who');
    const [m] = await take(b, 1);
    t.deepEqual(m!.credentials, { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    a.destroy();
    b.destroy();
  }),
);

test(
  'getOption/setOption read and write integer socket options',
  leakFree(async (t) => {
    const { constants } = await import('../src/index');
    const [a, b] = socketPair();
    t.is(a.getOption(constants.SOL_SOCKET, constants.SO_TYPE), constants.SOCK_SEQPACKET);
    a.setOption(constants.SOL_SOCKET, constants.SO_SNDBUF, 65536);
    t.true(a.getOption(constants.SOL_SOCKET, constants.SO_SNDBUF) >= 65536, 'the kernel doubles the value (socket(7))');
    a.destroy();
    b.destroy();
  }),
);

test("an exception thrown by a 'data' listener is an uncaught exception, and the rest of its batch's fds are closed", async (t) => {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, ['test/fixtures/throwing-listener.js'], { cwd: process.cwd(), timeout: 20_000, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim()) as { message: string; delta: number };
  t.is(out.message, 'listener failed on m0', "the listener's error reached 'uncaughtException'");
  t.is(out.delta, 0, 'the fds of the messages after it were closed, not leaked');
});
