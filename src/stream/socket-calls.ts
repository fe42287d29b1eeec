// The plain socket calls behind UnixMessageSocket's public methods, on an fd
// the socket owns: getsockname(2), getpeername(2), bind(2), SO_PEERCRED, and
// integer getsockopt(2)/setsockopt(2), with their argument checks and their
// errors (errno codes, ERR_INVALID_ARG_TYPE). They hold no state.
import { native } from '../native/binding';
import { describe, errnoError, invalidArgType } from './errors';
import { isInt32 } from './socket-options';
import type { Credentials } from './types';
import { validateAddress } from './validate';
import { presentAddress, type AddressEncoding, type NativeAddress } from './address-codec';

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

/** SO_PEERCRED: the peer's credentials at connect()/socketpair() time. */
export function peerCredentialsOf(fd: number): Credentials {
  const out = new Int32Array(3);
  const r = native.peercred(fd, out);
  if (r < 0) throw errnoError(r, 'getsockopt');
  return { pid: out[0]!, uid: out[1]!, gid: out[2]! };
}

/** setOption()'s arguments: 32-bit integers. */
export function validateSetOption(level: number, name: number, value: number): void {
  for (const [k, v] of [
    ['level', level],
    ['name', name],
    ['value', value],
  ] as const) {
    if (!isInt32(v)) throw invalidArgType(`The "${k}" argument must be a 32-bit integer. Received ${describe(v)}`);
  }
}

/** getOption()'s arguments: 32-bit integers. */
export function validateGetOption(level: number, name: number): void {
  if (!isInt32(level) || !isInt32(name)) {
    throw invalidArgType('The "level" and "name" arguments must be 32-bit integers');
  }
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
