// Builds the live hostile value a recipe describes, inside the child
// process, and next to it the model of what a library that reads each user
// value once must see: every getter and Proxy trap answers its first read
// there. Reads are counted per property, so a second read is a finding, and
// the properties no library code has any business reading (toString,
// Symbol.toPrimitive, then, an array's own iterator or constructor, a
// view's shadowing byteLength...) report any read at all.
import { num, type Slot, type V, type ViewCtor, type Wrap } from './recipe';
import type { FuzzCase } from './case';

/** The fuzzer's own exceptions: a library must let them through unchanged (Node's convention). */
export class FuzzTrap extends Error {
  readonly fuzzTrap = true;
  constructor(readonly where: string) {
    super(`fuzz trap: ${where}`);
  }
}

export function isTrap(err: unknown): err is FuzzTrap {
  return err instanceof FuzzTrap;
}

/** In a model: this read throws the fuzzer's error. */
export const THROWS = Symbol('throws');
/** In a model: a revoked Proxy or one whose traps throw; nothing can be read from it. */
export const OPAQUE = Symbol('opaque');
/** In a model: an array hole. */
export const HOLE = Symbol('hole');

/** The model of an object: its properties as first read. */
export class MObj {
  constructor(
    readonly props: Map<string, unknown>,
    readonly proto: string,
    readonly proxy: boolean,
  ) {}
  get(key: string): unknown {
    return this.props.has(key) ? this.props.get(key) : undefined;
  }
}
/** The model of an array (or, when !real, an array-like object): its elements as first read. */
export class MArr {
  constructor(
    readonly items: unknown[],
    readonly real: boolean,
    readonly proxy: boolean,
  ) {}
}
/** The model of a byte view: the bytes it holds when the call is made. */
export class MView {
  constructor(
    readonly bytes: Buffer,
    readonly ctor: ViewCtor,
  ) {}
}
/** The model of anything else that is an object: a function, a fake view, an ArrayBuffer, a Date... */
export class MOther {
  constructor(readonly what: string) {}
}

export interface Built {
  value: unknown;
  model: unknown;
}

