// The plain socket calls behind UnixMessageSocket's public methods (on an fd
// the socket owns) and the low-level getsockopt/setsockopt (on raw fds):
// getsockname(2), getpeername(2), bind(2), SO_PEERCRED, SO_PEERPIDFD,
// SO_PEERGROUPS, SO_PEERSEC, and getsockopt(2)/setsockopt(2) of integers and of bytes, with
// their argument checks and their errors (errno codes, ERR_INVALID_ARG_TYPE,
// ERR_OUT_OF_RANGE). They hold no state.
import { constants, disowned, native } from '../native/binding';
import { describe, errno, errnoError, invalidArgType, outOfRange } from './errors';
import { isInt32 } from './socket-options';
import type { Credentials } from './types';
import { validateAddress } from './validate';
import { presentAddress, type AddressEncoding, type NativeAddress } from './address-codec';
import { isByteView } from './views';

const scratch = new Int32Array(1);

/** getsockname(2): a path, '\0name', or '' (empty) when unnamed, in `encoding`. */
export function localAddress(fd: number, encoding: AddressEncoding = 'utf8'): string | Buffer {
  const r = native.getsockname(fd);
  if (typeof r === 'number') throw errnoError(r, 'getsockname');
  return presentAddress(r ?? '', encoding);
}

/** getpeername(2), if the peer has a name, in `encoding`. */
export function peerAddress(fd: number, encoding: AddressEncoding = 'utf8'): string | Buffer | undefined {
  const r = native.getpeername(fd);
  return typeof r === 'number' || r === null ? undefined : presentAddress(r, encoding);
}

/** The peer's address connect() reached, or else getpeername(2), in `encoding`. */
export function remoteAddressOf(remote: NativeAddress | undefined, fd: number | undefined, encoding: AddressEncoding): string | Buffer | undefined {
  if (remote !== undefined) return presentAddress(remote, encoding);
  return fd === undefined ? undefined : peerAddress(fd, encoding);
}

/** Whether getsockname/getpeername gave a name (a string or bytes; null: unnamed; a number: -errno). */
export function hasName(r: string | Buffer | null | number): boolean {
  return r !== null && typeof r !== 'number';
}

/** Checks bind()'s argument (a string or raw bytes): null autobinds. */
export function bindName(address: string | Uint8Array | undefined): NativeAddress | null {
  return address === undefined ? null : validateAddress(address);
}

/** bind(2) to a name bindName() checked. */
export function bindTo(fd: number, name: NativeAddress | null): void {
  const r = native.bind(fd, name);
  if (r < 0) throw errnoError(r, 'bind', name ?? undefined);
}

/** end()'s shutdown(SHUT_WR): the error to report, null when done or already disconnected (ENOTCONN). */
export function shutdownWrite(fd: number, remote: NativeAddress | undefined): Error | null {
  const r = native.shutdown(fd, constants.SHUT_WR);
  return r < 0 && r !== ENOTCONN ? errnoError(r, 'shutdown', remote) : null;
}

/** SO_PEERCRED: the peer's credentials at connect()/socketpair() time. */
export function peerCredentialsOf(fd: number): Credentials {
  const out = new Int32Array(3);
  const r = native.peercred(fd, out);
  if (r < 0) throw errnoError(r, 'getsockopt');
  return { pid: out[0]!, uid: out[1]!, gid: out[2]! };
}

/**
 * SO_PEERPIDFD: a new pidfd for the peer (close-on-exec), handed to the
 * caller, who closes it. ENOPROTOOPT before Linux 6.5.
 */
export function peerPidfdOf(fd: number): number {
  const r = native.peerPidfd(fd);
  if (r < 0) throw errnoError(r, 'getsockopt');
  disowned([r]);
  return r;
}

/** The most bytes getOption(level, name, length) reads. */
export const MAX_OPTION_LENGTH = 1 << 20;
const ENOPROTOOPT = errno('ENOPROTOOPT');
const ERANGE = errno('ERANGE');
const ENOTCONN = errno('ENOTCONN');
const optionLength = new Int32Array(1);

/** setOption()'s arguments: 32-bit level and name; a 32-bit integer or a byte view, returned. */
export function validateSetOption(level: unknown, name: unknown, value: unknown): number | ArrayBufferView {
  validateLevelName(level, name);
  if (isInt32(value) || isByteView(value)) return value;
  throw invalidArgType(`The "value" argument must be a 32-bit integer, a Buffer, TypedArray or DataView. Received ${describe(value)}`);
}

