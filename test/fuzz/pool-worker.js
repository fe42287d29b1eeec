// The fuzzer's pool worker (targets/pool.ts): echoes each request with its
// data and fds, closes the fds of each message, and closes each handed-off
// connection, so that the primary's fd accounting can be checked.
'use strict';
const fs = require('node:fs');
const { connectToPrimary } = require('unix-message-socket/pool');

const channel = connectToPrimary();
channel.on('error', () => undefined);
channel.on('message', (m) => {
  for (const fd of m.fds) fs.closeSync(fd);
});
channel.on('request', (m, reply) => {
  reply({ data: m.data, fds: m.fds });
  for (const fd of m.fds) fs.closeSync(fd);
});
channel.on('connection', (socket) => {
  socket.on('error', () => undefined);
  socket.destroy();
});
channel.on('disconnect', () => process.exit(0));
