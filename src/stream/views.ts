// Byte views (TypedArrays and DataViews) read without running user code.
//
// A view's `byteLength`, `buffer` and `subarray` can be shadowed by own
// properties or reached through a Proxy, and `instanceof Uint8Array` is true
// for `Object.create(Uint8Array.prototype)`, which holds no bytes. So the
// checks and lengths here use the engine's own getters, captured when this
// module loads: ArrayBuffer.isView() tests the internal slot, and the
// %TypedArray% and DataView getters read it. None of them can be redirected
// by the value itself, and none throws.
import { types } from 'node:util';

const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;
const getter = (proto: object, name: string): ((this: unknown) => unknown) => {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- the getter is captured to be called with Reflect.apply on a view
  const get = Object.getOwnPropertyDescriptor(proto, name)?.get;
  if (get === undefined) throw new Error(`no ${name} getter`);
  return get;
};
const typedByteLength = getter(typedArrayPrototype, 'byteLength');
const typedByteOffset = getter(typedArrayPrototype, 'byteOffset');
const typedBuffer = getter(typedArrayPrototype, 'buffer');
const viewByteLength = getter(DataView.prototype, 'byteLength');
const viewByteOffset = getter(DataView.prototype, 'byteOffset');
const viewBuffer = getter(DataView.prototype, 'buffer');
const apply = Reflect.apply;
// eslint-disable-next-line @typescript-eslint/unbound-method -- a static method that does not use `this`
const isView = ArrayBuffer.isView;
const isDataView = types.isDataView;

/** A real TypedArray or DataView (not an object that only inherits from one). */
export function isByteView(value: unknown): value is ArrayBufferView {
  return isView(value);
}

/**
 * An object that inherits from a TypedArray or DataView prototype without
 * being a view (Object.create(Uint8Array.prototype)). A Proxy is never
 * one: asking its prototype would run its trap.
 */
export function isFakeView(value: object): boolean {
  if (types.isProxy(value) || isView(value)) return false;
  return isPrototypeOf(typedArrayPrototype, value) || isPrototypeOf(DataView.prototype, value);
}

// eslint-disable-next-line @typescript-eslint/unbound-method -- called with Reflect.apply and its own receiver, never through the value
const isPrototypeOf = (proto: object, value: object): boolean => Reflect.apply(Object.prototype.isPrototypeOf, proto, [value]);

/**
 * The bytes `view` holds now: 0 once its buffer is detached, or when a
 * resizable buffer shrank below it. Never throws, never runs user code.
 */
export function byteLengthOf(view: ArrayBufferView): number {
  try {
    return apply(isDataView(view) ? viewByteLength : typedByteLength, view, []) as number;
  } catch {
    // A DataView over a detached or shrunk buffer throws instead of saying 0.
    return 0;
  }
}

/** A new Uint8Array over `view`'s bytes from `skip` on (skip <= byteLengthOf(view)). */
export function bytesAfter(view: ArrayBufferView, skip: number): Uint8Array {
  const dv = isDataView(view);
  const buffer = apply(dv ? viewBuffer : typedBuffer, view, []) as ArrayBufferLike;
  const offset = apply(dv ? viewByteOffset : typedByteOffset, view, []) as number;
  return new Uint8Array(buffer, offset + skip, byteLengthOf(view) - skip);
}

/**
 * Whether `view`'s ArrayBuffer is detached (transferred or freed). A typed
 * array cannot be made over a detached buffer: the engine's own check, with
 * the buffer read through the captured getters.
 */
export function isDetached(view: ArrayBufferView): boolean {
  const buffer = apply(isDataView(view) ? viewBuffer : typedBuffer, view, []) as ArrayBufferLike;
  try {
    new Uint8Array(buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}
