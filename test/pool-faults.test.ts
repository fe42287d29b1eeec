// Worker pool faults (issue 4): dying workers, lost starts, full channels,
// fd limits, -e primaries and bad arguments. Each pins a defect found in
// review. Scenarios that used to hang or spin run in a child process with a
// deadline.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createPool, type WorkerPool } from '../src/pool';
import type { UnixMessage } from '../src/index';
import { delay, waitFor } from './helpers';

const WORKER = path.join(__dirname, 'fixtures', 'pool-worker.js');
const DIST_POOL = path.join(__dirname, '..', 'dist', 'pool');
const op = (name: string, extra: object = {}): string => JSON.stringify({ op: name, ...extra });
const within = <T>(p: Promise<T>, ms: number): Promise<T | 'TIMEOUT'> => Promise.race([p, delay(ms).then(() => 'TIMEOUT' as const)]);

/** The largest closeTimeout: the close timer never ends a test's close(). */
const NEVER = 0x7fffffff;

/**
 * close() with closeTimeout NEVER resolves only once every job is finished
 * and every channel ended ('drained'); a pool that waits for a job that never
 * finishes would wait for the close timer: after 10 s it is destroyed
 * instead ('stuck'), and the test fails.
 */
async function closeOrDestroy(pool: WorkerPool): Promise<'drained' | 'stuck'> {
  const r = await within(
    pool.close().then(() => 'drained' as const),
    10_000,
  );
  if (r !== 'TIMEOUT') return r;
  const closed = once(pool, 'close');
  pool.destroy();
  await closed;
  return 'stuck';
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ums-pool-review-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, `'use strict';\nconst POOL = ${JSON.stringify(DIST_POOL)};\nconst WORKER = ${JSON.stringify(WORKER)};\n${body}`);
  return file;
}

