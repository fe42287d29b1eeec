// Synchronous validation of what write() accepts, and of the options
// objects of the whole package (socket options, connect(), listen(), the rx
// and pool entries). Everything here throws a TypeError or RangeError with
// an ERR_* code before anything is queued, sent or created.
//
// Every user value is read exactly once: each property of the message, the
// length and each element of an array. What comes out is a snapshot (arrays
// of our own, byte views checked by their internal slots), and the native
// side reads only that, so a getter that changes its answer, or a Proxy,
// cannot make the addon see something other than what was validated.
import { types } from 'node:util';
import { constants } from '../native/binding';
import { describe, invalidArgType, invalidArgValue, isRevokedProxy, outOfRange, unknownEncoding } from './errors';
import { validateSignal } from './abort';
import type { SocketOptions } from './socket-options';
import type { SocketType, WriteCallback } from './types';
import { byteLengthOf, bytesAfter, isByteView, isDetached, isFakeView } from './views';
import { snapshotFramed } from './frame-format';
import { encodeAddress, hasSurrogate, type AddressEncoding, type NativeAddress } from './address-codec';

export interface NormalizedMessage {
  /** One view, or our own array of them. */
  data: ArrayBufferView | ArrayBufferView[];
  /** What the views held once every user value had been read. */
  byteLength: number;
  /** Our own copy. */
  fds: readonly number[];
  address: NativeAddress | null;
  /** OutgoingMessage.lend */
  lend: boolean;
}

const EMPTY_FDS: readonly number[] = Object.freeze([]);
const EMPTY_DATA = new Uint8Array(0);
const MAX_NAME = 107;

/**
 * Array.isArray() for a user value. A revoked Proxy makes the engine throw
 * an untyped TypeError there: it is refused with ERR_INVALID_ARG_TYPE instead.
 */
export function isArray(value: unknown, name: string): boolean {
  if (isRevokedProxy(value)) throw invalidArgType(`The "${name}" argument is a revoked Proxy, which cannot be read`);
  return Array.isArray(value);
}

/**
 * An options argument read once: each of `keys` once (inherited ones too,
 * as Node reads options), and nothing else, into an object of ours. null and
 * undefined mean no options.
 */
