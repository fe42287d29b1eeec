// Security of listen() and of what a server's connections inherit (README
// "Security"), tried as a local attacker would: an unprivileged user racing
// the library, in a directory that user can write. The attacker and the
// hostile clients are test/fixtures/security-racer.c, compiled here and run
// through setpriv(1) as uid and gid 12345, so a real sender's ids differ
// from root's and from the overflow ids (65534) of a message with no sender.
// The tests that need root (setpriv, mount), a C compiler or strace pass
// with the reason logged where these are missing.
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createServer, createSocket, lowlevel, UnixMessageSocket, type Credentials, type UnixMessage, type UnixMessageServer } from '../src/index';
import { constants, native } from '../src/native/binding';
import { abstractName, assertProbeClosed, leakFree, listen, probe, take, tick, tmpPath, waitFor, withLeakCheck } from './helpers';

/**
 * The environment for the C compiler and the C racer: under `npm run
 * test:asan` every process inherits libasan (LD_PRELOAD), and the leaks of
 * programs that never load the addon are not ours.
 */
function cEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  return env;
}

const ATTACKER_ID = 12345;
// How long each race runs; the race tests stay under ~10 s together.
const RACE_MS = 2000;

interface Setup {
  /** A root-owned 0755 directory: the racer binary and the files to protect. */
  base: string;
  racer: string;
}

let setup: Setup | null = null;
let unavailable = '';

function commandWorks(command: string, args: string[]): boolean {
  const r = spawnSync(command, args, { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

test.before(() => {
  if (process.getuid?.() !== 0) {
    unavailable = 'needs root: the attacker is an unprivileged user that setpriv(1) makes';
  } else if (!commandWorks('setpriv', ['--version'])) {
    unavailable = 'needs setpriv(1) (util-linux)';
  } else {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ums-security-'));
    fs.chmodSync(base, 0o755);
    const racer = path.join(base, 'racer');
    const cc = spawnSync('cc', ['-O2', '-o', racer, path.join(__dirname, 'fixtures', 'security-racer.c')], { encoding: 'utf8', env: cEnv() });
    if (cc.error !== undefined || cc.status !== 0) {
      fs.rmSync(base, { recursive: true, force: true });
      unavailable = `needs a C compiler (cc) for the attacker: ${cc.error?.message ?? cc.stderr}`;
    } else {
      setup = { base, racer };
    }
  }
});

test.after.always(() => {
  if (setup !== null) fs.rmSync(setup.base, { recursive: true, force: true });
});

/** The setup, or null after logging why the test cannot run here (it then passes). */
function attackable(t: ExecutionContext): Setup | null {
  if (setup === null) {
    t.log(`skipped: ${unavailable}`);
    t.pass();
  }
  return setup;
}

let dirs = 0;
/** A directory the attacker can write: mode 0777, not sticky, so it may rename anyone's files there. */
function attackerDir(s: Setup): string {
  const dir = path.join(s.base, `attacker-${dirs++}`);
  fs.mkdirSync(dir);
  fs.chmodSync(dir, 0o777);
  return dir;
}

function asAttacker(s: Setup, args: string[]): [string, string[]] {
  const id = String(ATTACKER_ID);
  return ['setpriv', [`--reuid=${id}`, `--regid=${id}`, '--clear-groups', '--inh-caps=-all', s.racer, ...args]];
}

interface Running<R> {
  pid: number;
  running: () => boolean;
  /** Resolves once the racer printed its first line. */
  ready: Promise<void>;
  /** Writes the byte a racer in 'creds' mode waits for. */
  go(): void;
  /** The racer's last JSON line once it exits with status 0; rejects otherwise. */
  report: Promise<R>;
}

function runAttacker<R>(t: ExecutionContext, s: Setup, args: string[]): Running<R> {
  const [command, argv] = asAttacker(s, args);
  const child = spawn(command, argv, { stdio: ['pipe', 'pipe', 'inherit'], env: cEnv() });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  });
  let out = '';
  let onReady = (): void => undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    if (out.includes('\n')) onReady();
  });
  let done = false;
  const report = once(child, 'close').then(([status]) => {
    done = true;
    const line = out.trim().split('\n').pop() ?? '';
    if (status !== 0) throw new Error(`the racer exited with ${String(status)}: ${line}`);
    return JSON.parse(line) as R;
  });
  report.catch(() => undefined); // awaited by the test; this only keeps it from being unhandled meanwhile
  return { pid: child.pid ?? -1, running: () => !done, ready, go: () => child.stdin.end('g'), report };
}

