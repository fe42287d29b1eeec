// notify(): one datagram to the service manager's NOTIFY_SOCKET, as
// sd_pid_notify_with_fds(3) sends it: an unbound AF_UNIX SOCK_DGRAM socket
// of its own (close-on-exec, as every socket of the library), sendmsg(2) to
// the address with the fds as SCM_RIGHTS, then closed.
//
// Who owns which fd: the notification socket is notify()'s and is destroyed
// before the promise settles. The caller's `fds` stay the caller's: they are
// sent (the kernel takes its own references; the socket's write duplicates
// them only while the message waits) and never closed here.
import { abortErrorOf, isAborted, validateSignal } from '../stream/abort';
import { createSocket } from '../stream/index';
import { snapshotFds, snapshotOptions } from '../stream/validate';
import { readEnv, systemdEnvError } from './env';
import { stateLines, withMonotonicUsec, type NotifyState } from './state';

export interface NotifyOptions {
  /** fds sent with the message (SCM_RIGHTS), e.g. for FDSTORE=1; at most 253. They stay yours. */
  fds?: readonly number[];
  /**
   * Gives up a send still waiting for room in the manager's queue (a
   * manager that stops reading): the promise rejects with an AbortError
   * (`code: 'ABORT_ERR'`) and nothing is sent. E.g. `AbortSignal.timeout(5000)`.
   */
  signal?: AbortSignal;
}

/**
 * The address NOTIFY_SOCKET names, as socket_address_parse_unix() reads it:
 * an absolute path, or '@name' for the abstract name "\0name" (exactly
 * those bytes, no trailing NUL). null when unset. Other forms (vsock:...,
 * a relative path) are refused with ERR_SYSTEMD_ENV: only AF_UNIX is
 * spoken here.
 */
export function notifyAddress(): string | null {
  const value = readEnv('NOTIFY_SOCKET');
  if (value === undefined) return null;
  if (value.startsWith('/')) return value;
  if (value.startsWith('@') && value.length > 1) return `\0${value.slice(1)}`;
  throw systemdEnvError('NOTIFY_SOCKET', value, "must be an absolute path or '@' and an abstract name (AF_VSOCK addresses are not supported)");
}

/**
 * Sends `state` to the service manager. `state` is a string sent as it is
 * ("READY=1\nSTATUS=up") or an object of fields (`{ READY: 1, STATUS: 'up' }`);
 * `RELOADING=1` gets MONOTONIC_USEC added (Type=notify-reload). Resolves
 * true once the kernel has taken the message, false when NOTIFY_SOCKET is
 * unset (sd_notify returns 0), and rejects with the errno error when the
 * send fails (ENOENT, ECONNREFUSED, EAGAIN never: a full queue is waited
 * out, until `signal` aborts) or ERR_SYSTEMD_ENV when NOTIFY_SOCKET is not an AF_UNIX address.
 * Bad arguments throw at once, before anything is sent: a field name with
 * '=' or a value with a newline (which would inject a field) is
 * ERR_INVALID_ARG_VALUE.
 */
export function notify(state: NotifyState, options: NotifyOptions = {}): Promise<boolean> {
  const parts = stateLines(state);
  const o = snapshotOptions(options, ['fds', 'signal']);
  const fds = snapshotFds(o.fds, 'options.fds');
  const signal = validateSignal(o.signal, 'options.signal');
  // Already aborted: nothing is sent, as net.connect() connects nothing.
  if (signal !== undefined && isAborted(signal)) return Promise.reject(abortErrorOf(signal));
  const address = notifyTarget();
  if (typeof address !== 'string') return address;
  return sendDatagram(address, withMonotonicUsec(parts), fds, signal);
}

/**
 * notifyAddress() as notify() and barrier() begin: the address, or the
 * promise they return at once (false when NOTIFY_SOCKET is unset, the
 * ERR_SYSTEMD_ENV rejection when it is not an AF_UNIX address).
 */
export function notifyTarget(): string | Promise<boolean> {
  try {
    return notifyAddress() ?? Promise.resolve(false);
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

/**
 * Sends one datagram from a socket of its own, destroyed before the promise
 * settles; `signal` (barrier()'s timeout) gives up a send still waiting for
 * room in the manager's queue: it rejects with an AbortError then.
 */
export function sendDatagram(address: string, text: string, fds: readonly number[], signal?: AbortSignal): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    const socket = createSocket(signal === undefined ? { type: 'dgram' } : { type: 'dgram', signal });
    // The write's callback reports the error; 'error' would repeat it.
    socket.on('error', () => {});
    try {
      socket.write({ data: Buffer.from(text, 'utf8'), fds: [...fds], address }, (err) => {
        const settle = (): void => (err ? reject(err) : resolve(true));
        socket.destroy();
        if (socket.closed) settle();
        else socket.once('close', settle);
      });
    } catch (err) {
      // write() checks the address (too long for sun_path) before queueing.
      socket.destroy();
      reject(err as Error);
    }
  });
}
