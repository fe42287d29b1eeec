// The syscall layer for power users, shaped like Twisted's
// twisted.python.sendmsg that this project grew from. Every call is
// non-blocking: EAGAIN is thrown as an errno error like any other.
//
// As everywhere in the package, every user value is read once and what
// reaches the addon is a snapshot made here: our own arrays, validated byte
// views and numbers. fds the addon creates or receives are handed to the
// caller (disowned) only as the call returns.
import { constants, disowned, native, type AncillaryItem } from './native/binding';
import { check, describe, errnoError, invalidArgType, invalidArgValue, outOfRange } from './stream/errors';
import { TYPE_NUMBERS } from './stream/socket-type';
import type { SocketType } from './stream/types';
import { isArray, snapshotFds, snapshotOptions, validateAddressEncoding, validateFd, validateInteger } from './stream/validate';
import { getOptionOn, setOptionOn, validateGetOption, validateSetOption } from './stream/socket-calls';
import { bytesAfter, isByteView, isDetached } from './stream/views';
import type { AddressEncoding } from './stream/address-codec';
import { addressFromNative, errorAddress, snapshotSocketAddress, type SocketAddress, type SocketAddressInput } from './lowlevel/inet';

export type { AncillaryItem };
export { constants };
export { accept, bind, connect, getpeername, getsockname, listen, socket } from './lowlevel/inet';
export type { AcceptedSocket, AddressOptions, InetAddress, InetAddressInput, SocketAddress, SocketAddressInput, SocketFamily } from './lowlevel/inet';
export { watch } from './lowlevel/watch';
export type { WatchCallback, WatchEvent, WatchEvents, Watcher } from './lowlevel/watch';

/**
 * `address`, the sender: a Unix name as a lossless string, or with
 * `{ addressEncoding: 'buffer' }` its raw bytes; { address, port, family }
 * for inet; absent for an unnamed sender.
 */
export interface ReceivedMessage<A extends string | Buffer = string> {
  data: Buffer;
  /** [level, type, data] for each control message, e.g. [SOL_SOCKET, SCM_RIGHTS, <fds>]. */
  ancillary: AncillaryItem[];
  /** msg_flags: check MSG_TRUNC and MSG_CTRUNC. */
  flags: number;
  address?: SocketAddress<A>;
}

export interface RecvmsgOptions {
  /** Data buffer size (default 8192, at most 1 GiB). Only what arrives is copied. */
  maxSize?: number;
  /** Ancillary payload room in bytes, as CMSG_SPACE(cmsgSize) (default 4096, at most 1 MiB). */
  cmsgSize?: number;
  flags?: number;
  /** How a Unix `address` is returned: 'utf8' (default, lossless string) or 'buffer' (raw sun_path bytes). */
  addressEncoding?: AddressEncoding;
}

/** `address` as in ReceivedMessage: a Unix name as a lossless string or (addressEncoding 'buffer') its bytes, or inet rinfo. */
export interface ReceivedInto<A extends string | Buffer = string> {
  /** The bytes recvmsg(2) returned, written into the buffers in order (with MSG_TRUNC in flags: the real length). */
  bytes: number;
  /** [level, type, data] for each control message, as recvmsg() returns them. */
  ancillary: AncillaryItem[];
  /** msg_flags: check MSG_TRUNC and MSG_CTRUNC. */
  flags: number;
  address?: SocketAddress<A>;
}

export interface RecvmsgIntoOptions {
  /** Ancillary payload room in bytes, as CMSG_SPACE(cmsgSize) (default 4096, at most 1 MiB). */
  cmsgSize?: number;
  flags?: number;
  /** How a Unix `address` is returned: 'utf8' (default, lossless string) or 'buffer' (raw sun_path bytes). */
  addressEncoding?: AddressEncoding;
}

type Bytes = ArrayBufferView;
type ControlItem = readonly [level: number, type: number, data: Bytes];

