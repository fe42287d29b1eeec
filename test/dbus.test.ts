// D-Bus, the protocol framed stream sockets were made for:
//  - the wire code of examples/dbus/ against bytes libdbus and dbus-daemon
//    produced (captured with strace from dbus-send 1.14 and the daemon's reply);
//  - its authentication against a fake bus in this process (lines split into
//    single bytes, refusals, two lines at once, silence);
//  - examples/dbus-fd.js against a private dbus-daemon (it authenticates a raw
//    fd, adopts it with fromFd(fd, { framed: { headerSize: 16, frameLength } })
//    and passes a file's fd to itself through the bus) and against a hostile
//    bus (a bad or oversized header: the framed error code, status 1);
//  - a framed fromFd socket in this process, 40 calls with fds through the bus.
// The dbus-daemon tests skip, saying why, where it is missing (`.ci/run`
// installs it). The daemon runs without LD_PRELOAD (see startBus).
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { lowlevel, UnixMessageSocket, type UnixMessage } from '../src/index';
import { closeAll, contentOf, delay, fileWithContent, waitFor, withLeakCheck, type LeakCheck } from './helpers';

const ROOT = path.join(__dirname, '..');
const EXAMPLE = path.join(ROOT, 'examples', 'dbus-fd.js');

interface Parsed {
  type: number;
  flags: number;
  serial: number;
  fields: Record<string, string | number>;
  body: unknown[];
}
interface Wire {
  frameLength(this: void, header: Uint8Array): number;
  encodeMessage(m: Record<string, unknown>): Buffer;
  parseMessage(data: Uint8Array): Parsed;
  splitSignature(sig: string): string[];
}
interface Auth {
  socketAddress(text: string): Buffer;
  authenticate(address: string, options?: { timeoutMs?: number }): Promise<{ fd: number; guid: string }>;
}
// The examples are plain CommonJS, loaded as users run them.
const load = createRequire(__filename);
const wire = load(path.join(ROOT, 'examples', 'dbus', 'wire.js')) as Wire;
const auth = load(path.join(ROOT, 'examples', 'dbus', 'auth.js')) as Auth;

// What dbus-send 1.14.10 sent for `--dest=org.freedesktop.DBus /org/freedesktop/DBus
// org.freedesktop.DBus.GetId` (serial 1): 109 bytes of header fields, padded to 112.
const GET_ID = Buffer.from(
  [
    '6c01000100000000010000006d000000', // 'l', METHOD_CALL, no flags, v1, body 0, serial 1, fields 109
    '01016f00 15000000 2f6f72672f667265656465736b746f702f4442757300 0000', // PATH o "/org/freedesktop/DBus"
    '02017300 14000000 6f72672e667265656465736b746f702e4442757300 000000', // INTERFACE s "org.freedesktop.DBus"
    '03017300 05000000 476574496400 0000', // MEMBER s "GetId"
    '06017300 14000000 6f72672e667265656465736b746f702e4442757300', // DESTINATION s "org.freedesktop.DBus"
    '000000', // padding to the (empty) body
  ]
    .join('')
    .replace(/ /g, ''),
  'hex',
);
// dbus-daemon 1.14.10's answer to it (the connection had not said Hello):
// an ERROR with fields of 117 bytes (padded to 120) and a body of 77.
const ACCESS_DENIED = Buffer.from(
  [
    '6c0301014d0000000100000075000000', // 'l', ERROR, NO_REPLY_EXPECTED, v1, body 77, serial 1, fields 117
    '06017300 0f000000 3a6e6f742e6163746976652e79657400', // DESTINATION s ":not.active.yet"
    '04017300 27000000 6f72672e667265656465736b746f702e444275732e4572726f722e4163636573734465' + '6e69656400', // ERROR_NAME s
    '05017500 01000000', // REPLY_SERIAL u 1
    '08016700 01730000', // SIGNATURE g "s"
    '07017300 14000000 6f72672e667265656465736b746f702e4442757300', // SENDER s "org.freedesktop.DBus"
    '000000', // padding to the body
    '48000000', // the body: s of 72 bytes
    Buffer.from('Client tried to send a message other than Hello without being registered\0').toString('hex'),
  ]
    .join('')
    .replace(/ /g, ''),
  'hex',
);

