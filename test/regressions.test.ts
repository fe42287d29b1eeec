// Defects found in review, each pinned by the behaviour it broke.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { lowlevel, rights, socketPair, UnixMessageSocket, type UnixMessage } from '../src/index';
import { assertProbeClosed, delay, leakFree, probe, settled, tmpPath, waitFor } from './helpers';

test(
  "a 'data' listener that destroys the socket keeps the fds it was handed",
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    const p = probe();
    a.write({ data: 'x', fds: [p.fd] });
    lowlevel.close(p.fd);
    // Let the message land in b's buffer before anyone listens.
    await waitFor(() => b.readableLength === 1);
    const fds = await new Promise<number[]>((resolve) =>
      b.on('data', (m: UnixMessage) => {
        b.destroy();
        resolve(m.fds);
      }),
    );
    await settled(b);
    t.notThrows(() => fs.fstatSync(fds[0]!), 'the delivered fd is still open after destroy()');
    lowlevel.close(fds[0]!);
    a.destroy();
    await settled(a);
    await assertProbeClosed(t, p);
  }),
);

test(
  'messages read before a reset reach a for-await consumer, then the ECONNRESET',
  leakFree(async (t) => {
    const [x, y] = lowlevel.socketpair('seqpacket');
    const p = probe();
    lowlevel.sendmsg(x, [Buffer.from('unread')]);
    lowlevel.sendmsg(y, [Buffer.from('m1')]);
    lowlevel.sendmsg(y, [Buffer.from('m2')], [rights([p.fd])]);
    lowlevel.close(p.fd);
    lowlevel.close(y);
    const a = UnixMessageSocket.fromFd(x);
    // Both messages and then the reset are read before the consumer starts. No
    // event marks the reset: the socket holds it (#deferredError) until the
    // buffered messages are consumed, so only a pause lets it be read first.
    await waitFor(() => a.readableLength === 2);
    await delay(30);
    const seen: string[] = [];
    try {
      for await (const m of a) {
        const message = m as UnixMessage;
        seen.push(`${message.data.toString()}+${message.fds.length}`);
        for (const fd of message.fds) lowlevel.close(fd);
      }
    } catch (err) {
      seen.push((err as NodeJS.ErrnoException).code ?? 'error');
    }
    t.deepEqual(seen, ['m1+0', 'm2+1', 'ECONNRESET']);
    await assertProbeClosed(t, p);
  }),
);

test("a throwing 'connection' listener does not leak the other connections accepted with it", async (t) => {
  const r = spawnSync(process.execPath, ['test/fixtures/throwing-connection.js', tmpPath('throwing')], {
    cwd: process.cwd(),
    encoding: 'utf8',
    timeout: 20_000,
  });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), '0', 'no accepted fd is left open');
});

test(
  'a second copy of the module in one process shares the receive arrays',
  leakFree(async (t) => {
    // dist/ and src/ are two copies of the JS layer over one addon instance.
    // eslint-disable-next-line @typescript-eslint/no-require-imports, @typescript-eslint/consistent-type-imports -- the compiled copy, loaded beside src/ on purpose
    const dist = require('../dist/index.js') as typeof import('../src/index');
    const [a, b] = dist.socketPair('seqpacket');
    const [c, d] = socketPair('seqpacket');
    const p = probe();
    a.write({ data: 'from dist', fds: [p.fd] });
    c.write('from src');
    lowlevel.close(p.fd);
    const [m1, m2] = await Promise.all([new Promise<UnixMessage>((r) => b.once('data', r)), new Promise<UnixMessage>((r) => d.once('data', r))]);
    t.is(m1.data.toString(), 'from dist');
    t.is(m1.fds.length, 1);
    t.is(m2.data.toString(), 'from src');
    lowlevel.close(m1.fds[0]!);
    for (const s of [a, b, c, d]) s.destroy();
    await Promise.all([a, b, c, d].map((s) => settled(s)));
    await assertProbeClosed(t, p);
  }),
);

test(
  'a stream write is not affected by the caller reusing its data array after write()',
  leakFree(async (t) => {
    const [a, b] = socketPair('stream');
    const done = Promise.all([settled(a.resume()), settled(b)]);
    const parts = [Buffer.from('ab'), Buffer.from('cd')];
    a.cork();
    a.write({ data: parts });
    parts.length = 0;
    a.uncork();
    a.end();
    const chunks: Buffer[] = [];
    b.on('data', (m: UnixMessage) => chunks.push(m.data));
    await done;
    t.is(Buffer.concat(chunks).toString(), 'abcd');
  }),
);

test(
  'a huge maxMessageSize still receives small messages',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket', { maxMessageSize: 0x7fffffff });
    a.write('hi');
    const m = await new Promise<UnixMessage>((r) => b.once('data', r));
    t.is(m.data.toString(), 'hi');
    a.destroy();
    b.destroy();
    await Promise.all([settled(a), settled(b)]);
  }),
);

test(
  'no message is delivered after destroy(): neither the rest of a flowing batch nor read()',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    b.pause();
    const probes = Array.from({ length: 5 }, () => probe());
    for (const [i, p] of probes.entries()) a.write({ data: `m${i}`, fds: [p.fd] });
    for (const p of probes) lowlevel.close(p.fd);
    await waitFor(() => b.readableLength === 5);
    const delivered: UnixMessage[] = [];
    b.on('data', (m: UnixMessage) => {
      delivered.push(m);
      if (delivered.length === 2) b.destroy();
    });
    b.resume();
    await settled(b);
    t.deepEqual(
      delivered.map((m) => m.data.toString()),
      ['m0', 'm1'],
      'messages 3-5 died with the socket',
    );
    t.is(b.read(), null, 'read() after destroy() hands out nothing');
    for (const m of delivered) {
      t.notThrows(() => fs.fstatSync(m.fds[0]!), 'delivered fds stay open');
      lowlevel.close(m.fds[0]!);
    }
    a.destroy();
    await settled(a);
    for (const p of probes) await assertProbeClosed(t, p);
  }),
);

test(
  'read() after destroy() returns null instead of a message whose fds were closed',
  leakFree(async (t) => {
    const [a, b] = socketPair('seqpacket');
    b.pause();
    const p = probe();
    a.write({ data: 'x', fds: [p.fd] });
    lowlevel.close(p.fd);
    await waitFor(() => b.readableLength === 1);
    b.destroy();
    t.is(b.read(), null);
    await settled(b);
    a.destroy();
    await settled(a);
    await assertProbeClosed(t, p);
  }),
);
