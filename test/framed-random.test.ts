// Framed stream sockets under random load: random message sizes (0 bytes to
// a few MiB) with random fd counts (0 to 253, mostly few) through tiny kernel
// buffers and a reader that pauses at random. Every message must arrive
// once, in order, with its bytes and exactly its fds (compared by inode),
// and no fd may be left open. The seed is fixed and printed on failure.
import test from 'ava';
import { once } from 'node:events';
import { constants, socketPair, type UnixMessage, type UnixMessageSocket } from '../src/index';
import type { SocketOptions } from '../src/stream/socket-options';
import { closeAll, fileWithContent, inodeOf, leakFree } from './helpers';

const SEED = 20261130;

// mulberry32: small, seeded, and the same on every machine.
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface Planned {
  size: number;
  fds: number[];
}

function plan(rand: () => number, files: readonly number[], budget: number): Planned[] {
  const out: Planned[] = [];
  let volume = 0;
  while (volume < budget) {
    const r = rand();
    const size = r < 0.6 ? Math.floor(rand() * 200) : r < 0.9 ? Math.floor(rand() * 100_000) : r < 0.97 ? 0 : Math.floor(rand() * 3 * 1024 * 1024);
    const f = rand();
    const nfds = f < 0.6 ? 0 : f < 0.9 ? 1 + Math.floor(rand() * 3) : f < 0.97 ? Math.floor(rand() * 40) : 253;
    out.push({ size, fds: Array.from({ length: nfds }, () => files[Math.floor(rand() * files.length)]!) });
    volume += size;
  }
  return out;
}

const tiny = (s: UnixMessageSocket): void => {
  s.setOption(constants.SOL_SOCKET, constants.SO_SNDBUF, 4096);
  s.setOption(constants.SOL_SOCKET, constants.SO_RCVBUF, 4096);
};

const FORMATS: Array<[string, SocketOptions['framed'], (i: number, size: number) => Buffer]> = [
  ['framed: true', true, (i, size) => Buffer.alloc(size, i & 0xff)],
  [
    'framed: { headerSize: 16 } (D-Bus-like)',
    { headerSize: 16, frameLength: (h: Buffer) => 16 + h.readUInt32LE(4) },
    (i, size) => {
      const b = Buffer.alloc(16 + size, i & 0xff);
      b.writeUInt32LE(size, 4);
      return b;
    },
  ],
];

for (const [name, framed, make] of FORMATS) {
  test(
    `${name}: random sizes and fd counts through tiny kernel buffers and a slow reader arrive one for one, intact, nothing leaked`,
    leakFree(async (t, { track }) => {
      const seed = SEED + name.length;
      t.log(`seed ${seed}`);
      const rand = prng(seed);
      const files = Array.from({ length: 6 }, (_, i) => fileWithContent(`file ${i}`));
      const inodes = new Map(files.map((fd) => [fd, inodeOf(fd)]));
      const messages = plan(rand, files, 6 * 1024 * 1024);
      t.log(`${messages.length} messages, ${messages.filter((m) => m.fds.length > 0).length} with fds`);
      const [a, b] = track(...socketPair('stream', { framed, maxPendingFds: 300 }));
      tiny(a);
      tiny(b);
      const received: UnixMessage[] = [];
      const failures: string[] = [];
      const reader = (async (): Promise<void> => {
        while (received.length < messages.length) {
          const m = b.read() as UnixMessage | null;
          if (m === null) {
            if (b.destroyed) return;
            await once(b, 'readable');
            continue;
          }
          const i = received.length;
          received.push(m);
          const want = make(i, messages[i]!.size);
          if (!m.data.equals(want)) failures.push(`message ${i}: ${m.data.length} bytes, want ${want.length}`);
          const got = m.fds.map(inodeOf);
          const expected = messages[i]!.fds.map((fd) => inodes.get(fd)!);
          if (got.join() !== expected.join() || m.fdsTruncated) failures.push(`message ${i}: fds ${got.length}, want ${expected.length}`);
          closeAll(m.fds);
          if (b.pendingFds > 300 + 254) failures.push(`pendingFds ${b.pendingFds} over the bound`);
          // The slow reader: now and then it lets the kernel queue fill up.
          if (rand() < 0.1) await new Promise((r) => setTimeout(r, Math.floor(rand() * 5)));
        }
      })();
      for (let i = 0; i < messages.length; i++) {
        const room = a.write({ data: make(i, messages[i]!.size), fds: messages[i]!.fds });
        if (!room) await once(a, 'drain');
      }
      await reader;
      t.deepEqual(failures.slice(0, 5), [], `seed ${seed}`);
      t.is(received.length, messages.length, `seed ${seed}`);
      closeAll(files);
    }),
  );
}
