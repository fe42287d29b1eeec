'use strict';
// Passes an open file's fd through a real D-Bus message bus, to ourselves,
// in a D-Bus message: the UNIX_FD case, on a framed stream socket.
//
//   node examples/dbus-fd.js [bus address]
//
// The bus address is the argument, else $DBUS_SESSION_BUS_ADDRESS
// (unix:path=... or unix:abstract=...). Any dbus-daemon will do, for example a
// private one: `dbus-daemon --session --nofork --print-address`.
//
// 1. examples/dbus/auth.js connects a raw AF_UNIX stream socket with the
//    low-level calls and authenticates (EXTERNAL, NEGOTIATE_UNIX_FD, BEGIN).
// 2. UnixMessageSocket.fromFd(fd, { framed: { headerSize: 16, frameLength } })
//    adopts it: D-Bus messages are framed by a length computed from their
//    16-byte fixed header (examples/dbus/wire.js), and the socket delivers
//    each one as one message with exactly its fds, across partial reads.
// 3. We say Hello to get our unique name (":1.42"), then call a method on
//    that name, org.example.FdEcho.Pass(h), sending an open temp file's fd
//    with it. The bus routes the call back to us: it arrives with exactly one
//    fd, and that fd is the same file (same device and inode, same text).
//
// Who owns which fd: the temp file's fd is ours until the end (write() sends
// it and keeps no claim on ours). authenticate() hands us the socket fd;
// fromFd() takes it over (the socket works on a duplicate of its own and
// closes ours at once) and we destroy the socket at the end. Every fd that
// arrives in a message is ours: each is closed once its message is handled,
// whatever the message. The process lists its fds after authenticating and
// at the end: the same, but for the adopted fd.
// Exit status 0 when the file came back, 1 with a message otherwise.
const { UnixMessageSocket, lowlevel } = require('unix-message-socket');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { authenticate } = require('./dbus/auth');
const { TYPE, FLAG, frameLength, encodeMessage, parseMessage } = require('./dbus/wire');

/** Generous: the run under AddressSanitizer, on a loaded machine, is many times slower. */
const TIMEOUT_MS = 30000;
const TEXT = `passed through D-Bus by process ${process.pid}\n`;
const BUS = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus' };
const ECHO = { path: '/org/example/FdEcho', interface: 'org.example.FdEcho', member: 'Pass' };

const log = (line) => console.log(line);
/** The process's open fds and what each is ("pipe:[123]", a path...); readdirSync's own fd is gone by the readlink. */
function openFds() {
  const fds = new Map();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      fds.set(fd, fs.readlinkSync(`/proc/self/fd/${fd}`));
    } catch {} // readdirSync's own fd, closed by now
  }
  return fds;
}

/**
 * The bus's messages in order: next() resolves with the next one, parsed,
 * and its fds, which are the caller's from then on. A message that does not
 * parse, an error or the end of the connection fails every next() after it
 * (the fds of a message that did not parse are closed here).
 */
