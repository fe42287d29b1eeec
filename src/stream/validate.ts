// Synchronous validation of what write() accepts. Everything here throws a
// TypeError or RangeError with an ERR_* code before anything is queued or sent.
import { constants } from '../native/binding';
import { invalidArgType, invalidArgValue, outOfRange } from './errors';
import type { MessageData, OutgoingMessage, SocketType } from './types';

export interface NormalizedMessage {
  data: Buffer | Uint8Array | Array<Buffer | Uint8Array>;
  byteLength: number;
  fds: readonly number[];
  address: string | null;
  /** OutgoingMessage.lend */
  lend: boolean;
}

const EMPTY: readonly number[] = Object.freeze([]);
const MAX_NAME = 107;

function isBytes(value: unknown): value is Buffer | Uint8Array {
  return value instanceof Uint8Array;
}

function normalizeData(data: MessageData | undefined): { data: NormalizedMessage['data']; byteLength: number } {
  if (data === undefined) return { data: Buffer.alloc(0), byteLength: 0 };
  if (typeof data === 'string') {
    const buf = Buffer.from(data, 'utf8');
    return { data: buf, byteLength: buf.length };
  }
  if (isBytes(data)) return { data, byteLength: data.byteLength };
  if (Array.isArray(data)) {
    const parts = data as ReadonlyArray<unknown>;
    if (parts.length > constants.IOV_MAX) {
      throw outOfRange(`The "data" array has ${parts.length} buffers; at most ${constants.IOV_MAX} (IOV_MAX) fit one message`);
    }
    let byteLength = 0;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (!isBytes(part)) {
        throw invalidArgType(`The "data[${i}]" element must be a Buffer or Uint8Array. Received ${describe(part)}`);
      }
      byteLength += part.byteLength;
    }
    // A copy: the caller may reuse its array once write() has returned.
    return { data: parts.slice() as Array<Buffer | Uint8Array>, byteLength };
  }
  throw invalidArgType(
    `The "data" property must be a Buffer, Uint8Array, string or an array of Buffers. Received ${describe(data)}`);
}

function isFd(fd: unknown): fd is number {
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 && fd <= 0x7fffffff;
}

export function validateFd(fd: unknown, name: string): number {
  if (isFd(fd)) return fd;
  if (typeof fd !== 'number') throw invalidArgType(`The "${name}" argument must be of type number. Received ${describe(fd)}`);
  throw outOfRange(`The "${name}" argument must be a non-negative integer file descriptor. Received ${String(fd)}`);
}

function normalizeFds(fds: unknown): readonly number[] {
  if (fds === undefined || fds === null) return EMPTY;
  if (!Array.isArray(fds)) throw invalidArgType(`The "fds" property must be an array of integers. Received ${describe(fds)}`);
  if (fds.length > constants.SCM_MAX_FD) {
    throw outOfRange(`The "fds" array has ${fds.length} entries; the kernel passes at most ${constants.SCM_MAX_FD} (SCM_MAX_FD) per message`);
  }
  for (let i = 0; i < fds.length; i++) {
    // The argument's name is built only for the error: a string per fd per
    // write showed in the hand-off profile (bench/README.md).
    if (!isFd(fds[i])) validateFd(fds[i], `fds[${i}]`);
  }
  return fds as number[];
}

export function validateAddress(address: unknown, name = 'address'): string {
  if (typeof address !== 'string') throw invalidArgType(`The "${name}" argument must be of type string. Received ${describe(address)}`);
  const abstract = address.startsWith('\0');
  const bytes = Buffer.byteLength(address) - (abstract ? 1 : 0);
  if (bytes === 0) throw invalidArgValue(`The "${name}" argument must not be empty`);
  if (bytes > MAX_NAME) {
    throw outOfRange(`The "${name}" argument is ${bytes} bytes; a Unix socket name holds at most ${MAX_NAME} (sun_path)`);
  }
  if (!abstract && address.includes('\0')) throw invalidArgValue(`The "${name}" path must not contain NUL bytes`);
  return address;
}

/** Turns what write() was given into one message, or throws. */
export function normalizeMessage(chunk: unknown, type: SocketType): NormalizedMessage {
  let message: OutgoingMessage;
  if (isBytes(chunk) || typeof chunk === 'string') {
    message = { data: chunk };
  } else if (typeof chunk === 'object' && chunk !== null && !Array.isArray(chunk)) {
    message = chunk as OutgoingMessage;
  } else {
    throw invalidArgType(`The message must be a Buffer, a string or an object { data, fds, address, lend }. Received ${describe(chunk)}`);
  }
  const { data, byteLength } = normalizeData(message.data);
  const fds = normalizeFds(message.fds);
  let address: string | null = null;
  if (message.address !== undefined) {
    if (type !== 'dgram') throw invalidArgValue(`The "address" property is only valid on dgram sockets; this one is ${type}`);
    address = validateAddress(message.address);
  }
  const lend = message.lend ?? false;
  if (typeof lend !== 'boolean') throw invalidArgType(`The "lend" property must be of type boolean. Received ${describe(lend)}`);
  if (type === 'stream' && fds.length > 0 && byteLength === 0) {
    // The kernel silently drops fds sent with zero bytes on a stream socket
    // (unix(7) NOTES; kernel-semantics.md E8).
    throw invalidArgValue('A stream socket cannot send fds with empty data: the kernel would drop them. Send at least one byte');
  }
  return { data, byteLength, fds, address, lend };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an instance of Array';
  if (typeof value === 'object') return `an instance of ${(value as object).constructor?.name ?? 'Object'}`;
  if (typeof value === 'string') return `type string ('${value.length > 28 ? value.slice(0, 25) + '...' : value}')`;
  return `type ${typeof value} (${String(value)})`;
}
