// The fuzzer's recipes: plain JSON that says how to build one hostile value
// or one case. The parent generates them with fast-check (arbitraries.ts) and
// sends them to a child process, which builds the live values
// (materialize.ts): Proxies, getters and detached buffers cannot cross a
// process boundary, a description of them can, and it is what a failure
// report prints.

/** A number, with the values JSON cannot carry spelled out. */
export type Num = number | 'NaN' | 'Infinity' | '-Infinity' | '-0';

/** The files the child keeps open for the whole run (zoo.ts); a case gets fresh duplicates. */
export type ZooKind =
  | 'file'
  | 'dir'
  | 'devnull'
  | 'pipe'
  | 'memfd'
  | 'eventfd'
  | 'epoll'
  | 'pidfd'
  | 'unixListener'
  | 'unixStream'
  | 'unixDgram'
  | 'unixSeqpacket'
  | 'inflight'
  | 'tcp'
  | 'udp';

export type FdRef =
  /** A fresh duplicate of a zoo file, owned by the case. */
  | { zoo: ZooKind }
  /** closed: a number known not to be open; huge: above RLIMIT_NOFILE; self/peer: the socket under test's fd or its peer's. */
  | { special: 'closed' | 'huge' | 'self' | 'peer' };

export type ViewCtor =
  | 'Buffer'
  | 'Uint8Array'
  | 'Int8Array'
  | 'Uint8ClampedArray'
  | 'Int16Array'
  | 'Uint16Array'
  | 'Int32Array'
  | 'Uint32Array'
  | 'Float32Array'
  | 'Float64Array'
  | 'BigInt64Array'
  | 'BigUint64Array'
  | 'DataView';

/**
 * Where a view's bytes live when the call is made. 'detached' and 'outOfBounds'
 * (a fixed-length view on a resizable buffer shrunk below it) hold 0 bytes.
 */
export type Backing = 'plain' | 'shared' | 'resizable' | 'detached' | 'outOfBounds' | 'pooled';

/** What happens to a view's buffer right after the call returns. */
export type After = 'none' | 'detach' | 'shrink' | 'grow';

/**
 * How an object or array is handed over: as it is, frozen, through a
 * transparent Proxy (reads counted), a lying one (the second read of each
 * key answers `lie`), a revoked one, or one whose every trap throws.
 */
export type Wrap = 'none' | 'frozen' | 'proxy' | 'lying' | 'revoked' | 'throwing';

export type Proto = 'object' | 'null' | 'uint8array' | 'array' | 'date' | 'error';

export type Slot =
  /** A plain data property or element. */
  | { v: V }
  /** An accessor: read n answers get[n] (the last one again after that), or throws once past it with thenThrow. */
  | { get: V[]; thenThrow?: boolean }
  /** An accessor that throws the fuzzer's own error on every read. */
  | { throws: true }
  /** An array hole. */
  | { hole: true };

export type V =
  | { t: 'undefined' }
  | { t: 'null' }
  | { t: 'bool'; v: boolean }
  | { t: 'num'; v: Num }
  | { t: 'bigint'; v: string }
  | { t: 'str'; v: string }
  | { t: 'symbol' }
  /** A function: a no-op, one that throws the fuzzer's error, or one returning a value. */
  | { t: 'fn'; does: 'noop' | 'throw' | 'return'; value?: V }
  | { t: 'obj'; props: Array<[string, Slot]>; proto?: Proto; wrap?: Wrap; lie?: V }
  /** A real array (or, with `likeArray`, an object with a length that is not one). */
  | { t: 'arr'; items: Slot[]; wrap?: Wrap; lie?: V; likeArray?: boolean; lyingIterator?: boolean }
  /** n elements of ctor, after pad elements, filled from `fill`; `shadow` adds own byteLength/buffer/length getters. */
  | { t: 'view'; ctor: ViewCtor; n: number; pad: number; fill: number; backing: Backing; after?: After; shadow?: boolean }
  /** Object.create(ctor.prototype): inherits from a view without being one. */
  | { t: 'fake'; ctor: ViewCtor }
  /** An ArrayBuffer or SharedArrayBuffer itself (not a view). */
  | { t: 'ab'; n: number; shared: boolean }
  | { t: 'fd'; ref: FdRef }
  /** The int32 fd numbers of refs, as the payload of an SCM_RIGHTS item (a view of ctor). */
  | { t: 'fdBytes'; fds: FdRef[]; ctor: 'Buffer' | 'Uint8Array' | 'Int32Array' }
  | { t: 'misc'; what: 'date' | 'regexp' | 'map' | 'promise' | 'error' | 'boxedString' | 'boxedNumber' | 'weakref' }
  /**
   * An AbortSignal: a live one, one already aborted, one that aborts a few ms
   * later; or an impostor: a Proxy of a live one, Object.create of its
   * prototype, one with an own `aborted` property, a plain EventTarget.
   */
  | { t: 'signal'; how: SignalHow };

export type SignalHow = 'live' | 'aborted' | 'later' | 'timeout' | 'proxy' | 'shaped' | 'ownAborted' | 'eventTarget';
export const GENUINE_SIGNALS: readonly SignalHow[] = ['live', 'aborted', 'later', 'timeout'];

/** One case: a target (targets/*.ts) and its arguments, as that target's arbitrary made them. */
export interface CaseRecipe {
  target: string;
  args: unknown;
}

/** Turns a Num back into the number it stands for. */
export function num(n: Num): number {
  switch (n) {
    case 'NaN':
      return NaN;
    case 'Infinity':
      return Infinity;
    case '-Infinity':
      return -Infinity;
    case '-0':
      return -0;
    default:
      return n;
  }
}