class Inbox {
  #queue = [];
  #waiting = null;
  #failure = null;
  constructor(socket) {
    socket.on('data', (msg) => {
      let message;
      try {
        message = parseMessage(msg.data);
      } catch (err) {
        closeAll(msg.fds);
        this.#fail(err);
        return;
      }
      this.#queue.push({ message, fds: msg.fds });
      this.#wake();
    });
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => this.#fail(new Error('the bus closed the connection')));
  }
  #fail(err) {
    this.#failure ??= err;
    this.#wake();
  }
  #wake() {
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.();
  }
  async next() {
    for (;;) {
      const item = this.#queue.shift();
      if (item) return item;
      if (this.#failure) throw this.#failure;
      let timer;
      await new Promise((resolve, reject) => {
        this.#waiting = resolve;
        timer = setTimeout(() => reject(new Error(`no message from the bus within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
      }).finally(() => clearTimeout(timer));
    }
  }
  /** Closes the fds of messages never taken (the socket is being closed). */
  drain() {
    for (const { fds } of this.#queue.splice(0)) closeAll(fds);
  }
}

function closeAll(fds) {
  for (const fd of fds) lowlevel.close(fd);
}

/** A temp file holding TEXT, already unlinked: only its fd names it. */
function tempFile() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbus-fd-'));
  const file = path.join(dir, 'note.txt');
  try {
    fs.writeFileSync(file, TEXT);
    return fs.openSync(file, 'r');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Reads the next messages until `handle` returns a value other than undefined; closes every fd that arrived. */
async function until(inbox, handle) {
  for (;;) {
    const { message, fds } = await inbox.next();
    try {
      if (message.type === TYPE.ERROR) throw new Error(`the bus answered ${message.fields.errorName}: ${message.body[0] ?? ''}`);
      const result = handle(message, fds);
      if (result !== undefined) return result;
      if (message.type === TYPE.SIGNAL && message.fields.member === 'NameAcquired') log(`bus: signal NameAcquired(${message.body[0]})`);
      else log(`bus: skipped a message of type ${message.type} (${message.fields.member ?? message.fields.replySerial ?? '?'})`);
    } finally {
      closeAll(fds);
    }
  }
}

/** Hello, then our call to ourselves with the file's fd; resolves once it came back, checked. */
async function exchange(socket, inbox, file) {
  socket.write(encodeMessage({ type: TYPE.METHOD_CALL, serial: 1, ...BUS, member: 'Hello' }));
  const name = await until(inbox, (m) => (m.type === TYPE.METHOD_RETURN && m.fields.replySerial === 1 ? m.body[0] : undefined));
  log(`bus: Hello -> our unique name is ${name}`);

  // NO_REPLY_EXPECTED: we are the callee too, and need not answer ourselves.
  const call = { type: TYPE.METHOD_CALL, serial: 2, flags: FLAG.NO_REPLY_EXPECTED, ...ECHO, destination: name, body: [['h', 0]], unixFds: 1 };
  socket.write({ data: encodeMessage(call), fds: [file] });
  log(`sent: ${ECHO.interface}.${ECHO.member}(h 0) to ${name} with fd ${file} (UNIX_FDS 1)`);

  const passed = (m) => m.type === TYPE.METHOD_CALL && m.fields.interface === ECHO.interface && m.fields.member === ECHO.member;
  await until(inbox, (m, fds) => {
    if (!passed(m)) return undefined;
    const { sender, signature, unixFds } = m.fields;
    log(`received: ${ECHO.member} from ${sender}, signature ${signature}, UNIX_FDS ${unixFds}, ${fds.length} fd(s) with the message`);
    if (sender !== name) throw new Error(`the call came from ${sender}, not from us (${name})`);
    if (signature !== 'h' || unixFds !== 1 || fds.length !== 1)
      throw new Error(`expected one fd and signature h, got ${fds.length} fd(s), ${signature}, UNIX_FDS ${unixFds}`);
    const fd = fds[m.body[0]];
    if (fd === undefined) throw new Error(`the h value ${m.body[0]} names no fd of the message`);
    const [mine, theirs] = [fs.fstatSync(file), fs.fstatSync(fd)];
    if (mine.dev !== theirs.dev || mine.ino !== theirs.ino) throw new Error(`a different file came back (inode ${theirs.ino}, sent ${mine.ino})`);
    const text = Buffer.alloc(TEXT.length + 16);
    const got = text.toString('utf8', 0, fs.readSync(fd, text, 0, text.length, 0));
    if (got !== TEXT) throw new Error(`the file that came back reads ${JSON.stringify(got)}`);
    log(`received: fd ${fd} is the file we sent (inode ${theirs.ino}), reading ${JSON.stringify(TEXT.trim())}`);
    return true;
  });
}

async function main() {
  const address = process.argv[2] ?? process.env.DBUS_SESSION_BUS_ADDRESS;
  if (!address) throw new Error('no bus: pass an address (unix:path=...) or set DBUS_SESSION_BUS_ADDRESS');
  const { fd } = await authenticate(address, { timeoutMs: TIMEOUT_MS, log });
  // The fds counted from here on, once the first output is written and the
  // addon loaded (each opens an fd of its own for good: libuv's stdout pipe
  // setup, the addon's reserve fd for EMFILE): at the end, the same but `fd`.
  const before = openFds();
  before.delete(String(fd));
  let socket;
  try {
    socket = UnixMessageSocket.fromFd(fd, { framed: { headerSize: 16, frameLength } });
  } catch (err) {
    lowlevel.close(fd); // fromFd() failed: fd is still ours
    throw err;
  }
  const inbox = new Inbox(socket);
  const file = tempFile();
  try {
    await exchange(socket, inbox, file);
  } finally {
    fs.closeSync(file);
    const closed = socket.closed ? null : new Promise((resolve) => socket.once('close', resolve));
    socket.destroy();
    await closed;
    inbox.drain();
  }
  const after = openFds();
  const opened = [...after].filter(([fd]) => !before.has(fd));
  const closed = [...before].filter(([fd]) => !after.has(fd));
  if (opened.length + closed.length > 0)
    throw new Error(`fds opened and not closed: ${JSON.stringify(opened)}; fds closed that were open: ${JSON.stringify(closed)}`);
  log(`done: the fd came back through the bus; ${after.size} fds open, as at the start`);
}

main().catch((err) => {
  // The code says which rule broke (ENOENT, ERR_FRAME_TOO_LARGE...); the cause, where frameLength() threw, why.
  const code = err.code ? `${err.code}: ` : '';
  const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
  console.error(`dbus-fd: ${code}${err.message}${cause}`);
  process.exit(1);
});
