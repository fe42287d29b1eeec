// The addon in worker_threads: load, use and tear down, repeatedly, with
// terminate() at awkward moments and with normal exits. The fd table is shared
// by every thread, so the fd-count oracle in the main thread sees any fd a
// worker's teardown forgot.
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { createSocket, socketPair } from '../src/index';
import { delay, fdCount, leakFree, settled, take, tmpPath } from './helpers';

const DIST = path.join(__dirname, '..', 'dist', 'index.js');

test.before((t) => {
  // Workers cannot load the TypeScript sources; they require the compiled
  // package (npm test builds it first: "pretest": "npm run build:ts ...").
  if (!fs.existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build:ts\` before this test`);
  const srcDir = path.join(__dirname, '..', 'src');
  const newestSrc = Math.max(
    ...fs
      .readdirSync(srcDir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => fs.statSync(path.join(srcDir, f)).mtimeMs),
  );
  if (fs.statSync(DIST).mtimeMs < newestSrc) t.log('warning: dist/ is older than src/; run `npm run build:ts`');
});

// The loader (tsx) reads its cache directory asynchronously at startup; wait
// until the fd table is quiet so that no transient fd of its own is counted in
// a test's baseline.
test.before(async () => {
  let last = -1;
  for (let stable = 0, i = 0; stable < 5 && i < 200; i++) {
    await delay(20);
    const n = fdCount();
    stable = n === last ? stable + 1 : 0;
    last = n;
  }
});

const RUNS = 20;

interface WorkerReport {
  kind: string;
  [key: string]: unknown;
}

/** Starts a worker and resolves its first message; rejects on a worker error or an early exit. */
function start(code: string, workerData: Record<string, unknown>): { worker: Worker; first: Promise<WorkerReport>; exit: Promise<number> } {
  const worker = new Worker(code, { eval: true, workerData: { lib: DIST, ...workerData } });
  const exit = new Promise<number>((resolve) => worker.once('exit', resolve));
  const first = new Promise<WorkerReport>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    void exit.then((c) => reject(new Error(`worker exited with ${c} before reporting`)));
  });
  return { worker, first, exit };
}

const createdFiles: string[] = [];
test.after.always(() => {
  for (const p of createdFiles) fs.rmSync(p, { force: true });
});

/** A file the workers pass around; removed after the last test. */
function withFile(content: string): string {
  const p = tmpPath('worker-file');
  fs.writeFileSync(p, content);
  createdFiles.push(p);
  return p;
}

