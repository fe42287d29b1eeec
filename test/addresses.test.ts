// Addresses as bytes (README "Addresses"): every API that takes a unix(7)
// name also takes its raw bytes, and names handed out are lossless strings
// (surrogateescape) or, with addressEncoding: 'buffer', Buffers. The peer
// for the non-UTF-8 cases is CPython (test/fixtures/py_dgram_bytes.py),
// which binds and replies with byte names of its own.
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { connect, createServer, createSocket, lowlevel, type AddressEncoding, type UnixMessageSocket } from '../src/index';
import { decodeAddress } from '../src/stream/address-codec';
import { closeServer, leakFree, listen, take, tmpPath, writeDone } from './helpers';

const FIXTURES = path.join(__dirname, 'fixtures');
let counter = 0;

/** A unique abstract name whose bytes are not UTF-8 (Latin-1 'é', then 0xff). */
function rawName(label: string): Buffer {
  return Buffer.concat([Buffer.from(`\0ums-${process.pid}-${counter++}-${label}-caf`), Buffer.from([0xe9, 0xff])]);
}

interface PyLine {
  step: string;
  name?: string;
  data?: string;
  from?: string;
}

for (const encoding of ['utf8', 'buffer'] as const satisfies readonly AddressEncoding[]) {
  test(
    `dgram with a Python peer bound to a non-UTF-8 name, both directions (${encoding})`,
    leakFree(async (t, { track }) => {
      const ours = rawName('us');
      const theirs = rawName('py');
      const [socket] = track(createSocket({ bind: ours, addressEncoding: encoding }));
      const local = socket.address();
      if (encoding === 'buffer') t.deepEqual(local, ours);
      else t.is(local, decodeAddress(ours));

      const child = spawn('python3', [path.join(FIXTURES, 'py_dgram_bytes.py'), theirs.toString('hex'), ours.toString('hex')], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      t.teardown(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill();
      });
      const exited = once(child, 'close');
      const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
      const next = async (): Promise<PyLine> => JSON.parse(((await lines.next()).value as string) ?? '{}') as PyLine;
      t.is((await next()).name, theirs.toString('hex'), 'Python bound to the exact bytes');

      const [ping] = await take(socket, 1);
      t.is(ping!.data.toString(), 'ping');
      if (encoding === 'buffer') {
        t.deepEqual(ping!.address, theirs);
      } else {
        t.is(typeof ping!.address, 'string');
        t.is(ping!.address, decodeAddress(theirs));
        t.true((ping!.address as string).endsWith('caf\udce9\udcff'), 'each invalid byte is a lone surrogate, not U+FFFD');
      }
      // Back to the address we were handed, then to the byte name itself.
      t.is(await writeDone(socket, { data: 'reply', address: ping!.address }), null);
      t.is(await writeDone(socket, { data: 'direct', address: new Uint8Array(theirs) }), null);
      for (const data of ['reply', 'direct']) {
        const got = await next();
        t.is(got.step, 'got');
        t.is(got.data, data);
        t.is(got.from, ours.toString('hex'), 'sent from our exact bytes');
      }
      t.is((await exited)[0], 0);
    }),
  );

  test(
    `server.address(), socket.address() and remoteAddress round-trip a non-UTF-8 name (${encoding})`,
    leakFree(async (t, { track }) => {
      const name = rawName('srv');
      const server = createServer({ addressEncoding: encoding });
      await listen(server, { path: name } as never);
      const accepted = once(server, 'connection') as Promise<[UnixMessageSocket]>;
      const handedOut = server.address()!;
      if (encoding === 'buffer') t.deepEqual(handedOut, name);
      else t.is(handedOut, decodeAddress(name));
      // What the server handed out, handed back, reaches the same socket.
      const [client] = track(connect({ path: handedOut as string, addressEncoding: encoding }));
      await once(client, 'connect');
      const [peer] = track((await accepted)[0]);
      t.deepEqual(client.remoteAddress, handedOut);
      t.deepEqual(peer.address(), handedOut, 'the accepted socket inherits addressEncoding');
      t.is(await writeDone(client, 'hi'), null);
      t.is((await take(peer, 1))[0]!.data.toString(), 'hi');
      server.closeAllConnections();
      await closeServer(server);
    }),
  );
}

