#!/usr/bin/env node
'use strict';
// The benchmark suite: unix-message-socket against the raw C loop
// and the Node peers. See bench/README.md.
//
//   node bench/run.js [options] [filter]
//
//   --quick        short windows, one run each, a small long-run (smoke test)
//   --long         the memory run with 50 million messages (default 10 million)
//   --runs=N       runs per measurement; the median is reported (default 3)
//   --warm=MS      warm-up per run (default 250)
//   --measure=MS   measured window per run (default 750)
//   --soak=N       messages in the memory run (0 skips it)
//   --out=DIR      where latest.md, latest.json and ratios.svg go
//                  (default bench/results; with --quick bench/build/quick; with
//                  a filter or --impl bench/build/partial)
//   --impl=A,B     only these implementations (keys: c-naive, c-batched, ums,
//                  ums-recv, ums-send, net, ipc, usocket, unix-dgram, nus)
//   --no-pin       do not pin the receiver to CPU 1 and the sender to CPU 0
//                  (taskset); unpinned numbers vary by 2x run to run here
//   --no-install   do not run npm in bench/ even if bench/node_modules is missing
//   filter         a regular expression on the workload ids (e.g. 'seqpacket-64B',
//                  '^ping', 'soak'); the ids are listed by --list
//   --list         print the workload ids and exit
//   --render=FILE  write latest.md and ratios.svg again from a latest.json
//
// Environment, for profiling one side: BENCH_RECV_PREFIX / BENCH_SEND_PREFIX
// (a command prefix, e.g. 'perf record -g -o /tmp/r.data --') and
// BENCH_RECV_NODE_ARGS / BENCH_SEND_NODE_ARGS (extra node flags, e.g.
// '--perf-basic-prof' or '--cpu-prof --cpu-prof-dir=/tmp/prof').
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const BENCH = __dirname;
const ROOT = path.join(BENCH, '..');
const { BUILD, compileC } = require('./c/compile');
const PEER = path.join(BENCH, 'node', 'peer.js');

// ------------------------------------------------------------------ options

function parseArgs(argv) {
  const o = {
    quick: false,
    long: false,
    runs: null,
    warm: null,
    measure: null,
    soak: null,
    out: null,
    install: true,
    filter: null,
    list: false,
    impls: null,
    pin: true,
    render: null,
  };
  for (const a of argv) {
    const [k, v] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (k === '--quick') o.quick = true;
    else if (k === '--long') o.long = true;
    else if (k === '--runs') o.runs = Number(v);
    else if (k === '--warm') o.warm = Number(v);
    else if (k === '--measure') o.measure = Number(v);
    else if (k === '--soak') o.soak = Number(v);
    else if (k === '--out') o.out = path.resolve(v);
    else if (k === '--no-install') o.install = false;
    else if (k === '--no-pin') o.pin = false;
    else if (k === '--render') o.render = path.resolve(v);
    else if (k === '--impl') o.impls = v.split(',');
    else if (k === '--list') o.list = true;
    else if (k === '--help' || k === '-h') {
      console.log(
        fs
          .readFileSync(__filename, 'utf8')
          .split('\n')
          .slice(2, 29)
          .map((l) => l.replace(/^\/\/ ?/, ''))
          .join('\n'),
      );
      process.exit(0);
    } else if (!a.startsWith('--')) o.filter = new RegExp(a);
    else {
      console.error(`unknown option ${a} (see --help)`);
      process.exit(2);
    }
  }
  o.runs ??= o.quick ? 1 : 3;
  o.warm ??= o.quick ? 50 : 250;
  o.measure ??= o.quick ? 150 : 750;
  o.soak ??= o.quick ? 100_000 : o.long ? 50_000_000 : 10_000_000;
  // A partial run (--quick, a filter, --impl) must not replace the committed
  // full results: it goes to bench/build unless --out says otherwise.
  o.out ??= o.quick ? path.join(BUILD, 'quick') : o.filter || o.impls ? path.join(BUILD, 'partial') : path.join(BENCH, 'results');
  for (const k of ['runs', 'warm', 'measure', 'soak']) {
    if (!Number.isInteger(o[k]) || o[k] < 0 || (k !== 'soak' && o[k] < 1)) {
      console.error(`--${k} must be a positive integer`);
      process.exit(2);
    }
  }
  return o;
}

// ------------------------------------------------------------------ setup

