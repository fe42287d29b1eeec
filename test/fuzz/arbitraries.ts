// fast-check arbitraries of recipes (recipe.ts): hostile values of every
// kind, and combinators that put a valid value, a hostile one, a getter or a
// Proxy in each position of an argument.
import fc, { type Arbitrary } from 'fast-check';
import type { Backing, FdRef, Num, SignalHow, Slot, V, ViewCtor, Wrap, ZooKind } from './recipe';

const toNum = (n: number): Num => {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  if (Object.is(n, -0)) return '-0';
  return n;
};

const SPECIAL_NUMBERS = [
  0,
  -0,
  1,
  -1,
  0.5,
  1.5,
  -1.5,
  2,
  3,
  7,
  8,
  16,
  252,
  253,
  254,
  255,
  256,
  511,
  1023,
  4096,
  65535,
  65536,
  0o600,
  0o7777,
  0o10000,
  2 ** 30,
  2 ** 30 + 1,
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31),
  -(2 ** 31) - 1,
  2 ** 32,
  2 ** 32 + 3,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  Number.EPSILON,
  1e21,
  -1e21,
  NaN,
  Infinity,
  -Infinity,
];

export const numV: Arbitrary<V> = fc
  .oneof(
    { weight: 4, arbitrary: fc.constantFrom(...SPECIAL_NUMBERS) },
    { weight: 2, arbitrary: fc.integer({ min: -5, max: 300 }) },
    { weight: 1, arbitrary: fc.double() },
  )
  .map((n) => ({ t: 'num', v: toNum(n) }));

export const intV = (min: number, max: number): Arbitrary<V> => fc.integer({ min, max }).map((v) => ({ t: 'num', v }));

const STRINGS = [
  '',
  ' ',
  'seqpacket',
  'stream',
  'dgram',
  'SEQPACKET',
  'utf8',
  'hex',
  'buffer',
  '\0',
  '\0x',
  '/',
  '/nonexistent/dir/sock',
  'relative.sock',
  'x\0y',
  '🙂',
  '\ud800',
  'a'.repeat(107),
  'a'.repeat(108),
  '\0' + 'b'.repeat(107),
  '\0' + 'b'.repeat(108),
  'round-robin',
  'least-outstanding',
  'inherit',
  'ignore',
  'pipe',
  'message',
  'request',
  'connection',
  'handoff',
  '__proto__',
  'constructor',
  '1',
];

export const strV: Arbitrary<V> = fc
  .oneof({ weight: 3, arbitrary: fc.constantFrom(...STRINGS) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) })
  .map((v) => ({ t: 'str', v }));

export const boolV: Arbitrary<V> = fc.boolean().map((v) => ({ t: 'bool', v }));

export const primitiveV: Arbitrary<V> = fc.oneof(
  fc.constant<V>({ t: 'undefined' }),
  fc.constant<V>({ t: 'null' }),
  boolV,
  numV,
  fc.constantFrom('0', '1', '-1', '3', '9007199254740993').map((v): V => ({ t: 'bigint', v })),
  strV,
  fc.constant<V>({ t: 'symbol' }),
);

const VIEW_CTORS: ViewCtor[] = [
  'Buffer',
  'Uint8Array',
  'Int8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'DataView',
];
const BACKINGS: Backing[] = ['plain', 'plain', 'plain', 'pooled', 'shared', 'resizable', 'detached', 'outOfBounds'];

export const viewV: Arbitrary<V> = fc
  .record({
    ctor: fc.constantFrom(...VIEW_CTORS),
    n: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 12 }) }, { weight: 1, arbitrary: fc.constant(0) }),
    pad: fc.integer({ min: 0, max: 3 }),
    fill: fc.integer({ min: 0, max: 255 }),
    backing: fc.constantFrom(...BACKINGS),
    after: fc.constantFrom('none', 'none', 'none', 'none', 'detach', 'shrink', 'grow'),
    shadow: fc.boolean(),
  })
  .map((r): V => ({ t: 'view', ...r, after: r.after as 'none' }));

