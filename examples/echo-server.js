'use strict';
// The classic socket/bind/listen/accept loop over a Unix socket: every
// message a client sends comes straight back.
//
//   node examples/echo-server.js [path] [--stream] [--once]
//
// path      socket file (default /tmp/unix-message-socket-echo.sock), or
//           '\0name' for the abstract namespace
// --stream  SOCK_STREAM instead of the default SOCK_SEQPACKET
// --once    exit after the first client disconnects
//
// Ctrl-C closes the server, which removes the socket file it created.
const { createServer, connect } = require('unix-message-socket');
const fs = require('node:fs');

const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith('--')));
const path = args.find((a) => !a.startsWith('--')) ?? '/tmp/unix-message-socket-echo.sock';
const type = flags.has('--stream') ? 'stream' : 'seqpacket';
const once = flags.has('--once');
const show = (p) => (p.startsWith('\0') ? `@${p.slice(1)}` : p);

let nextId = 1;
const server = createServer({ type }, (socket) => {
  const id = nextId++;
  console.log(`[server] client #${id} connected (pid ${socket.peerCredentials().pid})`);
  let messages = 0;
  // With seqpacket each chunk is one whole message; with stream it is
  // whatever bytes have arrived. Either way, echoing it back is correct.
  socket.on('data', (msg) => {
    messages++;
    for (const fd of msg.fds) fs.closeSync(fd); // received fds are ours: never leak them
    socket.write(msg.data);
  });
  socket.on('error', (err) => console.error(`[server] client #${id}: ${err.message}`));
  socket.on('close', () => {
    console.log(`[server] client #${id} disconnected after ${messages} message(s)`);
    if (once) stop();
  });
});

server.on('error', (err) => {
  if (err.code === 'EADDRINUSE' && !path.startsWith('\0')) {
    // Either another server is running, or a previous one died without
    // removing its socket file. Connecting tells which.
    const probe = connect({ path, type });
    probe.on('connect', () => {
      console.error(`[server] ${path} is in use by a running server`);
      probe.destroy();
      process.exitCode = 1;
    });
    probe.on('error', (e) => {
      if (e.code !== 'ECONNREFUSED') {
        console.error(`[server] ${e.message}`);
        process.exitCode = 1;
        return;
      }
      console.log(`[server] removing stale socket file ${path}`);
      fs.unlinkSync(path);
      server.listen(path, onListening);
    });
    return;
  }
  console.error(`[server] ${err.message}`);
  process.exitCode = 1;
});

function onListening() {
  console.log(`[server] listening on ${show(server.address())} (${type})${once ? ', --once' : '; Ctrl-C to stop'}`);
}

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  // close() stops accepting and unlinks the socket file; 'close' follows
  // once the remaining connections are gone.
  server.close(() => console.log('[server] closed'));
  server.closeAllConnections();
}

process.on('SIGINT', () => {
  console.log('\n[server] SIGINT: shutting down');
  stop();
});

server.listen(path, onListening);
