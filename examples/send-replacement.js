'use strict';
// The low-level layer: sendmsg(2)/recvmsg(2) used directly, the way
// socket.send()/recv() would be, on the raw fds of a socketpair.
//
//   node examples/send-replacement.js
//
// Every call is non-blocking: an empty socket throws EAGAIN instead of
// waiting. The stream layer (socketPair(), connect()...) does the polling,
// batching and fd bookkeeping for you; this is the layer underneath.
const { sendmsg, recvmsg, rights, fdsOf, lowlevel, constants } = require('unix-message-socket');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { MSG_TRUNC, MSG_CTRUNC, MSG_PEEK, MSG_CMSG_CLOEXEC } = constants;
// msg_flags as the kernel returns it. Linux echoes MSG_CMSG_CLOEXEC back
// (recvmsg always asks for it, so received fds are close-on-exec): test
// single bits such as MSG_TRUNC and MSG_CTRUNC, never compare with 0.
function flagNames(flags) {
  const names = [];
  if (flags & MSG_TRUNC) names.push('MSG_TRUNC');
  if (flags & MSG_CTRUNC) names.push('MSG_CTRUNC');
  if (flags & MSG_CMSG_CLOEXEC) names.push('MSG_CMSG_CLOEXEC');
  return `${flags}${names.length ? ` (${names.join('|')})` : ''}`;
}
const show = (m) => `data=${JSON.stringify(m.data.toString())} (${m.data.length} bytes), flags=${flagNames(m.flags)}, ancillary items=${m.ancillary.length}`;

const [a, b] = lowlevel.socketpair('seqpacket');
console.log(`socketpair('seqpacket') -> fds ${a}, ${b}`);

// 1. send(): a gather write. Several buffers, one message on a seqpacket socket.
const sent = sendmsg(a, [Buffer.from('hello, '), Buffer.from('unix '), Buffer.from('sockets')]);
console.log(`\nsendmsg(${a}, [3 buffers]) -> ${sent} bytes`);
// Peek without a control buffer (cmsgSize: 0): a peek with one would install
// fresh duplicates of any queued fds on every call, so recvmsg refuses it.
const peeked = recvmsg(b, { flags: MSG_PEEK, cmsgSize: 0 });
console.log(`recvmsg(${b}, MSG_PEEK, cmsgSize 0) -> ${show(peeked)}`);
console.log(`recvmsg(${b})                      -> ${show(recvmsg(b))}`);

// 2. recv() into a buffer that is too small: the rest of the message is
//    discarded and MSG_TRUNC says so.
sendmsg(a, Buffer.from('a message longer than ten bytes'));
console.log(`\nrecvmsg(${b}, maxSize 10) -> ${show(recvmsg(b, { maxSize: 10 }))}`);

// 3. Nothing to read: non-blocking, so EAGAIN is thrown.
try {
  recvmsg(b);
} catch (err) {
  console.log(`\nrecvmsg on an empty socket -> ${err.code} (${err.message})`);
}

// 4. Passing an fd: rights(fds) builds the SCM_RIGHTS control message,
//    fdsOf(ancillary) decodes the fds that arrived.
const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ums-send-')), 'note.txt');
fs.writeFileSync(file, 'read through a passed descriptor\n');
const fileFd = fs.openSync(file, 'r');
sendmsg(a, Buffer.from('here is a file'), [rights([fileFd])]);
console.log(`\nsendmsg(${a}, "here is a file", [rights([${fileFd}])])`);
// The kernel holds its own reference while the message is in flight, so the
// sender may close its copy (and even delete the file) right away.
fs.closeSync(fileFd);
fs.rmSync(path.dirname(file), { recursive: true });

const msg = recvmsg(b);
const [level, type, payload] = msg.ancillary[0];
const fds = fdsOf(msg.ancillary);
console.log(`recvmsg(${b}) -> ${show(msg)}`);
console.log(
  `  ancillary[0] = [level ${level} (SOL_SOCKET=${constants.SOL_SOCKET}), type ${type} (SCM_RIGHTS=${constants.SCM_RIGHTS}), ${payload.length}-byte payload]`,
);
console.log(`  fdsOf(ancillary) -> [${fds.join(', ')}] (installed in this process by the kernel, close-on-exec)`);
const text = fs.readFileSync(fds[0], 'utf8');
console.log(`  read through fd ${fds[0]}: ${JSON.stringify(text)}`);
// Received fds belong to the receiver: close them.
for (const fd of fds) lowlevel.close(fd);

lowlevel.close(a);
lowlevel.close(b);
console.log('\nclosed every fd; done');
