// The `framed` option of stream sockets: its validation (a snapshot read
// once), the Framing a socket keeps, and the send side of the format:
// framedMessage() turns a write into the bytes of one whole frame.
// README.md, "Framed stream sockets", says what goes on the wire.
//
// fd ownership: nothing here holds fds. A framed write's fds stay in the
// NormalizedMessage it returns, and the SendQueue sends them alone with the
// frame's first byte (send-queue.ts, sendStream).
import { constants } from '../native/binding';
import { describe, invalidArgType, invalidArgValue, outOfRange } from './errors';
import { changedError } from './queued-message';
import type { SocketType } from './types';
import { dataLength, isArray, normalizeMessage, snapshotOptions, validateInteger, type NormalizedMessage } from './validate';
import { byteLengthOf, bytesAfter, isByteView } from './views';

/** `framed: { headerSize, frameLength }`: an existing protocol's framing. */
export interface FrameFormat {
  /** Bytes of a message's header, from 1 to 65536: what frameLength() needs to see. */
  headerSize: number;
  /** The whole message's length in bytes (header included), from a copy of its first headerSize bytes. */
  frameLength: (header: Buffer) => number;
}

/** The framing a socket keeps, checked. */
export interface Framing {
  /** framed: true: our 4-byte big-endian length, added on send and stripped on receive. */
  readonly builtin: boolean;
  readonly headerSize: number;
  /** The caller's function (a snapshot), or null for the builtin format. */
  readonly frameLength: ((header: Buffer) => unknown) | null;
  /** The largest message delivered (m.data), header included for a custom framing. */
  readonly maxMessageSize: number;
}

/** Largest headerSize: a header is copied for each frameLength() call. */
export const MAX_HEADER_SIZE = 65536;
/** maxMessageSize of a framed socket unless given. */
export const FRAMED_MAX_MESSAGE = 16 * 1024 * 1024;
/**
 * What one recvmsg(2) of a framed socket asks for. maxMessageSize limits a
 * message, not a read; a read of many small messages is cut into them.
 */
export const FRAMED_READ_SIZE = 256 * 1024;
const BUILTIN_HEADER = 4;
// Captured at load: frameLength is called as the function given, never
// through a `call` of its own (a getter, or a Proxy trap, read per message).
export const apply = Reflect.apply;

/** The `framed` option read once: undefined (not framed), true, or our frozen copy of a FrameFormat. */
export function snapshotFramed(value: unknown): true | FrameFormat | undefined {
  if (value === undefined || value === null || value === false) return undefined;
  if (value === true) return true;
  if (typeof value !== 'object' || isArray(value, 'framed')) {
    throw invalidArgType(`The "framed" option must be true or an object { headerSize, frameLength }. Received ${describe(value)}`);
  }
  const o = snapshotOptions(value, ['headerSize', 'frameLength'], 'framed');
  if (o.headerSize === undefined) throw invalidArgType('The "framed.headerSize" option must be of type number. Received undefined');
  const headerSize = validateInteger(o.headerSize, 'framed.headerSize', 1, MAX_HEADER_SIZE)!;
  const frameLength = o.frameLength;
  if (typeof frameLength !== 'function') {
    throw invalidArgType(`The "framed.frameLength" option must be a function. Received ${describe(frameLength)}`);
  }
  return Object.freeze({ headerSize, frameLength: frameLength as FrameFormat['frameLength'] });
}

/** The Framing of a socket of `type`, or null; ERR_INVALID_ARG_VALUE on a type other than stream. */
export function framingOf(framed: unknown, type: SocketType, maxMessageSize: number | undefined): Framing | null {
  const f = snapshotFramed(framed);
  if (f === undefined) return null;
  checkFramedType(f, type);
  const max = maxMessageSize ?? FRAMED_MAX_MESSAGE;
  if (f === true) return { builtin: true, headerSize: BUILTIN_HEADER, frameLength: null, maxMessageSize: max };
  return { builtin: false, headerSize: f.headerSize, frameLength: f.frameLength, maxMessageSize: max };
}