/** Runs a script in a child node; kills it after `ms`. */
async function runChild(file: string, ms: number, execArgv: string[] = []): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  const child = spawn(process.execPath, file === '' ? execArgv : [...execArgv, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  // A grandchild may hold the pipes open: give the output a moment, then let go.
  await Promise.race([once(child, 'close'), delay(500)]);
  child.stdout.destroy();
  child.stderr.destroy();
  return { code, signal, out };
}

// --- 1. Supervisor #onExit (supervisor.ts) wasOnline = state !== 'starting': a worker whose channel
// 'close' beats its 'exit' (the usual order) counts as "was online", so the
// early-death counter is reset and a worker that can never start respawns forever.
test('a worker script that cannot start is not respawned forever; ready() rejects', async (t) => {
  const pool = createPool({ script: path.join(tmp, 'does-not-exist.js'), size: 1, execArgv: [], stdio: 'ignore' });
  let exits = 0;
  const errors: string[] = [];
  pool.on('exit', () => exits++);
  pool.on('error', (err) => errors.push((err as NodeJS.ErrnoException).code ?? err.message));
  // ready() rejects once the early deaths run out; the bound only stops a
  // pool that respawns forever, and leaves room for five Node startups on a
  // slow machine (under `npm run test:asan` one takes 4 times as long).
  const ready = await within(
    pool.ready().then(
      () => 'resolved',
      (err: NodeJS.ErrnoException) => err.code,
    ),
    10_000,
  );
  pool.destroy();
  await once(pool, 'close');
  t.log(`exits before ready() settled (at most 10 s): ${exits}; errors: ${errors.join(',')}`);
  t.deepEqual({ atMostFiveSpawns: exits <= 5, ready }, { atMostFiveSpawns: true, ready: 'ERR_POOL_WORKER_EXITED' }, `respawned ${exits} times`);
});

// --- 2. Dispatcher dispatch() (dispatcher.ts): an untargeted job with no worker left
// (respawn: false) is pushed to #waiting forever; close() then waits closeTimeout.
test('with respawn: false and no worker left, request() and send() fail instead of hanging', async (t) => {
  // closeTimeout at its maximum: close() resolves only by draining, never by the close timer.
  const pool = createPool({ script: WORKER, size: 1, execArgv: [], respawn: false, closeTimeout: NEVER });
  pool.on('error', () => undefined);
  await pool.ready();
  pool.workers[0]!.process.kill('SIGKILL');
  await once(pool, 'exit');
  const request = await within(
    pool.request(op('stats')).then(
      () => 'resolved',
      (err: NodeJS.ErrnoException) => err.code,
    ),
    1000,
  );
  let callback = 'not called';
  pool.send('x', {}, (err) => (callback = err ? String((err as NodeJS.ErrnoException).code) : 'ok'));
  await waitFor(() => callback !== 'not called');
  const close = await closeOrDestroy(pool);
  // AVA 6 assertions throw: one deepEqual shows every symptom at once.
  t.deepEqual({ request, callback, close }, { request: 'ERR_POOL_WORKER_EXITED', callback: 'ERR_POOL_WORKER_EXITED', close: 'drained' });
});

test('with respawn: false, ready() settles when a worker dies before coming online', async (t) => {
  const pool = createPool({ script: path.join(tmp, 'does-not-exist.js'), size: 1, execArgv: [], stdio: 'ignore', respawn: false });
  pool.on('error', () => undefined);
  const ready = await within(
    pool.ready().then(
      () => 'resolved',
      (err: NodeJS.ErrnoException) => err.code,
    ),
    2000,
  );
  pool.destroy();
  t.not(ready, 'TIMEOUT');
});

// --- 3. Dispatcher #written (dispatcher.ts): on EPIPE the worker is still 'online'
// (its channel 'close' has not run), so the job is re-dispatched to the same
// channel; Writable buffers it (state.errored) and errorBuffer() calls it back
// in the same loop: a synchronous infinite loop. Any targeted send, or size 1.
test('a send to a worker that has just died does not spin the primary forever', async (t) => {
  const file = script(
    'epipe-spin.js',
    `
const { createPool } = require(POOL);
(async () => {
  const pool = createPool({ script: WORKER, size: 1, execArgv: [] });
  pool.on('error', () => {});
  await pool.ready();
  pool.request(JSON.stringify({ op: 'exit' })).catch(() => {});
  await new Promise((r) => setImmediate(r));
  const end = Date.now() + 300; while (Date.now() < end); // the worker exits meanwhile
  pool.send('x', {}, () => {});
  setTimeout(() => { console.log('event loop alive'); pool.destroy(); }, 300);
})();
`,
  );
  const { out, signal } = await runChild(file, 6000);
  t.is(signal, null, 'the child had to be killed: the primary spun in #written/errorBuffer');
  t.regex(out, /event loop alive/);
});

// --- 4. Dispatcher #send and the Reply case of WorkerPool #onFrame: request.worker is set only in the write
// callback, which for a _writev batch fires after the WHOLE batch is sent;
// a reply to a request sent in an earlier part of the batch is dropped.
test('replies that arrive before their batch write callback are not dropped', async (t) => {
  const pool = createPool({ script: WORKER, size: 1, execArgv: [] });
  pool.on('error', () => undefined);
  try {
    await pool.ready();
    void pool.request(op('block', { ms: 300 })).catch(() => undefined);
    await delay(50); // no event says the worker has started blocking: give the request time to reach it
    const results = await Promise.allSettled(Array.from({ length: 2000 }, () => pool.request(op('fail'), { timeout: 3000 })));
    const codes: Record<string, number> = {};
    for (const r of results) {
      const code = r.status === 'fulfilled' ? 'resolved' : String((r.reason as NodeJS.ErrnoException).code);
      codes[code] = (codes[code] ?? 0) + 1;
    }
    t.deepEqual(codes, { ERR_POOL_REMOTE_ERROR: 2000 }, 'every worker reply reached its request');
  } finally {
    pool.destroy();
  }
});

// --- 5. Requests settle() (requests.ts): a request that times out before its write
// callback has p.worker === null, so jobs is not decremented; the later
// #written sets request.worker on a settled request. outstanding stays > 0
// and close() waits for closeTimeout, then SIGKILLs.
test('a request that times out while queued in the primary leaves no outstanding job', async (t) => {
  const pool = createPool({ script: WORKER, size: 1, execArgv: [], closeTimeout: NEVER });
  pool.on('error', () => undefined);
  await pool.ready();
  void pool.request(op('block', { ms: 300 })).catch(() => undefined);
  await delay(50); // no event says the worker has started blocking: give the request time to reach it
  for (let i = 0; i < 3; i++) pool.send(Buffer.alloc(150_000)); // fill the kernel queue
  const timedOut = await pool.request(op('fail'), { timeout: 20 }).then(
    () => 'resolved',
    (err: NodeJS.ErrnoException) => err.code,
  );
  // The worker handles everything; with the defect outstanding never returns to 0.
  await waitFor(() => pool.workers[0]!.outstanding === 0);
  const outstanding = pool.workers[0]!.outstanding;
  let signal: string | null = null;
  pool.on('exit', (_w, _code, s) => (signal = s));
  const close = await closeOrDestroy(pool);
  t.deepEqual({ timedOut, outstanding, close, signal }, { timedOut: 'ERR_POOL_REQUEST_TIMEOUT', outstanding: 0, close: 'drained', signal: null });
});

// --- 6. WorkerPool #maybePauseAccepting/#resumeAccepting: accepting pauses when every online worker is
// full and resumes only on a channel 'drain'. A worker that dies while full
// never drains, and its replacement never needed to: accepting stays paused.
test('accepting resumes after the full worker is replaced', async (t) => {
  const pool = createPool({ script: WORKER, size: 1, execArgv: [] });
  pool.on('error', () => undefined);
  const get = (port: number, ms: number): Promise<string> =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, agent: false, timeout: ms }, (res) => {
        res.resume();
        res.on('end', () => resolve('ok'));
      });
      req.on('timeout', () => {
        req.destroy();
        resolve('TIMEOUT');
      });
      req.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? ''}`));
    });
  try {
    await pool.ready();
    const { port } = await pool.serve({ port: 0 });
    t.is(await get(port, 2000), 'ok');
    void pool.request(op('block', { ms: 10_000 })).catch(() => undefined);
    await delay(50); // no event says the worker has started blocking: give the request time to reach it
    pool.send(Buffer.alloc(150_000));
    pool.send(Buffer.alloc(150_000)); // the kernel queue is full
    for (let i = 0; i < 16; i++) pool.send('small'); // 16 queued in JS: writableNeedDrain
    const first = get(port, 3000); // its hand-off returns false: accepting pauses
    await delay(100); // no event says the primary accepted it: give the connection time to arrive
    const online = once(pool, 'online');
    pool.workers[0]!.process.kill('SIGKILL');
    await online;
    t.is(await first, 'ok', 'the re-routed connection is served');
    t.is(await get(port, 2000), 'ok', 'a new connection is accepted by the replacement worker');
  } finally {
    pool.destroy();
  }
});

// --- 7. Dispatcher #written + socket.ts _destroy/#finishWrite: a _writev batch
// partly sent before the worker died fails as a whole, so messages the worker
// already read are re-routed and delivered twice; 'exit' reports a negative
// `unfinished` (jobs decremented by Done and again by the failed callback).
test('a message a worker already read is not delivered again after it dies', async (t) => {
  const ackWorker = script(
    'ack-worker.js',
    `
