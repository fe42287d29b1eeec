// ETOOMANYREFS (docs/kernel.md, "In-flight limits"): an
// unprivileged sender may have at most RLIMIT_NOFILE of its fds in flight.
// Root is exempt, so the sender is a child (test/fixtures/toomanyrefs-child.js)
// run without CAP_SYS_RESOURCE under `ulimit -n 64`. Its writes must wait, not
// fail, and go out once this side reads.
import test from 'ava';
import fs from 'node:fs';
import { lowlevel, UnixMessageSocket, type UnixMessage } from '../src/index';
import { closeAll, inodeOf, leakFree, stepChild, take } from './helpers';

const COUNT = 100; // past 64 in flight, and few enough that the child's dups stay under its 64 fds

/**
 * The command, run without CAP_SYS_RESOURCE and CAP_SYS_ADMIN, which exempt a
 * sender from the limit: as root, setpriv(1) drops them from the bounding set
 * (the child stays root, so it can read a checkout under /root); as another
 * user there is nothing to drop.
 */
function unprivileged(command: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, args];
  return ['setpriv', ['--bounding-set=-sys_resource,-sys_admin', command, ...args]];
}

interface ChildReport {
  step: 'start' | 'held' | 'done' | 'error';
  done?: number;
  probe?: string;
  errors?: string[];
  fdsBefore?: number;
  fdsAfter?: number;
  message?: string;
}

for (const type of ['seqpacket', 'stream'] as const) {
  test(
    `${type}: writes past the in-flight fd limit (ETOOMANYREFS) wait until the receiver drains, then every message arrives with its fd`,
    leakFree(async (t) => {
      // Not adopted until the child is held: a socket reads a batch into its
      // buffer at once, which would take the fds out of flight.
      const [mine, theirs] = lowlevel.socketpair(type);
      const { next, exited } = stepChild<ChildReport>(
        t,
        ...unprivileged('sh', ['-c', 'ulimit -n 64 && exec "$0" test/fixtures/toomanyrefs-child.js "$1"', process.execPath, String(COUNT)]),
        theirs,
      );

      t.is((await next()).step, 'start');
      const held = await next();
      t.is(held.step, 'held');
      t.is(held.probe, 'ETOOMANYREFS', 'the kernel refuses more fds from the child now');
      t.true((held.done ?? COUNT) < COUNT, `writes are held back, not failed (${String(held.done)} of ${COUNT} called back)`);

      const socket = UnixMessageSocket.fromFd(mine);
      const nullFd = fs.openSync('/dev/null', 'r');
      const devNull = inodeOf(nullFd);
      fs.closeSync(nullFd);
      const got: UnixMessage[] = [];
      let bytes = 0;
      while (bytes < COUNT) {
        const batch = await take(socket, 1);
        if (batch.length === 0) break;
        for (const m of batch) {
          got.push(m);
          bytes += m.data.length;
          // Closing as we go lowers the child's in-flight count, so it can send more.
          for (const fd of m.fds) {
            t.is(inodeOf(fd), devNull);
          }
          closeAll(m.fds);
        }
      }
      t.deepEqual(
        [...Buffer.concat(got.map((m) => m.data))],
        Array.from({ length: COUNT }, (_, i) => i),
        'every message, in order',
      );
      t.is(
        got.reduce((n, m) => n + m.fds.length, 0),
        COUNT,
        'one fd each',
      );

      const done = await next();
      t.is(done.step, 'done');
      t.deepEqual(done.errors, [], 'no write failed');
      t.is(done.fdsAfter, done.fdsBefore, "the child's dups were all closed");
      t.deepEqual(await exited, [0, null]);
      socket.destroy();
    }),
  );
}
