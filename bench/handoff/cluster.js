'use strict';
// The cluster side of bench/handoff: Node's cluster in round-robin mode (the
// primary accepts and sends each handle to a worker over IPC).
const cluster = require('node:cluster');
const net = require('node:net');
const { handoffCounter, httpServer } = require('./worker-common');

cluster.schedulingPolicy = cluster.SCHED_RR;
const [mode, port] = [process.argv[2], Number(process.argv[3])];

if (cluster.isPrimary) {
  let listening = 0;
  for (let i = 0; i < 2; i++) {
    cluster.fork().on('listening', () => {
      if (++listening === 2) process.stdout.write(`READY ${port}\n`);
    });
  }
  process.on('SIGTERM', () => cluster.disconnect(() => process.exit(0)));
} else {
  // cluster delivers every connection as a net.Socket: 'fds' and 'socket' are one mode.
  const server = mode === 'http' ? httpServer() : net.createServer(handoffCounter((socket) => socket.destroy()));
  server.listen({ host: '127.0.0.1', port, backlog: 4096 });
}
