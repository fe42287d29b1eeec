'use strict';
// Node's own net.Socket over a Unix stream socketpair (bytes only: no
// boundaries, no fds). The baseline that stream sockets must at least match.
const net = require('node:net');
const { out, Counter, ready, pump, Pinger } = require('../common');

const open = () => new net.Socket({ fd: 3, readable: true, writable: true });

function recv(p) {
  const c = new Counter(p);
  const s = open();
  s.on('data', (chunk) => {
    c.msgs++;
    c.bytes += chunk.length;
    if (!c.started) c.start();
  });
  const end = () => {
    c.done();
    process.exit(0);
  };
  s.on('end', end);
  s.on('error', end);
  ready();
}

function send(p) {
  const s = open();
  const payload = Buffer.alloc(p.size, 'x');
  s.on('error', (err) => {
    out({ role: 'send', event: 'error', error: err.code });
    process.exit(1);
  });
  pump(
    () => s.write(payload),
    (resume) => s.once('drain', resume),
    (sent) => {
      out({ role: 'send', event: 'done', msgs: sent, fds: 0 });
      s.end(() => process.exit(0));
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
    () => s.end(() => process.exit(0)),
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