/** Runs `cycle` in batches, letting the loop turn between them, while `running()` says so. */
async function cycleWhile(running: () => boolean, cycle: () => void): Promise<number> {
  let cycles = 0;
  while (running()) {
    for (let i = 0; i < 50; i++, cycles++) cycle();
    await tick();
  }
  return cycles;
}

/** One listen({ path, mode }) and close(); a path the attacker left behind is cleared for the next cycle. */
function listenAndClose(file: string, mode: number): boolean {
  const server = createServer();
  server.on('error', () => undefined); // EADDRINUSE while the attacker's symlink is there
  server.listen({ path: file, mode });
  if (server.listening) {
    server.close();
    return true;
  }
  fs.rmSync(file, { force: true });
  return false;
}

interface SwapReport {
  polls: number;
  swaps: number;
}

test('listen({ path, mode }) never changes the mode of the file a symlink swapped in by an unprivileged user points to', async (t) => {
  const s = attackable(t);
  if (s === null) return;
  await withLeakCheck(t, async () => {
    const dir = attackerDir(s);
    const file = path.join(dir, 'server.sock');
    // Root's file, outside the attacker's reach; chmod(file, 0o666) through
    // the symlink is what the attacker wants.
    const target = path.join(s.base, `target-${dirs}`);
    fs.writeFileSync(target, 'root only');
    fs.chmodSync(target, 0o600);
    let before = fs.statSync(target, { bigint: true });
    let changed = 0;
    let listened = 0;
    const attacker = runAttacker<SwapReport>(t, s, ['swap', file, path.join(dir, 'link'), target, String(RACE_MS)]);
    const cycles = await cycleWhile(attacker.running, () => {
      if (listenAndClose(file, 0o666)) listened++;
      const now = fs.statSync(target, { bigint: true });
      if (now.mode !== before.mode || now.ctimeNs !== before.ctimeNs) {
        changed++;
        fs.chmodSync(target, 0o600);
        before = fs.statSync(target, { bigint: true });
      }
    });
    const report = await attacker.report;
    t.log(
      `${cycles} listen cycles (${listened} listened) in ${RACE_MS} ms; the attacker swapped the socket file ${report.swaps} times; the target changed ${changed} times`,
    );
    t.true(report.swaps > 0, 'the attacker did replace the socket file with its symlink');
    t.is(changed, 0, "the target's mode and ctime never changed: nothing was chmod()ed by path");
    t.is(fs.statSync(target).mode & 0o7777, 0o600);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

interface ConnectReport {
  attempts: number;
  enoent: number;
  eacces: number;
  refused: number;
  connected: number;
  other: number;
  otherErrno: number;
}

test('with umask 0, an unprivileged user racing connect() never gets past the permissions of a listen({ mode: 0o600 }) socket file', async (t) => {
  const s = attackable(t);
  if (s === null) return;
  await withLeakCheck(t, async () => {
    const dir = attackerDir(s);
    const file = path.join(dir, 'server.sock');
    const umask = process.umask(0);
    let listened = 0;
    let cycles: number;
    const attacker = runAttacker<ConnectReport>(t, s, ['connect', file, String(RACE_MS)]);
    try {
      cycles = await cycleWhile(attacker.running, () => {
        if (listenAndClose(file, 0o600)) listened++;
      });
    } finally {
      process.umask(umask);
    }
    const r = await attacker.report;
    t.log(
      `${cycles} listen cycles (${listened} listened) in ${RACE_MS} ms; ${r.attempts} connects: ENOENT ${r.enoent}, EACCES ${r.eacces}, ECONNREFUSED ${r.refused}, connected ${r.connected}, other ${r.other}`,
    );
    t.true(r.eacces > 0, 'the attacker did find the socket file, and was refused by its mode');
    t.is(r.connected, 0, 'no connect() by the unprivileged user succeeded');
    // ECONNREFUSED comes after the permission check (af_unix.c
    // unix_find_bsd): the file was writable by the attacker at that moment.
    t.is(r.refused, 0, 'no connect() passed the permission check (which ECONNREFUSED would mean)');
    t.is(r.other, 0, `no other outcome (errno ${r.otherErrno})`);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

/** Whether this kernel has SO_PASSRIGHTS (Linux 6.16+). */
function kernelHasPassRights(): boolean {
  const fd = native.socket(constants.SOCK_SEQPACKET);
  const r = native.setsockopt(fd, constants.SOL_SOCKET, constants.SO_PASSRIGHTS, 0);
  native.close(fd);
  return r === 0;
}

function nextConnection(server: UnixMessageServer): Promise<UnixMessageSocket> {
  return once(server, 'connection').then(([socket]) => socket as UnixMessageSocket);
}

function readAll(socket: UnixMessageSocket): Promise<UnixMessage[]> {
  return new Promise((resolve, reject) => {
    const got: UnixMessage[] = [];
    socket.on('data', (m: UnixMessage) => got.push(m));
    socket.once('end', () => resolve(got));
    socket.once('error', reject);
  });
}

function closed(server: UnixMessageServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

interface EarlyFdsReport {
  fdsSend: string;
  sent: number;
}

test('an acceptFds: false server: a client that sends 253 fds before it is accepted gets EPERM, and no fd reaches the server process', async (t) => {
  const s = attackable(t);
  if (s === null) return;
  await withLeakCheck(t, async () => {
    const dir = attackerDir(s);
    const file = path.join(dir, 'server.sock');
    const server = createServer({ acceptFds: false });
    await listen(server, { path: file, mode: 0o666 });
    const p = probe();
    // spawnSync holds this event loop, so nothing is accepted until the
    // client has connected, sent everything and exited.
    const [command, argv] = asAttacker(s, ['early-fds', file, '253', '10']);
    const r = spawnSync(command, argv, { stdio: ['ignore', 'pipe', 'inherit', p.fd], encoding: 'utf8', timeout: 10_000, env: cEnv() });
    lowlevel.close(p.fd);
    t.is(r.status, 0, r.stdout);
    const report = JSON.parse(r.stdout.trim()) as EarlyFdsReport;
    const conn = await nextConnection(server);
    const got = await readAll(conn);
    const plain = Array.from({ length: 10 }, (_, i) => `m${i}`);
    t.is(report.sent, 10);
    t.true(
      got.every((m) => m.fds.length === 0),
      'no message brought an fd',
    );
    if (kernelHasPassRights()) {
      t.is(report.fdsSend, 'EPERM', 'the kernel refused the fds: SO_PASSRIGHTS was on the connection before accept()');
      t.deepEqual(
        got.map((m) => m.data.toString()),
        plain,
        'only the plain messages arrived',
      );
      t.true(got.every((m) => !m.fdsTruncated));
    } else {
      // Before Linux 6.16 the fds travel; the server reads with no room for
      // them, so the kernel drops them instead of installing them here.
      t.log('this kernel has no SO_PASSRIGHTS: checked the fallback (fds dropped on receipt, message flagged fdsTruncated)');
      t.is(report.fdsSend, 'ok');
      t.deepEqual(
        got.map((m) => m.data.toString()),
        ['with-fds', ...plain],
      );
      t.true(got[0]!.fdsTruncated);
    }
    conn.destroy();
    await closed(server);
    await assertProbeClosed(t, p);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

interface CredsReport {
  pid: number;
  sent: number;
  accepted: boolean;
}

test('a passCredentials server reports the real pid, uid and gid on every message of 8 unprivileged clients sending before and right after accept', async (t) => {
  const s = attackable(t);
  if (s === null) return;
  await withLeakCheck(t, async () => {
    const dir = attackerDir(s);
    const file = path.join(dir, 'server.sock');
    const received: UnixMessage[] = [];
    const ended: Array<Promise<void>> = [];
    const hold = new Int32Array(new SharedArrayBuffer(4));
    const server = createServer({ passCredentials: true }, (conn) => {
      ended.push(readAll(conn).then((got) => void received.push(...got)));
      // A listener that takes its time: the connections accepted with this one
      // wait, accepted but not yet set up, while their clients send.
      Atomics.wait(hold, 0, 0, 3);
    });
    await listen(server, { path: file, mode: 0o666 });
    // Each client sends 50 messages as soon as it has connected, makes a file
    // in `marks`, waits until the server has accepted it and sends 50 more at
    // once. This event loop is held until all 8 have made their file, so the
    // first 50 are sent before accept() and the server accepts all 8 together
    // and sets them up one after another while they send the rest.
    const marks = path.join(dir, 'marks');
    fs.mkdirSync(marks);
    fs.chmodSync(marks, 0o777);
    const clients = Array.from({ length: 8 }, () => runAttacker<CredsReport>(t, s, ['creds', file, '100', marks]));
    await Promise.all(clients.map((c) => c.ready));
    for (const c of clients) c.go();
    for (const end = Date.now() + 10_000; fs.readdirSync(marks).length < clients.length && Date.now() < end;) Atomics.wait(hold, 0, 0, 1);
    const reports = await Promise.all(clients.map((c) => c.report));
    t.true(await waitFor(() => ended.length >= clients.length, 30_000), 'the server accepted every client');
    await Promise.all(ended);
    await closed(server);
    const pids = new Set(clients.map((c) => c.pid));
    t.deepEqual(
      reports.map((r) => [r.sent, r.accepted]),
      Array(8).fill([100, true]),
      'each sent 100 messages and saw itself accepted',
    );
    t.is(received.length, 800, 'every message arrived');
    const wrong = received.filter((m) => {
      const pid = Number(m.data.toString().split(' ')[0]);
      const expected: Credentials = { pid, uid: ATTACKER_ID, gid: ATTACKER_ID };
      const c = m.credentials;
      return !pids.has(pid) || c === undefined || c.pid !== expected.pid || c.uid !== expected.uid || c.gid !== expected.gid;
    });
    const noSender = received.filter((m) => m.credentials === undefined).length;
    const overflow = received.filter((m) => m.credentials?.pid === 0).length;
    t.log(`800 messages: ${wrong.length} without the sender's credentials (${noSender} with none, ${overflow} with pid 0)`);
    t.is(wrong.length, 0, "every message carries its sender's pid, uid and gid");
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

test(
  'a message sent while neither end had SO_PASSCRED has no credentials, not pid 0 and the overflow ids',
  leakFree(async (t) => {
    const [a, b] = lowlevel.socketpair('seqpacket');
    lowlevel.sendmsg(a, Buffer.from('before'));
    // The receiver turns SO_PASSCRED on now: the kernel then attaches
    // SCM_CREDENTIALS to the queued message too, with no sender in it.
    const socket = UnixMessageSocket.fromFd(b, { passCredentials: true });
    lowlevel.sendmsg(a, Buffer.from('after'));
    const [before, after] = await take(socket, 2);
    t.is(before?.data.toString(), 'before');
    t.false(before !== undefined && 'credentials' in before, 'no sender is reported');
    t.deepEqual(
      after?.credentials,
      { pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() },
      'a message sent with SO_PASSCRED on carries its sender',
    );
    socket.destroy();
    lowlevel.close(a);
  }),
);

// --- The socket file close() removes: only the one the socket is bound to.

test(
  "close() leaves alone a socket file that replaced ours right after bind, before the server's first look at the path",
  leakFree(async (t) => {
    const file = tmpPath('replaced-early.sock');
    const moved = `${file}.ours`;
    let attacker: UnixMessageSocket | null = null;
    // The earliest moment an attacker can act: the server's first lstat of
    // the path if it makes one (fs.lstatSync is wrapped to swap just before
    // it), or else right after listen() returns.
    const replace = (): void => {
      if (attacker !== null) return;
      fs.renameSync(file, moved);
      attacker = createSocket({ type: 'dgram', bind: file });
    };
    const mutableFs = fs as { lstatSync: typeof fs.lstatSync };
    const lstat = fs.lstatSync;
    const server = createServer();
    let theirs: fs.Stats;
    try {
      mutableFs.lstatSync = ((...args: Parameters<typeof fs.lstatSync>) => {
        if (args[0] === file) replace();
        return lstat(...args);
      }) as typeof fs.lstatSync;
      await listen(server, { path: file, mode: 0o600 });
      replace();
      theirs = lstat(file);
      await closed(server);
    } finally {
      mutableFs.lstatSync = lstat;
    }
    const after = fs.lstatSync(file, { throwIfNoEntry: false });
    t.true(after !== undefined && after.ino === theirs.ino && after.dev === theirs.dev, "the other socket's file is still there");
    (attacker as UnixMessageSocket | null)?.destroy();
    fs.rmSync(file, { force: true });
    fs.rmSync(moved, { force: true });
  }),
);

test(
  'close() removes our socket file when it is still ours, also after it was renamed away and back',
  leakFree(async (t) => {
    const file = tmpPath('ours.sock');
    const server = createServer();
    await listen(server, { path: file, mode: 0o600 });
    fs.renameSync(file, `${file}.away`);
    fs.renameSync(`${file}.away`, file);
    await closed(server);
    t.false(fs.existsSync(file), 'removed');
  }),
);

interface OwnFileReport {
  step: string;
  statDev: string;
  mountDev: string | null;
  exists: boolean;
  sameFile: boolean;
}

function ownFileChild(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { status: number | null; report: OwnFileReport | undefined; stderr: string } {
  const r = spawnSync(command, args, { cwd: path.join(__dirname, '..'), encoding: 'utf8', timeout: 20_000, env });
  const last = r.stdout?.trim().split('\n').pop() ?? '';
  return { status: r.status, stderr: r.stderr ?? '', report: last === '' ? undefined : (JSON.parse(last) as OwnFileReport) };
}

const child = path.join('test', 'fixtures', 'own-file-child.js');

test('on overlayfs, where st_dev is not the superblock device sock_diag reports, close() still removes our file and only ours', (t) => {
  if (process.getuid?.() !== 0 || !commandWorks('unshare', ['--version'])) {
    t.log('skipped: needs root and unshare(1) to mount an overlay in a private mount namespace');
    t.pass();
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ums-overlay-'));
  try {
    for (const d of ['lower', 'upper', 'work', 'merged']) fs.mkdirSync(path.join(dir, d));
    // A tmpfs lower layer and an upper layer on the test's filesystem: two
    // filesystems, so overlayfs gives the upper layer's files a device of
    // their own in stat.
    const script =
      'mount -t tmpfs ums-lower "$1/lower" && mount -t overlay overlay -o "lowerdir=$1/lower,upperdir=$1/upper,workdir=$1/work" "$1/merged" || exit 77; exec "$2" "$3" "$1/merged/server.sock" "$4"';
    const run = (action: string): ReturnType<typeof ownFileChild> =>
      ownFileChild('unshare', ['-m', 'sh', '-c', script, 'sh', dir, process.execPath, child, action]);
    const plain = run('plain');
    if (plain.status === 77) {
      t.log(`skipped: overlayfs could not be mounted here: ${plain.stderr.trim()}`);
      t.pass();
      return;
    }
    t.is(plain.status, 0, plain.stderr);
    t.is(plain.report?.step, 'done');
    if (plain.report?.statDev === plain.report?.mountDev)
      t.log(`this overlay reports the superblock's device (${String(plain.report?.statDev)}) in stat: the mismatch case did not arise`);
    else t.log(`st_dev ${String(plain.report?.statDev)}, superblock ${String(plain.report?.mountDev)}`);
    t.false(plain.report?.exists, 'our socket file was removed');
    const replaced = run('replace');
    t.is(replaced.status, 0, replaced.stderr);
    t.true(replaced.report?.exists && replaced.report.sameFile, 'a socket file that replaced ours survives close()');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('where sock_diag cannot answer, the server falls back to the file the path names after bind: ours is removed, a later replacement is not', (t) => {
  if (!commandWorks('strace', ['-V'])) {
    t.log('skipped: needs strace(1) to make the sock_diag request fail');
    t.pass();
    return;
  }
  const log = tmpPath('strace.log');
  // The addon's sock_diag request is the only sendto(2) a server makes;
  // strace makes it fail as on a kernel without unix_diag.
  const files: string[] = [];
  const run = (action: string): ReturnType<typeof ownFileChild> => {
    files.push(tmpPath('fallback.sock'));
    // Under `npm run test:asan`, LeakSanitizer cannot run in a traced
    // process (it stops with a fatal error): the child checks memory errors only.
    const env = { ...process.env, ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? ''}:detect_leaks=0` };
    return ownFileChild(
      'strace',
      ['-f', '-qq', '-o', log, '-e', 'trace=sendto', '-e', 'inject=sendto:error=ENOENT', process.execPath, child, files.at(-1)!, action],
      env,
    );
  };
  try {
    const plain = run('plain');
    t.is(plain.status, 0, plain.stderr);
    t.regex(fs.readFileSync(log, 'utf8'), /AF_NETLINK.*ENOENT.*INJECTED/, 'the sock_diag request failed');
    t.false(plain.report?.exists, 'our socket file was removed');
    const replaced = run('replace');
    t.is(replaced.status, 0, replaced.stderr);
    t.true(replaced.report?.exists && replaced.report.sameFile, 'a socket file that replaced ours after listen() survives close()');
  } finally {
    for (const f of [log, ...files, ...files.map((x) => `${x}.ours`)]) fs.rmSync(f, { force: true });
  }
});

// --- listen()'s other paths.

test(
  'listen({ path, mode }) on a path that is a symlink fails with EADDRINUSE and touches neither the link nor its target',
  leakFree(async (t) => {
    const target = tmpPath('link-target');
    const link = tmpPath('link.sock');
    fs.writeFileSync(target, 'keep');
    fs.chmodSync(target, 0o600);
    fs.symlinkSync(target, link);
    const before = fs.statSync(target, { bigint: true });
    const linkBefore = fs.lstatSync(link, { bigint: true });
    try {
      const server = createServer();
      const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
        server.once('error', resolve);
        server.listen({ path: link, mode: 0o666 });
      });
      t.is(err.code, 'EADDRINUSE');
      const after = fs.statSync(target, { bigint: true });
      t.is(after.mode, before.mode);
      t.is(after.ctimeNs, before.ctimeNs, 'the target was not chmod()ed');
      t.is(fs.lstatSync(link, { bigint: true }).ino, linkBefore.ino, 'the link is still there');
      t.is(fs.readlinkSync(link), target);
    } finally {
      fs.rmSync(link, { force: true });
      fs.rmSync(target, { force: true });
    }
  }),
);

test(
  'listen({ fd }) with acceptFds: false: fds a client sent before the socket was adopted are dropped by the kernel, never installed here',
  leakFree(async (t) => {
    const name = abstractName('adopted-early');
    const listener = native.socket(constants.SOCK_SEQPACKET);
    t.is(native.bind(listener, name), 0);
    t.is(native.listen(listener, 8), 0);
    // This connection and its message predate the server's SO_PASSRIGHTS=0
    // on the listening socket, so they did not inherit it.
    const client = native.socket(constants.SOCK_SEQPACKET);
    t.is(native.connect(client, name), 0);
    const p = probe();
    lowlevel.sendmsg(client, Buffer.from('early'), [lowlevel.rights([p.fd])]);
    lowlevel.close(p.fd);
    const server = createServer({ acceptFds: false });
    const conn = nextConnection(server);
    server.listen({ fd: listener });
    const socket = await conn;
    const [m] = await take(socket, 1);
    t.is(m?.data.toString(), 'early');
    t.deepEqual(m?.fds, []);
    t.true(m?.fdsTruncated, 'the socket read it with no room for fds: the kernel dropped them');
    await assertProbeClosed(t, p);
    socket.destroy();
    native.close(client);
    await closed(server);
  }),
);

test("the addon's bind with a mode refuses an fd that is not a socket, and leaves that file's mode alone", (t) => {
  // Only the server calls it, on a socket of its own; a direct caller of the
  // addon must not get fchmod(2) of an arbitrary file out of it.
  const file = tmpPath('not-a-socket');
  fs.writeFileSync(file, 'x');
  fs.chmodSync(file, 0o644);
  const fd = fs.openSync(file, 'r');
  try {
    t.is(native.bind(fd, tmpPath('never-bound'), 0o1), -os.constants.errno.ENOTSOCK);
    t.is(fs.statSync(file).mode & 0o7777, 0o644);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
});
