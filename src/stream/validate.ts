// Synchronous validation of what write() accepts. Everything here throws a
// TypeError or RangeError with an ERR_* code before anything is queued or sent.
//
// Every user value is read exactly once: each property of the message, the
// length and each element of an array. What comes out is a snapshot (arrays
// of our own, byte views checked by their internal slots), and the native
// side reads only that, so a getter that changes its answer, or a Proxy,
// cannot make the addon see something other than what was validated.
import { constants } from '../native/binding';
import { describe, invalidArgType, invalidArgValue, outOfRange } from './errors';
import type { SocketType } from './types';
import { byteLengthOf, isByteView } from './views';

export interface NormalizedMessage {
  /** One view, or our own array of them. */
  data: ArrayBufferView | ArrayBufferView[];
  /** What the views held once every user value had been read. */
  byteLength: number;
  /** Our own copy. */
  fds: readonly number[];
  address: string | null;
  /** OutgoingMessage.lend */
  lend: boolean;
}

const EMPTY_FDS: readonly number[] = Object.freeze([]);
const EMPTY_DATA = new Uint8Array(0);
const MAX_NAME = 107;

/** Reads a user array once: its length, then each element, into an array of ours. */
function snapshotArray(value: unknown, name: string, max: number, what: string): unknown[] {
  const length = (value as { length: unknown }).length;
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0) {
    throw invalidArgType(`The "${name}" array has no valid length. Received ${describe(length)}`);
  }
  if (length > max) {
    throw outOfRange(`The "${name}" array has ${length} entries; at most ${max} ${what}`);
  }
  const out = new Array<unknown>(length);
  for (let i = 0; i < length; i++) out[i] = (value as Record<number, unknown>)[i];
  return out;
}

function snapshotData(data: unknown): ArrayBufferView | ArrayBufferView[] {
  if (data === undefined) return EMPTY_DATA;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (isByteView(data)) return data;
  if (Array.isArray(data)) {
    const parts = snapshotArray(data, 'data', constants.IOV_MAX, '(IOV_MAX) buffers fit one message');
    for (let i = 0; i < parts.length; i++) {
      if (!isByteView(parts[i])) {
        throw invalidArgType(`The "data[${i}]" element must be a Buffer, TypedArray or DataView. Received ${describe(parts[i])}`);
      }
    }
    return parts as ArrayBufferView[];
  }
  throw invalidArgType(
    `The "data" property must be a Buffer, TypedArray, DataView, string or an array of them. Received ${describe(data)}`);
}

function isFd(fd: unknown): fd is number {
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 && fd <= 0x7fffffff;
}

export function validateFd(fd: unknown, name: string): number {
  if (isFd(fd)) return fd;
  if (typeof fd !== 'number') throw invalidArgType(`The "${name}" argument must be of type number. Received ${describe(fd)}`);
  throw outOfRange(`The "${name}" argument must be a non-negative integer file descriptor. Received ${describe(fd)}`);
}

/** A list of fds, read once into an array of ours and validated. */
export function snapshotFds(fds: unknown, name = 'fds'): readonly number[] {
  if (fds === undefined || fds === null) return EMPTY_FDS;
  if (!Array.isArray(fds)) throw invalidArgType(`The "${name}" property must be an array of integers. Received ${describe(fds)}`);
  const copy = snapshotArray(fds, name, constants.SCM_MAX_FD, '(SCM_MAX_FD) fds pass in one message');
  for (let i = 0; i < copy.length; i++) {
    // The argument's name is built only for the error: a string per fd per
    // write showed in the hand-off profile (bench/README.md).
    if (!isFd(copy[i])) validateFd(copy[i], `${name}[${i}]`);
  }
  return copy as number[];
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

/** The bytes of one view or of our array of them, as the views hold them now. */
export function dataLength(data: ArrayBufferView | readonly ArrayBufferView[]): number {
  if (!Array.isArray(data)) return byteLengthOf(data as ArrayBufferView);
  let n = 0;
  for (let i = 0; i < data.length; i++) n += byteLengthOf(data[i]!);
  return n;
}

/** Turns what write() was given into one message, or throws. */
export function normalizeMessage(chunk: unknown, type: SocketType): NormalizedMessage {
  let rawData: unknown;
  let rawFds: unknown;
  let rawAddress: unknown;
  let rawLend: unknown;
  if (isByteView(chunk) || typeof chunk === 'string') {
    rawData = chunk;
  } else if (typeof chunk === 'object' && chunk !== null && !Array.isArray(chunk)) {
    // Each property once, before any is validated.
    const message = chunk as Record<string, unknown>;
    rawData = message.data;
    rawFds = message.fds;
    rawAddress = message.address;
    rawLend = message.lend;
  } else {
    throw invalidArgType(`The message must be a Buffer, a string or an object { data, fds, address, lend }. Received ${describe(chunk)}`);
  }
  const data = snapshotData(rawData);
  const fds = snapshotFds(rawFds);
  let address: string | null = null;
  if (rawAddress !== undefined) {
    if (type !== 'dgram') throw invalidArgValue(`The "address" property is only valid on dgram sockets; this one is ${type}`);
    address = validateAddress(rawAddress);
  }
  const lend = rawLend ?? false;
  if (typeof lend !== 'boolean') throw invalidArgType(`The "lend" property must be of type boolean. Received ${describe(lend)}`);
  // Measured last: no user code runs between this and the send (or the
  // check before each send, UnixMessageSocket's #changed()), so a buffer detached
  // meanwhile is caught, never sent as an empty message.
  const byteLength = dataLength(data);
  if (type === 'stream' && fds.length > 0 && byteLength === 0) {
    // The kernel silently drops fds sent with zero bytes on a stream socket
    // (unix(7) NOTES).
    throw invalidArgValue('A stream socket cannot send fds with empty data: the kernel would drop them. Send at least one byte');
  }
  return { data, byteLength, fds, address, lend };
}