const ch = require(POOL).connectToPrimary();
ch.on('message', (m) => {
  ch.send(m.data.subarray(0, 16));
  const end = Date.now() + 1; while (Date.now() < end);
});
`,
  );
  const pool = createPool({ script: ackWorker, size: 1, execArgv: [] });
  pool.on('error', () => undefined);
  try {
    await pool.ready();
    const N = 2000;
    const acks = new Map<string, number>();
    let killed = false;
    let unfinished: number | null = null;
    pool.on('exit', (_w, _c, _s, u) => (unfinished = u));
    pool.on('message', (m: UnixMessage) => {
      const id = m.data.toString().trim();
      acks.set(id, (acks.get(id) ?? 0) + 1);
      if (!killed && acks.size === 300) {
        killed = true;
        pool.workers[0]!.process.kill('SIGKILL');
      }
    });
    for (let i = 0; i < N; i++) {
      const b = Buffer.alloc(2048);
      b.write(String(i).padEnd(16));
      pool.send(b);
    }
    // Until every ack is in, or the old worker's exit is settled and the
    // acks have stopped (what died in its socket never comes back).
    let last = -1;
    for (let i = 0; i < 150 && acks.size < N; i++) {
      await delay(100);
      if (unfinished !== null && acks.size === last) break;
      last = acks.size;
    }
    const twice = [...acks.values()].filter((n) => n > 1).length;
    t.deepEqual(
      { deliveredTwice: twice, unfinishedNegative: unfinished !== null && unfinished < 0 },
      { deliveredTwice: 0, unfinishedNegative: false },
      `'exit' reported unfinished = ${String(unfinished)}`,
    );
  } finally {
    pool.destroy();
  }
});

// --- 8. Supervisor #onExit (supervisor.ts) destroys the channel at once: frames the
// worker sent before exiting that are still in the kernel queue (more than
// one 256-message read batch) are thrown away.
test('messages a worker sent just before exiting all reach the primary', async (t) => {
  const flood = script(
    'flood-worker.js',
    `
