'use strict';
// A TCP echo server and client with the low-level BSD calls on raw fds:
// socket, bind, listen, accept, connect, getsockname, getpeername, and
// lowlevel.watch() to wait for readiness (no busy wait).
//
//   node examples/tcp-echo.js [--ipv6]
//
// The client's connect() returns false (EINPROGRESS, as a non-blocking TCP
// connect does); writable then means the handshake ended, and SO_ERROR says
// how. Both sides close everything and the process exits by itself.
const { lowlevel } = require('unix-message-socket');

const { SOL_SOCKET, SO_ERROR, SO_REUSEADDR } = lowlevel.constants;
const v6 = process.argv.includes('--ipv6');
const family = v6 ? 'inet6' : 'inet';
const host = v6 ? '::1' : '127.0.0.1';
const lines = ['hello', 'over', 'TCP'];

// Server: one connection, echoed until the client shuts down its side.
const listener = lowlevel.socket(family, 'stream');
lowlevel.setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, 1);
lowlevel.bind(listener, { address: host, port: 0 });
lowlevel.listen(listener, 16);
const where = lowlevel.getsockname(listener);
console.log(`listening on ${JSON.stringify(where)}`);

const acceptWatch = lowlevel.watch(listener, { readable: true }, () => {
  const { fd, address } = lowlevel.accept(listener);
  console.log(`server: accepted ${address.address}:${address.port} (${address.family})`);
  acceptWatch.close();
  lowlevel.close(listener);
  const echo = lowlevel.watch(fd, { readable: true }, () => {
    let m;
    try {
      m = lowlevel.recvmsg(fd, { cmsgSize: 0 });
    } catch (err) {
      if (err.code === 'EAGAIN') return;
      throw err;
    }
    if (m.data.length === 0) {
      // The client shut down its side: done.
      echo.close();
      lowlevel.close(fd);
      return;
    }
    lowlevel.sendmsg(fd, m.data);
  });
});

// Client.
const client = lowlevel.socket(family, 'stream');
const connected = lowlevel.connect(client, where);
console.log(`client: connect() -> ${connected} (${connected ? 'connected' : 'EINPROGRESS'})`);
let received = '';
const clientWatch = lowlevel.watch(client, { writable: true }, () => {
  const err = lowlevel.getsockopt(client, SOL_SOCKET, SO_ERROR);
  if (err !== 0) throw new Error(`connect failed: errno ${err}`);
  const peer = lowlevel.getpeername(client);
  const self = lowlevel.getsockname(client);
  console.log(`client: ${self.address}:${self.port} connected to ${peer.address}:${peer.port}`);
  lowlevel.sendmsg(client, Buffer.from(lines.join('\n') + '\n'));
  clientWatch.stop();
  const reader = lowlevel.watch(client, { readable: true }, () => {
    const m = lowlevel.recvmsg(client, { cmsgSize: 0 });
    received += m.data.toString();
    if (received !== lines.join('\n') + '\n') return;
    for (const line of received.trimEnd().split('\n')) console.log(`client: echo ${JSON.stringify(line)}`);
    reader.close();
    clientWatch.close();
    lowlevel.close(client);
  });
});