/** The same 16-byte header in the other byte order: what a big-endian peer sends. */
function bigEndianHeader(header: Buffer): Buffer {
  const b = Buffer.from(header.subarray(0, 16));
  b[0] = 0x42; // 'B'
  for (const at of [4, 8, 12]) b.writeUInt32BE(header.readUInt32LE(at), at);
  return b;
}

test('frameLength() reads the body length and the header-field array length, padded to 8, in either byte order', (t) => {
  t.is(GET_ID.length, 128);
  t.is(wire.frameLength(GET_ID.subarray(0, 16)), 128); // 16 + 112 (109 padded) + 0
  t.is(ACCESS_DENIED.length, 213);
  t.is(wire.frameLength(ACCESS_DENIED.subarray(0, 16)), 213); // 16 + 120 (117 padded) + 77
  t.is(wire.frameLength(bigEndianHeader(ACCESS_DENIED)), 213);
  // A header inside a larger buffer (as a reader may hand it over) is read where it is.
  const inside = Buffer.concat([Buffer.alloc(5), ACCESS_DENIED]).subarray(5, 21);
  t.is(wire.frameLength(new Uint8Array(inside.buffer, inside.byteOffset, 16)), 213);
});

test('frameLength() refuses a header no bus sends: bad byte-order mark, version, or a length over the limits of the specification', (t) => {
  const bad = (edit: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(GET_ID.subarray(0, 16));
    edit(b);
    return b;
  };
  t.throws(() => wire.frameLength(bad((b) => (b[0] = 0x78))), { message: /byte-order mark/ });
  t.throws(() => wire.frameLength(bad((b) => (b[3] = 2))), { message: /version 2/ });
  t.throws(() => wire.frameLength(bad((b) => b.writeUInt32LE(2 ** 26 + 8, 12))), { message: /header fields/ });
  t.throws(() => wire.frameLength(bad((b) => b.writeUInt32LE(2 ** 32 - 1, 4))), { message: /at most 134217728/ });
  t.throws(() => wire.frameLength(GET_ID.subarray(0, 15)), { message: /16 bytes/ });
});

test('encodeMessage() writes a method call byte for byte as libdbus does', (t) => {
  const m = wire.encodeMessage({
    type: 1,
    serial: 1,
    path: '/org/freedesktop/DBus',
    interface: 'org.freedesktop.DBus',
    member: 'GetId',
    destination: 'org.freedesktop.DBus',
  });
  t.deepEqual(m.toString('hex'), GET_ID.toString('hex'));
});

test("parseMessage() reads dbus-daemon's ERROR reply: its fields, its flags and its string body", (t) => {
  const m = wire.parseMessage(ACCESS_DENIED);
  t.like(m, { type: 3, flags: 1, serial: 1 });
  t.deepEqual(m.fields, {
    destination: ':not.active.yet',
    errorName: 'org.freedesktop.DBus.Error.AccessDenied',
    replySerial: 1,
    signature: 's',
    sender: 'org.freedesktop.DBus',
  });
  t.deepEqual(m.body, ['Client tried to send a message other than Hello without being registered']);
});

test('a call carrying an fd encodes its UNIX_FDS field and its h index, aligned, and parses back to the same fields', (t) => {
  const data = wire.encodeMessage({
    type: 1,
    serial: 2,
    flags: 1,
    path: '/org/example/FdEcho',
    interface: 'org.example.FdEcho',
    member: 'Pass',
    destination: ':1.7',
    body: [['h', 0]],
    unixFds: 1,
  });
  t.is(data.length % 8, 4); // the body (one uint32) starts at a multiple of 8
  t.is(wire.frameLength(data.subarray(0, 16)), data.length);
  const m = wire.parseMessage(data);
  t.deepEqual(m.fields, { path: '/org/example/FdEcho', interface: 'org.example.FdEcho', member: 'Pass', destination: ':1.7', signature: 'h', unixFds: 1 });
  t.deepEqual(m.body, [0]);
});

test('parseMessage() refuses a truncated message, nonzero padding, a field of the wrong type and a string without its 0 byte', (t) => {
  t.throws(() => wire.parseMessage(ACCESS_DENIED.subarray(0, 212)), { message: /header says 213/ });
  const padding = Buffer.from(GET_ID);
  padding[127] = 1; // the last padding byte before the (empty) body
  t.throws(() => wire.parseMessage(padding), { message: /padding/ });
  const wrongType = Buffer.from(GET_ID);
  wrongType[18] = 0x73; // PATH as 's' instead of 'o'
  t.throws(() => wire.parseMessage(wrongType), { message: /path of type s/ });
  const unended = Buffer.from(ACCESS_DENIED);
  unended[212] = 0x21;
  t.throws(() => wire.parseMessage(unended), { message: /0 byte/ });
});

