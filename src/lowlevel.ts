// The syscall layer for power users, shaped like Twisted's
// twisted.python.sendmsg that this project grew from. Every call is
// non-blocking: EAGAIN is thrown as an errno error like any other.
import { constants, native, type AncillaryItem } from './native/binding';
import { check, errnoError, invalidArgType, invalidArgValue, outOfRange } from './stream/errors';
import { TYPE_NUMBERS } from './stream/socket';
import type { SocketType } from './stream/types';
import { validateAddress, validateFd } from './stream/validate';

export type { AncillaryItem };
export { constants };

export interface ReceivedMessage {
  data: Buffer;
  /** [level, type, data] for each control message, e.g. [SOL_SOCKET, SCM_RIGHTS, <fds>]. */
  ancillary: AncillaryItem[];
  /** msg_flags: check MSG_TRUNC and MSG_CTRUNC. */
  flags: number;
  address?: string;
}

export interface RecvmsgOptions {
  /** Data buffer size (default 8192). */
  maxSize?: number;
  /** Ancillary payload room in bytes, as CMSG_SPACE(cmsgSize) (default 4096). */
  cmsgSize?: number;
  flags?: number;
}

type Bytes = ArrayBufferView;

/**
 * sendmsg(2) with any number of iovecs and control messages. Returns the bytes
 * sent. MSG_NOSIGNAL and MSG_DONTWAIT are always added.
 */
export function sendmsg(
  fd: number,
  buffers: Bytes | readonly Bytes[],
  ancillary: ReadonlyArray<readonly [level: number, type: number, data: Bytes]> = [],
  flags = 0,
  address?: string,
): number {
  validateFd(fd, 'fd');
  const list = Array.isArray(buffers) ? buffers : [buffers];
  for (const b of list) if (!ArrayBuffer.isView(b)) throw invalidArgType('buffers must be ArrayBufferViews (Buffer, Uint8Array...)');
  if (!Array.isArray(ancillary)) throw invalidArgType('ancillary must be an array of [level, type, data]');
  for (const item of ancillary) {
    if (!Array.isArray(item) || item.length !== 3 || !Number.isInteger(item[0]) || !Number.isInteger(item[1]) || !ArrayBuffer.isView(item[2])) {
      throw invalidArgType('each ancillary item must be [level: number, type: number, data: Buffer]');
    }
  }
  if (!Number.isInteger(flags)) throw invalidArgType('flags must be an integer');
  const addr = address === undefined ? null : validateAddress(address);
  return check(native.sendmsg(fd, list, ancillary, flags, addr), 'sendmsg', address);
}

/**
 * recvmsg(2). Received fds are close-on-exec (MSG_CMSG_CLOEXEC) and belong to
 * the caller, including when MSG_CTRUNC is set.
 */
export function recvmsg(fd: number, options: RecvmsgOptions = {}): ReceivedMessage {
  validateFd(fd, 'fd');
  const { maxSize = 8192, cmsgSize = 4096, flags = 0 } = options;
  for (const [k, v] of [['maxSize', maxSize], ['cmsgSize', cmsgSize]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0x40000000) throw outOfRange(`The "${k}" option must be a non-negative integer. Received ${String(v)}`);
  }
  if (!Number.isInteger(flags)) throw invalidArgType('flags must be an integer');
  if ((flags & constants.MSG_PEEK) !== 0 && cmsgSize > 0) {
    // Each peek with a control buffer installs fresh duplicates of the queued
    // fds (af_unix.c unix_peek_fds; kernel-semantics.md E11).
    throw invalidArgValue('MSG_PEEK with a control buffer installs duplicate fds on every call; peek with cmsgSize: 0');
  }
  const r = native.recvmsg(fd, maxSize, cmsgSize, flags);
  if (typeof r === 'number') throw errnoError(r, 'recvmsg');
  // The kernel echoes the MSG_CMSG_CLOEXEC we always add; the caller did not ask.
  r.flags &= ~constants.MSG_CMSG_CLOEXEC;
  return r;
}

/** The [SOL_SOCKET, SCM_RIGHTS, data] item that sends these fds. */
export function rights(fds: readonly number[]): [number, number, Buffer] {
  if (fds.length > constants.SCM_MAX_FD) throw outOfRange(`at most ${constants.SCM_MAX_FD} fds fit one message`);
  const data = Buffer.alloc(fds.length * 4);
  fds.forEach((fd, i) => data.writeInt32LE(validateFd(fd, `fds[${i}]`), i * 4));
  return [constants.SOL_SOCKET, constants.SCM_RIGHTS, data];
}

/** Every fd carried by SCM_RIGHTS items of a received ancillary list. */
export function fdsOf(ancillary: readonly AncillaryItem[]): number[] {
  const fds: number[] = [];
  for (const [level, type, data] of ancillary) {
    if (level !== constants.SOL_SOCKET || type !== constants.SCM_RIGHTS) continue;
    for (let i = 0; i + 4 <= data.length; i += 4) fds.push(data.readInt32LE(i));
  }
  return fds;
}

/** socketpair(2): two raw fds, non-blocking and close-on-exec. */
export function socketpair(type: SocketType = 'seqpacket'): [number, number] {
  const n = TYPE_NUMBERS[type];
  if (n === undefined) throw invalidArgType(`unknown socket type ${String(type)}`);
  const out = new Int32Array(2);
  check(native.socketpair(n, out), 'socketpair');
  return [out[0]!, out[1]!];
}

/** close(2). Not retried on EINTR: the fd is gone either way on Linux. */
export function close(fd: number): void {
  check(native.close(validateFd(fd, 'fd')), 'close');
}

/** fcntl(F_DUPFD_CLOEXEC). */
export function dup(fd: number): number {
  return check(native.dup(validateFd(fd, 'fd')), 'dup');
}
