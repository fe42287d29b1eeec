'use strict';
// npm run demo: a pre-fork HTTP server. The primary accepts TCP connections
// natively and hands their fds to a pool of two worker processes, up to 253
// per sendmsg(2); the workers serve HTTP on them. Then a file fd goes to a
// worker, which hashes the file through it. Nothing may leak: the primary's
// fd count is the same before and after.
//
//   node examples/demo.js [--requests=4000] [--concurrency=64]
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { createPool } = require('unix-message-socket/pool');

function intArg(name, fallback) {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const value = arg ? Number(arg.slice(name.length + 3)) : fallback;
  if (!Number.isInteger(value) || value < 1) {
    console.error(`usage: node examples/demo.js [--requests=N] [--concurrency=N] (positive integers; got --${name}=${value})`);
    process.exit(2);
  }
  return value;
}

const REQUESTS = intArg('requests', 4000);
const CONCURRENCY = intArg('concurrency', 64);
const fdCount = () => fs.readdirSync('/proc/self/fd').length - 1; // minus readdir's own

// The count once it holds still for 20 ms: an fd that something in the process
// has open for a moment (a CI run once saw 21 before and 20 after) is not a
// leak, and a leaked one stays open.
async function settledFdCount() {
  let last = fdCount();
  for (let i = 0; i < 50; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = fdCount();
    if (now === last) return now;
    last = now;
  }
  return last;
}

// Keep-alive off: every request is a new connection, so a new hand-off.
function get(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(JSON.parse(body)));
    });
    req.on('error', reject);
  });
}

async function load(port) {
  const perWorker = new Map();
  let next = 0;
  async function client() {
    while (next < REQUESTS) {
      next++;
      const { worker } = await get(port);
      perWorker.set(worker, (perWorker.get(worker) ?? 0) + 1);
    }
  }
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, REQUESTS) }, client));
  return perWorker;
}

async function main() {
  // libuv opens a reserve fd at the first TCP handle of a process; open it
  // now so that it does not count as a leak.
  await new Promise((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => s.close(resolve));
  });
  const fdsBefore = await settledFdCount();
  const pool = createPool({ script: path.join(__dirname, 'pool', 'worker.js'), size: 2, execArgv: [] });
  pool.on('error', (err) => console.error('pool error:', err.message));
  await pool.ready();
  console.log(`unix-message-socket demo: a pool of ${pool.size} workers (pids ${pool.workers.map((w) => w.pid).join(', ')})`);

  const { host, port } = await pool.serve({ host: '127.0.0.1', port: 0 });
  console.log(`HTTP on http://${host}:${port}: ${REQUESTS} requests, keep-alive off, ${CONCURRENCY} at a time`);
  const started = process.hrtime.bigint();
  const perWorker = await load(port);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const answered = [...perWorker.values()].reduce((a, b) => a + b, 0);

  // A file fd: the worker reads the file through it and sends back its hash.
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ums-demo-')), 'payload.bin');
  const content = crypto.randomBytes(1 << 20);
  fs.writeFileSync(file, content);
  const fd = fs.openSync(file, 'r');
  const reply = await pool.request({ data: JSON.stringify({ op: 'hash' }), fds: [fd] });
  fs.closeSync(fd);
  fs.rmSync(path.dirname(file), { recursive: true });
  const { hash } = JSON.parse(reply.data.toString());
  const expected = crypto.createHash('sha256').update(content).digest('hex');

  await pool.close();
  const fdsAfter = await settledFdCount();

  console.log('');
  for (const [worker, n] of [...perWorker].sort((a, b) => a[0] - b[0])) {
    console.log(`  worker ${worker}: ${n} requests`);
  }
  console.log(`  ${answered}/${REQUESTS} responses in ${seconds.toFixed(2)} s: ${Math.round(answered / seconds)} connections handed off per second`);
  console.log(`  file fd -> worker: sha256 ${hash.slice(0, 16)}... ${hash === expected ? 'matches' : 'DIFFERS'}`);
  console.log(`  primary fd count: ${fdsBefore} before, ${fdsAfter} after`);
  const ok = answered === REQUESTS && perWorker.size === 2 && hash === expected && fdsAfter === fdsBefore;
  console.log(ok ? '\nOK: every request answered, both workers served, no fd leaked' : '\nFAILED');
  process.exitCode = ok ? 0 : 1;
}

const timer = setTimeout(() => {
  console.error('demo timed out after 60 s');
  process.exit(1);
}, 60_000);
timer.unref();
main().catch((err) => {
  console.error(`demo failed: ${err.stack ?? err}`);
  process.exit(1);
});