test('splitSignature() splits into complete types and refuses broken ones', (t) => {
  t.deepEqual(wire.splitSignature('sa{sv}u(ii)aah'), ['s', 'a{sv}', 'u', '(ii)', 'aah']);
  for (const bad of ['a', '(', '()', '{s}', '{sss}', 'z', '(i']) t.throws(() => wire.splitSignature(bad), undefined, bad);
});

test('a D-Bus address gives the first unix path or abstract name, %-escapes decoded', (t) => {
  t.deepEqual(auth.socketAddress('unix:path=/run/user/1000/bus'), Buffer.from('/run/user/1000/bus'));
  t.deepEqual(auth.socketAddress('unix:path=/tmp/a%20b%2cc,guid=0123'), Buffer.from('/tmp/a b,c'));
  t.deepEqual(auth.socketAddress('tcp:host=localhost,port=1;unix:abstract=/tmp/dbus-X'), Buffer.from('\0/tmp/dbus-X', 'latin1'));
  t.throws(() => auth.socketAddress('unix:tmpdir=/tmp'), { message: /no unix:path=/ });
  t.throws(() => auth.socketAddress('unix:path=/tmp/%zz'), { message: /escape/ });
});

/**
 * A fake bus for the authentication alone: answers each command line with
 * what `answer` returns, written in pieces of `piece` bytes a few ms apart
 * (so the client sees lines split across reads), and records what it got.
 */