const ZOO: ZooKind[] = [
  'file',
  'dir',
  'devnull',
  'pipe',
  'memfd',
  'eventfd',
  'epoll',
  'pidfd',
  'unixListener',
  'unixStream',
  'unixDgram',
  'unixSeqpacket',
  'inflight',
  'tcp',
  'udp',
];

export const fdRef: Arbitrary<FdRef> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...ZOO).map((zoo): FdRef => ({ zoo })) },
  { weight: 1, arbitrary: fc.constantFrom('closed', 'huge', 'self', 'peer').map((special) => ({ special })) },
);

/** An fd that is open (a duplicate of a zoo file). */
export const openFdV: Arbitrary<V> = fc.constantFrom(...ZOO).map((zoo): V => ({ t: 'fd', ref: { zoo } }));
export const anyFdV: Arbitrary<V> = fdRef.map((ref): V => ({ t: 'fd', ref }));

const MISC = ['date', 'regexp', 'map', 'promise', 'error', 'boxedString', 'boxedNumber', 'weakref'] as const;
const WRAPS: Wrap[] = ['none', 'frozen', 'proxy', 'lying', 'revoked', 'throwing'];
export const wrapArb: Arbitrary<Wrap> = fc.oneof({ weight: 6, arbitrary: fc.constant<Wrap>('none') }, { weight: 3, arbitrary: fc.constantFrom(...WRAPS) });

/** Any value at all, of any kind, nested up to `depth`. */
export function hostileV(depth = 2): Arbitrary<V> {
  const leaves: Array<Arbitrary<V>> = [
    primitiveV,
    viewV,
    fc.constantFrom(...VIEW_CTORS).map((ctor): V => ({ t: 'fake', ctor })),
    fc.record({ n: fc.integer({ min: 0, max: 8 }), shared: fc.boolean() }).map((r): V => ({ t: 'ab', ...r })),
    fc.constantFrom(...MISC).map((what): V => ({ t: 'misc', what })),
    fc.constantFrom('noop', 'throw').map((does): V => ({ t: 'fn', does: does as 'noop' })),
    anyFdV,
  ];
  if (depth <= 0) return fc.oneof(...leaves);
  const inner = hostileV(depth - 1);
  return fc.oneof({ weight: 6, arbitrary: fc.oneof(...leaves) }, { weight: 1, arbitrary: objV({}, inner) }, { weight: 1, arbitrary: arrV(inner, 4) });
}

/** Hostile, but no integer that might name an fd the child holds: for arguments the library closes. */
export function consumableV(depth = 0): Arbitrary<V> {
  // "-0" (encoded as a string) is fd 0 too.
  return hostileV(depth).filter(
    (v) => !(v.t === 'num' && ((typeof v.v === 'number' && Number.isInteger(v.v) && v.v >= 0 && v.v < 0x7fff0000) || v.v === '-0')),
  );
}

/** A position's value: the valid one mostly, a hostile one sometimes. */
export function maybe(valid: Arbitrary<V>, hostileWeight = 1): Arbitrary<V> {
  return fc.oneof({ weight: 5, arbitrary: valid }, { weight: hostileWeight, arbitrary: hostileV(1) });
}

/** A property or element: plain mostly, else a getter that changes its answer, or one that throws. */
export function slotOf(value: Arbitrary<V>): Arbitrary<Slot> {
  return fc.oneof(
    { weight: 10, arbitrary: value.map((v): Slot => ({ v })) },
    { weight: 1, arbitrary: fc.record({ get: fc.tuple(value, hostileV(0)).map(([a, b]) => [a, b]), thenThrow: fc.boolean() }) },
    { weight: 1, arbitrary: fc.tuple(value).map(([a]): Slot => ({ get: [a], thenThrow: true })) },
    { weight: 1, arbitrary: fc.constant<Slot>({ throws: true }) },
  );
}

/**
 * An object with some of `known`'s properties (each a slot of its
 * arbitrary), sometimes an unknown one, on an odd prototype or wrapped.
 */