const CTORS = {
  Buffer: Uint8Array,
  Uint8Array,
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as const;

type TypedCtor = new (buffer: ArrayBufferLike, byteOffset?: number, length?: number) => ArrayBufferView;

function elementSize(ctor: ViewCtor): number {
  if (ctor === 'DataView' || ctor === 'Buffer') return 1;
  return (CTORS[ctor] as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
}

interface ResizableBuffer extends ArrayBuffer {
  resize(n: number): void;
}

function resizable(n: number, max: number): ResizableBuffer {
  const Ctor = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ResizableBuffer;
  return new Ctor(n, { maxByteLength: max });
}

function detach(buffer: ArrayBufferLike): void {
  structuredClone(buffer, { transfer: [buffer as ArrayBuffer] });
}

const FORBIDDEN_ON_OBJECTS: Array<string | symbol> = [Symbol.toPrimitive, 'toString', 'valueOf', 'toJSON', 'then'];
const FORBIDDEN_ON_ARRAYS: Array<string | symbol> = [Symbol.toPrimitive, 'toString', 'valueOf', 'toJSON', 'constructor', Symbol.iterator];
const FORBIDDEN_ON_VIEWS: Array<string | symbol> = [
  'byteLength',
  'byteOffset',
  'length',
  'buffer',
  'subarray',
  Symbol.toPrimitive,
  'toString',
  'valueOf',
  'toJSON',
];

/** Builds recipes for one case; every read it counts is reported to the case. */
export class Materializer {
  constructor(private readonly c: FuzzCase) {}

  /**
   * `forbid`: the value sits where the library should read it only as
   * documented (an options object, a message): reads of toString, then and
   * the like are findings. Off where the library must inspect it the way
   * RxJS does (a source, what a user function returned).
   */
  build(v: V, label: string, forbid = true): Built {
    switch (v.t) {
      case 'undefined':
        return { value: undefined, model: undefined };
      case 'null':
        return { value: null, model: null };
      case 'bool':
        return { value: v.v, model: v.v };
      case 'num':
        return { value: num(v.v), model: num(v.v) };
      case 'bigint':
        return { value: BigInt(v.v), model: BigInt(v.v) };
      case 'str': {
        const s = this.c.name(v.v);
        return { value: s, model: s };
      }
      case 'symbol': {
        const s = Symbol('fuzz');
        return { value: s, model: s };
      }
      case 'fn':
        return this.#fn(v, label, forbid);
      case 'obj':
        return this.#obj(v, label, forbid);
      case 'arr':
        return this.#arr(v, label, forbid);
      case 'view':
        return this.#view(v, label, forbid);
      case 'fake': {
        const proto = (v.ctor === 'DataView' ? DataView.prototype : v.ctor === 'Buffer' ? Buffer.prototype : CTORS[v.ctor].prototype) as object;
        const value: object = Object.create(proto) as object;
        if (forbid) this.#forbid(value, FORBIDDEN_ON_VIEWS, label);
        return { value, model: new MOther(`fake ${v.ctor}`) };
      }
      case 'ab': {
        const value = v.shared ? new SharedArrayBuffer(v.n) : new ArrayBuffer(v.n);
        return { value, model: new MOther('ArrayBuffer') };
      }
      case 'fd': {
        const fd = this.c.fd(v.ref);
        return { value: fd, model: fd };
      }
      case 'fdBytes': {
        const fds = v.fds.map((ref) => this.c.fd(ref));
        const bytes = Buffer.alloc(fds.length * 4);
        fds.forEach((fd, i) => bytes.writeInt32LE(fd, i * 4));
        const value =
          v.ctor === 'Buffer' ? bytes : v.ctor === 'Int32Array' ? new Int32Array(bytes.buffer, bytes.byteOffset, fds.length) : new Uint8Array(bytes);
        return { value, model: new MView(Buffer.from(bytes), v.ctor) };
      }
      case 'misc':
        return this.#misc(v.what, label, forbid);
      case 'signal':
        return signalOf(v.how);
    }
  }

  #fn(v: Extract<V, { t: 'fn' }>, label: string, forbid: boolean): Built {
    const ret = v.value === undefined ? undefined : this.build(v.value, `${label}()`, false);
    const c = this.c;
    const fn = function fuzzFunction(): unknown {
      // A '!' marks a call that threw.
      c.calls.push(v.does === 'throw' ? `${label}!` : label);
      if (v.does === 'throw') throw new FuzzTrap(`${label} called`);
      return v.does === 'return' ? ret?.value : undefined;
    };
    if (forbid) this.#forbid(fn, [Symbol.toPrimitive, 'toString', 'valueOf', 'toJSON'], label);
    return { value: fn, model: new MOther('function') };
  }

  #misc(what: Extract<V, { t: 'misc' }>['what'], label: string, forbid: boolean): Built {
    let value: object;
    switch (what) {
      case 'date':
        value = new Date(0);
        break;
      case 'regexp':
        value = /fuzz/;
        break;
      case 'map':
        value = new Map([[1, 2]]);
        break;
      case 'promise':
        value = new Promise(() => undefined);
        break;
      case 'error':
        value = new Error('a user error');
        break;
      case 'boxedString':
        value = Object('abc') as object;
        break;
      case 'boxedNumber':
        value = Object(3) as object;
        break;
      case 'weakref':
        value = new WeakRef({});
        break;
    }
    if (forbid) this.#forbid(value, FORBIDDEN_ON_OBJECTS, label);
    return { value, model: new MOther(what) };
  }

  #slot(target: object, key: string, slot: Slot, label: string, forbid: boolean): unknown {
    if ('hole' in slot) return HOLE;
    if ('v' in slot) {
      const b = this.build(slot.v, label, forbid);
      Object.defineProperty(target, key, { value: b.value, enumerable: true, configurable: true, writable: true });
      return b.model;
    }
    // Where RxJS may inspect a value as it likes (forbid off), reads are not counted.
    const reads = forbid ? this.c.counter(label, false) : { reads: 0 };
    if ('throws' in slot) {
      Object.defineProperty(target, key, {
        enumerable: true,
        configurable: true,
        get: () => {
          reads.reads++;
          throw new FuzzTrap(`getter ${label}`);
        },
      });
      return THROWS;
    }
    const built = slot.get.map((g, i) => this.build(g, `${label}#${i}`, forbid));
    Object.defineProperty(target, key, {
      enumerable: true,
      configurable: true,
      get: () => {
        const n = reads.reads++;
        if (n >= built.length && slot.thenThrow === true) throw new FuzzTrap(`getter ${label} read ${n + 1} times`);
        if (built.length === 0) throw new FuzzTrap(`getter ${label}`);
        return built[Math.min(n, built.length - 1)]!.value;
      },
    });
    return built.length === 0 ? THROWS : built[0]!.model;
  }

  #obj(v: Extract<V, { t: 'obj' }>, label: string, forbid: boolean): Built {
    const proto = v.proto ?? 'object';
    const target: object = Object.create(protoOf(proto)) as object;
    const props = new Map<string, unknown>();
    for (const [key, slot] of v.props) props.set(key, this.#slot(target, key, slot, `${label}.${key}`, forbid));
    if (forbid) this.#forbid(target, FORBIDDEN_ON_OBJECTS, label);
    return this.#wrap(target, new MObj(props, proto, isProxy(v.wrap)), v.wrap, v.lie, label, forbid);
  }

  #arr(v: Extract<V, { t: 'arr' }>, label: string, forbid: boolean): Built {
    const target: Record<string | number, unknown> = v.likeArray === true ? {} : ([] as unknown as Record<number, unknown>);
    const items = v.items.map((slot, i) => this.#slot(target, String(i), slot, `${label}[${i}]`, forbid));
    if (v.likeArray === true) Object.defineProperty(target, 'length', { value: v.items.length, enumerable: false });
    else (target as unknown as unknown[]).length = v.items.length;
    if (forbid) this.#forbid(target, FORBIDDEN_ON_ARRAYS, label);
    if (v.lyingIterator === true && !forbid) {
      // Where reading is allowed (a source), an iterator that disagrees with the indices.
      Object.defineProperty(target, Symbol.iterator, {
        value: function* lying() {
          yield 42;
        },
        enumerable: false,
      });
    }
    return this.#wrap(target, new MArr(items, v.likeArray !== true, isProxy(v.wrap)), v.wrap, v.lie, label, forbid);
  }

  #wrap(target: object, model: MObj | MArr, wrap: Wrap | undefined, lie: V | undefined, label: string, forbid: boolean): Built {
    switch (wrap) {
      case undefined:
      case 'none':
        return { value: target, model };
      case 'frozen':
        return { value: Object.freeze(target), model };
      case 'revoked': {
        const { proxy, revoke } = Proxy.revocable(target, {});
        revoke();
        return { value: proxy, model: OPAQUE };
      }
      case 'throwing': {
        const trap = (name: string) => (): never => {
          throw new FuzzTrap(`${name} trap of ${label}`);
        };
        const handler: ProxyHandler<object> = {};
        for (const name of [
          'get',
          'has',
          'ownKeys',
          'getOwnPropertyDescriptor',
          'getPrototypeOf',
          'set',
          'defineProperty',
          'deleteProperty',
          'isExtensible',
          'preventExtensions',
          'setPrototypeOf',
        ] as const) {
          (handler as Record<string, unknown>)[name] = trap(name);
        }
        return { value: new Proxy(target, handler), model: OPAQUE };
      }
      case 'proxy':
      case 'lying': {
        const liar = wrap === 'lying' && lie !== undefined ? this.build(lie, `${label}(lie)`, forbid).value : undefined;
        const counts = new Map<string | symbol, { reads: number }>();
        const c = this.c;
        const proxy = new Proxy(target, {
          get(t, key, receiver) {
            let n = counts.get(key);
            if (n === undefined) {
              n = forbid ? c.counter(`${label}<get ${String(key)}>`, false) : { reads: 0 };
              counts.set(key, n);
            }
            n.reads++;
            if (wrap === 'lying' && n.reads > 1) return liar;
            return Reflect.get(t, key, receiver) as unknown;
          },
        });
        return { value: proxy, model };
      }
      default:
        throw new Error(`unknown wrap ${String(wrap)}`);
    }
  }

  #view(v: Extract<V, { t: 'view' }>, label: string, forbid: boolean): Built {
    const size = elementSize(v.ctor);
    const padBytes = v.pad * size;
    const bytes = v.n * size;
    const total = padBytes + bytes;
    const content = Buffer.alloc(bytes);
    for (let i = 0; i < bytes; i++) content[i] = (v.fill + i * 7) & 0xff;
    let buffer: ArrayBufferLike;
    let value: ArrayBufferView;
    const fixed = (b: ArrayBufferLike, tracking: boolean): ArrayBufferView => {
      if (v.ctor === 'DataView') return tracking ? new DataView(b, padBytes) : new DataView(b, padBytes, bytes);
      if (v.ctor === 'Buffer') return tracking ? Buffer.from(b, padBytes) : Buffer.from(b, padBytes, bytes);
      const Ctor = CTORS[v.ctor] as unknown as TypedCtor;
      return tracking ? new Ctor(b, padBytes) : new Ctor(b, padBytes, v.n);
    };
    switch (v.ctor === 'Buffer' || v.backing !== 'pooled' ? v.backing : 'plain') {
      case 'pooled':
        value = Buffer.from(content);
        buffer = value.buffer;
        break;
      case 'plain':
      case 'detached':
        buffer = new ArrayBuffer(total);
        value = fixed(buffer, false);
        break;
      case 'shared':
        buffer = new SharedArrayBuffer(total);
        value = fixed(buffer, false);
        break;
      case 'resizable':
      case 'outOfBounds':
        buffer = resizable(total, total * 2 + 16);
        value = fixed(buffer, v.backing === 'resizable');
        break;
    }
    new Uint8Array(value.buffer, value.byteOffset, bytes).set(content);
    let held = content;
    if (v.backing === 'detached') {
      detach(buffer);
      held = Buffer.alloc(0);
    } else if (v.backing === 'outOfBounds') {
      (buffer as ResizableBuffer).resize(Math.max(0, padBytes + bytes - 1));
      if (bytes > 0) held = Buffer.alloc(0);
    }
    if (v.shadow === true && forbid) this.#forbid(value, FORBIDDEN_ON_VIEWS, label);
    const after = v.after ?? 'none';
    if (after !== 'none') {
      this.c.afterCall.push(() => {
        try {
          if (after === 'detach' && v.backing !== 'shared' && v.backing !== 'pooled') detach(buffer);
          if (after === 'shrink' && v.backing === 'resizable') (buffer as ResizableBuffer).resize(padBytes + Math.floor(bytes / 2));
          if (after === 'grow' && v.backing === 'resizable') (buffer as ResizableBuffer).resize(total + 8);
        } catch {
          // Already detached (the same buffer twice): nothing more to do.
        }
      });
    }
    return { value, model: new MView(Buffer.from(held), v.ctor) };
  }

  /** Own non-enumerable accessors that report any read: no library code should touch these. */
  #forbid(target: object, keys: ReadonlyArray<string | symbol>, label: string): void {
    for (const key of keys) {
      if (Object.getOwnPropertyDescriptor(target, key) !== undefined) continue;
      const counter = this.c.counter(`${label}.${String(key)}`, true);
      try {
        Object.defineProperty(target, key, {
          enumerable: false,
          configurable: true,
          get: () => {
            counter.reads++;
            throw new FuzzTrap(`forbidden read of ${label}.${String(key)}`);
          },
        });
      } catch {
        // A frozen or non-extensible value: nothing can be added.
      }
    }
  }
}

