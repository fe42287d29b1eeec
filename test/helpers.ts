// Helpers shared by every test file: the two leak oracles, the leakFree()
// test wrapper built on the first, the waits (delay, tick, waitFor), and
// small socket/server/child-process utilities.
//  - fd-table delta: /proc/self/fd before and after must match (CPython -R).
//  - probe-socketpair EOF: pass one end of a socketpair, close every copy, and
//    the other end must read EOF (Twisted test_avoidLeakingFileDescriptors).
import type { ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fdsOf, lowlevel, type ListenOptions, type UnixMessage, type UnixMessageServer, type UnixMessageSocket } from '../src/index';

export function fdCount(): number {
  // readdirSync opens one fd of its own while listing; it is in the list.
  return fs.readdirSync('/proc/self/fd').length - 1;
}

export function openFds(): number[] {
  return fs.readdirSync('/proc/self/fd').map(Number);
}

/** Resolves after ms milliseconds. Not a way to wait for something: see waitFor(). */
export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves after one turn of the event loop (setImmediate). */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Polls cond every few milliseconds until it holds; resolves true then, or
 * false once timeoutMs has passed. The timeout is generous on purpose: it only
 * bounds a failing test, a passing one returns as soon as cond holds.
 */
export async function waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await delay(5);
  }
  return true;
}

function describeFds(): string {
  return fs
    .readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return `${fd}->${fs.readlinkSync(`/proc/self/fd/${fd}`)}`;
      } catch {
        return `${fd}->(gone)`;
      }
    })
    .join(' ');
}

/** Waits (briefly) for async closes, then asserts the fd count is back at baseline. */
export async function assertFdsBack(t: ExecutionContext, baseline: number): Promise<void> {
  for (let i = 0; i < 50 && fdCount() !== baseline; i++) {
    await tick();
    if (i > 10) await new Promise((r) => setTimeout(r, 10));
  }
  if (fdCount() !== baseline) t.log(`open fds: ${describeFds()}`);
  t.is(fdCount(), baseline, 'fd count back to baseline');
}

/** What withLeakCheck() and leakFree() hand the test body. */
export interface LeakCheck {
  /** The fd count taken before the body ran. */
  base: number;
  /** Registers sockets to destroy (and await 'close') after the body, before the fd check. */
  track: <T extends UnixMessageSocket[]>(...sockets: T) => T;
}

/**
 * Wraps a test body in the fd-table oracle: takes the fd-count baseline,
 * runs the body, destroys the sockets it registered with track() (also when
 * the body fails), then asserts the fd count is back at the baseline.
 * With { wait: false } the count is checked at once, for bodies that close
 * everything synchronously (no close may still be pending); otherwise it
 * waits for pending closes as assertFdsBack() does.
 */
export async function withLeakCheck(t: ExecutionContext, body: (check: LeakCheck) => Promise<void> | void, options: { wait?: boolean } = {}): Promise<void> {
  const base = fdCount();
  const tracked: UnixMessageSocket[] = [];
  const check: LeakCheck = {
    base,
    track: (...sockets) => {
      tracked.push(...sockets);
      return sockets;
    },
  };
  try {
    await body(check);
  } finally {
    await destroyAll(...tracked);
  }
  if (options.wait === false) t.is(fdCount(), base, 'fd count back to baseline');
  else await assertFdsBack(t, base);
}

/**
 * withLeakCheck() as a test implementation: test('title', leakFree(async (t) => ...)).
 * Extra arguments (a macro's) are passed on after the LeakCheck:
 * test.macro({ exec: leakFree(async (t, _check, arg: T) => ...) }).
 */
export function leakFree<A extends unknown[] = []>(
  body: (t: ExecutionContext, check: LeakCheck, ...args: A) => Promise<void> | void,
  options: { wait?: boolean } = {},
): (t: ExecutionContext, ...args: A) => Promise<void> {
  return (t, ...args) => withLeakCheck(t, (check) => body(t, check, ...args), options);
}

/** Destroys every socket and resolves once each has emitted 'close'. */
export async function destroyAll(...sockets: UnixMessageSocket[]): Promise<void> {
  const waits = sockets.filter((s) => !s.closed).map((s) => settled(s));
  for (const s of sockets) s.destroy();
  await Promise.all(waits);
}

