'use strict';
// The D-Bus wire format, as much of it as examples/dbus-fd.js needs: a
// message's length from its 16-byte fixed header (frameLength, what the framed
// socket calls), a little-endian encoder for method calls, and a parser for any
// message a bus sends (either byte order, every type the signature grammar
// has). No fds are touched here: a message only counts them (UNIX_FDS) and
// names them by index ('h'); the socket carries the fds themselves.
//
// The format (D-Bus specification, "Message Format"): a message is
//   byte endianness ('l' little, 'B' big), byte type, byte flags, byte version (1),
//   uint32 body length, uint32 serial,
//   array of struct(byte code, variant value): the header fields,
//   padding to a multiple of 8, the body.
// Every value is aligned to its own size counted from the start of the
// message (strings and arrays to 4 for their length, structs to 8). An array's
// uint32 length counts the bytes of its elements only: not the padding between
// the length and the first element, and not the padding after the last one,
// so the header-field array's length at offset 12 does not include the
// padding before the body.

/** The longest message the specification allows (2^27 bytes), and the longest array (2^26). */
const MAX_MESSAGE = 134217728;
const MAX_ARRAY = 67108864;

const TYPE = { METHOD_CALL: 1, METHOD_RETURN: 2, ERROR: 3, SIGNAL: 4 };
const FLAG = { NO_REPLY_EXPECTED: 0x1, NO_AUTO_START: 0x2 };
// Header field codes and the one type each must have.
const FIELD = { PATH: 1, INTERFACE: 2, MEMBER: 3, ERROR_NAME: 4, REPLY_SERIAL: 5, DESTINATION: 6, SENDER: 7, SIGNATURE: 8, UNIX_FDS: 9 };
const FIELD_NAME = ['', 'path', 'interface', 'member', 'errorName', 'replySerial', 'destination', 'sender', 'signature', 'unixFds'];
const FIELD_TYPE = ['', 'o', 's', 's', 's', 'u', 's', 's', 'g', 'u'];

const align = (n, to) => Math.ceil(n / to) * to;

/**
 * A message's whole length in bytes from its first 16 bytes: what
 * `fromFd(fd, { framed: { headerSize: 16, frameLength } })` asks. The body
 * length is at offset 4 and the header-field array's length at 12, both in
 * the message's own byte order; the body starts at the next multiple of 8
 * after the array. Throws on a header no bus may send (a bad byte-order mark
 * or version, an array or message longer than the specification allows).
 * @param {Uint8Array} header
 * @returns {number}
 */
function frameLength(header) {
  if (header.length < 16) throw new RangeError(`a D-Bus fixed header is 16 bytes, got ${header.length}`);
  const view = new DataView(header.buffer, header.byteOffset, 16);
  const little = littleEndian(view.getUint8(0));
  if (view.getUint8(3) !== 1) throw new Error(`D-Bus protocol version ${view.getUint8(3)}, expected 1`);
  const bodyLength = view.getUint32(4, little);
  const fieldsLength = view.getUint32(12, little);
  if (fieldsLength > MAX_ARRAY) throw new Error(`D-Bus header fields of ${fieldsLength} bytes (at most ${MAX_ARRAY})`);
  const total = 16 + align(fieldsLength, 8) + bodyLength; // exact: every term is below 2^33
  if (total > MAX_MESSAGE) throw new Error(`D-Bus message of ${total} bytes (at most ${MAX_MESSAGE})`);
  return total;
}

function littleEndian(mark) {
  if (mark === 0x6c) return true; // 'l'
  if (mark === 0x42) return false; // 'B'
  throw new Error(`bad D-Bus byte-order mark 0x${mark.toString(16)}`);
}

// ------------------------------------------------------------------ encoding

/** Appends little-endian values, each aligned from the start of what it writes (the message's start). */
class Writer {
  constructor() {
    this.buf = Buffer.alloc(256);
    this.length = 0;
  }
  #room(n) {
    if (this.length + n <= this.buf.length) return;
    const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }
  pad(to) {
    const n = align(this.length, to) - this.length;
    this.#room(n);
    this.buf.fill(0, this.length, this.length + n); // padding must be zero
    this.length += n;
  }
  byte(v) {
    this.#room(1);
    this.buf.writeUInt8(v, this.length++);
  }
  uint32(v) {
    this.pad(4);
    this.#room(4);
    this.buf.writeUInt32LE(v, this.length);
    this.length += 4;
  }
  /** 's' and 'o': uint32 length, the UTF-8 bytes, a 0 byte. */
  string(s) {
    const bytes = Buffer.from(s, 'utf8');
    this.uint32(bytes.length);
    this.#room(bytes.length + 1);
    bytes.copy(this.buf, this.length);
    this.buf[this.length + bytes.length] = 0;
    this.length += bytes.length + 1;
  }
  /** 'g': byte length, the ASCII type codes, a 0 byte. */
  signature(s) {
    if (s.length > 255) throw new RangeError('a D-Bus signature is at most 255 bytes');
    this.byte(s.length);
    this.#room(s.length + 1);
    this.buf.write(s, this.length, 'latin1');
    this.buf[this.length + s.length] = 0;
    this.length += s.length + 1;
  }
  /** A basic value of type 'y', 'u', 'h', 's', 'o' or 'g' (what the messages here carry). */
  value(type, v) {
    if (type === 'y') this.byte(v);
    else if (type === 'u' || type === 'h') this.uint32(v);
    else if (type === 's' || type === 'o') this.string(v);
    else if (type === 'g') this.signature(v);
    else throw new TypeError(`the encoder writes y, u, h, s, o and g, not ${type}`);
  }
  bytes() {
    return this.buf.subarray(0, this.length);
  }
}

