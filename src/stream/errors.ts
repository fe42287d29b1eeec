// Error objects shaped like Node's own: errno errors carry `code` (a string
// such as 'EPIPE'), `errno` (negative), `syscall` and, where there is one,
// `address` (Node lib/internal/errors.js, uvExceptionWithHostPort). Argument
// errors carry a stable `ERR_*` code that never changes meaning.
import os from 'node:os';
import util from 'node:util';
import { constants } from '../native/binding';
import { decodeAddress } from './address-codec';

export interface ErrnoError extends Error {
  code: string;
  errno: number;
  syscall: string;
  address?: string;
}

// libuv's map has the descriptions; os.constants.errno also knows the errnos
// libuv does not name (EINPROGRESS, ETOOMANYREFS...).
const systemErrors = util.getSystemErrorMap();
const errnoByName = new Map<string, number>();
const nameByErrno = new Map<number, string>();
const knownErrnos = { ...(os.constants.errno as Record<string, number>), ETOOMANYREFS: constants.ETOOMANYREFS };
for (const [name, value] of Object.entries(knownErrnos)) {
  errnoByName.set(name, -value);
  nameByErrno.set(-value, name);
}
for (const [errno, [name]] of systemErrors) {
  errnoByName.set(name, errno);
  nameByErrno.set(errno, name);
}

/** The negative errno for a name such as 'EAGAIN', as native calls return it. */
export function errno(name: string): number {
  const value = errnoByName.get(name);
  if (value === undefined) throw new Error(`unknown errno name ${name}`);
  return value;
}

/** How an address is shown in messages: abstract names as '@name', like ss(8). */
export function formatAddress(address: string): string {
  return address.startsWith('\0') ? `@${address.slice(1)}` : address;
}

export function errnoError(errno: number, syscall: string, address?: string | Uint8Array): ErrnoError {
  if (typeof errno !== 'number' || !Number.isInteger(errno)) {
    throw invalidArgType(`The "errno" argument must be an integer. Received ${describe(errno)}`);
  }
  if (typeof syscall !== 'string') {
    throw invalidArgType(`The "syscall" argument must be of type string. Received ${describe(syscall)}`);
  }
  if (address !== undefined && typeof address !== 'string' && !util.types.isUint8Array(address)) {
    throw invalidArgType(`The "address" argument must be of type string or a Buffer. Received ${describe(address)}`);
  }
  // Raw bytes are named by their lossless string (address-codec.ts).
  const text = address === undefined || typeof address === 'string' ? address : decodeAddress(address);
  // An errno libuv does not name gets Node's code for it (uvException).
  const name = nameByErrno.get(errno);
  const code = name ?? 'UNKNOWN';
  const description = systemErrors.get(errno)?.[1] ?? `unknown error ${errno}`;
  const where = text !== undefined && text !== '' ? ` ${formatAddress(text)}` : '';
  const err = new Error(`${syscall} ${code}: ${description}${where}`) as ErrnoError;
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  if (text !== undefined) err.address = text;
  Error.captureStackTrace(err, errnoError);
  return err;
}

export type ErrorCode =
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_INVALID_FD_TYPE'
  | 'ERR_INVALID_STATE'
  | 'ERR_UNKNOWN_ENCODING'
  | 'ERR_INVALID_RETURN_VALUE'
  | 'ERR_STREAM_DESTROYED'
  | 'ERR_SERVER_ALREADY_LISTEN'
  | 'ERR_SERVER_NOT_RUNNING'
  | 'ERR_POOL_CLOSED'
  | 'ERR_POOL_WORKER_EXITED'
  | 'ERR_POOL_REQUEST_TIMEOUT'
  | 'ERR_POOL_REMOTE_ERROR'
  | 'ERR_POOL_NOT_A_WORKER'
  | 'ERR_FRAME_TOO_LARGE'
  | 'ERR_FRAME_LENGTH'
  | 'ERR_FRAME_TRUNCATED'
  | 'ERR_FRAME_STRAY_FDS'
  // Not an ERR_* code, but Node's own for an AbortError (abort.ts).
  | 'ABORT_ERR';