const ch = require(POOL).connectToPrimary();
ch.on('request', (m) => {
  const n = Number(m.data.toString());
  for (let i = 0; i < n; i++) ch.send(String(i));
  ch.socket.write({ data: Buffer.alloc(0) }, () => process.exit(0)); // everything is in the kernel
});
`,
  );
  const pool = createPool({ script: flood, size: 1, execArgv: [], respawn: false });
  pool.on('error', () => undefined);
  try {
    await pool.ready();
    let got = 0;
    pool.on('message', () => got++);
    const exited = once(pool, 'exit');
    void pool.request('270').catch(() => undefined);
    const end = Date.now() + 500;
    while (Date.now() < end); // busy primary: the data and SIGCHLD are both pending
    await exited;
    // With the defect the frames still queued at the exit never arrive: got stays short.
    await waitFor(() => got >= 270);
    t.is(got, 270);
  } finally {
    pool.destroy();
  }
});

// --- 9. Dispatcher #fail (dispatcher.ts): destroy() turns every unsent fire-and-forget
// send (and queued connection batch) into an 'error' event: with no 'error'
// listener, destroy() crashes the primary.
test("destroy() with queued fire-and-forget sends does not crash a primary without an 'error' listener", async (t) => {
  const file = script(
    'destroy-crash.js',
    `
const { createPool } = require(POOL);
(async () => {
  const pool = createPool({ script: WORKER, size: 1, execArgv: [] });
  await pool.ready();
  pool.request(JSON.stringify({ op: 'block', ms: 3000 })).catch(() => {});
  await new Promise((r) => setTimeout(r, 50));
  pool.send(Buffer.alloc(150000)); pool.send(Buffer.alloc(150000));
  for (let i = 0; i < 3; i++) pool.send('queued');
  pool.destroy();
  pool.on('close', () => console.log('closed cleanly'));
})();
`,
  );
  const { code, out } = await runChild(file, 8000);
  t.is(code, 0, out);
  t.regex(out, /closed cleanly/);
});

// --- 10. PrimaryChannel #onFrame (worker.ts): a Connections frame carries no count; when the
// worker's recvmsg is truncated (EMFILE: the kernel closes the fds that do not
// fit, MSG_CTRUNC), the worker reports only what it got. outstanding never
// returns to 0 and close() waits for closeTimeout.
test('a hand-off truncated by the worker fd limit is still accounted', async (t) => {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
  } catch {
    t.pass('prlimit(1) not available');
    return;
  }
  const pool: WorkerPool = createPool({ script: WORKER, size: 1, execArgv: [], closeTimeout: NEVER, stdio: 'ignore' });
  pool.on('error', () => undefined);
  await pool.ready();
  const pid = pool.workers[0]!.pid!;
  const open = fs.readdirSync(`/proc/${pid}/fd`).length;
  // Room for 200 more: under so low a limit a worker reads once half the
  // limit is free (a whole 253-fd frame can never fit), and the kernel
  // installs 200 of the 253 fds and drops the rest.
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${open + 200}:${open + 200}`]);
  pool.handOff(
    Array.from({ length: 253 }, () => fs.openSync('/dev/null', 'r')),
    { worker: 0 },
  );
  // The worker accounts for the hand-off; with the defect outstanding never returns to 0.
  await waitFor(() => pool.workers[0]!.outstanding === 0);
  const outstanding = pool.workers[0]!.outstanding;
  const close = await closeOrDestroy(pool);
  t.deepEqual({ outstanding, close }, { outstanding: 0, close: 'drained' });
});