const PRELUDE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const lib = require(workerData.lib);
const contentOf = (fd) => {
  const size = fs.fstatSync(fd).size;
  const buf = Buffer.alloc(size);
  fs.readSync(fd, buf, 0, size, 0);
  return buf.toString();
};
// Reports from outside any callback of the addon: the parent terminates the
// worker as soon as it hears from it (see the 'inside a callback' tests).
let reported = false;
const report = (message) => {
  if (reported) return;
  reported = true;
  setImmediate(() => parentPort.postMessage(message));
};
`;

// A socketPair round trip carrying an fd; then stays alive (b keeps polling)
// until terminated.
const ROUND_TRIP = `${PRELUDE}
const [a, b] = lib.socketPair('seqpacket');
const fd = fs.openSync(workerData.file, 'r');
a.write({ data: 'hello from worker ' + workerData.i, fds: [fd] });
fs.closeSync(fd);
b.on('data', (m) => {
  const content = contentOf(m.fds[0]);
  for (const f of m.fds) lib.lowlevel.close(f); // not fs.closeSync: a worker warns about fds fs did not open
  report({ kind: 'roundtrip', data: m.data.toString(), nfds: m.fds.length, content });
});
`;

test(
  `the addon loads, passes an fd over a socketPair and is torn down by terminate() in ${RUNS} workers in sequence`,
  leakFree(async (t) => {
    const file = withFile('shared with workers');
    try {
      for (let i = 0; i < RUNS; i++) {
        const { worker, first } = start(ROUND_TRIP, { file, i });
        const report = await first;
        t.deepEqual(report, { kind: 'roundtrip', data: `hello from worker ${i}`, nfds: 1, content: 'shared with workers' });
        t.is(await worker.terminate(), 1, 'terminated, not exited on its own');
      }
    } finally {
      fs.rmSync(file, { force: true });
    }
  }),
);

// Reads pending on a socketPair and on a server connection, then terminated.
const POLLING = `${PRELUDE}
const [a, b] = lib.socketPair('stream');
a.on('data', () => {});
b.on('data', () => {});
const server = lib.createServer({ type: 'seqpacket' }, (conn) => {
  conn.on('data', () => {});
  report({ kind: 'polling', listening: server.listening, connections: server.connections });
});
server.listen(workerData.name, () => {
  const client = lib.connect({ path: workerData.name, type: 'seqpacket' });
  client.on('data', () => {});
});
`;

test(
  `terminate() while sockets and a server are polling leaves no fd behind (${RUNS} workers)`,
  leakFree(async (t) => {
    for (let i = 0; i < RUNS; i++) {
      const { worker, first } = start(POLLING, { name: `\0ums-worker-${process.pid}-${Date.now()}-${i}` });
      t.deepEqual(await first, { kind: 'polling', listening: true, connections: 1 });
      t.is(await worker.terminate(), 1);
    }
  }),
);

// fd-carrying writes queued in JS behind a full peer (backpressure): each
// queued message holds dups of its fds until it is sent.
const QUEUED_FDS = `${PRELUDE}
const [a, b] = lib.socketPair('seqpacket');
// b never reads: fill the kernel queue until writes stay queued.
const big = Buffer.alloc(32 * 1024);
for (let i = 0; i < 10000 && a.writableLength === 0; i++) a.write(big);
const fd = fs.openSync(workerData.file, 'r');
for (let i = 0; i < 5; i++) a.write({ data: 'queued', fds: [fd] });
fs.closeSync(fd);
report({ kind: 'queued', writableLength: a.writableLength });
`;

// fd-carrying messages received into the readable buffer, never read().
const UNREAD_FDS = `${PRELUDE}
const [c, d] = lib.socketPair('seqpacket');
const fd = fs.openSync(workerData.file, 'r');
for (let i = 0; i < 8; i++) c.write({ data: 'unread', fds: [fd] });
fs.closeSync(fd);
d.on('readable', () => {
  if (d.readableLength >= 8) report({ kind: 'unread', readableLength: d.readableLength });
});
`;

test(
  'terminate() with fd-carrying writes still queued in JS leaves no fd behind',
  leakFree(async (t) => {
    const file = withFile('queued');
    try {
      for (let i = 0; i < 10; i++) {
        const { worker, first } = start(QUEUED_FDS, { file });
        const report = await first;
        t.is(report.kind, 'queued');
        t.true((report.writableLength as number) >= 6, 'the fd-carrying writes are queued behind a pending one');
        t.is(await worker.terminate(), 1);
      }
    } finally {
      fs.rmSync(file, { force: true });
    }
  }),
);

test(
  'terminate() with received fds unread in the readable buffer leaves no fd behind',
  leakFree(async (t) => {
    const file = withFile('unread');
    try {
      for (let i = 0; i < 10; i++) {
        const { worker, first } = start(UNREAD_FDS, { file });
        t.deepEqual(await first, { kind: 'unread', readableLength: 8 });
        t.is(await worker.terminate(), 1);
      }
    } finally {
      fs.rmSync(file, { force: true });
    }
  }),
);

// terminate() while the worker runs JS inside one of the addon's callbacks.
// Run in a child process: if the process aborts, the test fails instead of
// taking the test runner down with it.
const IN_CALLBACK_DRIVER = `
const { Worker } = require('node:worker_threads');
const [lib, where] = process.argv.slice(1);
const code = \`
const { parentPort, workerData } = require('node:worker_threads');
const lib = require(workerData.lib);
const busy = () => { parentPort.postMessage('inside'); const end = Date.now() + 200; while (Date.now() < end); };
if (workerData.where === 'data') {
  const [a, b] = lib.socketPair('seqpacket');
  b.on('data', busy);
  a.write('hello');
} else {
  const name = '\\\\0ums-in-callback-' + process.pid;
  const server = lib.createServer(busy);
  server.listen(name, () => lib.connect({ path: name }));
}
\`;
const w = new Worker(code, { eval: true, workerData: { lib, where } });
w.once('message', () => w.terminate().then((c) => console.log('terminated ' + c)));
`;

