// The rx entry's argument checks: every function refuses a bad argument
// when it is called, with the typed errors of the rest of the package
// (ERR_INVALID_ARG_TYPE...), never with a TypeError of RxJS's or the
// engine's at subscribe time, and reads each option once.
import { types } from 'node:util';
import { describe, invalidArgType } from '../stream/errors';
import { UnixMessageServer, UnixMessageSocket } from '../stream/index';

/**
 * A UnixMessageSocket. A Proxy of one is refused: its methods reach the
 * socket's private state through `this`, which would be the Proxy.
 */
export function validateSocket(value: unknown, name = 'socket'): UnixMessageSocket {
  if (types.isProxy(value) || !(value instanceof UnixMessageSocket)) {
    throw invalidArgType(`The "${name}" argument must be a UnixMessageSocket. Received ${describe(value)}`);
  }
  return value;
}

export function validateServer(value: unknown, name = 'server'): UnixMessageServer {
  if (types.isProxy(value) || !(value instanceof UnixMessageServer)) {
    throw invalidArgType(`The "${name}" argument must be a UnixMessageServer. Received ${describe(value)}`);
  }
  return value;
}

export function validateFunction(value: unknown, name: string): void {
  if (typeof value !== 'function') throw invalidArgType(`The "${name}" argument must be a function. Received ${describe(value)}`);
}

/** An optional function option: undefined, or a function. */
export function validateCallbackOption(value: unknown, name: string): void {
  if (value !== undefined && typeof value !== 'function') {
    throw invalidArgType(`The "${name}" option must be a function. Received ${describe(value)}`);
  }
}