// --- 11. workerExecArgv() (options.ts): the default execArgv is process.execArgv verbatim;
// fork() drops -e/--eval/-p from it. A primary run with `node -e` makes every
// worker run the primary's code instead of the worker script (a fork bomb if
// that code creates a pool).
test('a primary started with node -e spawns workers that run the worker script', async (t) => {
  const code = `
if (process.env.UNIX_MESSAGE_SOCKET_POOL_FD) { console.log('WORKER RAN THE -e CODE'); process.exit(0); }
const { createPool } = require(${JSON.stringify(DIST_POOL)});
const pool = createPool({ script: ${JSON.stringify(WORKER)}, size: 1 });
pool.on('error', () => {});
setTimeout(() => pool.destroy(), 3000).unref();
pool.ready().then(() => { console.log('ready'); return pool.close(); }, () => { console.log('not ready'); pool.destroy(); });
`;
  // execArgv ['-e', code]: the primary itself is the `node -e` process, so the deadline kills it.
  const { out } = await runChild('', 8000, ['-e', code]);
  const ran = out.split('WORKER RAN THE -e CODE').length - 1;
  t.deepEqual(
    { ran, ready: /^ready$/m.test(out) },
    { ran: 0, ready: true },
    `${ran} workers ran the primary's -e code instead of the script (and were respawned)`,
  );
});

// --- 12. Argument validation gaps.
test('argument errors are typed (ERR_*), not TypeErrors from inside the pool', async (t) => {
  const codeOf = (f: () => unknown): string => {
    try {
      const r = f();
      if (r instanceof Promise) r.catch(() => undefined);
      if (r instanceof EventEmitter) (r as WorkerPool).destroy();
      return 'no throw';
    } catch (err) {
      return String((err as NodeJS.ErrnoException).code);
    }
  };
  const pool = createPool({ script: WORKER, size: 1, execArgv: [] });
  try {
    await pool.ready();
    const serveNull = await pool.serve(null as unknown as net.Server).then(
      () => 'no throw',
      (err: NodeJS.ErrnoException) => String(err.code),
    );
    t.deepEqual(
      {
        serveNull,
        requestNullOptions: codeOf(() => pool.request('x', null as unknown as object)),
        requestTimeout3e9: codeOf(() => pool.request(op('hold'), { timeout: 3e9 })),
        closeTimeout3e9: codeOf(() => createPool({ script: WORKER, size: 1, execArgv: [], closeTimeout: 3e9 })),
      },
      {
        serveNull: 'ERR_INVALID_ARG_TYPE',
        requestNullOptions: 'ERR_INVALID_ARG_TYPE',
        requestTimeout3e9: 'ERR_OUT_OF_RANGE',
        closeTimeout3e9: 'ERR_OUT_OF_RANGE',
      },
    );
  } finally {
    pool.destroy();
  }
});

