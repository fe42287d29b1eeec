#!/usr/bin/env node
'use strict';
// bench/handoff: connections handed to worker processes per
// second, and HTTP requests per second through them, for the pool against
// Node's cluster (round-robin), side by side in one run.
//
//   node bench/handoff/run.js [--quick] [--warmup=10] [--rounds=11] [--connections=2000] [--http-ms=3000] [--out=DIR]
//
// Hand-off rate: the primary is stopped (SIGSTOP), N clients connect (the
// kernel completes the handshakes into the accept queue), the primary is
// continued and the clock runs until the workers have seen all N. Workers
// report "count, hrtime" once per loop turn; hrtime is CLOCK_MONOTONIC, so
// the driver's and the workers' clocks agree.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const arg = (name, fallback) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : fallback;
};
const QUICK = process.argv.includes('--quick');
// The hand-off runs a few large batches per round, so the JIT needs several
// rounds before the code stops changing (rates climb over the first ~10
// rounds, measured); every implementation gets the same warm-up.
const WARMUP = arg('warmup', QUICK ? 1 : 10);
const ROUNDS = arg('rounds', QUICK ? 2 : 11);
const CONNECTIONS = arg('connections', QUICK ? 500 : 2000);
const HTTP_MS = arg('http-ms', QUICK ? 500 : 3000);
// Results go to bench/results, except for --quick runs, which write only with --out=DIR.
const outArg = process.argv.find((x) => x.startsWith('--out='))?.slice(6);
const OUT = outArg ?? (QUICK ? null : path.join(__dirname, '..', 'results'));
const { BUILD, compileC } = require('../c/compile');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Starts `node <impl>.js <mode> <port>` (or the C reference, bench/c/handoff.c)
// and follows its workers' reports.
async function start(impl, mode) {
  const port = await freePort();
  const [cmd, args] =
    impl === 'c' ? [path.join(BUILD, 'handoff'), [String(port)]] : [process.execPath, [path.join(__dirname, `${impl}.js`), mode, String(port)]];
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const counts = new Map(); // worker pid -> { count, at }
  let onLine = () => undefined;
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const [tag, pid, count, at] = line.split(' ');
    if (tag === 'H') counts.set(pid, { count: Number(count), at: BigInt(at) });
    onLine(line);
  });
  await new Promise((resolve, reject) => {
    onLine = (line) => line.startsWith('READY') && resolve();
    child.once('exit', (code) => reject(new Error(`${impl} exited with ${code} before it was ready`)));
  });
  const total = () => [...counts.values()].reduce((a, c) => a + c.count, 0);
  return {
    port,
    child,
    counts,
    total,
    waitFor(target) {
      return new Promise((resolve) => {
        if (total() >= target) return resolve();
        onLine = () => total() >= target && resolve();
      });
    },
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await new Promise((r) => child.once('exit', r));
      clearTimeout(timer);
    },
  };
}

async function connectAll(port, n) {
  const sockets = [];
  await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise((resolve, reject) => {
          const s = net.connect({ host: '127.0.0.1', port }, resolve);
          s.on('error', reject);
          sockets.push(s);
        }),
    ),
  );
  return sockets;
}

async function handoffRate(impl, mode) {
  const app = await start(impl, mode);
  const rates = [];
  try {
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      const before = app.total();
      app.child.kill('SIGSTOP');
      const sockets = await connectAll(app.port, CONNECTIONS);
      const startedAt = process.hrtime.bigint();
      app.child.kill('SIGCONT');
      await app.waitFor(before + CONNECTIONS);
      const endedAt = [...app.counts.values()].reduce((m, c) => (c.at > m ? c.at : m), 0n);
      if (round >= WARMUP) rates.push(CONNECTIONS / (Number(endedAt - startedAt) / 1e9));
      for (const s of sockets) s.destroy();
      await sleep(50);
    }
  } finally {
    await app.stop();
  }
  return median(rates);
}

async function httpRate(impl) {
  const app = await start(impl, 'http');
  try {
    const loaders = Array.from(
      { length: 2 },
      () =>
        new Promise((resolve) => {
          const c = spawn(process.execPath, [path.join(__dirname, 'load.js'), String(app.port), String(HTTP_MS), '32'], {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let out = '';
          c.stdout.on('data', (d) => (out += d));
          c.on('exit', () => resolve(JSON.parse(out)));
        }),
    );
    const results = await Promise.all(loaders);
    const done = results.reduce((a, r) => a + r.done, 0);
    const failed = results.reduce((a, r) => a + r.failed, 0);
    return { rps: done / (HTTP_MS / 1000), failed };
  } finally {
    await app.stop();
  }
}

async function main() {
  const fmt = (n) => Math.round(n).toLocaleString('en-US');
  const rows = [];
  compileC(['handoff']);
  const handoff = {
    c: await handoffRate('c', 'fds'),
    fds: await handoffRate('pool', 'fds'),
    socket: await handoffRate('pool', 'socket'),
    cluster: await handoffRate('cluster', 'socket'),
  };
  const httpResult = {};
  for (const impl of ['pool', 'cluster']) httpResult[impl] = await httpRate(impl);
  const vsC = (n) => `${((100 * n) / handoff.c).toFixed(0)} %`;
  rows.push([
    'connections handed to 2 workers /s (fd in the worker)',
    fmt(handoff.fds),
    fmt(handoff.cluster),
    `${(handoff.fds / handoff.cluster).toFixed(1)}×`,
    '≥ 20×',
    fmt(handoff.c),
    `${(handoff.c / handoff.cluster).toFixed(1)}×`,
    vsC(handoff.fds),
  ]);
  rows.push([
    '… and made into a net.Socket by the worker',
    fmt(handoff.socket),
    fmt(handoff.cluster),
    `${(handoff.socket / handoff.cluster).toFixed(1)}×`,
    '',
    '',
    '',
    '',
  ]);
  rows.push([
    'HTTP requests /s (keep-alive off, 2 clients × 32)',
    fmt(httpResult.pool.rps),
    fmt(httpResult.cluster.rps),
    `${(httpResult.pool.rps / httpResult.cluster.rps).toFixed(2)}×`,
    '',
    '',
    '',
    '',
  ]);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const header = `Node ${process.version}, ${os.cpus().length} × ${cpu}, Linux ${os.release()}; ${CONNECTIONS} connections × ${ROUNDS} rounds (median) after ${WARMUP} warm-up rounds, HTTP ${HTTP_MS} ms`;
  const table = [
    '| workload | unix-message-socket/pool | cluster (round-robin) | ratio | goal | C reference | C / cluster | pool / C |',
    '|---|---:|---:|---:|---|---:|---:|---:|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
  console.log(`\nbench/handoff: ${header}\n\n${table}\n`);
  if (httpResult.pool.failed + httpResult.cluster.failed > 0) {
    console.log(`failed HTTP requests: pool ${httpResult.pool.failed}, cluster ${httpResult.cluster.failed}`);
  }
  if (OUT !== null) {
    fs.mkdirSync(OUT, { recursive: true });
    fs.writeFileSync(path.join(OUT, 'handoff.md'), `# bench/handoff\n\n${header}\n\n${table}\n`);
    fs.writeFileSync(path.join(OUT, 'handoff.json'), `${JSON.stringify({ header, handoff, http: httpResult }, null, 2)}\n`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
