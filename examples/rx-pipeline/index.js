'use strict';
// A file-inspection service built from observables.
//
//   node examples/rx-pipeline/index.js
//
// Clients send requests { id, op } over seqpacket, each carrying one open
// file. The server merges the messages of all its connections into one
// observable, routes each fd to the handler its "op" field names (the
// handler reads the file through the fd and closes it), and sends every
// reply back on the connection it came from with sendTo. Two clients run
// against it, check the answers, and the program prints the fd count before
// and after: unsubscribing closed everything.
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { EMPTY, catchError, endWith, filter, groupBy, ignoreElements, lastValueFrom, map, merge, mergeMap, switchMap, takeWhile, toArray } = require('rxjs');
const { connect$, fromSocket, listen$, sendTo, withFds } = require('unix-message-socket/rx');

const ADDRESS = `\0unix-message-socket-rx-pipeline-${process.pid}`;
const fdCount = () => fs.readdirSync('/proc/self/fd').length - 1; // minus readdir's own

/** The whole file behind fd, read with pread: the offset is shared with the client's copy. */
function contentOf(fd) {
  const buf = Buffer.alloc(fs.fstatSync(fd).size);
  fs.readSync(fd, buf, 0, buf.length, 0);
  return buf;
}

// The routing table: the "op" field of a request picks the handler its fd goes to.
const handlers = {
  size: (fd) => fs.fstatSync(fd).size,
  lines: (fd) => contentOf(fd).toString().split('\n').length - 1,
  sha256: (fd) => createHash('sha256').update(contentOf(fd)).digest('hex'),
};

/** A reply to one request. The request's fd is ours (it was delivered to us): close it here. */
function answer({ data, fds: [fd] }) {
  try {
    const { id, op } = JSON.parse(data.toString());
    const handler = Object.hasOwn(handlers, op) ? handlers[op] : null;
    return JSON.stringify(handler ? { id, op, result: handler(fd) } : { id, op, error: `unknown op ${op}` });
  } catch (err) {
    return JSON.stringify({ error: err.message });
  } finally {
    fs.closeSync(fd);
  }
}

// One observable of every request of every connection, tagged with its
// connection. A null message marks the end of a connection's requests. A
// connection that fails ends its own requests and nothing else.
const requests$ = listen$({ path: ADDRESS }).pipe(
  mergeMap((conn) =>
    fromSocket(conn).pipe(
      withFds(1), // a request carries exactly one fd; others are dropped and their fds closed
      map((message) => ({ conn, message })),
      catchError(() => EMPTY),
      endWith({ conn, message: null }),
    ),
  ),
);

// Replies go back per connection: group by connection (the end marker also
// ends the group, so groupBy forgets the connection), and let sendTo write
// each group's replies and end its connection after the last one.
const server$ = requests$.pipe(
  groupBy(({ conn }) => conn, { duration: (group) => group.pipe(filter(({ message }) => message === null)) }),
  mergeMap((group) =>
    group.pipe(
      takeWhile(({ message }) => message !== null),
      map(({ message }) => answer(message)),
      sendTo(group.key),
      catchError(() => EMPTY), // e.g. the client went away before its replies
    ),
  ),
);

/**
 * A client: connect$ owns the socket for the whole exchange. The requests go
 * out with sendTo, which hands the fds over (closeFds) and half-closes; the
 * replies are read until the server ends.
 */
function client(files) {
  const requests = files.map(({ op, file }, id) => ({
    data: JSON.stringify({ id, op }),
    fds: [fs.openSync(file, 'r')],
  }));
  return lastValueFrom(
    connect$({ path: ADDRESS }).pipe(
      switchMap((socket) =>
        merge(sendTo(socket, { closeFds: true })(requests).pipe(ignoreElements()), fromSocket(socket).pipe(map((reply) => JSON.parse(reply.data.toString())))),
      ),
      toArray(),
    ),
  );
}

function expected(op, file) {
  const content = fs.readFileSync(file);
  if (op === 'size') return content.length;
  if (op === 'lines') return content.toString().split('\n').length - 1;
  return createHash('sha256').update(content).digest('hex');
}

async function main() {
  console.log(`server on @${ADDRESS.slice(1)}`);
  // Counted after the first output: libuv opens a reserve fd of its own when
  // stdout is first used as a stream.
  const before = fdCount();
  const subscription = server$.subscribe({
    error: (err) => {
      console.error('server failed:', err);
      process.exitCode = 1;
    },
  });
  const root = path.join(__dirname, '..', '..');
  const jobs = [
    [
      { op: 'size', file: __filename },
      { op: 'lines', file: __filename },
      { op: 'sha256', file: path.join(root, 'package.json') },
    ],
    [
      { op: 'lines', file: path.join(root, 'README.md') },
      { op: 'sha256', file: __filename },
      { op: 'size', file: path.join(root, 'package.json') },
    ],
  ];
  const results = await Promise.all(jobs.map((files) => client(files)));
  let ok = true;
  results.forEach((replies, c) => {
    for (const reply of replies.sort((x, y) => x.id - y.id)) {
      const { op, file } = jobs[c][reply.id];
      const good = reply.result === expected(op, file);
      ok &&= good;
      console.log(`client ${c + 1}: ${op.padEnd(6)} ${path.relative(root, file).padEnd(30)} ${String(reply.result)}${good ? '' : '  WRONG'}`);
    }
    ok &&= replies.length === jobs[c].length;
  });
  subscription.unsubscribe(); // closes the server and whatever connection is left
  const after = fdCount();
  console.log(`fds open before: ${before}, after: ${after}`);
  if (!ok || after !== before) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