// A non-function send() callback is accepted, then called from the write
// callback: "TypeError: job.callback is not a function" crashes the primary.
test('send() with a non-function callback throws ERR_INVALID_ARG_TYPE instead of crashing later', async (t) => {
  const file = script(
    'bad-callback.js',
    `
const { createPool } = require(POOL);
(async () => {
  const pool = createPool({ script: WORKER, size: 1, execArgv: [] });
  await pool.ready();
  try { pool.send('x', {}, 123); console.log('accepted'); } catch (err) { console.log('threw', err.code); }
  setTimeout(() => { console.log('still alive'); pool.destroy(); }, 300);
})();
`,
  );
  const { out } = await runChild(file, 8000);
  t.regex(out, /threw ERR_INVALID_ARG_TYPE/);
  t.regex(out, /still alive/);
});

// A channel that fails with an error other than a disconnect (EPIPE,
// ECONNRESET) used to fail the jobs it had not sent with that error, and then
// its 'error' listener emitted the same error as the pool's 'error': told to
// the callers first, it crashed a primary without an 'error' listener after
// them. The jobs never reached the worker, so they are re-routed as for a
// disconnect, and the channel's failure is reported once. The failure is
// injected by destroying the channel, since no errno a socketpair returns in
// a test is both fatal and not a disconnect.
test("a channel that fails with an error other than a disconnect re-routes the jobs it had not sent and reports the failure once, as the pool's 'error'", async (t) => {
  const pool = createPool({ script: WORKER, size: 1, execArgv: [] });
  const errors: string[] = [];
  pool.on('error', (err: NodeJS.ErrnoException) => errors.push(String(err.code)));
  try {
    await pool.ready();
    const sent = new Promise<string>((resolve) => pool.send('m', {}, (err) => resolve(err === null ? 'sent' : String((err as NodeJS.ErrnoException).code))));
    const replied = pool.request(op('echo'), { timeout: 5000 }).then(
      (m) => m.data.toString(),
      (err: NodeJS.ErrnoException) => String(err.code),
    );
    pool.workers[0]!.channel.destroy(Object.assign(new Error('injected channel failure'), { code: 'E_INJECTED' }));
    t.deepEqual({ sent: await sent, replied: await replied }, { sent: 'sent', replied: op('echo') }, 'both jobs reached the respawned worker');
    t.deepEqual(errors, ['E_INJECTED'], "the channel's failure, once");
  } finally {
    pool.destroy();
  }
});

// A worker is another process: a buggy or compromised one may send frames
// that break the protocol. Ready and Done frames carry no fds; the primary
// left any sent along with them open, so a worker could fill its fd table
// (2,000 fds from 20 frames before this was fixed).
test('fds a worker sends along with Ready, Done, unknown, short or stray Reply frames are closed in the primary', async (t) => {
  const hostile = script(
    'hostile-frames.js',
    `
const { connectToPrimary } = require(POOL);
const channel = connectToPrimary();
const fds = new Array(100).fill(0);
const frame = (kind, value) => {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(kind, 0);
  b.writeUInt32LE(value >>> 0, 4);
  return b;
};
// 7 Ready (again), 6 Done, 99 unknown, 3 Reply to no request, and a frame too short for a header.
for (const data of [frame(7, 0), frame(6, 0), frame(99, 0), frame(3, 12345), Buffer.alloc(3)]) {
  for (let i = 0; i < 5; i++) channel.socket.write({ data, fds });
}
channel.socket.write({ data: frame(1, 0) }, () => channel.send('sent'));
`,
  );
  const before = fs.readdirSync('/proc/self/fd').length;
  const pool = createPool({ script: hostile, size: 1, execArgv: [], stdio: 'ignore', respawn: false });
  const got = new Promise<string>((resolve) =>
    pool.on('message', (m: UnixMessage) => {
      if (m.data.toString() === 'sent') resolve('sent');
    }),
  );
  t.is(await within(got, 10_000), 'sent');
  t.is(fs.readdirSync('/proc/self/fd').length, before + 1, 'only the channel is open in the primary');
  pool.destroy();
  await once(pool, 'close');
});

