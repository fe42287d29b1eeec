'use strict';
// A UDP server that answers each datagram from the address it was sent to,
// with the low-level API: IP_PKTINFO tells recvmsg each datagram's
// destination, and the reply's IP_PKTINFO item makes the kernel send from
// it (ip(7)). A server bound to 0.0.0.0 on a host with several addresses
// otherwise answers from whichever address the route picks, and the client
// drops a reply from an address it did not ask.
//
//   node examples/udp-pktinfo.js
//
// The client sends to 127.0.0.1 and 127.0.0.2 (all of 127/8 is loopback
// on Linux) and checks each reply came from the address it asked. Nothing
// busy-waits: lowlevel.watch() says when a socket is readable.
const { lowlevel } = require('unix-message-socket');

const { IPPROTO_IP, IP_PKTINFO } = lowlevel.constants;

// struct in_pktinfo { int ipi_ifindex; struct in_addr ipi_spec_dst, ipi_addr; } (ip(7)).
function parsePktinfo(data) {
  const ip = (at) => [...data.subarray(at, at + 4)].join('.');
  return { ifindex: data.readInt32LE(0), specDst: ip(4), addr: ip(8) };
}
function pktinfoFrom(address) {
  const data = Buffer.alloc(12);
  // ifindex 0: the routing table picks the interface; ipi_spec_dst: the source.
  Buffer.from(address.split('.').map(Number)).copy(data, 4);
  return [IPPROTO_IP, IP_PKTINFO, data];
}

const server = lowlevel.socket('inet', 'dgram');
lowlevel.setsockopt(server, IPPROTO_IP, IP_PKTINFO, 1);
lowlevel.bind(server, { address: '0.0.0.0', port: 0 });
const { port } = lowlevel.getsockname(server);
console.log(`server on 0.0.0.0:${port}`);

const serverWatch = lowlevel.watch(server, { readable: true }, () => {
  for (;;) {
    let m;
    try {
      m = lowlevel.recvmsg(server, { cmsgSize: 64 });
    } catch (err) {
      if (err.code === 'EAGAIN') return;
      throw err;
    }
    const item = m.ancillary.find(([level, type]) => level === IPPROTO_IP && type === IP_PKTINFO);
    const to = parsePktinfo(item[2]).addr;
    console.log(`server: ${JSON.stringify(m.data.toString())} from ${m.address.address}:${m.address.port}, sent to ${to}`);
    lowlevel.sendmsg(server, Buffer.from(`reply from ${to}`), [pktinfoFrom(to)], 0, m.address);
  }
});

const client = lowlevel.socket('inet', 'dgram');
const targets = ['127.0.0.1', '127.0.0.2'];
for (const address of targets) lowlevel.sendmsg(client, Buffer.from(`hello ${address}`), [], 0, { address, port });

const replies = [];
const clientWatch = lowlevel.watch(client, { readable: true }, () => {
  const m = lowlevel.recvmsg(client);
  console.log(`client: ${JSON.stringify(m.data.toString())} from ${m.address.address}:${m.address.port}`);
  if (m.data.toString() !== `reply from ${m.address.address}`) throw new Error('reply from the wrong address');
  replies.push(m.address.address);
  if (replies.length < targets.length) return;
  if (replies.sort().join() !== targets.join()) throw new Error(`replies from ${replies}`);
  serverWatch.close();
  clientWatch.close();
  lowlevel.close(server);
  lowlevel.close(client);
  console.log('each reply came from the address its datagram was sent to');
});