/**
 * A little-endian message. `body` is a list of [type, value] with basic types;
 * the SIGNATURE field is derived from it, and UNIX_FDS is written when
 * `unixFds` is given (the count of fds that go with the message, which
 * 'h' values index). The header fields go in the order libdbus writes them
 * (path, interface, member, error name, reply serial, destination), so a
 * message built here is byte for byte what libdbus sends.
 * @param {{ type: number, serial: number, flags?: number, path?: string, interface?: string, member?: string,
 *   errorName?: string, replySerial?: number, destination?: string, body?: [string, unknown][], unixFds?: number }} m
 * @returns {Buffer}
 */
function encodeMessage(m) {
  const body = new Writer();
  for (const [type, v] of m.body ?? []) body.value(type, v);
  const signature = (m.body ?? []).map(([type]) => type).join('');
  const fields = [
    [FIELD.PATH, m.path],
    [FIELD.INTERFACE, m.interface],
    [FIELD.MEMBER, m.member],
    [FIELD.ERROR_NAME, m.errorName],
    [FIELD.REPLY_SERIAL, m.replySerial],
    [FIELD.DESTINATION, m.destination],
    [FIELD.SIGNATURE, signature === '' ? undefined : signature],
    [FIELD.UNIX_FDS, m.unixFds],
  ];
  const w = new Writer();
  w.byte(0x6c); // 'l'
  w.byte(m.type);
  w.byte(m.flags ?? 0);
  w.byte(1);
  w.uint32(body.length);
  w.uint32(m.serial);
  w.uint32(0); // the fields' length, filled in below
  for (const [code, v] of fields) {
    if (v === undefined) continue;
    w.pad(8); // each struct(yv) starts at a multiple of 8
    w.byte(code);
    w.signature(FIELD_TYPE[code]);
    w.value(FIELD_TYPE[code], v);
  }
  w.buf.writeUInt32LE(w.length - 16, 12); // 16 is 8-aligned: no padding before the first struct
  w.pad(8); // the body starts at a multiple of 8
  return Buffer.concat([w.bytes(), body.bytes()]);
}

// ------------------------------------------------------------------ parsing

const ALIGNMENT = { y: 1, g: 1, v: 1, n: 2, q: 2, b: 4, i: 4, u: 4, h: 4, s: 4, o: 4, a: 4, x: 8, t: 8, d: 8, '(': 8, '{': 8 };

/** The end index of the single complete type that starts at `i` in `sig`. */
function completeType(sig, i, depth = 0) {
  if (depth > 64) throw new Error('D-Bus signature nested too deeply');
  const c = sig[i];
  if (c === undefined) throw new Error(`D-Bus signature "${sig}" ends inside a type`);
  if ('ybnqiuxtdhsogv'.includes(c)) return i + 1;
  if (c === 'a') return completeType(sig, i + 1, depth + 1);
  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}';
    let j = i + 1;
    let members = 0;
    while (sig[j] !== close) {
      j = completeType(sig, j, depth + 1);
      members++;
    }
    if (members === 0 || (c === '{' && members !== 2)) throw new Error(`bad D-Bus container in signature "${sig}"`);
    return j + 1;
  }
  throw new Error(`unknown D-Bus type code ${JSON.stringify(c)} in signature "${sig}"`);
}

/** Splits a signature into its complete types ("sa{sv}u" -> ["s", "a{sv}", "u"]). */
function splitSignature(sig) {
  const types = [];
  for (let i = 0; i < sig.length;) {
    const end = completeType(sig, i);
    types.push(sig.slice(i, end));
    i = end;
  }
  return types;
}