/** `framed` is for stream sockets only (seqpacket and dgram keep their own boundaries). */
export function checkFramedType(framed: unknown, type: SocketType): void {
  if (framed === undefined || framed === null || framed === false || type === 'stream') return;
  throw invalidArgValue(`The "framed" option applies to stream sockets only; this socket is ${type}`);
}

/**
 * A write to a framed socket as the bytes of one frame, or throws
 * (ERR_OUT_OF_RANGE, ERR_INVALID_ARG_VALUE) before anything is queued.
 * framed: true prepends the length header as a buffer of its own (gathered,
 * the data is not copied); a custom framing checks that the write is one
 * whole frame, as frameLength() measures it.
 */
export function framedMessage(chunk: unknown, f: Framing): NormalizedMessage {
  // The builtin format may send an empty message with fds: the header is its first byte.
  const msg = normalizeMessage(chunk, 'stream', f.builtin);
  if (msg.byteLength > f.maxMessageSize) {
    throw outOfRange(`A framed message may have at most ${f.maxMessageSize} bytes (maxMessageSize). Received ${msg.byteLength}`);
  }
  if (f.builtin) {
    const header = Buffer.allocUnsafe(BUILTIN_HEADER);
    header.writeUInt32BE(msg.byteLength, 0);
    const views = Array.isArray(msg.data) ? (msg.data as ArrayBufferView[]) : [msg.data as ArrayBufferView];
    // One more buffer than write() allows (IOV_MAX): the header and the first view go as one copy.
    // (bytesAfter: the view's bytes through the engine's own getters, never a buffer or byteOffset it shadows.)
    const data = views.length < constants.IOV_MAX ? [header, ...views] : [Buffer.concat([header, bytesAfter(views[0]!, 0)]), ...views.slice(1)];
    return { data, byteLength: msg.byteLength + BUILTIN_HEADER, fds: msg.fds, address: null, lend: msg.lend };
  }
  const size = f.headerSize;
  if (msg.byteLength < size) {
    throw invalidArgValue(`A write to this framed socket must be one whole frame of at least headerSize (${size}) bytes. Received ${msg.byteLength}`);
  }
  let length: unknown;
  try {
    length = apply(f.frameLength!, undefined, [prefix(msg.data, size)]);
  } catch (err) {
    throw Object.assign(invalidArgValue(`framed.frameLength threw on the header of a write`), { cause: err });
  }
  // frameLength may have detached or resized the views: measured again.
  if (dataLength(msg.data) !== msg.byteLength) throw changedError();
  if (length !== msg.byteLength) {
    throw invalidArgValue(`A write to this framed socket must be one whole frame: frameLength says ${describe(length)} bytes, the write has ${msg.byteLength}`);
  }
  return msg;
}

/**
 * The checks write() makes of a message on a socket that is destroyed or
 * ended, before Writable reports that state: those of its format, framed
 * included (a custom framing's whole-frame rule, maxMessageSize), so the
 * same write is refused the same way whatever the socket's state.
 */
export function checkMessage(chunk: unknown, type: SocketType, f: Framing | null): void {
  if (f !== null) framedMessage(chunk, f);
  else if (!isByteView(chunk)) normalizeMessage(chunk, type);
}

/** A copy of the first n bytes of the views (they hold at least n). */
function prefix(data: ArrayBufferView | readonly ArrayBufferView[], n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  const views = Array.isArray(data) ? (data as readonly ArrayBufferView[]) : [data as ArrayBufferView];
  let at = 0;
  for (let i = 0; i < views.length && at < n; i++) {
    const v = views[i]!;
    const take = Math.min(n - at, byteLengthOf(v));
    out.set(bytesAfter(v, 0).subarray(0, take), at);
    at += take;
  }
  return out;
}
