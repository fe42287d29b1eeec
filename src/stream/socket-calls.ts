// The plain socket calls behind UnixMessageSocket's public methods, on an fd
// the socket owns: getsockname(2), getpeername(2), bind(2), SO_PEERCRED,
// SO_PEERPIDFD, and
// integer getsockopt(2)/setsockopt(2), with their argument checks and their
// errors (errno codes, ERR_INVALID_ARG_TYPE). They hold no state.
import { disowned, native } from '../native/binding';
import { describe, errnoError, invalidArgType } from './errors';
import { isInt32 } from './socket-options';
import type { Credentials } from './types';
import { validateAddress } from './validate';

const scratch = new Int32Array(1);

/** getsockname(2): a path, '\0name', or '' when unnamed. */
export function localAddress(fd: number): string {
  const r = native.getsockname(fd);
  if (typeof r === 'number') throw errnoError(r, 'getsockname');
  return r ?? '';
}

/** getpeername(2), if the peer has a name. */
export function peerAddress(fd: number): string | undefined {
  const r = native.getpeername(fd);
  return typeof r === 'string' ? r : undefined;
}

/** Checks bind()'s argument: null autobinds. */
export function bindName(address: string | undefined): string | null {
  return address === undefined ? null : validateAddress(address);
}

/** bind(2) to a name bindName() checked. */
export function bindTo(fd: number, name: string | null): void {
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
