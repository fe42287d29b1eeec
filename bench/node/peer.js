'use strict';
// node bench/node/peer.js IMPL ROLE 'PARAMS-JSON'
// One side of one workload: IMPL is a file in ./impl, ROLE one of the
// functions it exports (recv, send, echo, ping, soakRecv, soakSend). The
// socket is fd 3 (a socketpair end from the harness) or params.path.
const [impl, role, json] = process.argv.slice(2);
const params = JSON.parse(json);
const mod = require(`./impl/${impl}.js`);
if (typeof mod[role] !== 'function') {
  console.error(`${impl} cannot ${role}`);
  process.exit(2);
}
mod[role](params);