const MAX_RECV_SIZE = 0x40000000;
const MAX_CMSG_SIZE = 1 << 20;

function int32(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
    throw invalidArgType(`The "${name}" argument must be a 32-bit integer. Received ${describe(value)}`);
  }
  return value;
}

/** A user array read once (length, then each element) into one of ours. */
function arrayOf(value: unknown, name: string): unknown[] {
  if (!isArray(value, name)) throw invalidArgType(`The "${name}" argument must be an array. Received ${describe(value)}`);
  const length = (value as { length: unknown }).length;
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || length > 0xffff) {
    throw outOfRange(`The "${name}" array has an invalid length. Received ${describe(length)}`);
  }
  const out = new Array<unknown>(length);
  for (let i = 0; i < length; i++) out[i] = (value as Record<number, unknown>)[i];
  return out;
}

function snapshotBuffers(buffers: unknown): Bytes[] {
  const list = isArray(buffers, 'buffers') ? arrayOf(buffers, 'buffers') : [buffers];
  if (list.length > constants.IOV_MAX) {
    throw outOfRange(`The "buffers" array has ${list.length} entries; at most ${constants.IOV_MAX} (IOV_MAX)`);
  }
  list.forEach((b, i) => {
    if (!isByteView(b)) throw invalidArgType(`The "buffers[${i}]" element must be a Buffer, TypedArray or DataView. Received ${describe(b)}`);
  });
  return list as Bytes[];
}

function snapshotAncillary(ancillary: unknown): ControlItem[] {
  return arrayOf(ancillary, 'ancillary').map((item, i) => {
    if (!isArray(item, `ancillary[${i}]`)) {
      throw invalidArgType(`The "ancillary[${i}]" item must be [level, type, data]. Received ${describe(item)}`);
    }
    const parts = arrayOf(item, `ancillary[${i}]`);
    if (parts.length !== 3) throw invalidArgValue(`The "ancillary[${i}]" item must be [level, type, data], 3 elements; it has ${parts.length}`);
    const [level, type, data] = parts;
    if (!isByteView(data)) {
      throw invalidArgType(`The "ancillary[${i}][2]" data must be a Buffer, TypedArray or DataView. Received ${describe(data)}`);
    }
    return [int32(level, `ancillary[${i}][0]`), int32(type, `ancillary[${i}][1]`), data] as const;
  });
}

/**
 * sendmsg(2) with any number of iovecs and control messages. Returns the bytes
 * sent. MSG_NOSIGNAL and MSG_DONTWAIT are always added. address: a Unix name
 * (a string, or a Uint8Array of raw sun_path bytes), or { address, port } for
 * an inet socket.
 */
export function sendmsg(
  fd: number,
  buffers: Bytes | readonly Bytes[],
  ancillary: ReadonlyArray<ControlItem> = [],
  flags = 0,
  address?: SocketAddressInput,
): number {
  validateFd(fd, 'fd');
  const list = snapshotBuffers(buffers);
  const control = snapshotAncillary(ancillary ?? []);
  int32(flags, 'flags');
  const addr = address === undefined ? null : snapshotSocketAddress(address);
  return check(native.sendmsg(fd, list, control, flags, addr), 'sendmsg', addr === null ? undefined : errorAddress(addr));
}

/**
 * recvmsg(2). Received fds are close-on-exec (MSG_CMSG_CLOEXEC) and belong to
 * the caller, including when MSG_CTRUNC is set.
 */
