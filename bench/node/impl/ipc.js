'use strict';
// child_process IPC: the sender forks the receiver ('json' serialization, the
// default) and sends { d: <size-character string> } messages. With fds: 1 each
// message carries a handle (a net.Socket over one end of a socketpair, sent
// with keepOpen), the only kind of fd IPC can pass; the receiver destroys
// every socket it gets. The receiver shares the sender's stdout.
const net = require('node:net');
const { fork } = require('node:child_process');
const { LIB, out, Counter, pump, Pinger } = require('../common');

const PEER = require.resolve('../peer.js');

// The harness pins the process it starts; the forked side goes to its own
// CPU the same way (taskset keeps the IPC channel fd and NODE_CHANNEL_FD).
function forkChild(p, role) {
  const options = { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] };
  if (p.recvCpu !== null && p.recvCpu !== undefined) {
    options.execPath = 'taskset';
    options.execArgv = ['-c', String(p.recvCpu), process.execPath];
  }
  return fork(PEER, ['ipc', 'child', JSON.stringify({ ...p, childRole: role })], options);
}

function send(p) {
  const child = forkChild(p, 'recv');
  const msg = { d: 'x'.repeat(p.size) };
  let handle = null;
  if (p.fds > 0) {
    const { lowlevel } = require(LIB);
    const [a, b] = lowlevel.socketpair('stream');
    lowlevel.close(b);
    handle = new net.Socket({ fd: a, readable: false, writable: false });
  }
  const options = { keepOpen: true };
  // send() returns false past its queue limit and has no 'drain': keep at most
  // WINDOW messages between send() and their callbacks.
  const WINDOW = 1024;
  let inflight = 0;
  let waiting = null;
  const sent = () => {
    inflight--;
    if (waiting !== null && inflight <= WINDOW / 2) {
      const resume = waiting;
      waiting = null;
      resume();
    }
  };
  child.once('message', () => {
    pump(
      () => {
        inflight++;
        const ok = handle ? child.send(msg, handle, options, sent) : child.send(msg, sent);
        return ok && inflight < WINDOW;
      },
      (resume) => {
        if (inflight <= WINDOW / 2) setImmediate(resume);
        else waiting = resume;
      },
      (n) => {
        out({ role: 'send', event: 'done', msgs: n, fds: handle ? n : 0 });
        child.send({ end: true }, () => child.disconnect());
        child.on('exit', (code) => process.exit(code ?? 1));
      },
    );
  });
}

function child(p) {
  if (p.childRole === 'echo') {
    process.on('message', (m) => {
      if (m.end) process.exit(0);
      process.send(m);
    });
    process.send({ ready: true });
    return;
  }
  const c = new Counter(p);
  process.on('message', (m, handle) => {
    if (handle) {
      handle.destroy();
      c.fds++;
    }
    if (m.end) {
      c.done();
      process.exit(0);
    }
    c.msgs++;
    c.bytes += m.d.length;
    if (!c.started) c.start();
  });
  process.on('disconnect', () => {
    c.done();
    process.exit(0);
  });
  process.send({ ready: true });
}

function ping(p) {
  const c = forkChild(p, 'echo');
  const msg = { d: 'p'.repeat(p.size) };
  const pinger = new Pinger(
    p,
    () => c.send(msg),
    () => {
      c.send({ end: true });
      c.on('exit', () => process.exit(0));
    },
  );
  c.once('message', () => {
    c.on('message', () => pinger.reply());
    pinger.start();
  });
}

module.exports = { send, child, ping };
