'use strict';
// The pool side of bench/handoff: `node pool.js <mode> <port>` is the
// primary (2 workers, native accept); the workers run this file too.
const { createPool, connectToPrimary, isPoolWorker } = require('../../dist/pool');
const fs = require('node:fs');
const { handoffCounter, httpServer } = require('./worker-common');

const [mode, port] = [process.env.HANDOFF_MODE ?? process.argv[2], Number(process.argv[3])];

if (isPoolWorker()) {
  const channel = connectToPrimary();
  if (mode === 'fds') {
    // The hand-off itself: the connection's fd is in this process.
    const count = handoffCounter((fd) => fs.closeSync(fd));
    channel.on('handoff', (fds) => fds.forEach(count));
  } else if (mode === 'socket') {
    channel.on(
      'connection',
      handoffCounter((socket) => socket.destroy()),
    );
  } else {
    const server = httpServer();
    channel.on('connection', (socket) => server.emit('connection', socket));
  }
} else {
  const pool = createPool({ script: __filename, size: 2, execArgv: [], env: { ...process.env, HANDOFF_MODE: mode } });
  pool
    .ready()
    .then(() => pool.serve({ host: '127.0.0.1', port, backlog: 4096 }))
    .then(({ port: bound }) => process.stdout.write(`READY ${bound}\n`));
  process.on('SIGTERM', () => pool.close().then(() => process.exit(0)));
}