export interface CodedError extends Error {
  code: ErrorCode;
}

type ErrorClass = new (message: string) => Error;

export function coded(Base: ErrorClass, code: ErrorCode, message: string): CodedError {
  const err = new Base(message) as CodedError;
  err.code = code;
  Error.captureStackTrace(err, coded);
  return err;
}

export const invalidArgType = (message: string): CodedError => coded(TypeError, 'ERR_INVALID_ARG_TYPE', message);
export const invalidArgValue = (message: string): CodedError => coded(TypeError, 'ERR_INVALID_ARG_VALUE', message);
export const outOfRange = (message: string): CodedError => coded(RangeError, 'ERR_OUT_OF_RANGE', message);
export const invalidFdType = (message: string): CodedError => coded(TypeError, 'ERR_INVALID_FD_TYPE', message);
export const invalidState = (message: string): CodedError => coded(Error, 'ERR_INVALID_STATE', `Invalid state: ${message}`);
export const streamDestroyed = (method: string): CodedError => coded(Error, 'ERR_STREAM_DESTROYED', `Cannot call ${method} after a stream was destroyed`);
export const serverAlreadyListen = (): CodedError => coded(Error, 'ERR_SERVER_ALREADY_LISTEN', 'Listen method has been called more than once without closing.');
export const serverNotRunning = (): CodedError => coded(Error, 'ERR_SERVER_NOT_RUNNING', 'Server is not running.');

/** A framed stream's peer broke the format (frame-assembler.ts); the socket is destroyed with it. */
export function frameError(code: ErrorCode, message: string, cause?: unknown): CodedError {
  const err = coded(Error, code, message);
  if (cause !== undefined) err.cause = cause;
  return err;
}

export const unknownEncoding = (encoding: unknown): CodedError => coded(TypeError, 'ERR_UNKNOWN_ENCODING', `Unknown encoding: ${describe(encoding)}`);

/**
 * A Proxy whose revoke() was called: every operation on it throws a
 * TypeError of the engine's, Array.isArray() included. The check runs no
 * trap: Array.isArray() on a live Proxy looks through it to its target.
 */
export function isRevokedProxy(value: unknown): boolean {
  if (!util.types.isProxy(value)) return false;
  try {
    Array.isArray(value);
    return false;
  } catch {
    return true;
  }
}

/** Throws the errno error for a negative native result; returns it otherwise. */
export function check(result: number, syscall: string, address?: string | Uint8Array): number {
  if (result < 0) throw errnoError(result, syscall, address);
  return result;
}

/**
 * How a value is shown in an error message, as Node's own "Received ..."
 * suffixes do. It never throws and runs no user code: no String(), no
 * property read (a value may be a Proxy, a revoked one, an object without a
 * prototype, or have getters that throw).
 */
export function describe(value: unknown): string {
  try {
    if (value === null) return 'null';
    if (value === undefined) return 'undefined';
    switch (typeof value) {
      case 'string':
        return `type string (${JSON.stringify(value.length > 28 ? `${value.slice(0, 25)}...` : value)})`;
      case 'number':
      case 'boolean':
      case 'bigint':
        return `type ${typeof value} (${value.toString()})`;
      case 'symbol':
        return 'type symbol';
      case 'function':
        return 'function';
      default:
        break;
    }
    if (util.types.isProxy(value)) return isRevokedProxy(value) ? 'a revoked Proxy' : 'a Proxy';
    if (Array.isArray(value)) return 'an instance of Array';
    // The constructor's own name, read from the descriptor, not through a getter.
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto === null) return 'an object with a null prototype';
    const ctor = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value as unknown;
    const name = typeof ctor === 'function' ? (Object.getOwnPropertyDescriptor(ctor, 'name')?.value as unknown) : undefined;
    return typeof name === 'string' && name !== '' ? `an instance of ${name}` : 'an object';
  } catch {
    return 'a value that cannot be inspected';
  }
}
