'use strict';
// Preloaded into every Node process of `npm run test:asan` (NODE_OPTIONS
// --require, set by scripts/test-asan.js only): when the process exits, it
// records which copies of the addon the process had loaded, so that the
// runner can prove that every test process and every child it spawned (ava's
// workers, fixtures, pool workers) ran the sanitized build and not
// build/Release. Writes one file, process.<pid>.json, in the run's log
// directory; touches nothing else and opens no fd before exit.
const fs = require('node:fs');
const path = require('node:path');
const { isMainThread } = require('node:worker_threads');

const dir = process.env.UNIX_MESSAGE_SOCKET_ASAN_LOG;
if (dir && isMainThread) {
  process.on('exit', (code) => {
    let addons = [];
    try {
      // A mapped file is listed once per segment: keep each path once.
      const maps = fs.readFileSync('/proc/self/maps', 'utf8');
      addons = [
        ...new Set(
          maps
            .split('\n')
            .map((line) => line.slice(line.indexOf('/')))
            .filter((p) => p.startsWith('/') && path.basename(p) === 'unix_message_socket.node'),
        ),
      ];
    } catch {
      // /proc unreadable: the runner sees an empty list and says so.
    }
    try {
      fs.writeFileSync(path.join(dir, `process.${process.pid}.json`), JSON.stringify({ pid: process.pid, argv: process.argv, code, addons }));
    } catch {
      // The directory is gone (the runner was interrupted): nothing to record.
    }
  });
}