/** Reads values of any type from a whole message, checking every bound, padding byte and string end. */
class Reader {
  constructor(buf, little) {
    this.buf = buf;
    this.little = little;
    this.pos = 0;
  }
  #take(n) {
    if (this.pos + n > this.buf.length) throw new Error('D-Bus message ends inside a value');
    const at = this.pos;
    this.pos += n;
    return at;
  }
  pad(to) {
    const end = align(this.pos, to);
    if (end > this.buf.length) throw new Error('D-Bus message ends inside padding');
    for (; this.pos < end; this.pos++) if (this.buf[this.pos] !== 0) throw new Error('nonzero D-Bus padding');
  }
  #fixed(size, read) {
    this.pad(size);
    const at = this.#take(size);
    return read(at);
  }
  uint32() {
    return this.#fixed(4, (at) => (this.little ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at)));
  }
  #text(length) {
    const at = this.#take(length + 1);
    if (this.buf[at + length] !== 0 || this.buf.subarray(at, at + length).includes(0)) throw new Error('D-Bus string not ended by its one 0 byte');
    return this.buf.toString('utf8', at, at + length);
  }
  /** One value of the complete type `type`. */
  value(type, depth = 0) {
    const b = this.buf;
    const le = this.little;
    switch (type[0]) {
      case 'y':
        return b[this.#take(1)];
      case 'b': {
        const v = this.uint32();
        if (v > 1) throw new Error(`D-Bus boolean ${v}`);
        return v === 1;
      }
      case 'n':
        return this.#fixed(2, (at) => (le ? b.readInt16LE(at) : b.readInt16BE(at)));
      case 'q':
        return this.#fixed(2, (at) => (le ? b.readUInt16LE(at) : b.readUInt16BE(at)));
      case 'i':
        return this.#fixed(4, (at) => (le ? b.readInt32LE(at) : b.readInt32BE(at)));
      case 'u':
      case 'h': // an index into the message's fds
        return this.uint32();
      case 'x':
        return this.#fixed(8, (at) => (le ? b.readBigInt64LE(at) : b.readBigInt64BE(at)));
      case 't':
        return this.#fixed(8, (at) => (le ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at)));
      case 'd':
        return this.#fixed(8, (at) => (le ? b.readDoubleLE(at) : b.readDoubleBE(at)));
      case 's':
      case 'o':
        return this.#text(this.uint32());
      case 'g':
        return this.signature();
      case 'v': {
        const inner = this.signature();
        if (splitSignature(inner).length !== 1) throw new Error(`D-Bus variant of signature "${inner}"`);
        if (depth > 64) throw new Error('D-Bus variants nested too deeply');
        return { signature: inner, value: this.value(inner, depth + 1) };
      }
      case 'a': {
        const element = type.slice(1);
        const length = this.uint32();
        if (length > MAX_ARRAY) throw new Error(`D-Bus array of ${length} bytes`);
        this.pad(ALIGNMENT[element[0]]); // before the first element, not counted in length
        const end = this.pos + length;
        if (end > b.length) throw new Error('D-Bus array runs past the message');
        const items = [];
        while (this.pos < end) items.push(this.value(element, depth + 1));
        if (this.pos !== end) throw new Error('D-Bus array length does not end on an element');
        return items;
      }
      case '(':
      case '{':
        this.pad(8);
        return splitSignature(type.slice(1, -1)).map((member) => this.value(member, depth + 1));
      default:
        throw new Error(`unknown D-Bus type ${type}`);
    }
  }
  signature() {
    const sig = this.#text(this.buf[this.#take(1)]);
    splitSignature(sig); // valid, or throws
    return sig;
  }
}

/**
 * Parses one whole message (exactly frameLength(data) bytes): its fixed
 * header, its header fields by name (unknown codes are skipped, as the
 * specification says; a known code with the wrong type is an error) and its
 * body as a list of values in the order of its signature.
 * @param {Uint8Array} data
 */
function parseMessage(data) {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const total = frameLength(buf);
  if (buf.length !== total) throw new Error(`D-Bus message of ${buf.length} bytes, its header says ${total}`);
  const r = new Reader(buf, littleEndian(buf[0]));
  r.pos = 4;
  const bodyLength = r.uint32();
  const message = { type: buf[1], flags: buf[2], serial: r.uint32(), fields: {}, body: [] };
  if (message.type < 1 || message.type > 4) throw new Error(`unknown D-Bus message type ${message.type}`);
  if (message.serial === 0) throw new Error('D-Bus message with serial 0');
  for (const [code, variant] of r.value('a(yv)')) {
    const name = FIELD_NAME[code];
    if (name === undefined || name === '') continue;
    if (variant.signature !== FIELD_TYPE[code]) throw new Error(`D-Bus header field ${name} of type ${variant.signature}, expected ${FIELD_TYPE[code]}`);
    if (name in message.fields) throw new Error(`D-Bus header field ${name} twice`);
    message.fields[name] = variant.value;
  }
  r.pad(8);
  if (r.pos + bodyLength !== buf.length) throw new Error('D-Bus body does not fill the message');
  for (const type of splitSignature(message.fields.signature ?? '')) message.body.push(r.value(type));
  if (r.pos !== buf.length) throw new Error('D-Bus body longer than its signature says');
  return message;
}

module.exports = { TYPE, FLAG, FIELD, frameLength, encodeMessage, parseMessage, splitSignature };
