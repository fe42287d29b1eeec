'use strict';
// Hands thousands of open file descriptors to two worker
// processes and shows that none of them leak.
//
//   node examples/fd-handoff.js [--count=2000]
//
// The primary spawns two workers (this file with --worker), each with one end
// of a seqpacket socketPair as stdio fd 3. It then opens N descriptors, most
// of them temp files (content: their index) and every tenth a "pipe" (a
// stream socketpair holding its index, write end closed), and sends them to
// the workers in batches of up to 253 fds per message (SCM_MAX_FD). Each
// worker reads every fd, checks it holds the index it was announced with,
// closes it and replies with counts. The primary closes its own copies right
// after write(), so its fd count (from /proc/self/fd) is the same before and
// after. Finally one probe socketpair end goes to a worker: once the worker
// and the primary have both closed their copies, the primary sees EOF.
const { socketPair, UnixMessageSocket, lowlevel, sendmsg, recvmsg, constants } = require('unix-message-socket');
const { spawn } = require('node:child_process');
const { once } = require('node:events');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const WORKERS = 2;
const BATCH = constants.SCM_MAX_FD; // 253: the most fds one message can carry
const countArg = process.argv.find((a) => a.startsWith('--count='));
const COUNT = countArg ? Number(countArg.slice('--count='.length)) : 2000;
if (!Number.isInteger(COUNT) || COUNT < 1) {
  console.error('usage: node examples/fd-handoff.js [--count=N] (N a positive integer)');
  process.exit(2);
}

// ---------------------------------------------------------------- worker

function worker() {
  // allowHalfOpen: on EOF from the primary, send the totals before ending.
  const socket = UnixMessageSocket.fromFd(3, { allowHalfOpen: true });
  const totals = { batches: 0, files: 0, pipes: 0, bad: 0 };
  const scratch = Buffer.alloc(32);
  socket.write(JSON.stringify({ ready: true }));
  socket.on('data', (msg) => {
    const job = JSON.parse(msg.data.toString());
    // msg.fds are ours: every one is closed below, whatever happens.
    try {
      if (job.probe) {
        // Say hello through the probe socket, then drop our copy of it.
        const [fd] = msg.fds;
        sendmsg(fd, Buffer.from(`hello from worker ${process.pid}`));
        socket.write(JSON.stringify({ probe: true }));
        return;
      }
      const reply = { batch: job.batch, files: 0, pipes: 0, bad: 0 };
      if (msg.fdsTruncated || msg.fds.length !== job.items.length) reply.bad += job.items.length;
      else {
        msg.fds.forEach((fd, k) => {
          const [index, kind] = job.items[k];
          let text;
          if (kind === 'file') {
            text = scratch.toString('utf8', 0, fs.readSync(fd, scratch, 0, scratch.length, 0));
          } else {
            text = recvmsg(fd, { maxSize: 32 }).data.toString(); // already written, so no EAGAIN
          }
          if (Number(text) === index) reply[kind === 'file' ? 'files' : 'pipes']++;
          else reply.bad++;
        });
      }
      totals.batches++;
      totals.files += reply.files;
      totals.pipes += reply.pipes;
      totals.bad += reply.bad;
      socket.write(JSON.stringify(reply));
    } finally {
      for (const fd of msg.fds) lowlevel.close(fd);
    }
  });
  socket.on('end', () => socket.end(JSON.stringify({ done: true, pid: process.pid, ...totals })));
  socket.on('error', (err) => {
    console.error(`[worker ${process.pid}] ${err.message}`);
    process.exitCode = 1;
  });
}

// ---------------------------------------------------------------- primary

function fdCount() {
  return fs.readdirSync('/proc/self/fd').length;
}

