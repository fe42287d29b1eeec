'use strict';
// unix-message-socket (this repository, from ../../dist): every workload.
const fs = require('node:fs');
const { LIB, out, Counter, ready, pump, Pinger, fdCount, closeSync } = require('../common');
const { UnixMessageSocket } = require(LIB);

const END = Buffer.from('E');

// framed rows: a stream socket with framed: true (README.md, "Framed stream sockets").
const optionsOf = (p) => (p.framed ? { framed: true } : undefined);

function recv(p) {
  const c = new Counter(p);
  const s = UnixMessageSocket.fromFd(3, optionsOf(p));
  const message = p.type !== 'stream';
  const end = () => {
    c.done();
    s.destroy();
    process.exit(0);
  };
  s.on('data', (m) => {
    const fds = m.fds;
    if (fds.length > 0) {
      for (let i = 0; i < fds.length; i++) closeSync(fds[i]);
      c.fds += fds.length;
    }
    const n = m.data.length;
    if (message && n === 1) return end();
    c.msgs++;
    c.bytes += n;
    if (!c.started) c.start();
  });
  s.on('end', end);
  s.on('error', (err) => {
    c.done({ error: err.code });
    process.exit(0);
  });
  ready();
}

function send(p) {
  const s = UnixMessageSocket.fromFd(3, optionsOf(p));
  const payload = Buffer.alloc(p.size, 'x');
  const fd = p.fds > 0 ? fs.openSync('/dev/null', 'r') : -1;
  // p.lend (impl ums-lend): the fd stays open for the whole run, so it can be lent.
  const msg = fd >= 0 ? { data: payload, fds: [fd], lend: p.lend === true } : payload;
  s.on('error', (err) => {
    out({ role: 'send', event: 'error', error: err.code, message: err.message });
    process.exit(1);
  });
  pump(
    () => s.write(msg),
    (resume) => s.once('drain', resume),
    (sent) => {
      out({ role: 'send', event: 'done', msgs: sent, fds: fd >= 0 ? sent : 0 });
      const exit = () => {
        s.destroy();
        process.exit(0);
      };
      if (p.type === 'stream') s.end(exit);
      else s.write(END, exit);
    },
  );
}

function echo(p) {
  const s = UnixMessageSocket.fromFd(3);
  const message = p.type !== 'stream';
  s.on('data', (m) => {
    if (message && m.data.length === 1) process.exit(0);
    s.write(m.data);
  });
  s.on('end', () => process.exit(0));
  s.on('error', () => process.exit(0));
  ready('echo');
}

function ping(p) {
  const s = UnixMessageSocket.fromFd(3);
  const payload = Buffer.alloc(p.size, 'p');
  let got = 0;
  const pinger = new Pinger(
    p,
    () => s.write(payload),
    () => {
      if (p.type === 'stream') s.end(() => process.exit(0));
      else s.write(END, () => process.exit(0));
    },
  );
  s.on('data', (m) => {
    got += m.data.length;
    if (got >= p.size) {
      got -= p.size;
      pinger.reply();
    }
  });
  pinger.start();
}

// The long run: a fixed number of messages (p.count) with p.fds fds each,
// RSS sampled every tenth of the run in both processes, and the fd table
// compared before the socket is adopted and after it is destroyed.
// Each sample: RSS as it is, then (with --expose-gc, which the harness gives
// the long run) the V8 heap and external memory after a full GC, which tells
// a leak from a heap that has merely grown.
function rssSampler(count) {
  const every = Math.max(1, Math.floor(count / 10));
  const samples = [];
  const heap = [];
  return {
    every,
    samples,
    heap,
    take: () => {
      samples.push(process.memoryUsage.rss());
      if (typeof global.gc === 'function') {
        global.gc();
        const m = process.memoryUsage();
        heap.push(m.heapUsed + m.external);
      }
    },
  };
}

// fd counts: before = every fd but the socket (fd 3, about to be adopted);
// after = every fd once the socket is destroyed.
function soakRecv(p) {
  ready(); // first: the first write to a stdout pipe opens an fd of Node's own
  const fdsBefore = fdCount() - 1;
  const s = UnixMessageSocket.fromFd(3);
  const rss = rssSampler(p.count);
  let msgs = 0;
  let fds = 0;
  let next = rss.every;
  const t0 = process.hrtime.bigint();
  const end = (error) => {
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    s.destroy();
    setImmediate(() => {
      out({ role: 'recv', event: 'soak', msgs, fds, seconds, rss: rss.samples, heap: rss.heap, fdsBefore, fdsAfter: fdCount(), error });
      process.exit(0);
    });
  };
  s.on('data', (m) => {
    const list = m.fds;
    for (let i = 0; i < list.length; i++) closeSync(list[i]);
    fds += list.length;
    if (m.data.length === 1) return end();
    if (++msgs === next) {
      rss.take();
      next += rss.every;
    }
  });
  s.on('error', (err) => end(err.code));
}

function soakSend(p) {
  out({ role: 'send', event: 'ready', pid: process.pid }); // before counting fds, as above
  const fdsBefore = fdCount() - 1;
  const s = UnixMessageSocket.fromFd(3);
  const payload = Buffer.alloc(p.size, 'x');
  const fd = p.fds > 0 ? fs.openSync('/dev/null', 'r') : -1;
  const msg = fd >= 0 ? { data: payload, fds: [fd] } : payload;
  const rss = rssSampler(p.count);
  let sent = 0;
  let next = rss.every;
  s.on('error', (err) => {
    out({ role: 'send', event: 'error', error: err.code, message: err.message });
    process.exit(1);
  });
  const loop = () => {
    let k = 0;
    while (sent < p.count) {
      sent++;
      if (sent === next) {
        rss.take();
        next += rss.every;
      }
      if (!s.write(msg)) return void s.once('drain', loop);
      if (++k === 1024) return void setImmediate(loop);
    }
    s.write(END, () => {
      s.destroy();
      if (fd >= 0) fs.closeSync(fd);
      setImmediate(() => {
        out({ role: 'send', event: 'soak', msgs: sent, fds: fd >= 0 ? sent : 0, rss: rss.samples, heap: rss.heap, fdsBefore, fdsAfter: fdCount() });
        process.exit(0);
      });
    });
  };
  loop();
}

module.exports = { recv, send, echo, ping, soakRecv, soakSend };
