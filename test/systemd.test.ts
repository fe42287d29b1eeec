// unix-message-socket/systemd: listenFds() under the real
// systemd-socket-activate(1), and notify()/barrier()/watchdog() against a
// fake service manager (a dgram socket of this library on NOTIFY_SOCKET,
// with passCredentials, as systemd's notify socket has SO_PASSCRED).
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, createSocket, socketPair, type UnixMessage, type UnixMessageSocket } from '../src/index';
import { barrier, listenFds, notify, watchdog } from '../src/systemd/index';
import { abstractName, assertProbeClosed, delay, fileWithContent, inodeOf, isOpen, leakFree, probe, settled, tmpPath, waitFor } from './helpers';

const SYSTEMD_VARS = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'LISTEN_PID', 'LISTEN_PIDFDID', 'LISTEN_FDS', 'LISTEN_FDNAMES'];
const saved = Object.fromEntries(SYSTEMD_VARS.map((k) => [k, process.env[k]]));
test.afterEach.always(() => {
  for (const k of SYSTEMD_VARS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

interface Manager {
  socket: UnixMessageSocket;
  messages: UnixMessage[];
  texts: () => string[];
}

/** A service manager's notify socket: bound to `address`, every message kept (its fds are the test's to close). */
function manager(address: string, track: (s: UnixMessageSocket) => unknown): Manager {
  const socket = createSocket({ type: 'dgram', bind: address, passCredentials: true });
  track(socket);
  const messages: UnixMessage[] = [];
  socket.on('data', (m: UnixMessage) => messages.push(m));
  process.env.NOTIFY_SOCKET = address.startsWith('\0') ? `@${address.slice(1)}` : address;
  return { socket, messages, texts: () => messages.map((m) => m.data.toString()) };
}

const codeOf = (err: unknown): unknown => (err as { code?: unknown }).code;

test(
  'notify(string) sends the text as it is to a NOTIFY_SOCKET path, with our credentials, and resolves true',
  leakFree(async (t, { track }) => {
    const path = tmpPath('notify');
    const m = manager(path, track);
    t.true(await notify('READY=1\nSTATUS=up'));
    t.true(await waitFor(() => m.messages.length === 1));
    t.is(m.texts()[0], 'READY=1\nSTATUS=up');
    t.is(m.messages[0]!.credentials?.pid, process.pid);
    t.deepEqual(m.messages[0]!.fds, []);
    fs.rmSync(path, { force: true });
  }),
);

test(
  "notify(object) joins the fields with newlines, to '@name' as the abstract name",
  leakFree(async (t, { track }) => {
    const m = manager(abstractName('notify'), track);
    t.true(await notify({ READY: 1, STATUS: 'serving 3 clients', ERRNO: 0n, X_CUSTOM: true, SKIPPED: undefined }));
    t.true(await waitFor(() => m.messages.length === 1));
    t.is(m.texts()[0], 'READY=1\nSTATUS=serving 3 clients\nERRNO=0\nX_CUSTOM=1');
  }),
);

test(
  'RELOADING=1 gets MONOTONIC_USEC from CLOCK_MONOTONIC, in an object or a string; one set by the caller is kept',
  leakFree(async (t, { track }) => {
    const m = manager(abstractName('reload'), track);
    const before = process.hrtime.bigint() / 1000n;
    await notify({ RELOADING: 1 });
    await notify('RELOADING=1\nSTATUS=reloading');
    const after = process.hrtime.bigint() / 1000n;
    await notify({ RELOADING: 1, MONOTONIC_USEC: 42 });
    t.true(await waitFor(() => m.messages.length === 3));
    const [a, b, c] = m.texts();
    for (const text of [a!, b!]) {
      const usec = BigInt(/^MONOTONIC_USEC=(\d+)$/m.exec(text)![1]!);
      t.true(usec >= before && usec <= after, `${usec} within [${before}, ${after}]`);
    }
    t.regex(a!, /^RELOADING=1\nMONOTONIC_USEC=\d+$/);
    t.regex(b!, /^RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=\d+$/);
    t.is(c, 'RELOADING=1\nMONOTONIC_USEC=42');
  }),
);

test(
  "FDSTORE=1 sends the fds with the message: the same files arrive, the caller's stay open, and no copy is left behind",
  leakFree(async (t, { track }) => {
    const m = manager(abstractName('fdstore'), track);
    const file = fileWithContent('stored');
    const p = probe();
    t.true(await notify({ FDSTORE: 1, FDNAME: 'conn-1' }, { fds: [file, p.fd] }));
    t.true(await waitFor(() => m.messages.length === 1));
    const got = m.messages[0]!;
    t.is(got.data.toString(), 'FDSTORE=1\nFDNAME=conn-1');
    t.is(got.fds.length, 2);
    t.is(inodeOf(got.fds[0]!), inodeOf(file));
    t.is(inodeOf(got.fds[1]!), inodeOf(p.fd));
    t.true(isOpen(file) && isOpen(p.fd), "the caller's fds are still open");
    for (const fd of [...got.fds, file, p.fd]) fs.closeSync(fd);
    await assertProbeClosed(t, p);
  }),
);

test(
  'notify() resolves false when NOTIFY_SOCKET is unset, and sends nothing',
  leakFree(async (t) => {
    delete process.env.NOTIFY_SOCKET;
    t.false(await notify('READY=1'));
    t.false(await barrier());
  }),
);

test(
  'notify() rejects with the errno error: ENOENT for a missing path, ECONNREFUSED for an abstract name nobody holds',
  leakFree(async (t) => {
    process.env.NOTIFY_SOCKET = tmpPath('missing');
    const missing = await t.throwsAsync(notify('READY=1'));
    t.is(codeOf(missing), 'ENOENT');
    process.env.NOTIFY_SOCKET = `@${abstractName('nobody').slice(1)}`;
    const refused = await t.throwsAsync(notify('READY=1'));
    t.is(codeOf(refused), 'ECONNREFUSED');
  }),
);

test(
  'NOTIFY_SOCKET that is not AF_UNIX (vsock:, a relative path, a lone @) rejects with ERR_SYSTEMD_ENV',
  leakFree(async (t) => {
    for (const value of ['vsock:2:1234', 'run/notify', '@']) {
      process.env.NOTIFY_SOCKET = value;
      const err = await t.throwsAsync(notify('READY=1'));
      t.is(codeOf(err), 'ERR_SYSTEMD_ENV', value);
    }
  }),
);

test(
  'a newline or NUL in a value, or a field name with "=", is refused at once and nothing is sent',
  leakFree(async (t, { track }) => {
    const m = manager(abstractName('inject'), track);
    t.throws(() => notify({ STATUS: 'ok\nMAINPID=1' }), { code: 'ERR_INVALID_ARG_VALUE' });
    t.throws(() => notify({ STATUS: 'ok\0' }), { code: 'ERR_INVALID_ARG_VALUE' });
    t.throws(() => notify({ 'MAINPID=1\nX': 1 }), { code: 'ERR_INVALID_ARG_VALUE' });
    t.throws(() => notify({ '': 1 }), { code: 'ERR_INVALID_ARG_VALUE' });
    t.throws(() => notify({}), { code: 'ERR_INVALID_ARG_VALUE' });
    t.throws(() => notify({ STATUS: {} as never }), { code: 'ERR_INVALID_ARG_TYPE' });
    t.throws(() => notify(42 as never), { code: 'ERR_INVALID_ARG_TYPE' });
    t.throws(() => notify('READY=1', { fds: [-1] }), { code: 'ERR_OUT_OF_RANGE' });
    await notify('STATUS=after');
    t.true(await waitFor(() => m.messages.length === 1));
    t.deepEqual(m.texts(), ['STATUS=after']);
  }),
);

test(
  'barrier() sends BARRIER=1 with one fd and resolves only when the manager closes it',
  leakFree(async (t, { track }) => {
    const m = manager(tmpPath('barrier'), track);
    let done = false;
    const waiting = barrier({ timeout: 20_000 }).then((r) => ((done = true), r));
    t.true(await waitFor(() => m.messages.length === 1));
    const got = m.messages[0]!;
    t.is(got.data.toString(), 'BARRIER=1');
    t.is(got.fds.length, 1);
    await delay(20);
    t.false(done, 'not before the manager closed the fd');
    fs.closeSync(got.fds[0]!);
    t.true(await waiting);
    fs.rmSync(process.env.NOTIFY_SOCKET!, { force: true });
  }),
);

test(
  'barrier() rejects with ETIMEDOUT when the manager keeps the fd, and closes its own',
  leakFree(async (t, { track }) => {
    const m = manager(abstractName('barrier-timeout'), track);
    const err = await t.throwsAsync(barrier({ timeout: 50 }));
    t.is(codeOf(err), 'ETIMEDOUT');
    t.is(m.messages.length, 1);
    fs.closeSync(m.messages[0]!.fds[0]!);
    t.throws(() => barrier({ timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  }),
);

test(
  'watchdog() pings WATCHDOG=1 while WATCHDOG_PID is ours, and stop() ends it',
  leakFree(async (t, { track }) => {
    const m = manager(abstractName('watchdog'), track);
    process.env.WATCHDOG_USEC = '20000';
    process.env.WATCHDOG_PID = String(process.pid);
    const stop = watchdog();
    t.true(await waitFor(() => m.messages.length >= 3));
    t.true(m.texts().every((text) => text === 'WATCHDOG=1'));
    stop();
    stop();
    await delay(30);
    const seen = m.messages.length;
    await delay(100);
    t.is(m.messages.length, seen, 'no ping after stop()');
  }),
);

test(
  "watchdog() is a no-op for another process's WATCHDOG_PID or without WATCHDOG_USEC; bad values throw ERR_SYSTEMD_ENV",
  leakFree(async (t, { track }) => {
    const m = manager(abstractName('watchdog-other'), track);
    process.env.WATCHDOG_USEC = '20000';
    process.env.WATCHDOG_PID = String(process.pid + 1);
    const stop = watchdog();
    delete process.env.WATCHDOG_USEC;
    const none = watchdog();
    await delay(60);
    t.is(m.messages.length, 0);
    stop();
    none();
    for (const value of ['0', '18446744073709551615', '-5', '1e6', 'soon']) {
      process.env.WATCHDOG_USEC = value;
      t.throws(() => watchdog(), { code: 'ERR_SYSTEMD_ENV' }, value);
    }
  }),
);

test(
  'a failed ping goes to onError and does not stop the pings or crash',
  leakFree(async (t) => {
    process.env.NOTIFY_SOCKET = tmpPath('gone');
    process.env.WATCHDOG_USEC = '20000';
    delete process.env.WATCHDOG_PID;
    const errors: Error[] = [];
    const stop = watchdog({ onError: (err) => errors.push(err) });
    t.true(await waitFor(() => errors.length >= 2));
    stop();
    t.is(codeOf(errors[0]), 'ENOENT');
  }),
);

test(
  'listenFds() is [] unless LISTEN_PID is ours, and unsets the variables unless told not to',
  leakFree((t) => {
    delete process.env.LISTEN_PID;
    t.deepEqual(listenFds(), []);
    process.env.LISTEN_PID = String(process.pid + 1);
    process.env.LISTEN_FDS = '1';
    process.env.LISTEN_FDNAMES = 'x';
    t.deepEqual(listenFds({ unsetEnvironment: false }), []);
    t.is(process.env.LISTEN_FDS, '1');
    t.deepEqual(listenFds(), []);
    t.deepEqual(
      ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'].filter((k) => k in process.env),
      [],
    );
  }),
);

test(
  'listenFds() refuses what sd_listen_fds refuses, with ERR_SYSTEMD_ENV, and unsets the variables anyway',
  leakFree((t) => {
    const cases: Array<[string, string, string | undefined]> = [
      ['garbage', 'x', undefined],
      [String(process.pid), '0', undefined],
      [String(process.pid), '-1', undefined],
      [String(process.pid), '3 ', undefined],
      [String(process.pid), '2147483647', undefined],
      [String(process.pid), '99999999999999999999', undefined],
      ['0', '1', undefined],
      ['99999999999', '1', undefined],
    ];
    for (const [pid, count, names] of cases) {
      process.env.LISTEN_PID = pid;
      process.env.LISTEN_FDS = count;
      if (names !== undefined) process.env.LISTEN_FDNAMES = names;
      t.throws(() => listenFds(), { code: 'ERR_SYSTEMD_ENV' }, `${pid} ${count}`);
      t.false('LISTEN_FDS' in process.env);
    }
    t.throws(() => listenFds({ unsetEnvironment: 'yes' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  }),
);

test(
  'listenFds() throws EBADF when LISTEN_FDS counts past the open fds, and ERR_SYSTEMD_ENV for a wrong count of names',
  leakFree((t) => {
    // fds 3.. are this process's own here; FD_CLOEXEC is already set on them.
    const open = fs.readdirSync('/proc/self/fd').map(Number);
    let firstClosed = 3;
    while (open.includes(firstClosed)) firstClosed++;
    process.env.LISTEN_PID = String(process.pid);
    process.env.LISTEN_FDS = String(firstClosed - 3 + 1);
    const err = t.throws(() => listenFds(), { code: 'EBADF' });
    t.is((err as { syscall?: string }).syscall, 'fcntl');
    process.env.LISTEN_PID = String(process.pid);
    process.env.LISTEN_FDS = '1';
    process.env.LISTEN_FDNAMES = 'a:b';
    t.throws(() => listenFds(), { code: 'ERR_SYSTEMD_ENV' });
  }),
);

// The real systemd-socket-activate (Debian's systemd package).
const activate = spawnSync('sh', ['-c', 'command -v systemd-socket-activate'], { encoding: 'utf8' }).stdout.trim();
if (!activate) console.log('systemd.test.ts: systemd-socket-activate not found (Debian package systemd); its tests are skipped');
const withActivate = activate ? test : test.skip;
const FIXTURE = path.join(__dirname, 'fixtures', 'systemd-activated.js');

interface ActivatedReport {
  pid: number;
  fds: Array<{ fd: number; name: string }>;
  cloexecAfter: boolean[];
  env: string[];
  got: string;
}

/**
 * Starts systemd-socket-activate listening at a new path; resolves once it
 * listens. `passed` fds go to it as fds 3, 4, ... with LISTEN_FDS (its own
 * socket-activation input, which it passes on ahead of its socket), through
 * a shell that sets LISTEN_PID to its pid and execs it.
 */
async function activated(
  t: ExecutionContext,
  flags: string[],
  args: string[],
  passed: number[] = [],
): Promise<{ sock: string; exited: Promise<number | null>; stderr: () => string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ums-sd-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'sock');
  const env = { ...process.env };
  for (const k of SYSTEMD_VARS) delete env[k];
  // systemd-socket-activate gives the service a fresh environment (PATH,
  // HOME, ... and LISTEN_*); -E NAME passes one of its own on: what selects
  // the addon (test:asan, PREBUILDS_ONLY) and the sanitizers' settings.
  const passEnv = Object.keys(env)
    .filter((k) => /^(UNIX_MESSAGE_SOCKET_|NODE_|LD_PRELOAD$|[AL]SAN_OPTIONS$|UBSAN_OPTIONS$|PREBUILDS_ONLY$)/.test(k))
    .map((k) => `--setenv=${k}`);
  const argv = [activate, '-l', sock, ...passEnv, ...flags, process.execPath, ...args];
  if (passed.length > 0) env.LISTEN_FDS = String(passed.length);
  const child =
    passed.length === 0
      ? spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'], cwd: path.join(__dirname, '..') })
      : spawn('sh', ['-c', 'export LISTEN_PID=$$; exec "$0" "$@"', ...argv], {
          env,
          stdio: ['ignore', 'ignore', 'pipe', ...passed],
          cwd: path.join(__dirname, '..'),
        });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.teardown(() => child.kill());
  // It prints this after listen(2); the file alone exists from bind(2) on.
  t.true(await waitFor(() => stderr.includes('Listening on')), 'systemd-socket-activate listens');
  return { sock, exited, stderr: () => stderr };
}

async function streamRequest(sock: string, type: 'stream' | 'seqpacket'): Promise<string> {
  const c = connect({ path: sock, type });
  let out = '';
  c.on('data', (m: UnixMessage) => (out += m.data.toString()));
  const closed = settled(c);
  c.write('hello');
  // An error (the child died: ECONNRESET) is the test's failure, not an uncaught exception.
  const ended = await new Promise<Error | null>((resolve) => {
    c.once('end', () => resolve(null));
    c.once('error', resolve);
  });
  c.destroy();
  await closed;
  if (ended) throw ended;
  return out;
}

for (const type of ['stream', 'seqpacket', 'dgram'] as const) {
  withActivate(
    `listenFds() under systemd-socket-activate: a ${type} socket, named by --fdname, close-on-exec, LISTEN_* unset, served by this library`,
    async (t) => {
      const flags = { stream: [], seqpacket: ['--seqpacket'], dgram: ['--datagram'] }[type];
      const { sock, exited, stderr } = await activated(t, [...flags, `--fdname=ums-${type}`], [FIXTURE, type]);
      let text: string;
      if (type === 'dgram') {
        const client = createSocket({ type: 'dgram', bind: '' });
        const reply = new Promise<UnixMessage>((resolve) => client.once('data', resolve));
        client.write({ data: 'hello', address: sock });
        text = (await reply).data.toString();
        await new Promise<void>((resolve) => {
          client.once('close', resolve);
          client.destroy();
        });
      } else {
        text = await streamRequest(sock, type).catch((err: Error) => `${err.message}; systemd-socket-activate said: ${stderr()}`);
      }
      t.is(await exited, 0, stderr());
      const report = JSON.parse(text) as ActivatedReport;
      t.deepEqual(report.fds, [{ fd: 3, name: `ums-${type}` }]);
      t.deepEqual(report.cloexecAfter, [true]);
      t.deepEqual(report.env, []);
      t.is(report.got, 'hello');
    },
  );
}

withActivate(
  'examples/systemd-service/server.js under systemd-socket-activate: READY=1, an echo, and FDSTORE=1 with the live connection',
  leakFree(async (t, { track }) => {
    const m = manager(abstractName('example'), track);
    const { sock, exited } = await activated(
      t,
      ['--seqpacket', '--fdname=listen', `--setenv=NOTIFY_SOCKET=${process.env.NOTIFY_SOCKET!}`],
      [path.join(__dirname, '..', 'examples', 'systemd-service', 'server.js')],
    );
    const c = connect({ path: sock, type: 'seqpacket' });
    track(c);
    const echo = new Promise<UnixMessage>((resolve) => c.once('data', resolve));
    c.write('ping');
    t.is((await echo).data.toString(), 'ping');
    t.true(await waitFor(() => m.texts().some((x) => x.startsWith('READY=1\n'))), m.texts().join(' | '));
    t.true(await waitFor(() => m.messages.some((x) => x.data.toString().startsWith('FDSTORE=1\n'))));
    const stored = m.messages.find((x) => x.data.toString().startsWith('FDSTORE=1\n'))!;
    t.is(stored.data.toString(), 'FDSTORE=1\nFDNAME=conn-0');
    t.is(stored.fds.length, 1);
    for (const x of m.messages) for (const fd of x.fds) fs.closeSync(fd);
    process.kill(m.messages.find((x) => x.credentials !== undefined)!.credentials!.pid, 'SIGTERM');
    t.is(await exited, 0);
  }),
);

withActivate(
  'examples/systemd-service/server.js restarts without dropping a client: the stored connection comes back in LISTEN_FDS and is served again',
  leakFree(async (t, { track }) => {
    const m = manager(abstractName('restart'), track);
    const server = path.join(__dirname, '..', 'examples', 'systemd-service', 'server.js');
    const notifyEnv = `--setenv=NOTIFY_SOCKET=${process.env.NOTIFY_SOCKET!}`;
    const first = await activated(t, ['--seqpacket', '--fdname=listen', notifyEnv], [server]);
    const c = connect({ path: first.sock, type: 'seqpacket' });
    track(c);
    const replies: string[] = [];
    c.on('data', (x: UnixMessage) => replies.push(x.data.toString()));
    c.write('before');
    t.true(await waitFor(() => replies.length === 1 && m.messages.some((x) => x.data.toString().startsWith('FDSTORE=1\n'))));
    const stored = m.messages.find((x) => x.data.toString().startsWith('FDSTORE=1\n'))!;
    const pid = m.messages.find((x) => x.credentials !== undefined)!.credentials!.pid;
    process.kill(pid, 'SIGTERM');
    t.is(await first.exited, 0, first.stderr());

    // The manager's copy kept the connection open: start the service again
    // with it, as systemd would (stored fds come after the socket unit's
    // there; systemd-socket-activate puts passed fds first).
    const second = await activated(t, ['--seqpacket', '--fdname=conn-0:listen', notifyEnv], [server], [stored.fds[0]!]);
    c.write('after');
    t.true(await waitFor(() => replies.length === 2), second.stderr());
    t.deepEqual(replies, ['before', 'after']);
    t.is(m.texts().filter((x) => x.startsWith('READY=1\n')).length, 2);
    for (const x of m.messages) for (const fd of x.fds) fs.closeSync(fd);
    const pid2 = m.messages.filter((x) => x.credentials !== undefined).pop()!.credentials!.pid;
    t.not(pid2, pid);
    process.kill(pid2, 'SIGTERM');
    t.is(await second.exited, 0, second.stderr());
  }),
);

const systemdNotify = spawnSync('sh', ['-c', 'command -v systemd-notify'], { encoding: 'utf8' }).stdout.trim();
if (!systemdNotify) console.log('systemd.test.ts: systemd-notify not found (Debian package systemd); the cross-check with it is skipped');
(systemdNotify ? test : test.skip)(
  "the real systemd-notify's datagrams read as notify()'s do, and its barrier ends when the receiver closes the fd",
  leakFree(async (t, { track }) => {
    const m = manager(abstractName('systemd-notify'), track);
    // A manager closes a barrier's fd once it has read it.
    m.socket.on('data', (x: UnixMessage) => {
      if (x.data.toString() === 'BARRIER=1') for (const fd of x.fds) fs.closeSync(fd);
    });
    const child = spawn(systemdNotify, ['--ready', '--status=hi there'], { env: { ...process.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const status = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    t.is(status, 0, stderr);
    await notify({ READY: 1, STATUS: 'hi there' });
    t.true(await waitFor(() => m.texts().filter((x) => x === 'READY=1\nSTATUS=hi there').length === 2), m.texts().join(' | '));
    t.true(m.texts().includes('BARRIER=1'));
    for (const x of m.messages) if (x.data.toString() !== 'BARRIER=1') for (const fd of x.fds) fs.closeSync(fd);
  }),
);

test(
  'listenFds() checks LISTEN_PIDFDID against this process where pidfs can tell',
  leakFree((t) => {
    const [a, b] = socketPair('stream');
    const pidfd = a.peerPidfd();
    a.destroy();
    b.destroy();
    const own = fs.statfsSync(`/proc/self/fd/${pidfd}`).type === 0x50494446 ? fs.fstatSync(pidfd, { bigint: true }).ino : null;
    fs.closeSync(pidfd);
    if (own === null) {
      t.log('no pidfs here (Linux < 6.9): LISTEN_PIDFDID cannot be checked, as in libsystemd');
      t.pass();
      return;
    }
    // fd 3 is one of this process's own here, made close-on-exec already.
    const set = (id: bigint): void => {
      process.env.LISTEN_PID = String(process.pid);
      process.env.LISTEN_PIDFDID = String(id);
      process.env.LISTEN_FDS = '1';
    };
    set(own + 1n);
    t.deepEqual(listenFds(), [], 'another process with our pid');
    set(own);
    t.deepEqual(listenFds(), [{ fd: 3, name: 'unknown' }]);
    t.false('LISTEN_PIDFDID' in process.env);
    process.env.LISTEN_PID = String(process.pid);
    process.env.LISTEN_PIDFDID = 'x';
    t.throws(() => listenFds(), { code: 'ERR_SYSTEMD_ENV' });
  }),
);

test(
  'hostile arguments get typed errors before anything is sent: revoked Proxies, wrong types, too many fds',
  leakFree((t) => {
    process.env.NOTIFY_SOCKET = `@${abstractName('hostile').slice(1)}`;
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const cases: Array<[() => unknown, string]> = [
      [() => notify(proxy as never), 'ERR_INVALID_ARG_TYPE'],
      [() => notify('A=1', proxy as never), 'ERR_INVALID_ARG_TYPE'],
      [() => notify('A=1', { fds: proxy as never }), 'ERR_INVALID_ARG_TYPE'],
      [() => notify('A=1', { fds: '3' as never }), 'ERR_INVALID_ARG_TYPE'],
      [() => notify('A=1', { fds: new Array<number>(254).fill(0) }), 'ERR_OUT_OF_RANGE'],
      [() => notify(null as never), 'ERR_INVALID_ARG_TYPE'],
      [() => notify(['A=1'] as never), 'ERR_INVALID_ARG_TYPE'],
      [() => notify({ A: Number.NaN }), 'ERR_INVALID_ARG_VALUE'],
      [() => listenFds(proxy as never), 'ERR_INVALID_ARG_TYPE'],
      [() => barrier(proxy as never), 'ERR_INVALID_ARG_TYPE'],
      [() => barrier({ timeout: 1.5 }), 'ERR_OUT_OF_RANGE'],
      [() => watchdog(proxy as never), 'ERR_INVALID_ARG_TYPE'],
      [() => watchdog({ onError: 1 as never }), 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [call, code] of cases) t.throws(call, { code }, call.toString());
  }),
);

test(
  'barrier() whose send fails rejects with the errno error and closes both ends of its socketpair',
  leakFree(async (t) => {
    process.env.NOTIFY_SOCKET = tmpPath('no-manager');
    const err = await t.throwsAsync(barrier({ timeout: 10_000 }));
    t.is(codeOf(err), 'ENOENT');
  }),
);