test(
  'a pathname server and bind() take raw bytes; the socket file is removed on close',
  leakFree(async (t, { track }) => {
    const dir = fs.mkdtempSync(tmpPath('dir'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = Buffer.concat([Buffer.from(`${dir}/s-`), Buffer.from([0xe9])]);
    const server = createServer({ addressEncoding: 'buffer' });
    await listen(server, file as never);
    t.deepEqual(server.address(), file);
    t.true(fs.lstatSync(file).isSocket());
    const [client] = track(connect({ path: decodeAddress(file), type: 'seqpacket' }));
    await once(client, 'connect');
    server.closeAllConnections();
    await closeServer(server);
    t.false(fs.existsSync(file), 'close() removed the file named by the bytes');

    const dgramFile = Buffer.concat([Buffer.from(`${dir}/d-`), Buffer.from([0xff])]);
    const [d] = track(createSocket({ type: 'dgram' }));
    d.bind(dgramFile);
    t.is(d.address(), decodeAddress(dgramFile));
    fs.unlinkSync(dgramFile);
  }),
);

test(
  'lowlevel sendmsg takes bytes; recvmsg and recvmsgInto hand them out in either encoding',
  leakFree((t) => {
    const name = rawName('ll');
    const receiver = createSocket({ bind: name });
    const sender = createSocket();
    try {
      lowlevel.sendmsg(sender.fd, [Buffer.from('a')], [], 0, name);
      lowlevel.sendmsg(sender.fd, [Buffer.from('b')], [], 0, decodeAddress(name));
      const a = lowlevel.recvmsg(receiver.fd, { cmsgSize: 0 });
      t.is(a.data.toString(), 'a');
      t.is(a.address, undefined, 'an unnamed sender has no address');
      const senderName = rawName('llsender');
      sender.bind(senderName);
      lowlevel.sendmsg(sender.fd, [Buffer.from('c')], [], 0, name);
      const b = lowlevel.recvmsg(receiver.fd, { cmsgSize: 0 });
      t.is(b.data.toString(), 'b');
      const c = lowlevel.recvmsg(receiver.fd, { cmsgSize: 0, addressEncoding: 'buffer' });
      t.is(c.data.toString(), 'c');
      t.deepEqual(c.address, senderName);
      lowlevel.sendmsg(sender.fd, [Buffer.from('d')], [], 0, name);
      t.is(lowlevel.recvmsg(receiver.fd, { cmsgSize: 0 }).address, decodeAddress(senderName));
      lowlevel.sendmsg(sender.fd, [Buffer.from('e')], [], 0, name);
      lowlevel.sendmsg(sender.fd, [Buffer.from('f')], [], 0, name);
      const into = Buffer.alloc(1);
      t.deepEqual(lowlevel.recvmsgInto(receiver.fd, into, { cmsgSize: 0, addressEncoding: 'buffer' }).address, senderName);
      t.is(lowlevel.recvmsgInto(receiver.fd, into, { cmsgSize: 0 }).address, decodeAddress(senderName));
      t.is(into.toString(), 'f');
    } finally {
      receiver.destroy();
      sender.destroy();
    }
  }),
);

/** Resolves once fd is readable (lowlevel.watch on a duplicate). */
function readable(fd: number): Promise<void> {
  return new Promise((resolve) => {
    const w = lowlevel.watch(fd, { readable: true }, () => {
      w.close();
      resolve();
    });
  });
}

test(
  'lowlevel BSD calls take unix names as bytes and give them back in either encoding; inet stays rinfo in both',
  leakFree(async (t) => {
    const rxName = rawName('bsd-rx');
    const txName = rawName('bsd-tx');
    const rx = lowlevel.socket('unix', 'dgram');
    const tx = lowlevel.socket('unix', 'dgram');
    const in4 = lowlevel.socket('inet', 'dgram');
    const in4tx = lowlevel.socket('inet', 'dgram');
    try {
      lowlevel.bind(rx, rxName);
      lowlevel.bind(tx, decodeAddress(txName)); // the lossless string names the same bytes
      t.is(lowlevel.getsockname(rx), decodeAddress(rxName));
      t.deepEqual(lowlevel.getsockname(tx, { addressEncoding: 'buffer' }), txName);
      t.true(lowlevel.connect(tx, rxName));
      t.is(lowlevel.getpeername(tx), decodeAddress(rxName));
      t.deepEqual(lowlevel.getpeername(tx, { addressEncoding: 'buffer' }), rxName);
      const taken = lowlevel.socket('unix', 'dgram');
      try {
        const err = t.throws(() => lowlevel.bind(taken, rxName)) as Error & { code?: string; address?: string };
        t.is(err.code, 'EADDRINUSE');
        t.is(err.address, decodeAddress(rxName), 'the error names the bytes by their lossless string');
      } finally {
        lowlevel.close(taken);
      }
      lowlevel.bind(in4, { address: '127.0.0.1', port: 0 });
      lowlevel.bind(in4tx, { address: '127.0.0.1', port: 0 });
      const dest = lowlevel.getsockname(in4);
      const me = lowlevel.getsockname(in4tx);
      t.like(me, { address: '127.0.0.1', family: 'IPv4' });
      t.deepEqual(lowlevel.getsockname(in4tx, { addressEncoding: 'buffer' }), me, 'inet is rinfo in either encoding');
      for (const addressEncoding of ['utf8', 'buffer'] as const) {
        lowlevel.sendmsg(tx, Buffer.from(`unix-${addressEncoding}`));
        lowlevel.sendmsg(in4tx, Buffer.from(`inet-${addressEncoding}`), [], 0, dest!);
        await readable(rx);
        const fromUnix = lowlevel.recvmsg(rx, { cmsgSize: 0, addressEncoding });
        t.is(fromUnix.data.toString(), `unix-${addressEncoding}`);
        t.deepEqual(fromUnix.address, addressEncoding === 'buffer' ? txName : decodeAddress(txName));
        await readable(in4);
        const fromInet = lowlevel.recvmsg(in4, { cmsgSize: 0, addressEncoding });
        t.is(fromInet.data.toString(), `inet-${addressEncoding}`);
        t.deepEqual(fromInet.address, me, `an inet sender is rinfo with addressEncoding '${addressEncoding}'`);
        lowlevel.sendmsg(in4tx, Buffer.from('into'), [], 0, dest!);
        await readable(in4);
        t.deepEqual(lowlevel.recvmsgInto(in4, Buffer.alloc(8), { cmsgSize: 0, addressEncoding }).address, me);
      }
    } finally {
      for (const fd of [rx, tx, in4, in4tx]) lowlevel.close(fd);
    }
  }),
);

test(
  'lowlevel accept gives a non-UTF-8 unix peer as a lossless string or, asked, its bytes',
  leakFree((t) => {
    const listenName = rawName('acc');
    const names = [rawName('acc-a'), rawName('acc-b')];
    const listener = lowlevel.socket('unix', 'stream');
    const clients = names.map(() => lowlevel.socket('unix', 'stream'));
    const accepted: number[] = [];
    try {
      lowlevel.bind(listener, listenName);
      lowlevel.listen(listener);
      clients.forEach((c, i) => {
        lowlevel.bind(c, names[i]!);
        t.true(lowlevel.connect(c, decodeAddress(listenName)));
      });
      const a = lowlevel.accept(listener, { addressEncoding: 'buffer' });
      accepted.push(a.fd);
      t.deepEqual(a.address, names[0]);
      const b = lowlevel.accept(listener);
      accepted.push(b.fd);
      t.is(b.address, decodeAddress(names[1]!));
      t.is(lowlevel.getpeername(b.fd), decodeAddress(names[1]!));
      t.deepEqual(lowlevel.getsockname(b.fd, { addressEncoding: 'buffer' }), listenName);
      const e = t.throws(() => lowlevel.getsockname(listener, { addressEncoding: 'hex' as 'buffer' })) as Error & { code?: string };
      t.is(e.code, 'ERR_INVALID_ARG_VALUE');
    } finally {
      for (const fd of [listener, ...clients, ...accepted]) lowlevel.close(fd);
    }
  }),
);

test('bad byte addresses are refused, typed, before anything happens', (t) => {
  const s = createSocket();
  try {
    t.throws(() => s.bind(new Uint8Array(0)), { code: 'ERR_INVALID_ARG_VALUE' });
    t.throws(() => s.bind(new Uint8Array([0])), { code: 'ERR_INVALID_ARG_VALUE' });
    t.throws(() => s.bind(Buffer.from('/tmp/a\0b')), { code: 'ERR_INVALID_ARG_VALUE', message: /NUL/ });
    t.throws(() => s.bind(Buffer.alloc(108, 0x61)), { code: 'ERR_OUT_OF_RANGE' });
    t.throws(() => s.bind(Buffer.concat([Buffer.from([0]), Buffer.alloc(108, 0x61)])), { code: 'ERR_OUT_OF_RANGE' });
    t.throws(() => s.bind(new Uint16Array(4) as never), { code: 'ERR_INVALID_ARG_TYPE' });
    t.throws(() => s.bind('\0a\ud800'), { code: 'ERR_INVALID_ARG_VALUE', message: /surrogate/ });
    // A view whose own length lies is read by its internal slots, and copied once.
    const liar = new Uint8Array(200);
    Object.defineProperty(liar, 'length', { value: 3 });
    t.throws(() => s.bind(liar), { code: 'ERR_OUT_OF_RANGE' });
    t.throws(() => s.write({ data: 'x', address: new Uint8Array(0) }), { code: 'ERR_INVALID_ARG_VALUE' });
    t.throws(() => lowlevel.sendmsg(s.fd, [Buffer.from('x')], [], 0, Buffer.from('a\0')), { code: 'ERR_INVALID_ARG_VALUE' });
    t.throws(() => lowlevel.recvmsg(s.fd, { addressEncoding: 'latin1' as never }), { code: 'ERR_INVALID_ARG_VALUE' });
    // A view over a detached ArrayBuffer has no bytes to name anything by: a
    // typed error, not the engine's untyped TypeError from making a view of it.
    const detached = new Uint8Array(new ArrayBuffer(8));
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    t.throws(() => s.bind(detached), { code: 'ERR_INVALID_ARG_VALUE', message: /detached/ });
    t.throws(() => s.write({ data: 'x', address: detached }), { code: 'ERR_INVALID_ARG_VALUE', message: /detached/ });
    t.throws(() => lowlevel.bind(s.fd, detached), { code: 'ERR_INVALID_ARG_VALUE', message: /detached/ });
    // connect()'s path too (found by the fuzzer, seed 20261130 case 1402).
    t.throws(() => connect({ path: detached }), { code: 'ERR_INVALID_ARG_VALUE', message: /detached/ });
    t.throws(() => lowlevel.connect(s.fd, detached), { code: 'ERR_INVALID_ARG_VALUE', message: /detached/ });
    t.throws(() => lowlevel.sendmsg(s.fd, [Buffer.from('x')], [], 0, detached), { code: 'ERR_INVALID_ARG_VALUE', message: /detached/ });
    t.throws(() => createSocket({ addressEncoding: 'hex' as never }), { code: 'ERR_INVALID_ARG_VALUE' });
    t.throws(() => createServer({ addressEncoding: 1 as never }), { code: 'ERR_INVALID_ARG_VALUE' });
    // 1 + 107 bytes of abstract name fit: the whole sun_path.
    const abstract = Buffer.concat([rawName('full'), Buffer.alloc(108, 0xe9)]).subarray(0, 108);
    s.bind(abstract);
    t.is(s.address(), decodeAddress(abstract));
  } finally {
    s.destroy();
  }
});

test('an errno error names a byte address by its lossless string', async (t) => {
  const s = createSocket();
  try {
    const name = rawName('nobody');
    const err = await writeDone(s, { data: 'x', address: name });
    t.is((err as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    t.is((err as { address?: string }).address, decodeAddress(name));
  } finally {
    s.destroy();
  }
});

test(
  'two senders whose names differ only in non-UTF-8 bytes stay apart, and replies reach each',
  leakFree(async (t, { track }) => {
    const base = rawName('two').subarray(0, -2);
    const latin = Buffer.concat([base, Buffer.from([0xe9])]);
    const replacement = Buffer.concat([base, Buffer.from('\uFFFD')]);
    const [hub, a, b] = track(createSocket({ bind: rawName('hub') }), createSocket({ bind: latin }), createSocket({ bind: replacement }));
    t.is(await writeDone(a, { data: 'from a', address: hub.address() }), null);
    t.is(await writeDone(b, { data: 'from b', address: hub.address() }), null);
    const [ma, mb] = await take(hub, 2);
    t.not(ma!.address, mb!.address, 'different names, different strings');
    t.is(await writeDone(hub, { data: 'to a', address: ma!.address }), null);
    t.is(await writeDone(hub, { data: 'to b', address: mb!.address }), null);
    t.is((await take(a, 1))[0]!.data.toString(), 'to a');
    t.is((await take(b, 1))[0]!.data.toString(), 'to b');
  }),
);

test(
  'a byte address is copied when write() returns: changing it later changes nothing',
  leakFree(async (t, { track }) => {
    const name = rawName('snap');
    const [receiver, sender] = track(createSocket({ bind: name, addressEncoding: 'buffer' }), createSocket({ bind: '' }));
    const address = Buffer.from(name);
    sender.cork();
    sender.write({ data: 'queued', address });
    address.fill(0x61, 1);
    sender.uncork();
    const [m] = await take(receiver, 1);
    t.is(m!.data.toString(), 'queued');
    t.deepEqual(m!.address, Buffer.from(sender.address() as string), 'from the autobound sender');
  }),
);
