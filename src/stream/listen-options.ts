// What listen() takes: the ListenOptions type, and listenOptionsOf(), which
// reads them once and checks them (also what rx's listen$() checks when
// called). Nothing here creates or owns an fd.
import { types } from 'node:util';
import { validateSignal } from './abort';
import { isAbstract, type NativeAddress } from './address-codec';
import { describe, invalidArgType, invalidArgValue, outOfRange } from './errors';
import { isArray, snapshotOptions, validateAddress, validateFd } from './validate';

export interface ListenOptions {
  /** A filesystem path, or '\0name' for the abstract namespace; or its raw bytes (a Uint8Array). */
  path?: string | Uint8Array;
  /** Adopt an already bound (and possibly listening) socket fd. */
  fd?: number;
  /** listen(2) backlog; default 511 like net.Server. */
  backlog?: number;
  /** chmod the socket file to this mode before accepting (pathname sockets only). */
  mode?: number;
  /**
   * close() the server when aborted (before, while or after listening), as
   * net.Server's listen({ signal }): an already aborted signal closes it on
   * the next tick, with no 'listening' and no socket file left. Accepted
   * connections stay open (closeAllConnections() ends them).
   */
  signal?: AbortSignal;
}

/**
 * listen()'s target, read once and checked: a path, or an options object
 * with exactly one of path and fd. Also what listen$() checks when called.
 */
export function listenOptionsOf(target: unknown): { path?: NativeAddress; fd?: number; backlog: number; mode?: number; signal?: AbortSignal } {
  if (typeof target === 'string' || types.isUint8Array(target)) return { path: validateAddress(target, 'path'), backlog: 511 };
  if (typeof target !== 'object' || target === null || isArray(target, 'options')) {
    throw invalidArgType(`listen() takes a path or an options object { path, backlog, mode, fd }. Received ${describe(target)}`);
  }
  // Each option read once.
  const { signal: given, ...options } = snapshotOptions(target, ['path', 'fd', 'backlog', 'mode', 'signal']);
  const signal = validateSignal(given);
  const checked = listenTargetOf(options);
  return signal === undefined ? checked : { ...checked, signal };
}

function listenTargetOf(options: Partial<Record<'path' | 'fd' | 'backlog' | 'mode', unknown>>): {
  path?: NativeAddress;
  fd?: number;
  backlog: number;
  mode?: number;
} {
  const backlog = options.backlog ?? 511;
  if (typeof backlog !== 'number' || !Number.isInteger(backlog) || backlog < 0 || backlog > 0x7fffffff) {
    throw outOfRange(`The "backlog" option must be a non-negative integer. Received ${describe(backlog)}`);
  }
  const mode = options.mode;
  if (mode !== undefined && (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o7777)) {
    throw outOfRange(`The "mode" option must be a file mode such as 0o660. Received ${describe(mode)}`);
  }
  if ((options.path === undefined) === (options.fd === undefined)) {
    throw invalidArgValue('listen() needs exactly one of "path" and "fd"');
  }
  if (options.fd !== undefined) {
    if (mode !== undefined) throw invalidArgValue('The "mode" option applies to a socket file listen() creates, not to an adopted fd');
    return { fd: validateFd(options.fd, 'fd'), backlog };
  }
  const path = validateAddress(options.path, 'path');
  if (mode !== undefined && isAbstract(path)) {
    throw invalidArgValue('The "mode" option applies to pathname sockets; an abstract name has no file');
  }
  return mode === undefined ? { path, backlog } : { path, backlog, mode };
}
