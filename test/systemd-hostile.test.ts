// Hostile service managers against unix-message-socket/systemd: what a
// manager that stops reading its notify socket does to barrier()'s timeout
// and to notify() given a signal.
import test from 'ava';
import { lowlevel } from '../src/index';
import { barrier, notify } from '../src/systemd/index';
import { abstractName, assertProbeClosed, leakFree, probe, waitFor } from './helpers';

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

test(
  'notify(state, { fds, signal }) to a manager that stops reading: the abort gives up the waiting send with an AbortError, and the duplicates of the fds are closed',
  leakFree(async (t) => {
    const manager = stuckManager();
    const p = probe();
    let outcome: unknown = 'pending';
    notify({ FDSTORE: 1, FDNAME: 'conn' }, { fds: [p.fd], signal: AbortSignal.timeout(50) }).then(
      (v) => (outcome = v),
      (err: unknown) => (outcome = err),
    );
    lowlevel.close(p.fd); // ours: notify() sends its own copy
    // Without the signal option the send waits for room forever (the queue
    // stays full) and holds its duplicate of the probe's fd.
    t.true(await waitFor(() => outcome !== 'pending'), 'notify() settled while the manager still does not read');
    t.is((outcome as { code?: unknown }).code, 'ABORT_ERR');
    t.is((outcome as { name?: unknown }).name, 'AbortError');
    await assertProbeClosed(t, p);
    lowlevel.close(manager.fd);
  }),
);

test(
  'notify(state, { signal }) with an aborted signal rejects with its AbortError and sends nothing; a signal that is not an AbortSignal throws ERR_INVALID_ARG_TYPE',
  leakFree(async (t) => {
    const address = abstractName('notify-aborted');
    const fd = lowlevel.socket('unix', 'dgram');
    lowlevel.bind(fd, address);
    process.env.NOTIFY_SOCKET = `@${address.slice(1)}`;
    const reason = new Error('shutting down');
    const err = await notify('READY=1', { signal: AbortSignal.abort(reason) }).then(
      () => null,
      (e: unknown) => e as Error & { code?: unknown },
    );
    t.is(err?.code, 'ABORT_ERR');
    t.is(err?.cause, reason);
    t.throws(() => lowlevel.recvmsg(fd, { maxSize: 64, cmsgSize: 0 }), { code: 'EAGAIN' }, 'nothing was sent');
    t.throws(() => void notify('READY=1', { signal: { aborted: true } as unknown as AbortSignal }), { code: 'ERR_INVALID_ARG_TYPE' });
    t.true(await notify('READY=1', { signal: new AbortController().signal }), 'a live signal sends');
    t.is(lowlevel.recvmsg(fd, { maxSize: 64, cmsgSize: 0 }).data.toString(), 'READY=1');
    lowlevel.close(fd);
  }),
);
