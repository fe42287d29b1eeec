// Hostile service managers against unix-message-socket/systemd: what a
// manager that stops reading its notify socket does to barrier()'s timeout.
import test from 'ava';
import { lowlevel } from '../src/index';
import { barrier } from '../src/systemd/index';
import { abstractName, leakFree, waitFor } from './helpers';

const saved = process.env.NOTIFY_SOCKET;
test.afterEach.always(() => {
  if (saved === undefined) delete process.env.NOTIFY_SOCKET;
  else process.env.NOTIFY_SOCKET = saved;
});

/** A notify socket that never reads, its queue filled until the kernel refuses (EAGAIN). */
function stuckManager(): { fd: number; address: string } {
  const address = abstractName('stuck-manager');
  const fd = lowlevel.socket('unix', 'dgram');
  lowlevel.bind(fd, address);
  const sender = lowlevel.socket('unix', 'dgram');
  try {
    for (;;) lowlevel.sendmsg(sender, Buffer.from('STATUS=filler'), [], 0, address);
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'EAGAIN') throw err;
  } finally {
    lowlevel.close(sender);
  }
  process.env.NOTIFY_SOCKET = `@${address.slice(1)}`;
  return { fd, address };
}

test(
  'barrier({ timeout }) rejects with ETIMEDOUT when the manager stops reading and its queue is full: the timeout covers the send too, and both socketpair ends and the send are released',
  leakFree(async (t) => {
    const manager = stuckManager();
    let outcome: unknown = 'pending';
    barrier({ timeout: 50 }).then(
      (v) => (outcome = v),
      (err: unknown) => (outcome = err),
    );
    // Without the timeout covering the send, the BARRIER=1 datagram waits for
    // room in the queue forever and the promise never settles.
    t.true(await waitFor(() => outcome !== 'pending'), 'barrier() settled while the manager still does not read');
    t.is((outcome as { code?: unknown }).code, 'ETIMEDOUT');
    t.is((outcome as { syscall?: unknown }).syscall, 'barrier');
    lowlevel.close(manager.fd);
  }),
);