function ensureLibrary() {
  const dist = path.join(ROOT, 'dist', 'index.js');
  if (!fs.existsSync(dist)) {
    console.error('bench: dist/ is missing; building the library (npm run build:ts) ...');
    const r = spawnSync('npm', ['run', 'build:ts'], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('npm run build:ts failed; run `npm install` at the repository root first');
  }
  try {
    return require(path.join(ROOT, 'dist'));
  } catch (err) {
    throw new Error(
      `cannot load the library from dist/ (${err.message.split('\n')[0]}); build it at the repository root with npm install (the addon) and npm run build:ts (dist/)`,
      { cause: err },
    );
  }
}

/** Installs bench/'s peers when bench/node_modules is missing. Returns which load. */
function ensurePeers(install) {
  if (!fs.existsSync(path.join(BENCH, 'node_modules')) && install) {
    // npm install, not npm ci: the lock cannot list node-unix-socket's prebuilt
    // packages for other platforms when the registry in use does not have them,
    // and npm ci then refuses to install anything.
    console.error('bench: installing the peers (npm install in bench/) ...');
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: BENCH, stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) console.error('bench: npm failed; the peers that did not install are marked "not installed"');
  }
  const peers = {};
  for (const name of ['usocket', 'unix-dgram', 'node-unix-socket']) {
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(name)})`], { cwd: BENCH, encoding: 'utf8' });
    let version = null;
    try {
      version = JSON.parse(fs.readFileSync(path.join(BENCH, 'node_modules', name, 'package.json'), 'utf8')).version;
    } catch {}
    peers[name] = { ok: r.status === 0, version, error: r.status === 0 ? null : r.stderr.trim().split('\n').slice(-1)[0] };
  }
  return peers;
}

// ------------------------------------------------------------------ implementations
//
// Each implementation says which workloads it can do (can(w) returns true, or
// a reason it cannot, shown as n/a), how it is wired (a socketpair as fd 3;
// paths in a temporary directory; or a sender that forks its own receiver, for
// child_process IPC) and the command of each side.

const C_TP = () => path.join(BUILD, 'throughput');
const C_PP = () => path.join(BUILD, 'pingpong');
const nodeCmd = (impl) => (role, p) => [process.execPath, [...(role.startsWith('soak') ? ['--expose-gc'] : []), PEER, impl, role, JSON.stringify(p)]];

const IMPLS = [
  {
    key: 'c-naive',
    label: 'C sendmsg/recvmsg',
    c: true,
    wiring: 'pair',
    can: () => true,
    cmd: (role, p) =>
      role === 'ping' || role === 'echo'
        ? [C_PP(), [role, p.type, String(p.size), String(p.warmMs), String(p.measMs)]]
        : [C_TP(), [role, p.type, String(p.size), String(p.fds), '0', String(p.warmMs), String(p.measMs)]],
  },
  {
    key: 'c-batched',
    label: 'C sendmmsg/recvmmsg ×64',
    c: true,
    wiring: 'pair',
    can: (w) => w.kind === 'throughput' || 'ping-pong has one message in flight',
    cmd: (role, p) => [C_TP(), [role, p.type, String(p.size), String(p.fds), '1', String(p.warmMs), String(p.measMs)]],
  },
  {
    key: 'ums',
    label: 'unix-message-socket',
    wiring: 'pair',
    can: () => true,
    cmd: nodeCmd('ums'),
  },
  {
    // The C loops pass the same open fd every time, without a copy; so does
    // this sender, with write({ lend: true }). Plain 'ums' duplicates each fd
    // at write() (the default, safe when the caller closes its fd at once).
    key: 'ums-lend',
    label: 'unix-message-socket, fds lent',
    wiring: 'pair',
    can: (w) => (w.kind === 'throughput' && w.fds > 0) || 'lending only matters with fds',
    cmd: (role, p) => nodeCmd('ums')(role, { ...p, lend: true }),
  },
  // Diagnostics: one side ours, the other the naive C loop, to show which side limits.
  {
    key: 'ums-recv',
    label: 'ours receiving from C naive',
    wiring: 'pair',
    diagnostic: true,
    can: (w) => (w.kind === 'throughput' && w.size === 64) || 'diagnostic: 64 B throughput only',
    cmd: (role, p) => (role === 'recv' ? nodeCmd('ums')(role, p) : IMPLS[0].cmd(role, p)),
  },
  {
    key: 'ums-send',
    label: 'C naive receiving from ours',
    wiring: 'pair',
    diagnostic: true,
    can: (w) => (w.kind === 'throughput' && w.size === 64) || 'diagnostic: 64 B throughput only',
    cmd: (role, p) => (role === 'send' ? nodeCmd('ums')(role, p) : IMPLS[0].cmd(role, p)),
  },
  {
    key: 'net',
    label: 'Node net (bytes)',
    wiring: 'pair',
    can: (w) => (w.type === 'stream' ? w.fds === 0 || 'cannot send fds' : 'stream only'),
    cmd: nodeCmd('net'),
  },
  {
    key: 'ipc',
    label: 'child_process IPC (JSON; fd = a net.Socket handle)',
    wiring: 'fork',
    can: (w) => w.type === 'stream' || 'a stream socket underneath (listed under stream)',
    cmd: nodeCmd('ipc'),
  },
  {
    key: 'usocket',
    label: 'usocket',
    peer: 'usocket',
    wiring: 'pair',
    can: (w) => w.type === 'stream' || 'stream only',
    cmd: nodeCmd('usocket'),
  },
  {
    key: 'unix-dgram',
    label: 'unix-dgram',
    peer: 'unix-dgram',
    wiring: 'path',
    can: (w) => (w.type === 'dgram' ? w.fds === 0 || 'cannot send fds' : 'dgram only'),
    cmd: nodeCmd('unix-dgram'),
  },
  {
    key: 'nus',
    label: 'node-unix-socket',
    peer: 'node-unix-socket',
    wiring: (w) => (w.type === 'dgram' ? 'path' : 'pair'),
    can: (w) => (w.type === 'stream' ? 'no stream sockets' : w.fds === 0 || 'cannot send fds'),
    cmd: nodeCmd('nus'),
  },
];

function workloads(o) {
  const list = [];
  for (const type of ['seqpacket', 'stream', 'dgram']) {
    for (const size of [64, 65536]) {
      for (const fds of [0, 1]) {
        list.push({ id: `${type}-${size === 64 ? '64B' : '64KiB'}-${fds}fd`, kind: 'throughput', type, size, fds });
      }
    }
  }
  // Framed stream sockets (framed: true), ours only: beside seqpacket, what
  // message boundaries on a stream socket cost.
  for (const size of [64, 65536]) {
    for (const fds of [0, 1]) {
      list.push({ id: `framed-${size === 64 ? '64B' : '64KiB'}-${fds}fd`, kind: 'throughput', type: 'stream', framed: true, size, fds });
    }
  }
  // Ping-pong twice: on two CPUs (each wakeup crosses CPUs, which costs tens
  // of µs in this VM) and both processes on one CPU (the software cost).
  for (const placement of ['cross', 'same']) {
    for (const type of ['seqpacket', 'stream', 'dgram']) {
      list.push({ id: `ping-${type}-64B${placement === 'same' ? '-1cpu' : ''}`, kind: 'pingpong', type, size: 64, fds: 0, placement });
    }
  }
  if (o.soak > 0) list.push({ id: 'soak-seqpacket-64B-1fd', kind: 'soak', type: 'seqpacket', size: 64, fds: 1, count: o.soak });
  return list;
}

// ------------------------------------------------------------------ running one measurement

const words = (s) => (s ? s.split(/\s+/).filter(Boolean) : []);

/** Starts one side. Lines on its stdout are JSON events, passed to onEvent. */
function startSide(side, cmd, fd, onEvent, cpu) {
  let [file, args] = cmd;
  const nodeArgs = words(process.env[`BENCH_${side}_NODE_ARGS`]);
  if (file === process.execPath && nodeArgs.length) args = [...nodeArgs, ...args];
  if (cpu !== undefined && cpu !== null) [file, args] = ['taskset', ['-c', String(cpu), file, ...args]];
  const prefix = words(process.env[`BENCH_${side}_PREFIX`]);
  if (prefix.length) [file, args] = [prefix[0], [...prefix.slice(1), file, ...args]];
  const stdio = ['ignore', 'pipe', 'pipe'];
  if (fd !== undefined) stdio.push(fd);
  const child = spawn(file, args, { stdio, cwd: BENCH });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    let ev;
    try {
      ev = JSON.parse(line);
    } catch {
      stderr += `${line}\n`;
      return;
    }
    onEvent(ev, child);
  });
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, exited, stderr: () => stderr };
}

// CPU time of a process (all its threads) in clock ticks, from /proc/PID/stat.
const TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux
function cpuTicks(pid) {
  if (!pid) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime, stime
  } catch {
    return null;
  }
}

async function runOnce(lib, impl, w, o) {
  const p = { type: w.type, framed: w.framed, size: w.size, fds: w.fds, warmMs: o.warm, measMs: o.measure, count: w.count };
  // CPUs: receiver (or echo) and sender (or pinger). 'same' puts both on one.
  const cpus = o.pin ? (w.placement === 'same' ? [0, 0] : [1, 0]) : [null, null];
  p.recvCpu = cpus[0];
  const wiring = typeof impl.wiring === 'function' ? impl.wiring(w) : impl.wiring;
  const roles = w.kind === 'pingpong' ? ['echo', 'ping'] : w.kind === 'soak' ? ['soakRecv', 'soakSend'] : ['recv', 'send'];
  const events = {};
  const sides = [];
  let dir = null;
  let pair = null;
  let timer = null;
  let senderPid = null;
  let recvPid = null;
  let cpuStart = null;
  let cpu = null;
  let resolveReady;
  const ready = new Promise((r) => {
    resolveReady = r;
  });
  const onEvent = (ev, child) => {
    events[`${ev.role}.${ev.event}`] = ev;
    if (ev.event === 'ready' && (ev.role === 'recv' || ev.role === 'echo')) {
      resolveReady();
      recvPid ??= child.pid;
    }
    if (ev.event === 'ready' && ev.role === 'send' && ev.pid) senderPid = ev.pid;
    if (ev.event === 'window' && (ev.role === 'recv' || ev.role === 'ping')) {
      if (ev.role === 'recv') recvPid = ev.pid;
      else senderPid = ev.pid;
      cpuStart = [cpuTicks(recvPid), cpuTicks(senderPid), process.hrtime.bigint(), cpuTimes(), process.cpuUsage()];
    }
    if (ev.event === 'measured' && (ev.role === 'recv' || ev.role === 'ping') && cpuStart) {
      const secs = Number(process.hrtime.bigint() - cpuStart[2]) / 1e9;
      const use = (now, before) => (now !== null && before !== null ? (now - before) / TICKS / secs : null);
      cpu = { recv: use(cpuTicks(recvPid), cpuStart[0]), send: use(cpuTicks(senderPid), cpuStart[1]) };
      // Everything else that ran meanwhile (in CPUs): the machine's busy time
      // less the two sides and this harness.
      const t = cpuTimes();
      const busy = (t.total - cpuStart[3].total - (t.idle - cpuStart[3].idle)) / TICKS / secs;
      const own = process.cpuUsage(cpuStart[4]);
      cpu.others = Math.max(0, busy - (cpu.recv ?? 0) - (cpu.send ?? 0) - (own.user + own.system) / 1e6 / secs);
    }
    if (ev.role === 'recv' && ev.event === 'measured') {
      // Only the sender gets the stop signal: in the fork wiring the sender is
      // the process we started, and the receiver its child.
      try {
        process.kill(senderPid ?? child.pid, 'SIGUSR2');
      } catch {}
    }
  };
  try {
    if (wiring === 'pair') pair = lib.lowlevel.socketpair(w.type);
    if (wiring === 'path') {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ums-bench-'));
      p.path = dir;
    }
    const limit = w.kind === 'soak' ? 1_800_000 : o.warm + o.measure + 20_000;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve('timeout'), limit);
    });
    if (wiring === 'fork') {
      // The sender forks its receiver (which writes to the same stdout).
      const s = startSide('SEND', impl.cmd(roles[1], p), undefined, onEvent, cpus[1]);
      senderPid = s.child.pid;
      sides.push(s);
    } else {
      const r = startSide('RECV', impl.cmd(roles[0], p), pair?.[0], onEvent, cpus[0]);
      sides.push(r);
      if ((await Promise.race([ready, r.exited.then(() => 'exited'), timeout])) !== undefined) {
        throw new Error(`receiver did not start: ${r.stderr().trim()}`);
      }
      const s = startSide('SEND', impl.cmd(roles[1], p), pair?.[1], onEvent, cpus[1]);
      senderPid = s.child.pid;
      sides.push(s);
    }
    if (pair) {
      lib.lowlevel.close(pair[0]);
      lib.lowlevel.close(pair[1]);
      pair = null;
    }
    // A side that dies (a crashing peer) takes the others down with it soon.
    for (const side of sides) {
      side.exited.then(({ code }) => {
        if (code === 0) return;
        setTimeout(() => {
          for (const other of sides) if (other.child.exitCode === null && other.child.signalCode === null) other.child.kill('SIGKILL');
        }, 1500).unref();
      });
    }
    const all = Promise.all(sides.map((s) => s.exited));
    const result = await Promise.race([all, timeout]);
    if (result === 'timeout') {
      for (const s of sides) s.child.kill('SIGKILL');
      throw new Error(`timed out after ${limit} ms; events: ${Object.keys(events).join(', ')}; stderr: ${sides.map((s) => s.stderr().trim()).join(' | ')}`);
    }
    const bad = result.find((x) => x.code !== 0);
    if (bad) {
      const crashed = result.findIndex((x) => x.code !== 0 && x.signal !== 'SIGKILL');
      const who = wiring === 'fork' ? 'sender' : (['receiver', 'sender'][crashed] ?? 'a side');
      const why = crashed >= 0 ? (result[crashed].signal ?? `exit ${result[crashed].code}`) : 'killed';
      const err = sides
        .map((s) => s.stderr().trim())
        .filter(Boolean)
        .join(' | ')
        .split('\n')
        .filter((l) => !/^\s+(\d+:|at )/.test(l))
        .slice(0, 3)
        .join(' ');
      throw new Error(`${who} ${why}: ${err}`);
    }
    return { ...summarize(w, events), cpu };
  } finally {
    clearTimeout(timer);
    if (pair) {
      lib.lowlevel.close(pair[0]);
      lib.lowlevel.close(pair[1]);
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

function summarize(w, ev) {
  if (w.kind === 'pingpong') {
    const m = ev['ping.measured'];
    if (!m) throw new Error('the pinger reported nothing');
    return { value: m.mean_us, mean_us: m.mean_us, p50_us: m.p50_us, p99_us: m.p99_us, rtts: m.rtts };
  }
  if (w.kind === 'soak') {
    const r = ev['recv.soak'];
    const s = ev['send.soak'];
    if (!r || !s) throw new Error('the long run reported nothing');
    return { value: r.msgs / r.seconds, recv: r, send: s };
  }
  const m = ev['recv.measured'];
  const rd = ev['recv.done'];
  const sd = ev['send.done'];
  if (!m || !rd || !sd) throw new Error(`missing events: have ${Object.keys(ev).join(', ')}`);
  const msgs = w.type === 'stream' ? m.bytes / w.size : m.msgs;
  const received = w.type === 'stream' ? Math.floor(rd.bytes / w.size) : rd.msgs;
  return {
    value: msgs / m.seconds,
    bytesPerSec: m.bytes / m.seconds,
    sent: sd.msgs,
    received,
    sentFds: sd.fds,
    receivedFds: rd.fds,
    recvError: rd.error,
  };
}

const CONTENDED = 0.15;

/** Waits (at most 60 s) until other processes leave the CPUs alone for half a second. */
async function waitQuiet() {
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    const a = cpuTimes();
    await new Promise((r) => setTimeout(r, 500));
    const b = cpuTimes();
    const busyCpus = (1 - (b.idle - a.idle) / (b.total - a.total)) * os.cpus().length;
    if (busyCpus < CONTENDED) return;
  }
}
const RETRIES = 4;

async function measure(lib, impl, w, o) {
  const runs = [];
  const errors = [];
  const n = w.kind === 'soak' ? 1 : o.runs;
  // A run during which other processes used more than CONTENDED of a CPU is
  // done again (up to RETRIES times in all); the table counts the ones dropped.
  // --quick is a smoke run (it runs beside the test suite): never wait for quiet.
  let retries = w.kind === 'soak' || o.quick ? 0 : RETRIES;
  let contended = 0;
  for (let i = 0; i < n; i++) {
    try {
      const r = await runOnce(lib, impl, w, o);
      if ((r.cpu?.others ?? 0) > CONTENDED && retries > 0) {
        retries--;
        contended++;
        i--;
        await waitQuiet();
        continue;
      }
      runs.push(r);
    } catch (err) {
      errors.push(err.message);
    }
  }
  if (runs.length === 0) return { error: errors[0] };
  // The median of the runs nothing else disturbed, if there are any.
  const clean = runs.filter((r) => (r.cpu?.others ?? 0) <= CONTENDED);
  const sorted = [...(clean.length ? clean : runs)].sort((a, b) => a.value - b.value);
  const median = sorted[(sorted.length - 1) >> 1];
  const sum = (k) => runs.reduce((t, r) => t + (r[k] ?? 0), 0);
  return {
    ...median,
    values: runs.map((r) => r.value),
    sent: sum('sent'),
    received: sum('received'),
    sentFds: sum('sentFds'),
    receivedFds: sum('receivedFds'),
    failedRuns: errors.length,
    error: errors[0],
    contendedRuns: contended,
    contendedKept: runs.filter((r) => (r.cpu?.others ?? 0) > CONTENDED).length,
  };
}

// ------------------------------------------------------------------ targets

function targetsFor(w, results) {
  const t = [];
  const ums = results.ums;
  if (!ums || ums.value === undefined) return t;
  const c = results['c-naive']?.value;
  const lent = results['ums-lend'];
  if (w.framed) {
    // Ours only: no C row to compare with, so only the fds are checked.
    if (w.fds === 1) t.push({ what: 'zero fds lost', lost: ums.sentFds - ums.receivedFds, goal: 0 });
    if (w.fds === 1 && lent?.value !== undefined) t.push({ impl: 'ums-lend', what: 'zero fds lost', lost: lent.sentFds - lent.receivedFds, goal: 0 });
    return t;
  }
  if (w.kind === 'throughput' && lent?.value !== undefined) {
    if (w.size === 64 && w.fds === 1) t.push({ impl: 'ums-lend', what: 'ours ≥ 0.75× C naive with one fd', ratio: lent.value / c, goal: 0.75 });
    if (w.size === 65536) t.push({ impl: 'ums-lend', what: 'ours ≥ 0.6× C', ratio: lent.value / c, goal: 0.6 });
    t.push({ impl: 'ums-lend', what: 'zero fds lost', lost: lent.sentFds - lent.receivedFds, goal: 0 });
  }
  if (w.kind === 'throughput') {
    if (w.size === 64 && w.fds === 0 && w.type === 'seqpacket') {
      t.push({ what: 'ours ≥ 1.0× C naive', ratio: ums.value / c, goal: 1.0 });
      const nus = results.nus?.value;
      if (nus) t.push({ what: 'ours ≥ 4× node-unix-socket', ratio: ums.value / nus, goal: 4 });
    }
    if (w.size === 64 && w.fds === 1) t.push({ what: 'ours ≥ 0.75× C naive with one fd', ratio: ums.value / c, goal: 0.75 });
    if (w.size === 65536) t.push({ what: 'ours ≥ 0.6× C', ratio: ums.value / c, goal: 0.6 });
    if (w.type === 'stream' && w.fds === 0 && results.net?.value) t.push({ what: 'ours ≥ Node net', ratio: ums.value / results.net.value, goal: 1.0 });
    if (w.fds === 1) t.push({ what: 'zero fds lost', lost: ums.sentFds - ums.receivedFds, goal: 0 });
  }
  if (w.kind === 'pingpong' && c) t.push({ what: 'ours ≤ 1.2× C round trip', ratio: ums.value / c, goal: 1.2, lowerIsBetter: true });
  if (w.kind === 'soak') {
    for (const [name, p] of [
      ['receiver', ums.recv],
      ['sender', ums.send],
    ]) {
      const growth = (p.rss.at(-1) - p.rss[0]) / p.rss[0];
      t.push({ what: `${name} RSS flat within 10 %`, text: `${(growth * 100).toFixed(1)} %`, met: growth <= 0.1 });
      t.push({ what: `${name} fd count back to baseline`, text: `${p.fdsBefore} → ${p.fdsAfter}`, met: p.fdsAfter === p.fdsBefore });
    }
  }
  for (const x of t) {
    x.impl ??= 'ums';
    if (x.met !== undefined) continue;
    if (x.lost !== undefined) x.met = x.lost === 0;
    else x.met = x.lowerIsBetter ? x.ratio <= x.goal : x.ratio >= x.goal;
  }
  return t;
}

// ------------------------------------------------------------------ output

function fmtRate(v) {
  if (v === undefined || v === null || !Number.isFinite(v)) return '–';
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e4) return `${Math.round(v / 1e3)}k`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return String(Math.round(v));
}
const fmtMB = (v) => (v >= 1e9 ? `${(v / 1e9).toFixed(2)} GB/s` : `${(v / 1e6).toFixed(v >= 1e8 ? 0 : 1)} MB/s`);
const fmtX = (r) => (r === undefined || !Number.isFinite(r) ? '–' : `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`);
const fmtUs = (v) => (v === undefined ? '–' : `${v.toFixed(1)} µs`);
const pct = (x) => (x === null || x === undefined ? '?' : `${Math.round(x * 100)} %`);
const fmtCpu = (c) => (c ? `${pct(c.recv)} / ${pct(c.send)}${c.others > CONTENDED ? ` (others ${pct(c.others)})` : ''}` : '');
const fmtMiB = (b) => `${(b / 1048576).toFixed(1)} MiB`;

function lossText(r, w) {
  const parts = [];
  if (r.sent !== undefined && r.received !== undefined && r.sent !== r.received) {
    const lost = r.sent - r.received;
    if (lost > 0) parts.push(`${lost} msgs lost (${((lost / r.sent) * 100).toFixed(2)} %)`);
  }
  if (w.fds > 0 && r.sentFds !== undefined) {
    const lost = r.sentFds - r.receivedFds;
    parts.push(lost === 0 ? `${r.receivedFds} fds, 0 lost` : `**${lost} of ${r.sentFds} fds lost (${((lost / r.sentFds) * 100).toFixed(2)} %)**`);
  }
  return parts.join('; ');
}

// How busy the machine was (all CPUs, every process) over the second before the run.
let busyAtStart = null;
function cpuTimes() {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = line[3] + (line[4] ?? 0);
  return { idle, total: line.reduce((a, b) => a + b, 0) };
}
async function measureBusy() {
  try {
    const a = cpuTimes();
    await new Promise((r) => setTimeout(r, 1000));
    const b = cpuTimes();
    busyAtStart = 1 - (b.idle - a.idle) / (b.total - a.total);
  } catch {}
  return busyAtStart;
}

function machineInfo(ccVersion, peers) {
  const cpus = os.cpus();
  let commit = '';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim();
    if (dirty) commit += ' (src/ modified)';
  } catch {}
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    libuv: process.versions.uv,
    cc: ccVersion,
    commit,
    load: os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
    busy: busyAtStart,
    peers: Object.entries(peers)
      .map(([k, v]) => `${k}@${v.version ?? '?'}${v.ok ? '' : ' (not loadable)'}`)
      .join(', '),
  };
}

const MAIN = IMPLS.filter((i) => !i.diagnostic);

function renderMarkdown(report) {
  const { machine, results } = report;
  const o = { warm: report.options.warmMs, measure: report.options.measureMs, runs: report.options.runs, pin: report.options.pin };
  const L = [];
  L.push('# unix-message-socket benchmark', '');
  L.push(
    `${machine.date} · ${machine.cpu}, ${machine.cores} cores, ${machine.memory} · ${machine.kernel} · Node ${machine.node} (libuv ${machine.libuv}) · ${machine.cc} · commit ${machine.commit} · CPUs ${machine.busy === null ? '?' : Math.round(machine.busy * 100)} % busy in the second before the run (load average ${machine.load})`,
  );
  L.push(
    '',
    `Peers: ${machine.peers}. Method: sender and receiver in separate processes; ${o.warm} ms warm-up, then a ${o.measure} ms window timed by the receiver; median of ${o.runs} run(s); ${o.pin ? 'receiver (or echo) pinned to CPU 1 and sender (or pinger) to CPU 0 with taskset, both to CPU 0 for the ping-pong rows marked 1cpu' : 'not pinned to CPUs'}. msgs/s for stream sockets = bytes / message size. "C naive" is one sendmsg/recvmsg per message, "C batched" sendmmsg/recvmmsg with 64 per call, both blocking. Command: \`${report.options.command}\`.`,
    '',
  );

  const tp = results.filter((x) => x.w.kind === 'throughput');
  if (tp.length) {
    L.push('## Throughput (messages per second)', '');
    const cols = MAIN.map((i) => i.key);
    L.push(`| workload | ${MAIN.map((i) => i.label).join(' | ')} |`);
    L.push(`|---|${cols.map(() => '---:').join('|')}|`);
    for (const x of tp) {
      const cells = MAIN.map((i) => {
        const r = x.results[i.key];
        if (r === undefined) return '';
        if (r.na) return 'n/a';
        if (r.error && r.value === undefined) return 'failed';
        const loss = (r.sentFds ?? 0) - (r.receivedFds ?? 0);
        return fmtRate(r.value) + (x.w.fds > 0 && loss > 0 ? ` (${loss} fds lost)` : '');
      });
      L.push(`| ${x.w.id} | ${cells.join(' | ')} |`);
    }
    L.push('', '### Every Node row against C', '');
    L.push('| workload | implementation | msgs/s | MB/s | CPU recv / send | × C naive | × C batched | delivered | target | met |');
    L.push('|---|---|---:|---:|---:|---:|---:|---|---|---|');
    for (const x of tp) {
      const c = x.results['c-naive']?.value;
      const cb = x.results['c-batched']?.value;
      for (const i of MAIN) {
        const r = x.results[i.key];
        if (!r || r.na || i.c) continue;
        if (r.value === undefined) {
          L.push(`| ${x.w.id} | ${i.label} | failed | | | | | ${r.error ?? ''} | | |`);
          continue;
        }
        const ts = x.targets.filter((t) => t.impl === i.key);
        const target = ts.map((t) => t.what).join('<br>');
        const met = ts
          .map((t) => (t.met ? '✅' : '❌') + (t.ratio !== undefined ? ` ${fmtX(t.ratio)}` : t.lost !== undefined ? ` ${t.lost} lost` : ''))
          .join('<br>');
        L.push(
          `| ${x.w.id} | ${i.label} | ${fmtRate(r.value)} | ${fmtMB(r.bytesPerSec)} | ${fmtCpu(r.cpu)} | ${fmtX(r.value / c)} | ${fmtX(r.value / cb)} | ${lossText(r, x.w)} | ${target} | ${met} |`,
        );
      }
    }
    L.push('', 'C rows for reference:', '');
    L.push('| workload | C naive | CPU recv / send | C batched | CPU recv / send | C naive MB/s |');
    L.push('|---|---:|---:|---:|---:|---:|');
    for (const x of tp) {
      const c = x.results['c-naive'];
      const cb = x.results['c-batched'];
      L.push(
        `| ${x.w.id} | ${fmtRate(c?.value)} | ${fmtCpu(c?.cpu)} | ${fmtRate(cb?.value)} | ${fmtCpu(cb?.cpu)} | ${c?.bytesPerSec ? fmtMB(c.bytesPerSec) : '–'} |`,
      );
    }
    const diag = tp.filter((x) => x.results['ums-recv']?.value || x.results['ums-send']?.value);
    if (diag.length) {
      L.push('', '### Which side limits: ours against the naive C loop on the other end', '');
      L.push('| workload | C → C | ours → ours | C sender → ours receiver | ours sender → C receiver |');
      L.push('|---|---:|---:|---:|---:|');
      for (const x of diag) {
        const c = x.results['c-naive']?.value;
        const cell = (k) => (x.results[k]?.value ? `${fmtRate(x.results[k].value)} (${fmtX(x.results[k].value / c)})` : '–');
        L.push(`| ${x.w.id} | ${fmtRate(c)} | ${cell('ums')} | ${cell('ums-recv')} | ${cell('ums-send')} |`);
      }
    }
    const na = [];
    for (const i of MAIN) {
      const why = [...new Set(tp.map((x) => x.results[i.key]?.na).filter(Boolean))];
      if (why.length) na.push(`${i.label}: ${why.join('; ')}`);
    }
    if (na.length) L.push('', `n/a: ${na.join('. ')}.`);
  }

  const pp = results.filter((x) => x.w.kind === 'pingpong');
  if (pp.length) {
    L.push('', '## Ping-pong (64 B round trip, one message in flight)', '');
    L.push('| workload | implementation | mean | p50 | p99 | × C | target | met |');
    L.push('|---|---|---:|---:|---:|---:|---|---|');
    for (const x of pp) {
      const c = x.results['c-naive']?.value;
      for (const i of MAIN) {
        const r = x.results[i.key];
        if (!r || r.na) continue;
        if (r.value === undefined) {
          L.push(`| ${x.w.id} | ${i.label} | failed: ${r.error ?? ''} | | | | | |`);
          continue;
        }
        const ts = x.targets.filter((t) => t.impl === i.key);
        L.push(
          `| ${x.w.id} | ${i.label} | ${fmtUs(r.mean_us)} | ${fmtUs(r.p50_us)} | ${fmtUs(r.p99_us)} | ${i.c ? '' : fmtX(r.value / c)} | ${ts.map((t) => t.what).join('<br>')} | ${ts.map((t) => `${t.met ? '✅' : '❌'} ${fmtX(t.ratio)}`).join('<br>')} |`,
        );
      }
    }
  }

  const soak = results.filter((x) => x.w.kind === 'soak');
  for (const x of soak) {
    const r = x.results.ums;
    L.push('', `## Memory: ${x.w.count.toLocaleString('en-US')} messages (seqpacket, 64 B, one fd each), unix-message-socket`, '');
    if (!r || r.value === undefined) {
      L.push(`failed: ${r?.error ?? 'not run'}`);
      continue;
    }
    L.push('| process | RSS at 10 % | RSS at 100 % | growth | max | heap + external after GC, 10 % → 100 % | fds before → after | target | met |');
    L.push('|---|---:|---:|---:|---:|---:|---|---|---|');
    for (const [name, s] of [
      ['receiver', r.recv],
      ['sender', r.send],
    ]) {
      const first = s.rss[0];
      const last = s.rss[s.rss.length - 1];
      const growth = (last - first) / first;
      const fdsOk = s.fdsBefore === s.fdsAfter;
      const heap = s.heap?.length ? `${fmtMiB(s.heap[0])} → ${fmtMiB(s.heap[s.heap.length - 1])}` : '–';
      L.push(
        `| ${name} | ${fmtMiB(first)} | ${fmtMiB(last)} | ${(growth * 100).toFixed(1)} % | ${fmtMiB(Math.max(...s.rss))} | ${heap} | ${s.fdsBefore} → ${s.fdsAfter} | RSS within 10 %, fds back | ${growth <= 0.1 && fdsOk ? '✅' : '❌'} |`,
      );
    }
    const flatHeap = [r.recv, r.send].some(
      (p) => p.heap?.length && (p.rss.at(-1) - p.rss[0]) / p.rss[0] > 0.1 && Math.abs(p.heap.at(-1) - p.heap[0]) / p.heap[0] <= 0.1,
    );
    if (flatHeap)
      L.push(
        '',
        'Where RSS grew but the heap after a full GC did not, the growth is memory V8 keeps (its young generation grows to its maximum under the allocation rate), not live objects: see bench/README.md.',
      );
    L.push(
      '',
      `${r.recv.msgs.toLocaleString('en-US')} messages and ${r.recv.fds.toLocaleString('en-US')} fds received of ${r.send.msgs.toLocaleString('en-US')} / ${r.send.fds.toLocaleString('en-US')} sent, in ${r.recv.seconds.toFixed(1)} s (${fmtRate(r.value)} msgs/s). RSS samples (MiB, every tenth; each is followed by a full GC): receiver ${r.recv.rss.map((b) => (b / 1048576).toFixed(0)).join(' ')}; sender ${r.send.rss.map((b) => (b / 1048576).toFixed(0)).join(' ')}. fd counts: before adopting the socket (not counting it) and after destroying it.`,
    );
  }

  const all = results.flatMap((x) => Object.values(x.results));
  const redone = all.reduce((t, r) => t + (r.contendedRuns ?? 0), 0);
  const kept = all.reduce((t, r) => t + (r.contendedKept ?? 0), 0);
  L.push(
    '',
    `Contention: a run during which other processes used more than ${CONTENDED * 100} % of a CPU is done again (at most ${RETRIES} times per measurement); ${redone} run(s) were redone${kept ? `, and ${kept} contended run(s) had to be kept (marked "others" in the CPU column)` : ''}.`,
  );
  const targets = results.flatMap((x) => x.targets.map((t) => ({ ...t, id: x.w.id })));
  if (targets.length) {
    const met = targets.filter((t) => t.met).length;
    L.push('', `## Targets: ${met} of ${targets.length} met`, '');
    for (const t of targets)
      L.push(
        `- ${t.met ? '✅' : '❌'} ${t.id}${t.impl === 'ums' ? '' : ` (${t.impl})`}: ${t.what}: ${t.text ?? (t.ratio !== undefined ? fmtX(t.ratio) : `${t.lost} lost`)}`,
      );
  }
  L.push('', '![ratios](ratios.svg)', '');
  return L.join('\n');
}

