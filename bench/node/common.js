'use strict';
// What every Node workload program shares: the line protocol with the harness
// (bench/run.js), the receive counter with its timed window, the sender's stop
// signal, and the ping-pong clock. The C programs (bench/c) speak the same
// protocol: one JSON object per line on stdout.
//
// Throughput: the receiver starts its clock at the first message, lets
// warmMs pass, counts for measMs and prints {event:'measured'}. The harness
// then sends SIGUSR2 to the sender, which stops, prints how many messages and
// fds it handed to its library, and sends the end marker (a 1-byte message;
// EOF on a stream). The receiver drains to the marker and prints its totals.
const fs = require('node:fs');
const { performance } = require('node:perf_hooks');

const LIB = require.resolve('../../dist');

function out(obj) {
  // Pipes are synchronous on Linux, so this is written before any exit.
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/** The message counter of a receiver. The hot path is `msgs++; bytes += n`. */
class Counter {
  constructor(params) {
    this.warmMs = params.warmMs;
    this.measMs = params.measMs;
    this.msgs = 0;
    this.bytes = 0;
    this.fds = 0;
    this.started = false;
    this.finished = false;
  }

  /** Call on every message; cheap after the first. */
  start() {
    if (this.started) return;
    this.started = true;
    setTimeout(() => {
      const t0 = performance.now();
      const m0 = this.msgs;
      const b0 = this.bytes;
      // The harness reads both sides' CPU time from /proc at this and at 'measured'.
      out({ role: 'recv', event: 'window', pid: process.pid });
      setTimeout(() => {
        const t1 = performance.now();
        out({ role: 'recv', event: 'measured', msgs: this.msgs - m0, bytes: this.bytes - b0, seconds: (t1 - t0) / 1000 });
      }, this.measMs);
    }, this.warmMs);
  }

  /** Prints the totals (once). */
  done(extra) {
    if (this.finished) return;
    this.finished = true;
    out({ role: 'recv', event: 'done', msgs: this.msgs, bytes: this.bytes, fds: this.fds, ...extra });
  }
}

function ready(role = 'recv') {
  out({ role, event: 'ready' });
}

/**
 * Runs a sender's loop. `writeOne()` hands one message to the library and
 * returns false when the caller must wait; `waitFor(resume)` arranges for
 * resume() to be called when writing may go on. Yields to the event loop every
 * 1024 messages so that the stop signal is seen even if writes never block.
 */
function pump(writeOne, waitFor, finish) {
  let stopped = false;
  let sent = 0;
  process.once('SIGUSR2', () => {
    stopped = true;
  });
  // The harness signals this pid (it may have started us under perf).
  out({ role: 'send', event: 'ready', pid: process.pid });
  const loop = () => {
    let k = 0;
    while (!stopped) {
      sent++;
      if (!writeOne()) {
        waitFor(loop);
        return;
      }
      if (++k === 1024) {
        setImmediate(loop);
        return;
      }
    }
    finish(sent);
  };
  loop();
}

/** The pinger: calls sendOne(), expects reply() for each echo. */
class Pinger {
  constructor(params, sendOne, finish) {
    this.warmMs = params.warmMs;
    this.measMs = params.measMs;
    this.sendOne = sendOne;
    this.finish = finish;
    this.samples = [];
    this.t0 = 0;
    this.prev = 0;
    this.begin = 0;
    this.measuring = false;
  }

  start() {
    this.begin = this.prev = performance.now();
    this.sendOne();
  }

  reply() {
    const t = performance.now();
    if (this.measuring) {
      this.samples.push(t - this.prev);
      if (t - this.t0 >= this.measMs) {
        const s = this.samples.sort((a, b) => a - b);
        const total = t - this.t0;
        out({
          role: 'ping',
          event: 'measured',
          rtts: s.length,
          seconds: total / 1000,
          mean_us: (total / s.length) * 1000,
          p50_us: s[s.length >> 1] * 1000,
          p99_us: s[Math.floor(s.length * 0.99)] * 1000,
        });
        this.finish();
        return;
      }
    } else if (t - this.begin >= this.warmMs) {
      this.measuring = true;
      this.t0 = t;
      out({ role: 'ping', event: 'window', pid: process.pid });
    }
    this.prev = t;
    this.sendOne();
  }
}

/** The number of open fds (not counting the one readdir itself holds). */
function fdCount() {
  return fs.readdirSync('/proc/self/fd').length - 1;
}

module.exports = { LIB, out, Counter, ready, pump, Pinger, fdCount, closeSync: fs.closeSync };
