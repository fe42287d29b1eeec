'use strict';
// HTTP load for bench/handoff: `node load.js <port> <ms> <concurrency>`;
// keep-alive off, so each request is a new connection. Prints the count.
const http = require('node:http');

const [port, ms, concurrency] = process.argv.slice(2).map(Number);
const end = Date.now() + ms;
let done = 0;
let failed = 0;

function one() {
  if (Date.now() >= end) return Promise.resolve();
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, agent: false }, (res) => {
        res.resume();
        res.on('end', () => {
          done++;
          resolve();
        });
      })
      .on('error', () => {
        failed++;
        resolve();
      });
  }).then(one);
}

Promise.all(Array.from({ length: concurrency }, one)).then(() => {
  process.stdout.write(`${JSON.stringify({ done, failed })}\n`);
});