/** A hand-written SVG: each Node implementation against C naive, per workload (higher is better). */
function renderSvg(report) {
  const rows = [];
  for (const x of report.results) {
    if (x.w.kind === 'soak') continue;
    const c = x.results['c-naive']?.value;
    if (!c) continue;
    const bars = [];
    for (const i of MAIN) {
      const r = x.results[i.key];
      if (i.c || !r || r.na || r.value === undefined) continue;
      // Ping-pong: C latency / latency, so that higher is better everywhere.
      bars.push({ impl: i, ratio: x.w.kind === 'pingpong' ? c / r.value : r.value / c });
    }
    if (bars.length) {
      const goal = x.w.kind === 'pingpong' ? 1 / 1.2 : x.targets.find((t) => t.impl === 'ums' && t.what.includes('C'))?.goal;
      rows.push({ label: x.w.id, bars, goal });
    }
  }
  const colors = { ums: '#1f6feb', 'ums-lend': '#0a3069', net: '#8b949e', ipc: '#d29922', usocket: '#a371f7', 'unix-dgram': '#3fb950', nus: '#f85149' };
  const barH = 11;
  const gap = 10;
  const left = 170;
  const width = 820;
  const plotW = width - left - 60;
  const max = Math.max(1.25, ...rows.flatMap((r) => r.bars.map((b) => Math.min(b.ratio, 3))));
  const x = (v) => left + (Math.min(v, max) / max) * plotW;
  let y = 60;
  const body = [];
  for (const r of rows) {
    const h = r.bars.length * barH;
    body.push(`<text x="${left - 8}" y="${y + h / 2 + 4}" text-anchor="end" class="l">${r.label}</text>`);
    for (const b of r.bars) {
      body.push(
        `<rect x="${left}" y="${y}" width="${Math.max(1, x(b.ratio) - left).toFixed(1)}" height="${barH - 2}" fill="${colors[b.impl.key] ?? '#666'}"><title>${b.impl.label}: ${fmtX(b.ratio)}</title></rect>`,
      );
      body.push(`<text x="${(x(b.ratio) + 3).toFixed(1)}" y="${y + barH - 3}" class="v">${fmtX(b.ratio)}</text>`);
      y += barH;
    }
    if (r.goal) body.push(`<line x1="${x(r.goal).toFixed(1)}" x2="${x(r.goal).toFixed(1)}" y1="${y - h - 2}" y2="${y + 1}" class="goal"/>`);
    y += gap;
  }
  const height = y + 40;
  const grid = [];
  for (let v = 0; v <= max + 1e-9; v += 0.25) {
    grid.push(`<line x1="${x(v).toFixed(1)}" x2="${x(v).toFixed(1)}" y1="50" y2="${y}" class="${Math.abs(v - 1) < 1e-9 ? 'one' : 'grid'}"/>`);
    grid.push(`<text x="${x(v).toFixed(1)}" y="${y + 14}" text-anchor="middle" class="v">${v.toFixed(2)}×</text>`);
  }
  const legend = Object.entries(colors).map(([k, col], n) => {
    const impl = IMPLS.find((i) => i.key === k);
    const lx = 10 + n * 115;
    return `<rect x="${lx}" y="${height - 18}" width="10" height="10" fill="${col}"/><text x="${lx + 14}" y="${height - 9}" class="v">${impl.key === 'ums' ? 'ours' : impl.key === 'ums-lend' ? 'ours, fds lent' : impl.label.split(' (')[0]}</text>`;
  });
  const m = report.machine;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">
<style>.l{font-size:11px;fill:#222}.v{font-size:9px;fill:#444}.t{font-size:13px;font-weight:bold}.s{font-size:10px;fill:#555}.grid{stroke:#ddd}.one{stroke:#000;stroke-width:1}.goal{stroke:#d00;stroke-width:2;stroke-dasharray:3 2}</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="20" class="t">Node implementations vs the naive C sendmsg/recvmsg loop (higher is better; ping-pong: C latency / latency)</text>
<text x="10" y="36" class="s">${m.cpu}, ${m.cores} cores · ${m.kernel} · Node ${m.node} · ${m.date} · red dashes: our target</text>
${grid.join('\n')}
${body.join('\n')}
${legend.join('\n')}
</svg>
`;
}

// ------------------------------------------------------------------ main

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.render) {
    const report = JSON.parse(fs.readFileSync(o.render, 'utf8'));
    report.options.pin ??= true;
    report.options.command ??= 'node bench/run.js';
    for (const x of report.results) x.targets = targetsFor(x.w, x.results);
    const dir = path.dirname(o.render);
    fs.writeFileSync(path.join(dir, 'latest.md'), renderMarkdown(report));
    fs.writeFileSync(path.join(dir, 'ratios.svg'), renderSvg(report));
    fs.writeFileSync(o.render, JSON.stringify(report, null, 1));
    console.log(`bench: wrote ${path.join(dir, 'latest.md')} and ratios.svg from ${o.render}`);
    return;
  }
  let list = workloads(o);
  if (o.list) {
    for (const w of list) console.log(w.id);
    return;
  }
  if (o.filter) list = list.filter((w) => o.filter.test(w.id));
  if (list.length === 0) {
    console.error('no workload matches the filter (see --list)');
    process.exit(2);
  }
  if (o.pin && (os.availableParallelism() < 2 || spawnSync('taskset', ['-c', '1', 'true']).status !== 0)) {
    console.error('bench: taskset or a second CPU is missing; running unpinned');
    o.pin = false;
  }
  const lib = ensureLibrary();
  const peers = ensurePeers(o.install);
  const ccVersion = compileC(['throughput', 'pingpong']);
  await measureBusy();
  const machine = machineInfo(ccVersion, peers);
  console.log(`bench: ${machine.cpu}, ${machine.cores} cores, ${machine.kernel}, Node ${machine.node}; ${o.runs} run(s) of ${o.warm}+${o.measure} ms`);
  if (machine.busy !== null && machine.busy > 0.1) {
    console.log(`bench: warning: the CPUs were ${Math.round(machine.busy * 100)} % busy before the run; other work on this machine skews the numbers`);
  }
  const started = Date.now();
  const results = [];
  for (const w of list) {
    const res = {};
    let impls = w.kind === 'soak' ? IMPLS.filter((i) => i.key === 'ums') : w.framed ? IMPLS.filter((i) => i.key === 'ums' || i.key === 'ums-lend') : IMPLS;
    if (o.impls) impls = impls.filter((i) => o.impls.includes(i.key));
    for (const impl of impls) {
      const can = impl.can(w);
      if (can !== true) {
        res[impl.key] = { na: can };
        continue;
      }
      if (impl.peer && !peers[impl.peer].ok) {
        res[impl.key] = { na: `not installed (${peers[impl.peer].error ?? 'npm install in bench/'})` };
        continue;
      }
      const t0 = Date.now();
      const r = await measure(lib, impl, w, o);
      res[impl.key] = r;
      const shown =
        r.value === undefined
          ? `FAILED ${r.error}`
          : w.kind === 'pingpong'
            ? `${fmtUs(r.mean_us)} mean, p99 ${fmtUs(r.p99_us)}`
            : w.kind === 'soak'
              ? `${fmtRate(r.value)} msgs/s, RSS recv ${fmtMiB(r.recv.rss[0])}→${fmtMiB(r.recv.rss.at(-1))}, send ${fmtMiB(r.send.rss[0])}→${fmtMiB(r.send.rss.at(-1))}, fds ${r.recv.fdsBefore}→${r.recv.fdsAfter} / ${r.send.fdsBefore}→${r.send.fdsAfter}`
              : `${fmtRate(r.value)} msgs/s ${fmtCpu(r.cpu)} ${lossText(r, w)}${r.failedRuns ? ` (${r.failedRuns} failed run(s): ${r.error})` : ''}`;
      const redone = r.contendedRuns ? ` (${r.contendedRuns} run(s) redone: other processes were busy)` : '';
      console.log(`  ${w.id.padEnd(24)} ${impl.key.padEnd(10)} ${shown}  [${((Date.now() - t0) / 1000).toFixed(1)} s]${redone}`);
    }
    results.push({ w, results: res, targets: targetsFor(w, res) });
  }
  const command = ['node bench/run.js', ...process.argv.slice(2)].join(' ');
  const report = { machine, options: { runs: o.runs, warmMs: o.warm, measureMs: o.measure, soak: o.soak, quick: o.quick, pin: o.pin, command }, results };
  const md = renderMarkdown(report);
  fs.mkdirSync(o.out, { recursive: true });
  fs.writeFileSync(path.join(o.out, 'latest.md'), md);
  fs.writeFileSync(path.join(o.out, 'latest.json'), JSON.stringify(report, null, 1));
  fs.writeFileSync(path.join(o.out, 'ratios.svg'), renderSvg(report));
  console.log(`\n${md}`);
  console.log(
    `bench: done in ${((Date.now() - started) / 1000).toFixed(0)} s; wrote ${path.relative(process.cwd(), path.join(o.out, 'latest.md'))}, latest.json and ratios.svg`,
  );
}

main().catch((err) => {
  console.error(`bench: ${err.message}`);
  process.exit(1);
});
