'use strict';
// Copies an open file descriptor into another process. The parent opens a
// file and sends the fd over a socketpair; the child reads the file through
// that fd (it never sees the path) and sends back its length and sha256.
//
//   node examples/copy-descriptor.js [file]
//
// Without a file argument the parent writes a small temp file, opens it and
// deletes it before the child even starts: the child can only reach it
// through the passed descriptor.
//
// The child (this file with --child) gets its end of the socketpair as
// stdio fd 3 and adopts it with UnixMessageSocket.fromFd(3).
const { socketPair, UnixMessageSocket } = require('unix-message-socket');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex');

// Reads a whole file with pread from offset 0, so the file offset that the
// two processes share is left alone (and /proc files, which report size 0,
// still work).
function readAll(fd) {
  const chunks = [];
  let position = 0;
  for (;;) {
    const chunk = Buffer.alloc(65536);
    const n = fs.readSync(fd, chunk, 0, chunk.length, position);
    if (n === 0) return Buffer.concat(chunks);
    chunks.push(chunk.subarray(0, n));
    position += n;
  }
}

if (process.argv[2] === '--child') child();
else parent(process.argv[2]);

function parent(file) {
  let fd;
  let label;
  let name;
  if (file !== undefined) {
    try {
      fd = fs.openSync(file, 'r');
    } catch (err) {
      console.error(`[parent] ${err.message}`);
      process.exit(1);
    }
    label = name = file;
  } else {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ums-copy-'));
    const tmp = path.join(dir, 'secret.txt');
    fs.writeFileSync(tmp, 'This file was deleted before the child started.\nThe child reads it through the descriptor it was sent.\n');
    fd = fs.openSync(tmp, 'r');
    fs.rmSync(dir, { recursive: true });
    label = `${tmp} (already deleted)`;
    name = path.basename(tmp);
  }
  const own = readAll(fd); // to check the child's answer

  const [mine, theirs] = socketPair('seqpacket');
  const child = spawn(process.execPath, [__filename, '--child'], { stdio: ['ignore', 'inherit', 'inherit', theirs.fd] });
  theirs.destroy(); // the child has its own copy as fd 3
  console.log(`[parent ${process.pid}] opened ${label} as fd ${fd}; sending it to child ${child.pid}`);

  // write() duplicates the fd, so ours can be closed at once.
  mine.write({ data: name, fds: [fd] });
  fs.closeSync(fd);

  let answer;
  mine.on('data', (msg) => {
    answer = JSON.parse(msg.data.toString());
    console.log(`[parent ${process.pid}] child reports ${answer.length} bytes, sha256 ${answer.sha256}`);
  });
  mine.on('error', (err) => console.error(`[parent] ${err.message}`));
  child.on('exit', (code, signal) => {
    mine.destroy();
    const match = answer !== undefined && answer.length === own.length && answer.sha256 === sha256(own);
    console.log(`[parent ${process.pid}] child exited with ${signal ?? code}; matches the parent's own read: ${match ? 'yes' : 'NO'}`);
    process.exitCode = code === 0 && match ? 0 : 1;
  });
}

function child() {
  const socket = UnixMessageSocket.fromFd(3);
  socket.once('data', (msg) => {
    const [fd] = msg.fds;
    if (fd === undefined) {
      console.error('[child] no fd arrived');
      process.exit(1);
    }
    // The fd is ours now: read the file through it, then close it.
    const content = readAll(fd);
    fs.closeSync(fd);
    console.log(`[child ${process.pid}] received fd ${fd} for "${msg.data}"; its content:`);
    const lines = content.toString('utf8').replace(/\n$/, '').split('\n');
    const head = lines
      .slice(0, 20)
      .map((l) => `  | ${l}`)
      .join('\n');
    console.log(head + (lines.length > 20 ? `\n  | ... (${lines.length - 20} more lines)` : ''));
    socket.end(JSON.stringify({ length: content.length, sha256: sha256(content) }));
  });
  socket.on('error', (err) => {
    console.error(`[child] ${err.message}`);
    process.exitCode = 1;
  });
}