export function recvmsg(fd: number, options: RecvmsgOptions & { addressEncoding: 'buffer' }): ReceivedMessage<Buffer>;
export function recvmsg(fd: number, options?: RecvmsgOptions): ReceivedMessage;
export function recvmsg(fd: number, options: RecvmsgOptions = {}): ReceivedMessage<string | Buffer> {
  validateFd(fd, 'fd');
  // Each option read once; null means none, as undefined does.
  const o = snapshotOptions(options, ['maxSize', 'cmsgSize', 'flags', 'addressEncoding']);
  const addressEncoding = validateAddressEncoding(o.addressEncoding);
  const maxSize = validateInteger(o.maxSize, 'maxSize', 0, MAX_RECV_SIZE) ?? 8192;
  const cmsgSize = validateInteger(o.cmsgSize, 'cmsgSize', 0, MAX_CMSG_SIZE) ?? 4096;
  const flags = o.flags === undefined ? 0 : int32(o.flags, 'flags');
  refusePeekWithControl(flags, cmsgSize);
  const r = native.recvmsg(fd, maxSize, cmsgSize, flags);
  if (typeof r === 'number') throw errnoError(r, 'recvmsg');
  disowned(r.fds);
  // The kernel echoes the MSG_CMSG_CLOEXEC we always add; the caller did not ask.
  const result: ReceivedMessage<string | Buffer> = { data: r.data, ancillary: r.ancillary, flags: r.flags & ~constants.MSG_CMSG_CLOEXEC };
  if (r.address !== undefined) result.address = addressFromNative(r.address, addressEncoding);
  return result;
}

/**
 * recvmsg(2) into the caller's buffers, in order (an iovec each, up to
 * IOV_MAX). Received fds are close-on-exec and belong to the caller, as
 * with recvmsg().
 */
export function recvmsgInto(fd: number, buffers: Bytes | readonly Bytes[], options: RecvmsgIntoOptions & { addressEncoding: 'buffer' }): ReceivedInto<Buffer>;
export function recvmsgInto(fd: number, buffers: Bytes | readonly Bytes[], options?: RecvmsgIntoOptions): ReceivedInto;
export function recvmsgInto(fd: number, buffers: Bytes | readonly Bytes[], options: RecvmsgIntoOptions = {}): ReceivedInto<string | Buffer> {
  validateFd(fd, 'fd');
  const list = snapshotBuffers(buffers);
  list.forEach((b, i) => {
    // Its bytes are gone: a message received into it would be lost.
    if (isDetached(b)) throw invalidArgValue(`The "buffers[${i}]" element is over a detached ArrayBuffer`);
  });
  const o = snapshotOptions(options, ['cmsgSize', 'flags', 'addressEncoding']);
  const addressEncoding = validateAddressEncoding(o.addressEncoding);
  const cmsgSize = validateInteger(o.cmsgSize, 'cmsgSize', 0, MAX_CMSG_SIZE) ?? 4096;
  const flags = o.flags === undefined ? 0 : int32(o.flags, 'flags');
  refusePeekWithControl(flags, cmsgSize);
  const r = native.recvmsgInto(fd, list, cmsgSize, flags);
  if (typeof r === 'number') throw errnoError(r, 'recvmsg');
  disowned(r.fds);
  const result: ReceivedInto<string | Buffer> = { bytes: r.bytes, ancillary: r.ancillary, flags: r.flags & ~constants.MSG_CMSG_CLOEXEC };
  if (r.address !== undefined) result.address = addressFromNative(r.address, addressEncoding);
  return result;
}

function refusePeekWithControl(flags: number, cmsgSize: number): void {
  if ((flags & constants.MSG_PEEK) !== 0 && cmsgSize > 0) {
    // Each peek with a control buffer installs fresh duplicates of the queued
    // fds (af_unix.c unix_peek_fds).
    throw invalidArgValue('MSG_PEEK with a control buffer installs duplicate fds on every call; peek with cmsgSize: 0');
  }
}

/** getsockopt(2) on a raw fd: the integer option, or with `length`, a Buffer of up to `length` bytes. */
export function getsockopt(fd: number, level: number, name: number): number;
export function getsockopt(fd: number, level: number, name: number, length: number): Buffer;
export function getsockopt(fd: number, level: number, name: number, length?: number): number | Buffer {
  validateFd(fd, 'fd');
  return getOptionOn(fd, level, name, validateGetOption(level, name, length));
}