async function primary() {
  const started = process.hrtime.bigint();
  const watchdog = setTimeout(() => {
    console.error('demo timed out');
    process.exit(1);
  }, 20_000).unref();

  const dir = fs.mkdtempSync(path.join(tempRoot(), 'ums-demo-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  process.on('SIGINT', () => process.exit(130)); // still runs the cleanup above
  const items = [];
  for (let i = 0; i < COUNT; i++) {
    const kind = i % 10 === 9 ? 'pipe' : 'file';
    if (kind === 'file') fs.writeFileSync(path.join(dir, String(i)), String(i));
    items.push([i, kind]);
  }

  // Spawn the workers, each with its socketPair end as fd 3.
  const workers = [];
  let replies = 0;
  let onReply = () => {};
  for (let w = 0; w < WORKERS; w++) {
    const [mine, theirs] = socketPair('seqpacket');
    const child = spawn(process.execPath, [__filename, '--worker'], { stdio: ['ignore', 'inherit', 'inherit', theirs.fd] });
    theirs.destroy(); // the worker has its own copy now
    const state = { child, socket: mine, totals: null, exited: once(child, 'exit'), ready: once(mine, 'data') };
    mine.on('data', (msg) => {
      const m = JSON.parse(msg.data.toString());
      if (m.done) state.totals = m;
      else if (m.batch !== undefined) {
        replies++;
        onReply();
      }
    });
    mine.on('error', (err) => console.error(`[primary] worker ${child.pid}: ${err.message}`));
    workers.push(state);
  }
  await Promise.all(workers.map((w) => w.ready)); // both workers have booted

  const fdsBefore = fdCount();

  // Hand off every fd. Each one is closed as soon as write() has returned:
  // write() duplicated it, and the library closes that duplicate once the
  // kernel has taken the message.
  const handoffStart = process.hrtime.bigint();
  let batches = 0;
  for (let start = 0; start < items.length; start += BATCH, batches++) {
    const slice = items.slice(start, start + BATCH);
    const fds = slice.map(([i, kind]) => openItem(dir, i, kind));
    const target = workers[batches % WORKERS].socket;
    const ok = target.write({ data: JSON.stringify({ batch: batches, items: slice }), fds });
    for (const fd of fds) lowlevel.close(fd);
    if (!ok) await once(target, 'drain');
  }
  // Wait until every batch has been verified.
  if (replies < batches) await new Promise((resolve) => (onReply = () => replies === batches && resolve()));
  const handoffSeconds = Number(process.hrtime.bigint() - handoffStart) / 1e9;

  // The EOF probe: the worker gets one end, the primary keeps the other.
  const [probe, probePeer] = socketPair('seqpacket');
  const probeWorker = workers[0];
  probeWorker.socket.write({ data: JSON.stringify({ probe: true }), fds: [probePeer.fd] });
  probePeer.destroy();
  const probeMessages = [];
  probe.on('data', (msg) => probeMessages.push(msg.data.toString()));
  const probeClosed = once(probe, 'close');
  const probeTimeout = setTimeout(() => probe.destroy(new Error('no EOF on the probe within 5 s: a copy leaked')), 5000);
  await once(probe, 'end'); // EOF: no copy of the other end is left open anywhere
  clearTimeout(probeTimeout);
  probe.destroy();
  await probeClosed;

  const fdsAfter = fdCount();

  // Shut the workers down: end() -> they see EOF, send totals, and exit.
  for (const w of workers) w.socket.end();
  const codes = await Promise.all(workers.map((w) => w.exited.then(([code]) => code)));
  clearTimeout(watchdog);

  // ------------------------------------------------------------ summary
  for (const w of workers) w.totals ??= { pid: w.child.pid, batches: 0, files: 0, pipes: 0, bad: 0, missing: true };
  const verified = workers.reduce((s, w) => s + w.totals.files + w.totals.pipes, 0);
  const bad = workers.reduce((s, w) => s + w.totals.bad, 0);
  const files = items.filter(([, k]) => k === 'file').length;
  console.log('unix-message-socket demo: passing file descriptors between processes');
  console.log(`  handed off ${COUNT} fds (${files} files, ${COUNT - files} stream socketpairs used as pipes) in ${batches} messages of up to ${BATCH} fds`);
  console.log(`  ${Math.round(COUNT / handoffSeconds).toLocaleString('en-US')} fds/s (${(handoffSeconds * 1000).toFixed(1)} ms, open + send + verify + reply)`);
  for (const w of workers) {
    const t = w.totals;
    console.log(
      `  worker ${t.pid}: ${t.batches} batches, ${t.files + t.pipes} fds verified (${t.files} files, ${t.pipes} pipes)${t.missing ? ' - no report' : ''}, ${t.bad} bad`,
    );
  }
  console.log(`  probe socketpair: got "${probeMessages[0]}", then EOF once the worker closed its copy`);
  console.log(`  primary fds open (/proc/self/fd): ${fdsBefore} before, ${fdsAfter} after`);
  const ok =
    verified === COUNT &&
    bad === 0 &&
    fdsBefore === fdsAfter &&
    codes.every((c) => c === 0) &&
    probeMessages.length === 1 &&
    workers.every((w) => !w.totals.missing);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    `${ok ? 'OK' : 'FAILED'}: ${verified}/${COUNT} fds verified, ${fdsAfter - fdsBefore} leaked, workers exited ${codes.join(', ')} (${seconds.toFixed(2)} s total)`,
  );
  process.exitCode = ok ? 0 : 1;
}

/** tmpfs when there is one: creating 2000 files on a slow disk can take seconds. */
function tempRoot() {
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

/** Opens item i: the temp file, or a socketpair end holding the index (a pipe stand-in). */
function openItem(dir, i, kind) {
  if (kind === 'file') return fs.openSync(path.join(dir, String(i)), 'r');
  const [readEnd, writeEnd] = lowlevel.socketpair('stream');
  sendmsg(writeEnd, Buffer.from(String(i)));
  lowlevel.close(writeEnd); // the reader gets the data, then EOF
  return readEnd;
}

if (process.argv.includes('--worker')) worker();
else
  primary().catch((err) => {
    console.error(`demo failed: ${err.stack ?? err}`);
    process.exit(1);
  });