export function objV(known: Record<string, Arbitrary<V>>, extra: Arbitrary<V> = primitiveV): Arbitrary<V> {
  const keys = Object.keys(known);
  const props = fc
    .tuple(
      ...keys.map((k) => fc.option(slotOf(known[k]!), { freq: 2, nil: null }).map((slot) => (slot === null ? null : ([k, slot] as [string, Slot])))),
      fc.option(fc.tuple(fc.constantFrom('unknownOption', '__proto__', 'constructor'), slotOf(extra)), { freq: 6, nil: null }),
    )
    .map((list) => list.filter((p): p is [string, Slot] => p !== null));
  return fc
    .record({
      props,
      proto: fc.oneof(
        { weight: 8, arbitrary: fc.constant('object' as const) },
        { weight: 2, arbitrary: fc.constantFrom('null', 'uint8array', 'array', 'date', 'error') },
      ),
      wrap: wrapArb,
      lie: hostileV(0),
    })
    .map((r): V => ({ t: 'obj', props: r.props, proto: r.proto as 'object', wrap: r.wrap, lie: r.lie }));
}

/** An array of `item`s (holes, getters), sometimes an array-like or wrapped. */
export function arrV(item: Arbitrary<V>, maxLength: number): Arbitrary<V> {
  return fc
    .record({
      items: fc.array(fc.oneof({ weight: 12, arbitrary: slotOf(item) }, { weight: 1, arbitrary: fc.constant<Slot>({ hole: true }) }), { maxLength }),
      wrap: wrapArb,
      lie: fc.oneof(numV, hostileV(0)),
      likeArray: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    })
    .map((r): V => ({ t: 'arr', ...r }));
}

/** The data of a message: a string, a view, an array of views. */
export const dataV: Arbitrary<V> = fc.oneof(
  { weight: 3, arbitrary: viewV },
  { weight: 2, arbitrary: strV },
  { weight: 2, arbitrary: arrV(maybe(viewV, 1), 4) },
  { weight: 1, arbitrary: hostileV(1) },
);

/** A list of fds, mostly open ones. */
export const fdsV: Arbitrary<V> = fc.oneof(
  { weight: 6, arbitrary: arrV(fc.oneof({ weight: 6, arbitrary: openFdV }, { weight: 1, arbitrary: anyFdV }, { weight: 1, arbitrary: numV }), 4) },
  { weight: 1, arbitrary: hostileV(1) },
);

/** A socket name: an abstract one, a path in the child's directory (see FuzzCase), or junk. */
export const addressV: Arbitrary<V> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('@peer', '@fresh', '~file', '~missing/dir').map((v): V => ({ t: 'str', v })) },
  { weight: 2, arbitrary: strV },
  { weight: 1, arbitrary: hostileV(0) },
);

/** The `signal` option: a genuine AbortSignal mostly (live, aborted, aborting soon), an impostor or junk sometimes. */
export const signalV: Arbitrary<V> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<SignalHow>('live', 'aborted', 'later', 'timeout').map((how): V => ({ t: 'signal', how })) },
  { weight: 2, arbitrary: fc.constantFrom<SignalHow>('proxy', 'shaped', 'ownAborted', 'eventTarget').map((how): V => ({ t: 'signal', how })) },
  { weight: 1, arbitrary: hostileV(1) },
);

/** The `framed` option: true, a { headerSize, frameLength } (frameLength returning a number or throwing), or junk. */
export const framedV: Arbitrary<V> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<V>({ t: 'bool', v: true }) },
  { weight: 1, arbitrary: fc.constantFrom<V>({ t: 'bool', v: false }, { t: 'null' }) },
  {
    weight: 3,
    arbitrary: objV({
      headerSize: maybe(
        fc.oneof(
          intV(1, 16),
          fc.constantFrom(0, 65536, 65537).map((v): V => ({ t: 'num', v })),
        ),
      ),
      frameLength: fc.oneof(
        { weight: 4, arbitrary: intV(0, 40).map((n): V => ({ t: 'fn', does: 'return', value: n })) },
        { weight: 1, arbitrary: fc.constant<V>({ t: 'fn', does: 'throw' }) },
        { weight: 1, arbitrary: hostileV(0) },
      ),
    }),
  },
  { weight: 1, arbitrary: hostileV(1) },
);
