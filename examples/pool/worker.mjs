// The same pool worker as worker.js, as an ES module. Named imports work
// from the package's CommonJS build.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { connectToPrimary } from 'unix-message-socket/pool';

const channel = connectToPrimary();
let served = 0;

const server = http.createServer((req, res) => {
  served++;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ worker: channel.id, pid: process.pid, served, esm: true }));
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
