// barrier(): sd_notify_barrier(3). Sends BARRIER=1 with one fd and waits for
// the manager to close its copy, which it does only after it has processed
// every notification sent before: a service that must know its STATUS= or
// FDSTORE= arrived before it exits waits here.
//
// libsystemd sends the write end of a pipe2(O_CLOEXEC) and polls the read end
// for POLLHUP. The library offers socketpair() and not pipe(), and one end of
// a SOCK_STREAM socketpair works the same way: the manager closes whatever fd
// came with BARRIER=1 (it does not look at its type), and when the last copy
// of the other end is closed our end reads EOF (POLLHUP, af_unix.c
// unix_poll). Bytes a manager might write into it are read and dropped.
//
// Who owns which fd: both ends are barrier()'s. The sent end is closed as
// soon as the send is done (the manager then holds the only copy), ours when
// the promise settles, on every path; the watch() watcher's duplicate with it.
import { native } from '../native/binding';
import { isAborted, onAbort } from '../stream/abort';
import { errno, errnoError } from '../stream/errors';
import { TYPE_NUMBERS } from '../stream/socket-type';
import { snapshotOptions, validateInteger } from '../stream/validate';
import { recvmsg } from '../lowlevel';
import { watch, type Watcher } from '../lowlevel/watch';
import { notifyTarget, sendDatagram } from './notify';

export interface BarrierOptions {
  /** How long to wait for the manager, the send included, in milliseconds (default 5000); then the promise rejects with ETIMEDOUT. */
  timeout?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;

/**
 * Resolves true once the service manager has processed every notification
 * sent before it, false when NOTIFY_SOCKET is unset (sd_notify_barrier
 * returns 0). Rejects with the send's errno error, or with ETIMEDOUT
 * (syscall 'barrier') when the manager has not answered within `timeout`.
 */
export function barrier(options: BarrierOptions = {}): Promise<boolean> {
  const o = snapshotOptions(options, ['timeout']);
  const timeout = validateInteger(o.timeout, 'options.timeout', 0, 0x7fffffff) ?? DEFAULT_TIMEOUT_MS;
  const address = notifyTarget();
  if (typeof address !== 'string') return address;
  const pair = new Int32Array(2);
  const r = native.socketpair(TYPE_NUMBERS.stream, pair);
  if (r < 0) return Promise.reject(errnoError(r, 'socketpair'));
  const [ours, theirs] = [pair[0]!, pair[1]!];
  // The timeout covers the send too: a manager that stops reading fills its
  // queue, and BARRIER=1 would wait for room (the send's EAGAIN) forever.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeout);
  const timedOut = (): Error => errnoError(errno('ETIMEDOUT'), 'barrier');
  return sendDatagram(address, 'BARRIER=1', [theirs], deadline.signal)
    .then(
      () => {
        native.close(theirs);
        return waitForHangup(ours, deadline.signal, timedOut);
      },
      (err: Error) => {
        native.close(theirs);
        native.close(ours);
        throw isAborted(deadline.signal) ? timedOut() : err;
      },
    )
    .finally(() => clearTimeout(timer));
}

/** Resolves when `fd` reads EOF, rejects when `deadline` aborts; closes `fd` when the promise settles. */
function waitForHangup(fd: number, deadline: AbortSignal, timedOut: () => Error): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    let watcher: Watcher | null = null;
    let unlisten = (): void => {};
    let done = false;
    const finish = (err: Error | null): void => {
      if (done) return;
      done = true;
      unlisten();
      watcher?.close();
      watcher = null;
      native.close(fd);
      if (err) reject(err);
      else resolve(true);
    };
    const onReadable = (): void => {
      if (watcher === null) return;
      // Drain: a manager that writes cannot keep us from seeing EOF, nor
      // send fds (no control buffer: the kernel drops them, MSG_CTRUNC).
      for (;;) {
        let bytes: number;
        try {
          bytes = recvmsg(fd, { maxSize: 4096, cmsgSize: 0 }).data.length;
        } catch (err) {
          if ((err as { code?: unknown }).code === 'EAGAIN') return;
          finish(err as Error);
          return;
        }
        if (bytes === 0) {
          finish(null);
          return;
        }
      }
    };
    // Whatever throws here (a replaced EventTarget method, watch()'s
    // EMFILE) settles the promise, and `fd` is closed.
    try {
      if (isAborted(deadline)) throw timedOut();
      unlisten = onAbort(deadline, () => finish(timedOut()));
      watcher = watch(fd, { readable: true }, (event) => (event.error ? finish(event.error) : onReadable()));
    } catch (err) {
      finish(err as Error);
    }
  });
}
