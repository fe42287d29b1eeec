'use strict';
// unix-dgram@2.0.7: datagram sockets bound to paths (it cannot adopt an fd or
// pass fds). The receiver connects back to the sender once it knows its path,
// so that the pair are each other's peers and the kernel's max_dgram_qlen (10
// datagrams) does not apply, as with a socketpair. On 'congestion' the message
// was dropped by the library; the sender waits for 'writable' and sends it
// again, so only successful sends are counted.
const path = require('node:path');
const unix = require('unix-dgram');
const { out, Counter, ready, pump, Pinger } = require('../common');

const END = Buffer.from('E');

function recv(p) {
  const c = new Counter(p);
  const s = unix.createSocket('unix_dgram');
  let connected = false;
  s.on('message', (buf, rinfo) => {
    if (!connected && rinfo.path) {
      connected = true;
      s.connect(rinfo.path);
    }
    if (buf.length === 1) {
      c.done();
      process.exit(0);
    }
    c.msgs++;
    c.bytes += buf.length;
    if (!c.started) c.start();
  });
  s.on('error', (err) => {
    c.done({ error: err.code });
    process.exit(0);
  });
  s.bind(path.join(p.path, 'recv'));
  ready();
}

function send(p) {
  const s = unix.createSocket('unix_dgram');
  const payload = Buffer.alloc(p.size, 'x');
  let congested = false;
  let dropped = 0;
  s.on('congestion', () => {
    congested = true;
  });
  s.on('error', (err) => {
    out({ role: 'send', event: 'error', error: err.code, message: err.message });
    process.exit(1);
  });
  s.bind(path.join(p.path, 'send'));
  s.connect(path.join(p.path, 'recv'));
  const write = (buf) => {
    s.send(buf);
    if (congested) {
      congested = false;
      dropped++;
      return false;
    }
    return true;
  };
  let retry = false;
  pump(
    () => {
      if (write(payload)) return true;
      retry = true;
      return false;
    },
    (resume) =>
      s.once('writable', () => {
        // The congested message did not go: send it again before going on.
        if (retry && !write(payload)) return s.once('writable', () => resume());
        retry = false;
        resume();
      }),
    (sent) => {
      out({ role: 'send', event: 'done', msgs: sent - (retry ? 1 : 0), fds: 0, congestion: dropped });
      const end = () => {
        if (!write(END)) return s.once('writable', end);
        s.close();
        process.exit(0);
      };
      end();
    },
  );
}

function echo(p) {
  const s = unix.createSocket('unix_dgram');
  s.on('message', (buf, rinfo) => {
    if (buf.length === 1) process.exit(0);
    s.send(buf, 0, buf.length, rinfo.path);
  });
  s.bind(path.join(p.path, 'recv'));
  ready('echo');
}

function ping(p) {
  const s = unix.createSocket('unix_dgram');
  const payload = Buffer.alloc(p.size, 'p');
  s.bind(path.join(p.path, 'send'));
  s.connect(path.join(p.path, 'recv'));
  const pinger = new Pinger(
    p,
    () => s.send(payload),
    () => {
      s.send(END);
      process.exit(0);
    },
  );
  s.on('message', () => pinger.reply());
  pinger.start();
}

module.exports = { recv, send, echo, ping };
