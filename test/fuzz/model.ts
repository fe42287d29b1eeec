// The documented contract of the library's arguments, applied to the model
// of a value (what it reads as when every user value is read once): is this
// message, option or name valid, and if it is, what must reach the peer?
// A valid model must not be refused with an argument error; an invalid one
// must be refused with a TypeError or RangeError (ERR_*) or, when one of its
// reads throws, with the fuzzer's own exception.
import { decodeAddress, encodeAddress } from '../../src/stream/address-codec';
import { HOLE, MArr, MObj, MOther, MView, OPAQUE, THROWS } from './materialize';

export const IOV_MAX = 1024;
export const SCM_MAX_FD = 253;

/** Thrown by the checks below: the model says the call must throw. */
export class Reject extends Error {}

/**
 * The model cannot say: an object whose prototype has getters of its own
 * that may answer to an option's name (RegExp's flags, Map's size...).
 */
export const LENIENT = 'the model cannot tell';

const reject = (why: string): never => {
  throw new Reject(why);
};

/** A value that a read produced: a reason to throw if the read threw or the value is opaque. */
export function readable(v: unknown, what: string): unknown {
  if (v === THROWS) reject(`${what} throws when read`);
  if (v === OPAQUE) reject(`${what} is a revoked or throwing Proxy`);
  if (v === HOLE) return undefined;
  return v;
}

export const isInt = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** An object argument: an MObj, or something whose own properties read as none (an array-like, a Date...). */
export function objectArg(v: unknown, what: string, { nullish = true, arrays = false } = {}): MObj | null {
  const x = readable(v, what);
  if (x === undefined || x === null) {
    if (nullish) return null;
    reject(`${what} is ${String(x)}`);
  }
  if (x instanceof MObj) return x;
  if (x instanceof MArr) {
    if (x.real && !arrays) reject(`${what} is an array`);
    return new MObj(new Map(), 'object', x.proxy);
  }
  if (x instanceof MView) return new MObj(new Map(), 'object', false);
  if (x instanceof MOther && x.what !== 'function') {
    if (x.what === 'ArrayBuffer' || x.what.startsWith('fake ') || x.what === 'promise' || x.what === 'weakref') return new MObj(new Map(), 'object', false);
    reject(LENIENT);
  }
  return reject(`${what} is not an object`);
}

export type MObjLike = MObj | null;

export function prop(o: MObj | null, key: string): unknown {
  if (o === null) return undefined;
  return readable(o.get(key), key);
}

export function bool(v: unknown, what: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') reject(`${what} is not a boolean`);
  return v as boolean;
}

export function int(v: unknown, what: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!isInt(v, min, max)) reject(`${what} is not an integer from ${min} to ${max}`);
  return v as number;
}

/** A user array, read as the library must: real arrays only (a transparent Proxy of one is one). */
export function array(v: unknown, what: string, max: number): unknown[] {
  const x = readable(v, what);
  if (!(x instanceof MArr) || !x.real) return reject(`${what} is not an array`);
  if (x.items.length > max) reject(`${what} has more than ${max} entries`);
  return x.items.map((item, i) => readable(item, `${what}[${i}]`));
}

export function fd(v: unknown, what: string): number {
  if (!isInt(v, 0, 0x7fffffff)) reject(`${what} is not an fd number`);
  return v as number;
}

export function fds(v: unknown, what = 'fds'): number[] {
  return array(v, what, SCM_MAX_FD).map((f, i) => fd(f, `${what}[${i}]`));
}

/**
 * A socket name as sun_path takes it: a string (UTF-8, where a lone
 * U+DC80..U+DCFF is the byte it escapes and any other lone surrogate names no
 * bytes) or a Uint8Array/Buffer of raw bytes. Returns the lossless string.
 */
export function address(v: unknown, what: string): string {
  const x = readable(v, what);
  let raw: Buffer | null;
  if (x instanceof MView && (x.ctor === 'Uint8Array' || x.ctor === 'Buffer')) raw = x.bytes;
  else if (typeof x !== 'string') return reject(`${what} is not a string or a Uint8Array`);
  else raw = encodeAddress(x);
  if (raw === null) return reject(`${what} has a lone surrogate that escapes no byte`);
  const abstract = raw[0] === 0;
  const bytes = raw.length - (abstract ? 1 : 0);
  if (bytes === 0) reject(`${what} is empty`);
  if (bytes > 107) reject(`${what} is longer than sun_path`);
  if (!abstract && raw.includes(0)) reject(`${what} has a NUL byte`);
  return decodeAddress(raw);
}

/** Bytes of one view or a real array of them. */
export function bytes(v: unknown, what: string, max = IOV_MAX): Buffer {
  const x = readable(v, what);
  if (x instanceof MView) return x.bytes;
  return Buffer.concat(
    array(x, what, max).map((part, i) => {
      if (!(part instanceof MView)) reject(`${what}[${i}] is not a byte view`);
      return (part as MView).bytes;
    }),
  );
}

export interface MessageModel {
  bytes: Buffer;
  fds: number[];
  address: string | null;
  lend: boolean;
}

/**
 * What socket.write() must make of a message (throws Reject when it must
 * throw). `framed`: a stream socket with framed: true, where an empty
 * message may carry fds (README "Framed stream sockets").
 */