export function snapshotOptions<K extends string>(options: unknown, keys: readonly K[], name = 'options'): Partial<Record<K, unknown>> {
  const out: Partial<Record<K, unknown>> = {};
  if (options === undefined || options === null) return out;
  if (typeof options !== 'object' || isArray(options, name)) {
    throw invalidArgType(`The "${name}" argument must be an object. Received ${describe(options)}`);
  }
  for (const key of keys) {
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

export function validateBoolean(value: unknown, name: string): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  throw invalidArgType(`The "${name}" option must be of type boolean. Received ${describe(value)}`);
}

/** An integer from min to max (inclusive), or undefined. */
export function validateInteger(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw invalidArgType(`The "${name}" option must be of type number. Received ${describe(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(`The "${name}" option must be an integer from ${min} to ${max}. Received ${describe(value)}`);
  }
  return value;
}

const SOCKET_OPTIONS = [
  'allowHalfOpen',
  'readableHighWaterMark',
  'writableHighWaterMark',
  'maxPendingFds',
  'maxQueuedFds',
  'maxFdsPerMessage',
  'maxMessageSize',
  'passCredentials',
  'passPidfd',
  'acceptFds',
  'addressEncoding',
  'framed',
] as const;

/**
 * SocketOptions (and the caller's `extra` keys, left unvalidated) read once
 * and validated, so that every socket made from them sees the same values
 * and a bad one is refused before anything is created.
 */
export function socketOptionsOf<K extends string = never>(
  options: unknown,
  extra: readonly K[] = [],
  name = 'options',
): SocketOptions & Partial<Record<K, unknown>> {
  const o = snapshotOptions<K | (typeof SOCKET_OPTIONS)[number]>(options, [...SOCKET_OPTIONS, ...extra], name);
  validateBoolean(o.allowHalfOpen, 'allowHalfOpen');
  validateBoolean(o.passCredentials, 'passCredentials');
  validateBoolean(o.passPidfd, 'passPidfd');
  validateBoolean(o.acceptFds, 'acceptFds');
  validateInteger(o.readableHighWaterMark, 'readableHighWaterMark', 0);
  validateInteger(o.writableHighWaterMark, 'writableHighWaterMark', 0);
  validateInteger(o.maxPendingFds, 'maxPendingFds', 1);
  validateInteger(o.maxQueuedFds, 'maxQueuedFds', 1);
  validateInteger(o.maxFdsPerMessage, 'maxFdsPerMessage', 0, constants.SCM_MAX_FD);
  validateInteger(o.maxMessageSize, 'maxMessageSize', 1, 0x7fffffff);
  validateAddressEncoding(o.addressEncoding);
  // Our frozen copy: every socket made from these options sees one function.
  if (o.framed !== undefined) o.framed = snapshotFramed(o.framed);
  return o as SocketOptions & Partial<Record<K, unknown>>;
}

/**
 * write(chunk, encoding, callback) and end(): the callback. The encoding
 * means nothing to a message socket, but it is checked as Writable checks
 * it, so a typo is not silently taken.
 */
export function writeCallback(encoding: unknown, callback: unknown): WriteCallback | undefined {
  let cb = callback;
  if (typeof encoding === 'function') cb = encoding;
  else if (encoding && (typeof encoding !== 'string' || (encoding !== 'buffer' && !Buffer.isEncoding(encoding)))) throw unknownEncoding(encoding);
  if (cb !== undefined && typeof cb !== 'function') {
    throw invalidArgType(`The "callback" argument must be a function. Received ${describe(cb)}`);
  }
  return cb as WriteCallback | undefined;
}

/** The addressEncoding option: 'utf8' (default) or 'buffer'. */
export function validateAddressEncoding(value: unknown): AddressEncoding {
  if (value === undefined || value === 'utf8' || value === 'buffer') return value ?? 'utf8';
  throw invalidArgValue(`The "addressEncoding" option must be 'utf8' or 'buffer'. Received ${describe(value)}`);
}

export function validateSocketType(type: unknown): SocketType {
  if (type !== 'stream' && type !== 'seqpacket' && type !== 'dgram') {
    throw invalidArgValue(`The "type" option must be 'stream', 'seqpacket' or 'dgram'. Received ${describe(type)}`);
  }
  return type;
}

/** connect()'s options, read once and checked: the socket options, a path and a type. */
export function connectOptionsOf(options: unknown): SocketOptions & { path: NativeAddress; type: SocketType; signal?: AbortSignal } {
  if (options === undefined || options === null) {
    throw invalidArgType(`The "options" argument must be an object { path }. Received ${describe(options)}`);
  }
  const { signal, ...o } = socketOptionsOf(options, ['path', 'type', 'signal']);
  const checked = { ...o, path: validateAddress(o.path, 'path'), type: validateSocketType(o.type ?? 'seqpacket') };
  const s = validateSignal(signal);
  return s === undefined ? checked : { ...checked, signal: s };
}

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
  if (isArray(data, 'data')) {
    const parts = snapshotArray(data, 'data', constants.IOV_MAX, '(IOV_MAX) buffers fit one message');
    for (let i = 0; i < parts.length; i++) {
      if (!isByteView(parts[i])) {
        throw invalidArgType(`The "data[${i}]" element must be a Buffer, TypedArray or DataView. Received ${describe(parts[i])}`);
      }
    }
    return parts as ArrayBufferView[];
  }
  throw invalidArgType(`The "data" property must be a Buffer, TypedArray, DataView, string or an array of them. Received ${describe(data)}`);
}

function isFd(fd: unknown): fd is number {
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 && fd <= 0x7fffffff;
}

export function validateFd(fd: unknown, name: string): number {
  if (isFd(fd)) return fd;
  if (typeof fd !== 'number') throw invalidArgType(`The "${name}" argument must be of type number. Received ${describe(fd)}`);
  throw outOfRange(`The "${name}" argument must be a non-negative integer file descriptor. Received ${describe(fd)}`);
}

/** A user array read once into one of ours (any element), or throws. */
export function snapshotList(value: unknown, name: string, max: number): unknown[] {
  if (!isArray(value, name)) throw invalidArgType(`The "${name}" option must be an array. Received ${describe(value)}`);
  return snapshotArray(value, name, max, 'are taken');
}

/** A list of fds, read once into an array of ours and validated. */
export function snapshotFds(fds: unknown, name = 'fds', max = constants.SCM_MAX_FD): readonly number[] {
  if (fds === undefined || fds === null) return EMPTY_FDS;
  if (!isArray(fds, name)) throw invalidArgType(`The "${name}" property must be an array of integers. Received ${describe(fds)}`);
  const copy = snapshotArray(fds, name, max, max === constants.SCM_MAX_FD ? '(SCM_MAX_FD) fds pass in one message' : 'are taken');
  for (let i = 0; i < copy.length; i++) {
    // The argument's name is built only for the error: a string per fd per
    // write showed in the hand-off profile (bench/README.md).
    if (!isFd(copy[i])) validateFd(copy[i], `${name}[${i}]`);
  }
  return copy as number[];
}

/**
 * An address argument: a string (lossless, address-codec.ts) or a Uint8Array
 * of raw sun_path bytes (a leading 0 byte: the abstract namespace), checked
 * and snapshotted once. A plain string goes to the addon as it is; a string
 * with escaped bytes, and any byte array, as a Buffer of our own.
 */
export function validateAddress(address: unknown, name = 'address'): NativeAddress {
  let bytes: Buffer | null = null;
  if (types.isUint8Array(address)) {
    if (isDetached(address)) throw invalidArgValue(`The "${name}" argument is a Buffer whose ArrayBuffer is detached`);
    // Copied through the engine's own getters: a shadowed length cannot lie.
    bytes = Buffer.from(bytesAfter(address, 0));
  } else if (typeof address !== 'string') {
    throw invalidArgType(`The "${name}" argument must be of type string or a Buffer. Received ${describe(address)}`);
  } else if (hasSurrogate(address)) {
    bytes = encodeAddress(address);
    if (bytes === null) throw invalidArgValue(`The "${name}" argument has a lone surrogate other than an escaped byte (U+DC80..U+DCFF)`);
  }
  const abstract = bytes === null ? (address as string).startsWith('\0') : bytes[0] === 0;
  const length = (bytes === null ? Buffer.byteLength(address as string) : bytes.length) - (abstract ? 1 : 0);
  if (length === 0) throw invalidArgValue(`The "${name}" argument must not be empty`);
  if (length > MAX_NAME) {
    throw outOfRange(`The "${name}" argument is ${length} bytes; a Unix socket name holds at most ${MAX_NAME} (sun_path)`);
  }
  if (!abstract && (bytes === null ? (address as string).includes('\0') : bytes.includes(0))) {
    throw invalidArgValue(`The "${name}" path must not contain NUL bytes`);
  }
  return bytes ?? (address as string);
}

/** The bytes of one view or of our array of them, as the views hold them now. */
export function dataLength(data: ArrayBufferView | readonly ArrayBufferView[]): number {
  if (!Array.isArray(data)) return byteLengthOf(data as ArrayBufferView);
  // Array.isArray() narrows a readonly array to any[]; say what it holds.
  const views = data as readonly ArrayBufferView[];
  let n = 0;
  for (let i = 0; i < views.length; i++) n += byteLengthOf(views[i]!);
  return n;
}

/**
 * An ArrayBuffer, or an object that inherits from a view without being one:
 * bytes-like values that, read as a message object, would send nothing.
 */
function holdsNoBytes(value: object): boolean {
  return types.isAnyArrayBuffer(value) || isFakeView(value);
}

/**
 * Turns what write() was given into one message, or throws. `emptyWithFds`:
 * a framed socket's header carries the fds of an empty message.
 */
export function normalizeMessage(chunk: unknown, type: SocketType, emptyWithFds = false): NormalizedMessage {
  return messageFromParts(readMessage(chunk), type, emptyWithFds);
}

/** A message's four properties, each read once, not yet checked. */
export interface MessageParts {
  data: unknown;
  fds: unknown;
  address: unknown;
  lend: unknown;
}

export function readMessage(chunk: unknown): MessageParts {
  if (isByteView(chunk) || typeof chunk === 'string') return { data: chunk, fds: undefined, address: undefined, lend: undefined };
  if (typeof chunk === 'object' && chunk !== null && !isArray(chunk, 'message') && !holdsNoBytes(chunk)) {
    // Each property once, before any is validated.
    const message = chunk as Record<string, unknown>;
    return { data: message.data, fds: message.fds, address: message.address, lend: message.lend };
  }
  throw invalidArgType(`The message must be a Buffer, a string or an object { data, fds, address, lend }. Received ${describe(chunk)}`);
}

/** The message of parts readMessage() read (its fds may be snapshotFds()'s already), or throws. */
export function messageFromParts(parts: MessageParts, type: SocketType, emptyWithFds = false): NormalizedMessage {
  const { data: rawData, fds: rawFds, address: rawAddress, lend: rawLend } = parts;
  const data = snapshotData(rawData);
  const fds = snapshotFds(rawFds);
  let address: NativeAddress | null = null;
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
  if (type === 'stream' && fds.length > 0 && byteLength === 0 && !emptyWithFds) {
    // The kernel silently drops fds sent with zero bytes on a stream socket
    // (unix(7) NOTES).
    throw invalidArgValue('A stream socket cannot send fds with empty data: the kernel would drop them. Send at least one byte');
  }
  return { data, byteLength, fds, address, lend };
}
