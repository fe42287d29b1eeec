'use strict';
// A CommonJS pool worker: serves HTTP on the connections the primary hands
// over, and answers { op: 'hash' } requests for a file fd sent along.
//
// What a worker script must do: call connectToPrimary() once, at start-up,
// and listen for the events it wants ('connection', 'request', 'message').
// Connections arrive as net.Socket objects; fds of requests and messages are
// the listener's to close. When the primary closes the pool, 'disconnect'
// fires; the worker should then let its work finish and exit.
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const { connectToPrimary } = require('unix-message-socket/pool');

const channel = connectToPrimary();
let served = 0;

// Not listening on any port: the primary accepts, this server only parses.
const server = http.createServer((req, res) => {
  served++;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ worker: channel.id, pid: process.pid, served }));
});
channel.on('connection', (socket) => server.emit('connection', socket));

channel.on('request', (msg, reply) => {
  const { op } = JSON.parse(msg.data.toString());
  if (op === 'hash' && msg.fds.length === 1) {
    const hash = crypto.createHash('sha256').update(fs.readFileSync(msg.fds[0])).digest('hex');
    fs.closeSync(msg.fds[0]);
    reply({ data: JSON.stringify({ hash, served }) });
  } else if (op === 'stats') {
    for (const fd of msg.fds) fs.closeSync(fd);
    reply({ data: JSON.stringify({ served }) });
  } else {
    for (const fd of msg.fds) fs.closeSync(fd);
    reply(new Error(`unknown op ${op}`));
  }
});
