'use strict';
// Connects to examples/echo-server.js, sends a few lines one at a time, prints
// each echo, and exits.
//
//   node examples/echo-client.js [--path=/tmp/unix-message-socket-echo.sock] [--stream] [line ...]
//
// The path may also be given as the first argument if it starts with '/'
// (or '\0' for an abstract name). The socket type must match the server's.
const { connect } = require('unix-message-socket');

const args = process.argv.slice(2);
let path = '/tmp/unix-message-socket-echo.sock';
let type = 'seqpacket';
const lines = [];
for (const [i, a] of args.entries()) {
  if (a === '--stream') type = 'stream';
  else if (a.startsWith('--path=')) path = a.slice('--path='.length);
  else if (i === 0 && (a.startsWith('/') || a.startsWith('\0'))) path = a;
  else lines.push(a);
}
if (lines.length === 0) lines.push('hello', 'unix message sockets', 'goodbye');

const socket = connect({ path, type }, () => {
  console.log(`[client] connected to ${path} (${type})`);
  sendNext();
});

let sent = 0;
let pending = '';
function sendNext() {
  if (sent === lines.length) {
    socket.end(); // shutdown(SHUT_WR): the server sees EOF and hangs up
    return;
  }
  const line = lines[sent++];
  console.log(`[client] sent: ${line}`);
  // seqpacket keeps message boundaries; a byte stream needs a delimiter.
  socket.write(type === 'stream' ? `${line}\n` : line);
}

socket.on('data', (msg) => {
  if (type === 'seqpacket') {
    console.log(`[client] echo: ${msg.data.toString()}`);
    sendNext();
    return;
  }
  pending += msg.data.toString();
  let nl;
  while ((nl = pending.indexOf('\n')) !== -1) {
    console.log(`[client] echo: ${pending.slice(0, nl)}`);
    pending = pending.slice(nl + 1);
    sendNext();
  }
});

socket.on('error', (err) => {
  const hint = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? ' (is examples/echo-server.js running?)' : '';
  console.error(`[client] ${err.message}${hint}`);
  process.exitCode = 1;
});
socket.on('close', () => console.log('[client] closed'));
