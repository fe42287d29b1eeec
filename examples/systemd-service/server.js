'use strict';
// A socket-activated SOCK_SEQPACKET echo service that survives its own
// restarts without dropping a client (see README.md here):
//
//   - listenFds(): the listening socket from ums-echo.socket (named
//     "listen" by FileDescriptorName=), and, after a restart, every client
//     connection this process stored before it stopped (named "conn-<n>").
//   - notify({ FDSTORE: 1, FDNAME }) with each new connection's fd: the
//     manager keeps a copy (FileDescriptorStoreMax=), so the connection
//     outlives the process; FDSTOREREMOVE=1 when the client goes away.
//   - notify({ READY: 1, STATUS }) once serving (Type=notify), watchdog()
//     for WatchdogSec=.
//
// Who owns which fd: listenFds() hands over fds that are ours; listen({ fd })
// and fromFd() take them (the library works on duplicates and closes them).
// notify() sends a copy of each connection's fd and leaves ours alone.
// On SIGTERM the process exits without end()ing anything: a shutdown(2)
// would reach the client through the manager's copy too.
const { createServer, UnixMessageSocket } = require('unix-message-socket');
const { listenFds, notify, watchdog } = require('unix-message-socket/systemd');

let nextId = 0;
let clients = 0;
const status = () => notify({ STATUS: `serving ${clients} client(s)` }).catch(() => {});

function serve(socket, name) {
  clients++;
  socket.on('data', (m) => socket.write(m.data));
  socket.on('error', () => {});
  socket.on('close', () => {
    clients--;
    // The client is gone: the manager must drop its copy too.
    notify({ FDSTOREREMOVE: 1, FDNAME: name }).catch(() => {});
    status();
  });
}

const fds = listenFds();
const server = createServer({ type: 'seqpacket' });
for (const { fd, name } of fds) {
  if (name.startsWith('conn-')) {
    // A connection stored by the process before this one: it resumes here.
    nextId = Math.max(nextId, Number(name.slice(5)) + 1);
    serve(UnixMessageSocket.fromFd(fd), name);
  } else if (!server.listening) {
    server.listen({ fd });
  }
}
if (!server.listening) {
  console.error('no listening socket passed (run me from ums-echo.socket, or systemd-socket-activate --seqpacket)');
  process.exit(1);
}

server.on('connection', (socket) => {
  const name = `conn-${nextId++}`;
  // Stored before any data is served: a restart from here on keeps it.
  notify({ FDSTORE: 1, FDNAME: name }, { fds: [socket.fd] }).catch((err) => console.error(`FDSTORE ${name}: ${err.message}`));
  serve(socket, name);
  status();
});

watchdog({ onError: (err) => console.error(`watchdog: ${err.message}`) });
notify({ READY: 1, STATUS: `serving ${clients} client(s)` }).catch((err) => console.error(`notify: ${err.message}`));

process.on('SIGTERM', () => process.exit(0));
