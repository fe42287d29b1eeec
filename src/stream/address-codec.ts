// unix(7) names as bytes and as lossless strings. A sun_path is bytes, not
// text: the string form decodes it as UTF-8 with Python's "surrogateescape"
// (PEP 383): each byte that is not part of a well-formed UTF-8 sequence
// becomes the lone surrogate U+DC80..U+DCFF, and on the way back such a lone
// surrogate encodes to that byte. So an address the library hands out,
// handed back, names the same socket, and two names never give the same
// string. Plain strings (no surrogates) encode as UTF-8, as they always did.
//
// The addon takes a name as a string (its UTF-8 bytes) or a Uint8Array (its
// bytes as they are), and gives one back as a string when every byte is
// ASCII, else as a Buffer (js_values.h AddressValue).
import { bytesAfter } from './views';

/** An address as the addon takes and gives it. */
export type NativeAddress = string | Buffer;

/** How addresses are handed out: lossless strings, or the raw bytes. */
export type AddressEncoding = 'utf8' | 'buffer';

// Any UTF-16 surrogate code unit: a string without one is plain text.
const SURROGATE = /[\uD800-\uDFFF]/;

/** Bytes of a well-formed UTF-8 sequence starting at i, or 0 (Unicode Table 3-7). */
function sequenceAt(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** A name's bytes as a lossless string (surrogateescape). */
export function decodeAddress(bytes: Uint8Array): string {
  // Through the engine's getters (views.ts): a caller's view (errnoError's
  // address) may shadow buffer/byteOffset/byteLength with getters that lie.
  const own = bytesAfter(bytes, 0);
  const b = Buffer.from(own.buffer, own.byteOffset, own.byteLength);
  let ascii = true;
  for (let i = 0; i < b.length && ascii; i++) ascii = b[i]! < 0x80;
  if (ascii) return b.toString('latin1');
  let out = '';
  let start = 0; // first byte of the run of well-formed sequences not yet copied
  for (let i = 0; i < b.length;) {
    const n = sequenceAt(b, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += b.toString('utf8', start, i) + String.fromCharCode(0xdc00 + b[i]!);
    start = ++i;
  }
  return out + b.toString('utf8', start, b.length);
}

/**
 * A string's bytes: UTF-8, except that a lone U+DC80..U+DCFF is the byte it
 * escapes. Returns null for any other lone surrogate, which names no bytes.
 */
export function encodeAddress(name: string): Buffer | null {
  if (!SURROGATE.test(name)) return Buffer.from(name, 'utf8');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < name.length; i++) {
    const u = name.charCodeAt(i);
    if (u < 0xd800 || u > 0xdfff) continue;
    const next = i + 1 < name.length ? name.charCodeAt(i + 1) : 0;
    if (u <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      i++; // a pair: plain UTF-8
      continue;
    }
    if (u < 0xdc80 || u > 0xdcff) return null;
    parts.push(Buffer.from(name.slice(start, i), 'utf8'), Buffer.of(u - 0xdc00));
    start = i + 1;
  }
  parts.push(Buffer.from(name.slice(start), 'utf8'));
  return Buffer.concat(parts);
}

/** Whether a string needs encodeAddress() to reach the addon intact. */
export function hasSurrogate(name: string): boolean {
  return SURROGATE.test(name);
}

/** An address (the addon's, or a checked one of the user's) in the encoding asked for. */
export function presentAddress(address: NativeAddress, encoding: AddressEncoding): string | Buffer {
  if (typeof address === 'string') return encoding === 'buffer' ? Buffer.from(address, 'utf8') : address;
  return encoding === 'buffer' ? Buffer.from(address) : decodeAddress(address);
}

/** A name as text, for error messages and `err.address`. */
export function addressText(address: NativeAddress): string {
  return typeof address === 'string' ? address : decodeAddress(address);
}

/** Whether a name is in the abstract namespace (leading NUL byte). */
export function isAbstract(address: NativeAddress): boolean {
  return typeof address === 'string' ? address.startsWith('\0') : address[0] === 0;
}