const inCallback = test.macro({
  async exec(t, where: 'data' | 'connection') {
    const child = spawn(process.execPath, ['-e', IN_CALLBACK_DRIVER, DIST, where], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    t.is(signal, null, `the process was not killed by a signal: ${err.split('\n')[0] ?? ''}`);
    t.is(code, 0, err);
    t.is(out.trim(), 'terminated 1');
  },
  title: (_provided, where: 'data' | 'connection') => `terminate() while the worker runs a '${where}' handler called from the addon does not abort the process`,
});

test(inCallback, 'data');
test(inCallback, 'connection');

// Exits on its own: the sockets are open but unref()ed (open connections keep
// a thread alive, as net.Socket does), and a message with an fd sits unread
// in b's buffer, so only the library holds that fd.
const IDLE_EXIT = `${PRELUDE}
const [a, b] = lib.socketPair('seqpacket');
a.unref();
b.unref();
const fd = fs.openSync(workerData.file, 'r');
a.write({ data: 'never read', fds: [fd] }, () => parentPort.postMessage({ kind: 'written', open: !a.destroyed && !b.destroyed }));
fs.closeSync(fd);
const s = lib.createSocket({ type: 'dgram', bind: '' }).unref();
`;

// Exits on its own: everything polls but is unref()ed.
const UNREF_EXIT = `${PRELUDE}
const [a, b] = lib.socketPair('dgram');
a.on('data', () => {});
b.on('data', () => {});
a.unref();
b.unref();
const server = lib.createServer().unref();
server.listen(workerData.name, () => parentPort.postMessage({ kind: 'unrefed', listening: server.listening }));
`;

// Exits with process.exit() while sockets poll and a server listens.
const PROCESS_EXIT = `${PRELUDE}
const [a, b] = lib.socketPair('stream');
a.on('data', () => {});
b.on('data', () => {});
const server = lib.createServer();
server.listen(workerData.name, () => {
  parentPort.postMessage({ kind: 'exiting' });
  process.exit(0);
});
`;

const normalExit = test.macro({
  exec: leakFree(async (t, _check, code: string, expected: WorkerReport) => {
    const file = withFile('normal exit');
    try {
      for (let i = 0; i < RUNS; i++) {
        const worker = new Worker(code, {
          eval: true,
          workerData: { lib: DIST, file, name: `\0ums-worker-exit-${process.pid}-${Date.now()}-${i}` },
        });
        const messages: WorkerReport[] = [];
        worker.on('message', (m: WorkerReport) => messages.push(m));
        const errors: Error[] = [];
        worker.on('error', (e: Error) => errors.push(e));
        const exitCode = await new Promise<number>((resolve, reject) => {
          const timer = setTimeout(() => {
            void worker.terminate();
            reject(new Error('the worker did not exit on its own within 10 s'));
          }, 10000);
          worker.once('exit', (c: number) => {
            clearTimeout(timer);
            resolve(c);
          });
        });
        t.deepEqual(errors, []);
        t.is(exitCode, 0, 'the worker exited normally');
        t.deepEqual(messages, [expected]);
      }
    } finally {
      fs.rmSync(file, { force: true });
    }
  }),
  title: (provided = '') => `a worker that exits normally ${provided} leaves no fd behind (${RUNS} workers)`,
});

test('with open, unref()ed sockets and an unread fd in a buffer', normalExit, IDLE_EXIT, { kind: 'written', open: true });
test('with unref()ed polling sockets and server', normalExit, UNREF_EXIT, { kind: 'unrefed', listening: true });
test('through process.exit() while sockets poll and a server listens', normalExit, PROCESS_EXIT, { kind: 'exiting' });

test(
  'several workers and the main thread use the addon at the same time',
  leakFree(async (t) => {
    const file = withFile('concurrent');
    try {
      const workers = Array.from({ length: 4 }, (_v, i) => start(ROUND_TRIP, { file, i }));
      // The main thread's own instance keeps working meanwhile.
      const [a, b] = socketPair('seqpacket');
      a.write('main thread');
      const [m] = await take(b, 1);
      t.is(m?.data.toString(), 'main thread');
      const reports = await Promise.all(workers.map((w) => w.first));
      t.deepEqual(
        reports.map((r) => r.data),
        workers.map((_w, i) => `hello from worker ${i}`),
      );
      t.deepEqual(await Promise.all(workers.map((w) => w.worker.terminate())), [1, 1, 1, 1]);
      // Still working after the workers' teardown.
      b.write('after teardown');
      const [r] = await take(a, 1);
      t.is(r?.data.toString(), 'after teardown');
      const ca = settled(a);
      const cb = settled(b);
      a.destroy();
      b.destroy();
      await Promise.all([ca, cb]);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }),
);

// A server listening on a path when its worker is terminated: its file goes
// with it, as net.Server's does (libuv unlinks a pipe's path on close), but
// only while the path still names the file the socket is bound to.
const LISTEN_ON_PATH = `${PRELUDE}
const server = lib.createServer({ type: 'seqpacket' });
server.listen(workerData.path, () => report({ kind: 'listening' }));
`;

test(
  'a server on a path in a terminated worker takes its socket file with it, and leaves alone a file that replaced it',
  leakFree(async (t) => {
    const ours = tmpPath('worker-server');
    const first = start(LISTEN_ON_PATH, { path: ours });
    t.deepEqual(await first.first, { kind: 'listening' });
    t.true(fs.lstatSync(ours).isSocket());
    await first.worker.terminate();
    t.false(fs.existsSync(ours), 'the socket file was removed with the worker');

    // Someone moves our file away and puts another socket file at the path.
    const replaced = tmpPath('worker-server');
    const second = start(LISTEN_ON_PATH, { path: replaced });
    t.deepEqual(await second.first, { kind: 'listening' });
    const moved = `${replaced}.moved`;
    fs.renameSync(replaced, moved);
    const theirs = createSocket({ type: 'dgram', bind: replaced });
    const theirIno = fs.lstatSync(replaced).ino;
    await second.worker.terminate();
    t.is(fs.lstatSync(replaced).ino, theirIno, 'the file that replaced ours is still there');
    theirs.destroy();
    await settled(theirs);
    fs.rmSync(replaced, { force: true });
    fs.rmSync(moved, { force: true });
  }),
);
