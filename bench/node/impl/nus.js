'use strict';
// node-unix-socket@0.2.7 (napi-rs): SeqpacketSocket adopts fd 3; DgramSocket
// only binds paths and sends with sendTo (no connect, so an unconnected
// sender and the kernel's max_dgram_qlen of 10 queued datagrams apply). Its
// write()/sendTo() queue is unbounded, so the sender keeps at most WINDOW
// messages between the call and its callback. No fd passing.
//
// DgramSocket with more than one send in flight aborted the process here
// (Rust panic "Failed to recover `DgramSocketWrap` type from napi value" at
// src/dgram.rs:444 in its poll callback, then SIGABRT) or stopped sending, so
// its sender has one send in flight; failed sends (their callback gets an
// error) are not counted as sent.
const path = require('node:path');
const { SeqpacketSocket, DgramSocket } = require('node-unix-socket');
const { out, Counter, ready, pump, Pinger } = require('../common');

const END = Buffer.from('E');

function recv(p) {
  const c = new Counter(p);
  const done = (extra) => {
    c.done(extra);
    process.exit(0);
  };
  const onData = (buf) => {
    if (buf.length === 1) return done();
    c.msgs++;
    c.bytes += buf.length;
    if (!c.started) c.start();
  };
  if (p.type === 'dgram') {
    const s = new DgramSocket();
    s.on('data', onData);
    s.on('error', (err) => done({ error: String(err.message) }));
    s.bind(path.join(p.path, 'recv'));
  } else {
    const s = new SeqpacketSocket(3);
    s.on('data', onData);
    s.on('end', () => done());
    s.on('error', (err) => done({ error: String(err.message) }));
  }
  ready();
}

function sender(p) {
  if (p.type === 'dgram') {
    const s = new DgramSocket();
    s.on('error', (err) => {
      out({ role: 'send', event: 'error', error: String(err.message) });
      process.exit(1);
    });
    s.bind(path.join(p.path, 'send'));
    const dest = path.join(p.path, 'recv');
    return { write: (buf, cb) => s.sendTo(buf, 0, buf.length, dest, cb), close: () => s.close(), on: (e, f) => s.on(e, f) };
  }
  const s = new SeqpacketSocket(3);
  s.on('error', (err) => {
    out({ role: 'send', event: 'error', error: String(err.message) });
    process.exit(1);
  });
  return { write: (buf, cb) => s.write(buf, 0, buf.length, cb), close: () => s.destroy(), on: (e, f) => s.on(e, f) };
}

function send(p) {
  const WINDOW = Number(process.env.NUS_WINDOW || (p.type === 'dgram' ? 1 : 256));
  const s = sender(p);
  const payload = Buffer.alloc(p.size, 'x');
  let inflight = 0;
  let waiting = null;
  let failed = 0;
  const written = (err) => {
    inflight--;
    if (err) failed++;
    if (waiting !== null && inflight <= WINDOW / 2) {
      const resume = waiting;
      waiting = null;
      resume();
    }
  };
  pump(
    () => {
      inflight++;
      s.write(payload, written);
      return inflight < WINDOW;
    },
    (resume) => {
      // Callbacks may have run synchronously already.
      if (inflight <= WINDOW / 2) setImmediate(resume);
      else waiting = resume;
    },
    (sent) => {
      const finish = () => {
        if (inflight > 0) {
          waiting = finish;
          return;
        }
        out({ role: 'send', event: 'done', msgs: sent - failed, fds: 0, failed });
        s.write(END, () => {
          s.close();
          process.exit(0);
        });
      };
      finish();
    },
  );
}

function echo(p) {
  if (p.type === 'dgram') {
    const s = new DgramSocket();
    s.on('data', (buf, from) => {
      if (buf.length === 1) process.exit(0);
      s.sendTo(buf, 0, buf.length, from);
    });
    s.bind(path.join(p.path, 'recv'));
  } else {
    const s = new SeqpacketSocket(3);
    s.on('data', (buf) => {
      if (buf.length === 1) process.exit(0);
      s.write(buf);
    });
    s.on('end', () => process.exit(0));
  }
  ready('echo');
}

function ping(p) {
  const s = sender(p);
  const payload = Buffer.alloc(p.size, 'p');
  const pinger = new Pinger(
    p,
    () => s.write(payload),
    () =>
      s.write(END, () => {
        s.close();
        process.exit(0);
      }),
  );
  s.on('data', () => pinger.reply());
  pinger.start();
}

module.exports = { recv, send, echo, ping };