/** setsockopt(2) on a raw fd: a 32-bit integer, or the bytes of a Buffer, TypedArray or DataView. */
export function setsockopt(fd: number, level: number, name: number, value: number | Bytes): void {
  validateFd(fd, 'fd');
  setOptionOn(fd, level, name, validateSetOption(level, name, value));
}

/** shutdown(2): how is constants.SHUT_RD, SHUT_WR or SHUT_RDWR. */
export function shutdown(fd: number, how: number): void {
  validateFd(fd, 'fd');
  if (how !== constants.SHUT_RD && how !== constants.SHUT_WR && how !== constants.SHUT_RDWR) {
    throw invalidArgValue(`The "how" argument must be constants.SHUT_RD, SHUT_WR or SHUT_RDWR. Received ${describe(how)}`);
  }
  check(native.shutdown(fd, how), 'shutdown');
}

/** The [SOL_SOCKET, SCM_RIGHTS, data] item that sends these fds. */
export function rights(fds: readonly number[]): [number, number, Buffer] {
  if (!isArray(fds, 'fds')) throw invalidArgType(`The "fds" argument must be an array of fds. Received ${describe(fds)}`);
  const list = snapshotFds(fds);
  const data = Buffer.alloc(list.length * 4);
  list.forEach((fd, i) => data.writeInt32LE(fd, i * 4));
  return [constants.SOL_SOCKET, constants.SCM_RIGHTS, data];
}

/** Every fd carried by SCM_RIGHTS items of a received ancillary list. */
export function fdsOf(ancillary: readonly AncillaryItem[]): number[] {
  const fds: number[] = [];
  arrayOf(ancillary, 'ancillary').forEach((item, i) => {
    if (!isArray(item, `ancillary[${i}]`)) throw invalidArgType(`The "ancillary[${i}]" item must be [level, type, data]. Received ${describe(item)}`);
    const [level, type, data] = arrayOf(item, `ancillary[${i}]`);
    // Every item is [level, type, data], whether it carries fds or not.
    int32(level, `ancillary[${i}][0]`);
    int32(type, `ancillary[${i}][1]`);
    if (!isByteView(data) || !Buffer.isBuffer(data)) throw invalidArgType(`The "ancillary[${i}][2]" data must be a Buffer. Received ${describe(data)}`);
    if (level !== constants.SOL_SOCKET || type !== constants.SCM_RIGHTS) return;
    if (isDetached(data)) throw invalidArgValue(`The "ancillary[${i}][2]" data is over a detached ArrayBuffer`);
    // Read through a view of ours: the item's own length or readInt32LE may
    // be shadowed by its holder.
    const bytes = bytesAfter(data, 0);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let k = 0; k + 4 <= view.byteLength; k += 4) fds.push(view.getInt32(k, true));
  });
  return fds;
}

/** socketpair(2): two raw fds, non-blocking and close-on-exec. */
export function socketpair(type: SocketType = 'seqpacket'): [number, number] {
  const n = typeof type === 'string' && Object.hasOwn(TYPE_NUMBERS, type) ? TYPE_NUMBERS[type] : undefined;
  if (n === undefined) {
    throw invalidArgValue(`The "type" argument must be 'stream', 'seqpacket' or 'dgram'. Received ${describe(type)}`);
  }
  const out = new Int32Array(2);
  check(native.socketpair(n, out), 'socketpair');
  const pair: [number, number] = [out[0]!, out[1]!];
  disowned(pair);
  return pair;
}

/** close(2). Not retried on EINTR: the fd is gone either way on Linux. */
export function close(fd: number): void {
  check(native.close(validateFd(fd, 'fd')), 'close');
}

/** fcntl(F_DUPFD_CLOEXEC). */
export function dup(fd: number): number {
  const copy = check(native.dup(validateFd(fd, 'fd')), 'dup');
  disowned([copy]);
  return copy;
}
