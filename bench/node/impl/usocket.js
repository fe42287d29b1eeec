'use strict';
// usocket@1.1.0: a stream Duplex with fd passing (stream sockets only).
// Received fds are taken with read(undefined, null), which returns the
// buffered bytes and every queued fd: read(size, 1) per message, the way
// its README pairs them, stalls for good once usocket has dropped an fd
// (seen here: 16 KiB buffered, no fds left, no more 'readable').
const fs = require('node:fs');
const { USocket } = require('usocket');
const { out, Counter, ready, pump, Pinger, closeSync } = require('../common');

const open = () => new USocket({ fd: 3 });

function recv(p) {
  const c = new Counter(p);
  const s = open();
  const end = () => {
    c.done();
    process.exit(0);
  };
  if (p.fds > 0) {
    s.on('readable', () => {
      for (;;) {
        const m = s.read(undefined, null);
        if (m === null) break;
        for (const fd of m.fds) closeSync(fd);
        c.fds += m.fds.length;
        if (m.data === null) break;
        c.msgs++;
        c.bytes += m.data.length;
        if (!c.started) c.start();
      }
    });
    s.on('end', end);
  } else {
    s.on('data', (chunk) => {
      c.msgs++;
      c.bytes += chunk.length;
      if (!c.started) c.start();
    });
    s.on('end', end);
  }
  s.on('error', end);
  ready();
}

function send(p) {
  const s = open();
  const payload = Buffer.alloc(p.size, 'x');
  const fd = p.fds > 0 ? fs.openSync('/dev/null', 'r') : -1;
  const msg = fd >= 0 ? { data: payload, fds: [fd] } : payload;
  s.on('error', (err) => {
    out({ role: 'send', event: 'error', error: err.code, message: err.message });
    process.exit(1);
  });
  // USocket.prototype.write() returns undefined instead of the Writable's
  // result, so backpressure is read from writableNeedDrain.
  pump(
    () => {
      s.write(msg);
      return !s.writableNeedDrain;
    },
    (resume) => s.once('drain', resume),
    (sent) => {
      out({ role: 'send', event: 'done', msgs: sent, fds: fd >= 0 ? sent : 0 });
      s.end();
      s.once('finish', () => process.exit(0));
    },
  );
}

function echo() {
  const s = open();
  s.on('data', (chunk) => s.write(chunk));
  s.on('end', () => process.exit(0));
  s.on('error', () => process.exit(0));
  ready('echo');
}

function ping(p) {
  const s = open();
  const payload = Buffer.alloc(p.size, 'p');
  let got = 0;
  const pinger = new Pinger(
    p,
    () => s.write(payload),
    () => {
      s.end();
      process.exit(0);
    },
  );
  s.on('data', (chunk) => {
    got += chunk.length;
    if (got >= p.size) {
      got -= p.size;
      pinger.reply();
    }
  });
  pinger.start();
}

module.exports = { recv, send, echo, ping };