/** getOption()'s arguments: 32-bit level and name, and the length (undefined: an integer option). */
export function validateGetOption(level: unknown, name: unknown, length?: unknown): number | undefined {
  validateLevelName(level, name);
  if (length === undefined) return undefined;
  if (typeof length !== 'number') throw invalidArgType(`The "length" argument must be of type number. Received ${describe(length)}`);
  if (!Number.isInteger(length) || length < 0 || length > MAX_OPTION_LENGTH) {
    throw outOfRange(`The "length" argument must be an integer from 0 to ${MAX_OPTION_LENGTH}. Received ${describe(length)}`);
  }
  return length;
}

function validateLevelName(level: unknown, name: unknown): void {
  if (!isInt32(level) || !isInt32(name)) {
    throw invalidArgType('The "level" and "name" arguments must be 32-bit integers');
  }
}

/** setsockopt(2) with what validateSetOption() returned. */
export function setOptionOn(fd: number, level: number, name: number, value: number | ArrayBufferView): void {
  const r = typeof value === 'number' ? native.setsockopt(fd, level, name, value) : native.setsockoptBytes(fd, level, name, value);
  if (r < 0) throw errnoError(r, 'setsockopt');
}

/**
 * A socket's setOption(): setsockopt(2), then for SO_PASSCRED and
 * SO_PASSPIDFD whether credentials (a pidfd) now come, as the kernel reads
 * the option back (a Buffer value too); undefined for any other option.
 */
export function setSocketOption(fd: number, level: number, name: number, value: number | ArrayBufferView): boolean | undefined {
  setOptionOn(fd, level, name, value);
  if (level !== constants.SOL_SOCKET || (name !== constants.SO_PASSCRED && name !== constants.SO_PASSPIDFD)) return undefined;
  return getIntOption(fd, level, name) !== 0;
}

/** getsockopt(2): the integer, or with a length, a Buffer of the bytes the kernel gave (at most length). */
export function getOptionOn(fd: number, level: number, name: number, length: number | undefined): number | Buffer {
  if (length === undefined) return getIntOption(fd, level, name);
  const out = Buffer.alloc(length);
  const r = native.getsockoptBytes(fd, level, name, out, optionLength);
  if (r < 0) throw errnoError(r, 'getsockopt');
  return out.subarray(0, Math.min(optionLength[0]!, length));
}

/**
 * A variable-length option read whole: SO_PEERGROUPS and SO_PEERSEC fail
 * with ERANGE and report the length they need (sock.c sk_getsockopt;
 * security_socket_getpeersec_stream), so the read is
 * retried with that much room. undefined for ENOPROTOOPT.
 */
function wholeOption(fd: number, name: number): Buffer | undefined {
  let room = 256;
  for (;;) {
    const out = Buffer.alloc(room);
    const r = native.getsockoptBytes(fd, constants.SOL_SOCKET, name, out, optionLength);
    const need = optionLength[0]!;
    if (r === ERANGE && need > room && need <= MAX_OPTION_LENGTH) {
      room = need;
      continue;
    }
    if (r === ENOPROTOOPT) return undefined;
    if (r < 0) throw errnoError(r, 'getsockopt');
    return out.subarray(0, Math.min(need, room));
  }
}

/** SO_PEERGROUPS: the peer's supplementary groups at connect()/socketpair() time. */
export function peerGroupsOf(fd: number): number[] {
  const bytes = wholeOption(fd, constants.SO_PEERGROUPS);
  if (bytes === undefined) throw errnoError(ENOPROTOOPT, 'getsockopt');
  // gid_t, in the machine's byte order; Buffer.alloc() starts its own ArrayBuffer, so aligned.
  return Array.from(new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2));
}

/** SO_PEERSEC: the peer's security context, undefined when no LSM labels sockets (ENOPROTOOPT). */
export function peerSecurityContextOf(fd: number): string | undefined {
  const bytes = wholeOption(fd, constants.SO_PEERSEC);
  if (bytes === undefined) return undefined;
  // Some LSMs count a terminating NUL in the length, some do not.
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return bytes.toString('utf8', 0, end);
}

/** setsockopt(2) for an integer option. */
export function setIntOption(fd: number, level: number, name: number, value: number): void {
  const r = native.setsockopt(fd, level, name, value);
  if (r < 0) throw errnoError(r, 'setsockopt');
}

/** getsockopt(2) for an integer option. */
export function getIntOption(fd: number, level: number, name: number): number {
  const r = native.getsockopt(fd, level, name, scratch);
  if (r < 0) throw errnoError(r, 'getsockopt');
  return scratch[0]!;
}