export function message(v: unknown, type: 'stream' | 'seqpacket' | 'dgram', framed = false): MessageModel {
  const m = readable(v, 'the message');
  if (m instanceof MView) return { bytes: m.bytes, fds: [], address: null, lend: false };
  if (typeof m === 'string') return { bytes: Buffer.from(m, 'utf8'), fds: [], address: null, lend: false };
  if (m instanceof MOther && (m.what === 'ArrayBuffer' || m.what.startsWith('fake '))) reject(`the message is ${m.what}, which holds no bytes of its own`);
  if (m instanceof MObj && m.proto === 'uint8array' && !m.proxy) reject('the message inherits from Uint8Array without being one');
  // A Date, a Map, an Error...: an object without data or fds, an empty message.
  if (m instanceof MOther && m.what !== 'function') return { bytes: Buffer.alloc(0), fds: [], address: null, lend: false };
  const o = objectArg(m, 'the message', { nullish: false });
  const data = prop(o, 'data');
  const rawFds = prop(o, 'fds');
  const rawAddress = prop(o, 'address');
  const rawLend = prop(o, 'lend');
  let b: Buffer;
  if (data === undefined) b = Buffer.alloc(0);
  else if (typeof data === 'string') b = Buffer.from(data, 'utf8');
  else b = bytes(data, 'data');
  const list = rawFds === undefined || rawFds === null ? [] : fds(rawFds);
  let addr: string | null = null;
  if (rawAddress !== undefined) {
    if (type !== 'dgram') reject('an address on a connected type');
    addr = address(rawAddress, 'address');
  }
  const lend = rawLend === undefined || rawLend === null ? false : bool(rawLend, 'lend')!;
  if (type === 'stream' && !framed && list.length > 0 && b.length === 0) reject('fds with no data on a stream socket');
  return { bytes: b, fds: list, address: addr, lend };
}

/** Runs a model check: the model, or the reason the call must throw. */
export function judge<T>(check: () => T): { valid: true; value: T } | { valid: false; why: string } {
  try {
    return { valid: true, value: check() };
  } catch (err) {
    if (err instanceof Reject) return { valid: false, why: err.message };
    throw err;
  }
}

/** The common socket options (SocketOptions in src/stream/socket.ts). */
export function socketOptions(o: MObj | null): void {
  for (const k of ['allowHalfOpen', 'passCredentials', 'acceptFds']) bool(prop(o, k), k);
  for (const k of ['readableHighWaterMark', 'writableHighWaterMark']) int(prop(o, k), k, 0, Number.MAX_SAFE_INTEGER);
  for (const k of ['maxPendingFds', 'maxQueuedFds']) int(prop(o, k), k, 1, Number.MAX_SAFE_INTEGER);
  int(prop(o, 'maxFdsPerMessage'), 'maxFdsPerMessage', 0, SCM_MAX_FD);
  int(prop(o, 'maxMessageSize'), 'maxMessageSize', 1, 0x7fffffff);
}

export function socketType(v: unknown, what: string, allowed: readonly string[], argument = false): string | undefined {
  const x = readable(v, what);
  // An option the library reads with ?? takes null for the default; an
  // argument with a default value does not (only undefined gets it).
  if (x === undefined || (x === null && !argument)) return undefined;
  if (typeof x !== 'string' || !allowed.includes(x)) reject(`${what} is not one of ${allowed.join(', ')}`);
  return x as string;
}

/** An optional callback. */
export function callback(v: unknown, what: string): void {
  const x = readable(v, what);
  if (x !== undefined && !(x instanceof MOther && x.what === 'function')) reject(`${what} is not a function`);
}

/** The `signal` option: absent, or a genuine AbortSignal; anything else ERR_INVALID_ARG_TYPE (README "Cancellation and disposal"). */
export function signal(v: unknown, what = 'signal'): boolean {
  const x = readable(v, what);
  if (x === undefined) return false;
  if (!(x instanceof MOther && x.what === 'AbortSignal')) reject(`${what} is not a genuine AbortSignal`);
  return true;
}

/**
 * The `framed` option (README "Framed stream sockets"): absent, null or
 * false is not framed; true is our format; else { headerSize 1..65536,
 * frameLength function }. Returns whether the socket is framed. Any framed
 * value on a type other than stream is ERR_INVALID_ARG_VALUE (type null:
 * the type is the fd's, not the model's to say).
 */
export function framed(v: unknown, type: string | null): 'builtin' | 'custom' | null {
  const x = readable(v, 'framed');
  if (x === undefined || x === null || x === false) return null;
  let kind: 'builtin' | 'custom' = 'builtin';
  if (x !== true) {
    const o = objectArg(x, 'framed', { nullish: false });
    const size = prop(o, 'headerSize');
    if (size === undefined) reject('framed.headerSize is missing');
    int(size, 'framed.headerSize', 1, 65536);
    const fn = prop(o, 'frameLength');
    if (!(fn instanceof MOther && fn.what === 'function')) reject('framed.frameLength is not a function');
    kind = 'custom';
  }
  if (type !== null && type !== 'stream') reject(`framed on a ${type} socket`);
  return kind;
}