async function fakeBus(answer: (line: string) => string, piece: number): Promise<{ address: string; received: () => string; close: () => Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbus-test-'));
  const where = path.join(dir, 'bus');
  let received = '';
  const peers = new Set<net.Socket>();
  const server = net.createServer((peer) => {
    peers.add(peer);
    peer.on('error', () => {});
    let pending = '';
    peer.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      pending += d.toString('latin1');
      for (let end = pending.indexOf('\r\n'); end >= 0; end = pending.indexOf('\r\n')) {
        const line = pending.slice(0, end).replace(/^\0/, '');
        pending = pending.slice(end + 2);
        const reply = answer(line);
        void (async () => {
          for (let i = 0; i < reply.length; i += piece) {
            if (peer.destroyed) return;
            peer.write(reply.slice(i, i + piece), 'latin1');
            await delay(5);
          }
        })();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(where, resolve));
  return {
    address: `unix:path=${where}`,
    received: () => received,
    close: async () => {
      for (const p of peers) p.destroy();
      await new Promise((resolve) => server.close(resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const GUID = '0123456789abcdef0123456789abcdef';
const polite = (line: string): string => {
  if (line.startsWith('AUTH EXTERNAL ')) return `OK ${GUID}\r\n`;
  if (line === 'NEGOTIATE_UNIX_FD') return 'AGREE_UNIX_FD\r\n';
  if (line === 'BEGIN') return ''; // the messages start: a bus answers nothing
  return 'ERROR "unexpected"\r\n';
};

test('authentication reads reply lines that arrive a byte at a time, sends the 0 byte, our uid in hex, NEGOTIATE_UNIX_FD and BEGIN', async (t) => {
  await withLeakCheck(t, async () => {
    const bus = await fakeBus(polite, 1);
    try {
      const { fd, guid } = await auth.authenticate(bus.address);
      t.is(guid, GUID);
      const uid = Buffer.from(String(process.getuid?.())).toString('hex');
      await waitFor(() => bus.received().endsWith('BEGIN\r\n')); // BEGIN is sent, not answered
      t.is(bus.received(), `\0AUTH EXTERNAL ${uid}\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n`);
      fs.closeSync(fd);
    } finally {
      await bus.close();
    }
  });
});

test('authentication fails, closing its fd, when the bus rejects EXTERNAL, refuses fd passing, says two lines at once or stops mid-line', async (t) => {
  await withLeakCheck(t, async () => {
    const cases: [string, (line: string) => string, RegExp][] = [
      ['rejected', (line) => (line.startsWith('AUTH') ? 'REJECTED EXTERNAL\r\n' : polite(line)), /AUTH: the bus answered "REJECTED EXTERNAL"/],
      ['no fd passing', (line) => (line === 'NEGOTIATE_UNIX_FD' ? 'ERROR "no"\r\n' : polite(line)), /NEGOTIATE_UNIX_FD: the bus answered "ERROR \\"no\\""/],
      ['two lines', (line) => (line.startsWith('AUTH') ? `OK ${GUID}\r\nAGREE_UNIX_FD\r\n` : polite(line)), /more than one line/],
      ['half a line, then silence', (line) => (line.startsWith('AUTH') ? 'OK' : polite(line)), /did not answer within 300 ms/],
    ];
    for (const [name, answer, expected] of cases) {
      const bus = await fakeBus(answer, 64);
      try {
        const attempt = auth.authenticate(bus.address, { timeoutMs: name.startsWith('half') ? 300 : 20_000 });
        await t.throwsAsync(attempt, { message: expected }, name);
      } finally {
        await bus.close();
      }
    }
  });
});

test('examples/dbus-fd.js against a hostile bus: a header with a bad byte-order mark, or one announcing 32 MiB, fails it with the framed error code and status 1', async (t) => {
  await withLeakCheck(t, async () => {
    const cases: [string, RegExp][] = [
      ['78'.repeat(16), /dbus-fd: ERR_FRAME_LENGTH: .*\(bad D-Bus byte-order mark 0x78\)/],
      ['6c0201010000000001000000ffffffff', /dbus-fd: ERR_FRAME_LENGTH: .*\(D-Bus header fields of 4294967295 bytes/],
      ['6c020101000000000100000000000002', /dbus-fd: ERR_FRAME_TOO_LARGE: .*33554448 bytes/], // fields of 32 MiB: under D-Bus's limit, over maxMessageSize
    ];
    for (const [header, expected] of cases) {
      const bus = await fakeBus((line) => (line === 'BEGIN' ? Buffer.from(header, 'hex').toString('latin1') : polite(line)), 64);
      try {
        const r = await runExample([bus.address]);
        t.is(r.status, 1, r.stderr);
        t.regex(r.stderr, expected);
      } finally {
        await bus.close();
      }
    }
  });
});

// ------------------------------------------------------------ a real bus

function dbusDaemonMissing(): string | null {
  const r = spawnSync('dbus-daemon', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? null : `needs dbus-daemon (Debian: apt-get install dbus-daemon): ${r.error?.message ?? r.stderr}`;
}

interface Bus {
  address: string;
  stop(): Promise<void>;
}

/**
 * A private dbus-daemon listening in a temp dir, its policy open to us (any
 * destination, any name): resolves once it printed its address. Run without
 * LD_PRELOAD: under `npm run test:asan` libasan would be preloaded into the
 * daemon too, and its leaks are not ours.
 */
async function startBus(): Promise<Bus> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbus-test-'));
  const config = path.join(dir, 'bus.conf');
  fs.writeFileSync(
    config,
    `<busconfig><type>session</type><listen>unix:path=${path.join(dir, 'bus')}</listen><auth>EXTERNAL</auth>` +
      '<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>\n',
  );
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  const daemon: ChildProcess = spawn('dbus-daemon', [`--config-file=${config}`, '--nofork', '--print-address'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const exited = once(daemon, 'close');
  let out = '';
  let err = '';
  daemon.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const stop = async (): Promise<void> => {
    if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const address = await new Promise<string>((resolve, reject) => {
      daemon.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      daemon.once('close', (code) => reject(new Error(`dbus-daemon exited (${String(code)}) before printing its address: ${err}`)));
      daemon.once('error', reject);
    });
    return { address, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Runs examples/dbus-fd.js with these arguments; resolves its status and output. */
async function runExample(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [EXAMPLE, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // Far above a normal run (well under a second): the ASan run is many times slower.
  const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
  const [status] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { status, stdout, stderr };
}

/**
 * A test against a private bus (startBus), under the fd-count check, the bus
 * stopped whatever happens; skipped with the reason where dbus-daemon is missing.
 */
function busTest(title: string, body: (t: ExecutionContext, bus: Bus, check: LeakCheck) => Promise<void>): void {
  test(title, async (t) => {
    const missing = dbusDaemonMissing();
    if (missing !== null) {
      t.log(`skipped: ${missing}`);
      t.pass();
      return;
    }
    await withLeakCheck(t, async (check) => {
      const bus = await startBus();
      try {
        await body(t, bus, check);
      } finally {
        await bus.stop();
      }
    });
  });
}

busTest(
  'examples/dbus-fd.js passes a file fd through a real dbus-daemon to itself: one message, exactly one fd, the same file, no fd left open',
  async (t, bus) => {
    const r = await runExample([bus.address]);
    t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
    t.regex(r.stdout, /auth: AGREE_UNIX_FD/);
    t.regex(r.stdout, /bus: Hello -> our unique name is :\d+\.\d+/);
    t.regex(r.stdout, /received: Pass from (:\d+\.\d+), signature h, UNIX_FDS 1, 1 fd\(s\) with the message/);
    t.regex(r.stdout, /received: fd \d+ is the file we sent/);
    t.regex(r.stdout, /done: .* fds open, as at the start/);
  },
);

busTest('examples/dbus-fd.js takes the bus from DBUS_SESSION_BUS_ADDRESS, and fails with a message and status 1 where no bus listens', async (t, bus) => {
  {
    const r = await runExample([], { ...process.env, DBUS_SESSION_BUS_ADDRESS: bus.address });
    t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
    t.regex(r.stdout, /received: fd \d+ is the file we sent/);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbus-test-'));
  try {
    const r = await runExample([`unix:path=${path.join(dir, 'nobody')}`]);
    t.is(r.status, 1);
    t.regex(r.stderr, /dbus-fd: Error: ENOENT|dbus-fd: .*ENOENT/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

busTest(
  'a real bus routes 40 calls sent back to back, with 0 to 4 fds each and one of 1 MiB, back to us: each arrives whole with exactly its own fds',
  async (t, bus, { track }) => {
    const received: UnixMessage[] = [];
    try {
      const { fd } = await auth.authenticate(bus.address);
      let socket: UnixMessageSocket;
      try {
        socket = UnixMessageSocket.fromFd(fd, { framed: { headerSize: 16, frameLength: wire.frameLength } });
      } catch (e) {
        lowlevel.close(fd); // fromFd() failed: still ours
        throw e;
      }
      track(socket);
      socket.on('data', (m: UnixMessage) => received.push(m));
      const parsed = (): Parsed[] => received.map((m) => wire.parseMessage(m.data));
      socket.write(
        wire.encodeMessage({
          type: 1,
          serial: 1,
          destination: 'org.freedesktop.DBus',
          path: '/org/freedesktop/DBus',
          interface: 'org.freedesktop.DBus',
          member: 'Hello',
        }),
      );
      t.true(await waitFor(() => parsed().some((m) => m.fields.replySerial === 1), 30_000), 'Hello answered');
      const name = parsed().find((m) => m.fields.replySerial === 1)?.body[0];
      const big = 19;
      for (let i = 0; i < 40; i++) {
        const fds = Array.from({ length: i % 5 }, (_, j) => fileWithContent(`${i}:${j}`));
        const body: [string, unknown][] = [['u', i], ...fds.map((_, j): [string, unknown] => ['h', j])];
        if (i === big) body.push(['s', 'x'.repeat(1 << 20)]);
        const call = {
          type: 1,
          flags: 1,
          serial: 2 + i,
          path: '/t',
          interface: 'org.example.T',
          member: 'M',
          destination: name,
          body,
          unixFds: fds.length > 0 ? fds.length : undefined,
        };
        socket.write({ data: wire.encodeMessage(call), fds });
        closeAll(fds); // write() returned: the socket no longer needs ours
      }
      const calls = (): number => parsed().filter((m) => m.fields.member === 'M').length;
      t.true(await waitFor(() => calls() === 40, 30_000), `${calls()} of 40 calls came back`);
      for (const [k, m] of received.entries()) {
        const p = wire.parseMessage(m.data);
        if (p.fields.member !== 'M') {
          t.is(m.fds.length, 0, `the bus's own message ${String(p.fields.member ?? p.fields.replySerial)} has no fds`);
          continue;
        }
        const i = p.body[0] as number;
        t.is(m.fds.length, i % 5, `call ${i}: its own fd count`);
        t.is(p.fields.unixFds, i % 5 === 0 ? undefined : i % 5, `call ${i}: UNIX_FDS`);
        t.deepEqual(
          m.fds.map((fd) => contentOf(fd)),
          Array.from({ length: i % 5 }, (_, j) => `${i}:${j}`),
          `call ${i} (message ${k}): its own files, in order`,
        );
        if (i === big) t.is((p.body.at(-1) as string).length, 1 << 20);
      }
    } finally {
      for (const m of received) closeAll(m.fds);
    }
  },
);