function isProxy(wrap: string | undefined): boolean {
  return wrap === 'proxy' || wrap === 'lying';
}

function protoOf(proto: string): object | null {
  switch (proto) {
    case 'null':
      return null;
    case 'uint8array':
      return Uint8Array.prototype;
    case 'array':
      return Array.prototype as object;
    case 'date':
      return Date.prototype;
    case 'error':
      return Error.prototype;
    default:
      return Object.prototype;
  }
}

/** An AbortSignal (or impostor) as recipe.ts describes; the model is MOther('AbortSignal') or MOther('fake AbortSignal'). */
function signalOf(how: Extract<V, { t: 'signal' }>['how']): Built {
  const genuine = new MOther('AbortSignal');
  switch (how) {
    case 'live':
      return { value: new AbortController().signal, model: genuine };
    case 'aborted':
      return { value: AbortSignal.abort(new Error('fuzz abort')), model: genuine };
    case 'later': {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 2).unref();
      return { value: ac.signal, model: genuine };
    }
    case 'timeout':
      return { value: AbortSignal.timeout(3), model: genuine };
    case 'proxy':
      return { value: new Proxy(new AbortController().signal, {}), model: new MOther('fake AbortSignal') };
    case 'shaped':
      return { value: Object.create(AbortSignal.prototype) as object, model: new MOther('fake AbortSignal') };
    case 'ownAborted': {
      const s = new AbortController().signal;
      Object.defineProperty(s, 'aborted', { value: false });
      return { value: s, model: new MOther('fake AbortSignal') };
    }
    case 'eventTarget':
      return { value: new EventTarget(), model: new MOther('fake AbortSignal') };
  }
}