// --- Supervisor #spawnFailed (supervisor.ts): a start that failed at once
// (socketpair or dup at EMFILE) emitted 'error' from inside createPool(),
// before anyone could listen: createPool() threw, the other slots were never
// started, and a slot whose spawn had begun reported its own failure later as
// an uncaught 'error'. The child runs under `ulimit -n 64` and leaves 0 to 5
// fds free when it creates each pool; an 'error' listener is added right
// after createPool() returns, then the fds are freed.
test("createPool() at EMFILE does not throw: the failed starts are the pool's 'error' events, retried, and the pool comes up once fds are free", async (t) => {
  const file = script(
    'emfile-start.js',
    `
const fs = require('node:fs');
const { createPool } = require(POOL);
const report = [];
process.on('uncaughtException', (err) => { report.push('uncaught ' + (err.code || err.message)); });
(async () => {
  for (let free = 0; free <= 5; free++) {
    const fill = [];
    try { for (;;) fill.push(fs.openSync('/dev/null', 'r')); } catch {}
    for (let i = 0; i < free; i++) fs.closeSync(fill.pop());
    let pool;
    try {
      pool = createPool({ script: WORKER, size: 2, execArgv: [], stdio: 'ignore', closeTimeout: 2000 });
    } catch (err) {
      for (const fd of fill) fs.closeSync(fd);
      report.push(free + ': createPool threw ' + (err.code || err.message));
      continue;
    }
    const codes = new Set();
    pool.on('error', (err) => codes.add(err.code));
    for (const fd of fill) fs.closeSync(fd);
    const ready = await pool.ready().then(() => 'ready', (err) => 'not ready ' + err.code);
    await pool.close();
    report.push(free + ': ' + ready + ' ' + [...codes].filter((c) => c !== 'EMFILE').join(','));
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  console.log(JSON.stringify(report));
})();
`,
  );
  const child = spawn('sh', ['-c', 'ulimit -n 64 && exec "$0" "$1"', process.execPath, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  t.is(code, 0, out);
  const report = JSON.parse(out.trim().split('\n').pop()!) as string[];
  t.deepEqual(report, ['0: ready ', '1: ready ', '2: ready ', '3: ready ', '4: ready ', '5: ready '], out);
});

// --- Dispatcher #written (dispatcher.ts): a request that timed out while its
// frame waited in a full channel was released from its worker's count by the
// timeout (Requests.settle), and again when the frame then failed on its own
// (EMSGSIZE): the live worker's outstanding went to -1, which least-outstanding
// dispatch and close()'s drain then read as a worker with a job fewer.
test('a request that times out while queued and then fails its write (EMSGSIZE) is taken off its worker once: outstanding ends at 0, not -1', async (t) => {
  const pool = createPool({ script: WORKER, size: 1, execArgv: [], closeTimeout: NEVER });
  pool.on('error', () => undefined);
  await pool.ready();
  const w = pool.workers[0]!;
  // The worker stops reading; the requests after it wait in the channel.
  const block = pool.request(op('block', { ms: 300 }));
  await waitFor(() => w.outstanding === 1);
  const fillers: Array<Promise<UnixMessage>> = [];
  for (let i = 0; i < 2000; i++) fillers.push(pool.request(op('echo', { pad: 'x'.repeat(1000) })));
  // Larger than any SEQPACKET frame the kernel takes: EMSGSIZE once its turn comes.
  const big = pool.request({ data: Buffer.alloc(8 * 1024 * 1024) }, { timeout: 20 });
  await t.throwsAsync(big, { code: 'ERR_POOL_REQUEST_TIMEOUT' });
  await block;
  for (const m of await Promise.all(fillers)) t.deepEqual(m.fds, []);
  await waitFor(() => w.outstanding <= 0);
  await delay(100); // negative check: no write callback is still to come
  t.is(w.outstanding, 0);
  t.is(await closeOrDestroy(pool), 'drained');
});