/** listen() resolved on 'listening', rejected on 'error'. */
export function listen(server: UnixMessageServer, target: string | ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(target, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** server.close() as a promise: rejects with close()'s error (not listening). */
export function closeServer(server: UnixMessageServer): Promise<void> {
  return new Promise((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
}

export interface Probe {
  /** The end to send; the test closes its own copy after handing it over. */
  fd: number;
  /** True once every copy of `fd` is closed: the peer reads EOF. */
  isClosed(): boolean;
  /** Closes the peer end. */
  dispose(): void;
}

export function probe(): Probe {
  const [fd, peer] = lowlevel.socketpair('stream');
  return {
    fd,
    isClosed(): boolean {
      try {
        return lowlevel.recvmsg(peer, { maxSize: 1, cmsgSize: 0 }).data.length === 0;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return false;
        throw err;
      }
    },
    dispose(): void {
      lowlevel.close(peer);
    },
  };
}

/** Asserts (waiting briefly) that every copy of the probe's fd is gone. */
export async function assertProbeClosed(t: ExecutionContext, p: Probe): Promise<void> {
  for (let i = 0; i < 50 && !p.isClosed(); i++) await new Promise((r) => setTimeout(r, 10));
  t.true(p.isClosed(), 'probe peer reads EOF: no copy of the passed fd survives');
  p.dispose();
}

let tmpCounter = 0;
export function tmpPath(name = 'sock'): string {
  return path.join(os.tmpdir(), `ums-${process.pid}-${Date.now()}-${tmpCounter++}-${name}`);
}

/** A unique abstract-namespace name ('\0…': no file, nothing to clean up). */
export function abstractName(label: string): string {
  return `\0ums-test-${process.pid}-${Date.now()}-${tmpCounter++}-${label}`;
}

/** A temp file holding `content`, opened read-only; the file itself is unlinked. */
export function fileWithContent(content: string): number {
  const p = tmpPath('file');
  fs.writeFileSync(p, content);
  const fd = fs.openSync(p, 'r');
  fs.unlinkSync(p);
  return fd;
}

/** Reads a whole file through fd from offset 0 (pread: the offset is shared). */
export function contentOf(fd: number): string {
  const size = fs.fstatSync(fd).size;
  const buf = Buffer.alloc(size);
  fs.readSync(fd, buf, 0, size, 0);
  return buf.toString();
}

export function inodeOf(fd: number): string {
  const st = fs.fstatSync(fd);
  return `${st.dev}:${st.ino}`;
}

/** fstat(2) succeeds: the fd number is open in this process. */
/** Process pid exists (signal 0: nothing is sent). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function isOpen(fd: number): boolean {
  try {
    fs.fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

export function closeAll(fds: readonly number[]): void {
  for (const fd of fds) fs.closeSync(fd);
}

/** Resolves on the first of the events, and removes every listener it added. */
export function nextEvent(emitter: NodeJS.EventEmitter, events: readonly string[]): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      for (const e of events) emitter.off(e, done);
      resolve();
    };
    for (const e of events) emitter.on(e, done);
  });
}

/** Reads n messages in paused mode. */
export async function take(socket: UnixMessageSocket, n: number): Promise<UnixMessage[]> {
  const out: UnixMessage[] = [];
  while (out.length < n) {
    const m = socket.read();
    if (m !== null) {
      out.push(m);
      continue;
    }
    if (socket.readableEnded || socket.destroyed) break;
    await readable(socket);
  }
  return out;
}

/** Resolves with the write's callback error: null once the kernel took the message. */
export function writeDone(socket: UnixMessageSocket, chunk: unknown): Promise<Error | null | undefined> {
  return new Promise((resolve) => socket.write(chunk as never, (err) => resolve(err)));
}

/** Resolves on the next 'readable', 'end', 'close' or 'error', leaving no listener behind. */
export function readable(socket: UnixMessageSocket): Promise<void> {
  return nextEvent(socket, ['readable', 'end', 'close', 'error']);
}

/** Runs a Python snippet with a stream socket at fd 3 and returns the fds it sent there. */
export async function fdsFromPython(code: string, args: string[] = []): Promise<number[]> {
  const [mine, theirs] = lowlevel.socketpair('stream');
  try {
    const child = spawn('python3', ['-c', code, ...args], { stdio: ['ignore', 'inherit', 'inherit', theirs] });
    lowlevel.close(theirs);
    const [exitCode] = (await once(child, 'exit')) as [number | null];
    if (exitCode !== 0) throw new Error(`python3 exited with ${String(exitCode)}`);
    return fdsOf(lowlevel.recvmsg(mine).ancillary);
  } finally {
    lowlevel.close(mine);
  }
}

/**
 * Resolves once the stream or server has closed, also when that already
 * happened, and whatever came before (events.once would reject on 'error').
 */
export function settled(emitter: NodeJS.EventEmitter & { closed?: boolean }): Promise<void> {
  if (emitter.closed === true) return Promise.resolve();
  return new Promise((resolve) => emitter.once('close', () => resolve()));
}

/** Reads until 'end' without destroying the socket (for await would destroy it). */
export function readToEnd(socket: UnixMessageSocket): Promise<UnixMessage[]> {
  return new Promise((resolve, reject) => {
    const out: UnixMessage[] = [];
    socket.on('data', (m: UnixMessage) => out.push(m));
    socket.once('end', () => resolve(out));
    socket.once('error', reject);
  });
}

/** One JSON line of a fixture child; `step: 'error'` carries `message`. */
export interface ChildStep {
  step: string;
  message?: string;
}

/**
 * Runs `command` in the repository root with `socketFd` as the child's fd 3
 * (closed here once passed), killed at the end of the test if still running.
 * next() resolves with the child's next JSON line and throws on an 'error'
 * step or an early exit.
 */
export function stepChild<R extends ChildStep>(
  t: ExecutionContext,
  command: string,
  args: string[],
  socketFd: number,
): { next: () => Promise<R>; exited: Promise<[number | null, NodeJS.Signals | null]> } {
  const child = spawn(command, args, { cwd: path.join(__dirname, '..'), stdio: ['ignore', 'pipe', 'inherit', socketFd] });
  lowlevel.close(socketFd);
  const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<R> => {
    const r = await lines.next();
    if (r.done === true) throw new Error('the child exited early');
    const report = JSON.parse(r.value) as R;
    if (report.step === 'error') throw new Error(`child: ${report.message ?? ''}`);
    return report;
  };
  return { next, exited };
}

/** How a fixture child ended, and the last line it printed, parsed as JSON. */
export interface FixtureRun<R> {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  report: R | undefined;
}

/**
 * Runs test/fixtures/<name> in a node child of its own, so that a crash (an
 * unhandled 'error', an abort) shows as its exit status instead of killing
 * the test runner. Fixtures are plain JS against the built package.
 */
export function runFixture<R>(name: string, args: readonly string[]): FixtureRun<R> {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', name), ...args], {
    cwd: path.join(__dirname, '..'),
    encoding: 'utf8',
    timeout: 20_000,
  });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return { status: r.status, signal: r.signal, stderr: r.stderr, report: last === '' ? undefined : (JSON.parse(last) as R) };
}
