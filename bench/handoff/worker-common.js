'use strict';
// What a worker does with a connection, the same for the pool and cluster:
// in 'fds' and 'socket' modes it reports how many it has seen and closes them a little
// later (closing a TCP socket sends a FIN, which is not hand-off work and
// would wake the driver's clients inside the measured window);
// in 'http' mode it serves one tiny HTTP response on it.
const http = require('node:http');

// One line per turn of the loop ("H <pid> <count> <hrtime ns>"): the driver
// takes the time at which the workers' counts reached its round's total.
// `close` releases what one connection holds (a net.Socket, or a raw fd).
function handoffCounter(close) {
  let count = 0;
  let scheduled = false;
  let held = [];
  const report = () => {
    scheduled = false;
    process.stdout.write(`H ${process.pid} ${count} ${process.hrtime.bigint()}\n`);
    const closing = held;
    held = [];
    setTimeout(() => closing.forEach(close), 20);
  };
  return (connection) => {
    count++;
    held.push(connection);
    if (!scheduled) {
      scheduled = true;
      setImmediate(report);
    }
  };
}

function httpServer() {
  return http.createServer((req, res) => {
    res.setHeader('connection', 'close');
    res.end('ok\n');
  });
}

module.exports = { handoffCounter, httpServer };
