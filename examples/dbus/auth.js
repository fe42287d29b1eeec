'use strict';
// Connecting to a D-Bus bus with the low-level calls: the bus address
// (unix:path=... or unix:abstract=...), a raw AF_UNIX stream socket, and the
// SASL line protocol that precedes the messages (D-Bus specification,
// "Authentication Protocol"): EXTERNAL authentication, then
// NEGOTIATE_UNIX_FD, then BEGIN.
//
// Who owns which fd: authenticate() creates the socket fd and returns it to
// the caller, who owns it from then on; on any failure it closes the fd
// itself before rejecting. Every watcher it starts is closed before it
// returns or rejects (a watcher polls a duplicate of its own).
const { lowlevel } = require('unix-message-socket');

const { SOL_SOCKET, SO_ERROR } = lowlevel.constants;

/** A reply line longer than this is not a bus talking: the longest real one is an ERROR with a short message. */
const MAX_LINE = 16384;

/**
 * The socket address of the first unix: entry of a D-Bus address
 * ("unix:path=/run/user/1000/bus;unix:abstract=/tmp/dbus-x,guid=..."): a
 * Buffer of the raw sun_path bytes (values are %-escaped, and may be any
 * bytes), with a leading 0 byte for an abstract name. Other transports and
 * the server-only keys (tmpdir, dir, runtime) are skipped.
 * @param {string} text
 * @returns {Buffer}
 */
function socketAddress(text) {
  for (const entry of text.split(';')) {
    const colon = entry.indexOf(':');
    if (colon < 0 || entry.slice(0, colon) !== 'unix') continue;
    const keys = new Map();
    for (const pair of entry.slice(colon + 1).split(',')) {
      const eq = pair.indexOf('=');
      if (eq > 0) keys.set(pair.slice(0, eq), unescapeValue(pair.slice(eq + 1)));
    }
    if (keys.has('path')) return keys.get('path');
    if (keys.has('abstract')) return Buffer.concat([Buffer.from([0]), keys.get('abstract')]);
  }
  throw new Error(`no unix:path= or unix:abstract= entry in the D-Bus address ${JSON.stringify(text)}`);
}

/** A D-Bus address value: %XX is the byte XX, every other character stands for itself. */
function unescapeValue(value) {
  const bytes = [];
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '%') {
      const hex = value.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Error(`bad %-escape in the D-Bus address value ${JSON.stringify(value)}`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(...Buffer.from(value[i], 'utf8'));
  }
  return Buffer.from(bytes);
}

/** Resolves once `fd` is readable or writable as asked; rejects on a poll error or after `ms`. */
function ready(fd, events, ms) {
  return new Promise((resolve, reject) => {
    const watcher = lowlevel.watch(fd, events, ({ error }) => {
      clearTimeout(timer);
      watcher.close();
      if (error) reject(error);
      else resolve();
    });
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`the bus did not answer within ${ms} ms`));
    }, ms);
  });
}

/** Sends all of `bytes`, however the kernel splits them (a stream socket may take part of a send). */
async function sendAll(fd, bytes, ms) {
  let rest = bytes;
  while (rest.length > 0) {
    try {
      rest = rest.subarray(lowlevel.sendmsg(fd, rest));
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err;
      await ready(fd, { writable: true }, ms);
    }
  }
}

/**
 * Reads the bus's next reply line, without its CRLF. The line may come in
 * any number of pieces (a stream socket keeps no boundaries), so pieces are
 * gathered until CRLF. Reading whole chunks cannot swallow bytes that belong
 * to the messages after BEGIN: the protocol is lock-step, the server sends
 * exactly one line for each command and nothing unasked, and we send the
 * next command (BEGIN last, answered by nothing) only after this line is
 * complete. So bytes after the CRLF would be a broken server: refused.
 */
async function readLine(fd, ms) {
  let line = Buffer.alloc(0);
  for (;;) {
    let piece;
    try {
      piece = lowlevel.recvmsg(fd, { maxSize: MAX_LINE, cmsgSize: 0 }).data;
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err;
      await ready(fd, { readable: true }, ms);
      continue;
    }
    if (piece.length === 0) throw new Error('the bus closed the connection during authentication');
    line = Buffer.concat([line, piece]);
    const end = line.indexOf('\r\n');
    if (end >= 0) {
      if (end + 2 !== line.length) throw new Error('the bus sent more than one line for one command');
      return line.toString('latin1', 0, end);
    }
    if (line.length > MAX_LINE) throw new Error(`a reply line of over ${MAX_LINE} bytes`);
  }
}

/** Sends one command and returns the reply line, or throws unless it starts with `expect`. */
async function command(fd, text, expect, ms) {
  await sendAll(fd, Buffer.from(`${text}\r\n`, 'latin1'), ms);
  const reply = await readLine(fd, ms);
  if (reply !== expect && !reply.startsWith(`${expect} `)) throw new Error(`${text.split(' ')[0]}: the bus answered ${JSON.stringify(reply)}`);
  return reply;
}

/**
 * Connects to the bus at `address` (a D-Bus address string) and
 * authenticates: the 0 byte every client sends first, AUTH EXTERNAL with our
 * uid (the bus checks it against SO_PEERCRED: no secret), NEGOTIATE_UNIX_FD
 * (without AGREE_UNIX_FD the bus refuses every message that carries fds),
 * BEGIN. Resolves `{ fd, guid }`: an fd at the first byte of the message
 * stream, yours to close or adopt.
 * @param {string} address
 * @param {{ timeoutMs?: number, log?: (line: string) => void }} [options]
 * @returns {Promise<{ fd: number, guid: string }>}
 */
async function authenticate(address, { timeoutMs = 20000, log = () => {} } = {}) {
  const where = socketAddress(address);
  const fd = lowlevel.socket('unix', 'stream');
  try {
    // A Unix stream connect completes at once or fails (EAGAIN: backlog full);
    // false (in progress) is handled anyway, as the general contract says.
    if (!lowlevel.connect(fd, where)) {
      await ready(fd, { writable: true }, timeoutMs);
      const errno = lowlevel.getsockopt(fd, SOL_SOCKET, SO_ERROR);
      if (errno !== 0) throw new Error(`connect to ${address} failed: errno ${errno}`);
    }
    // EXTERNAL's initial response is our uid as a decimal string, hex-encoded.
    const uid = Buffer.from(String(process.getuid()), 'latin1').toString('hex');
    await sendAll(fd, Buffer.from([0]), timeoutMs);
    const ok = await command(fd, `AUTH EXTERNAL ${uid}`, 'OK', timeoutMs);
    const guid = ok.slice(3);
    log(`auth: EXTERNAL as uid ${process.getuid()} accepted, server guid ${guid}`);
    await command(fd, 'NEGOTIATE_UNIX_FD', 'AGREE_UNIX_FD', timeoutMs);
    log('auth: AGREE_UNIX_FD');
    await sendAll(fd, Buffer.from('BEGIN\r\n', 'latin1'), timeoutMs);
    return { fd, guid };
  } catch (err) {
    lowlevel.close(fd);
    throw err;
  }
}

module.exports = { authenticate, socketAddress };
