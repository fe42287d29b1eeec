// The BSD socket calls of the low-level API for any family: socket, bind,
// connect, listen, accept, getsockname, getpeername and integer socket
// options, on raw fds, and the one conversion of addresses of any family
// each way across the addon boundary. An inet address, given or returned,
// has the shape of dgram's rinfo ({ address, port, family: 'IPv4' | 'IPv6' });
// a Unix one follows the package's bytes rules (address-codec.ts): a string or
// a Uint8Array of raw sun_path bytes in, a lossless string out, or its bytes
// with { addressEncoding: 'buffer' }. Each user value is read once into a
// snapshot of ours before the addon sees it.
import net from 'node:net';
import { types } from 'node:util';
import { constants, disowned, native, type NativeSocketAddress } from '../native/binding';
import { presentAddress, type AddressEncoding } from '../stream/address-codec';
import { check, describe, errno, errnoError, invalidArgType, invalidArgValue } from '../stream/errors';
import { TYPE_NUMBERS } from '../stream/socket-type';
import type { SocketType } from '../stream/types';
import { snapshotOptions, validateAddress, validateAddressEncoding, validateFd, validateInteger } from '../stream/validate';

/** An AF_INET or AF_INET6 address, as dgram's rinfo and net's address() show it. */
export interface InetAddress {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

/** An inet address as the calls take it: family may be left out (the literal says it). */
export interface InetAddressInput {
  address: string;
  port: number;
  family?: 'IPv4' | 'IPv6';
}

/**
 * A Unix socket name (a path, or '\0' and an abstract name) as a lossless
 * string, or with { addressEncoding: 'buffer' } its raw bytes; or an inet address.
 */
export type SocketAddress<A extends string | Buffer = string> = A | InetAddress;
/** What the calls take: a Unix name (a string, or a Uint8Array of raw sun_path bytes), or an inet address with or without family. */
export type SocketAddressInput = string | Uint8Array | InetAddressInput;

export type SocketFamily = 'unix' | 'inet' | 'inet6';

export interface AcceptedSocket<A extends string | Buffer = string> {
  fd: number;
  /** The peer's address; null for an unnamed Unix peer. */
  address: SocketAddress<A> | null;
}

/** Options of accept(), getsockname() and getpeername(). */
export interface AddressOptions {
  /** How a Unix address is returned: 'utf8' (default, lossless string) or 'buffer' (raw sun_path bytes). */
  addressEncoding?: AddressEncoding;
}
/** AddressOptions asking for Unix addresses as raw bytes. */
type BufferAddresses = AddressOptions & { addressEncoding: 'buffer' };

const FAMILIES: Record<SocketFamily, number> = { unix: constants.AF_UNIX, inet: constants.AF_INET, inet6: constants.AF_INET6 };
const EINPROGRESS = errno('EINPROGRESS');
const EINTR = errno('EINTR');

/** A given address read once and checked: a Unix name's string or bytes, or [family, host, port], for the addon. */
export function snapshotSocketAddress(value: unknown, name = 'address'): NativeSocketAddress {
  if (typeof value === 'string' || types.isUint8Array(value)) return validateAddress(value, name);
  if (typeof value !== 'object' || value === null) {
    throw invalidArgType(`The "${name}" argument must be a string, a Uint8Array or an { address, port, family } object. Received ${describe(value)}`);
  }
  const o = snapshotOptions(value, ['address', 'port', 'family'], name);
  if (typeof o.address !== 'string') throw invalidArgType(`The "${name}.address" property must be of type string. Received ${describe(o.address)}`);
  const version = net.isIP(o.address);
  // inet_pton(3) takes no zone index ('%eth0'), so neither does this.
  if (version === 0 || o.address.includes('%')) {
    throw invalidArgValue(`The "${name}.address" property must be an IPv4 or IPv6 literal. Received ${describe(o.address)}`);
  }
  const port = validateInteger(o.port, `${name}.port`, 0, 65535);
  if (port === undefined) throw invalidArgType(`The "${name}.port" property must be of type number. Received undefined`);
  const family = version === 4 ? 'IPv4' : 'IPv6';
  if (o.family !== undefined && o.family !== family) {
    throw invalidArgValue(`The "${name}.family" property must be '${family}' for ${o.address}. Received ${describe(o.family)}`);
  }
  return [version === 4 ? constants.AF_INET : constants.AF_INET6, o.address, port];
}

/** What the addon returned, in the shape the API shows: a Unix name in the encoding asked for, inet as rinfo. */
export function addressFromNative(address: NativeSocketAddress, encoding: AddressEncoding): SocketAddress<string | Buffer> {
  if (!Array.isArray(address)) return presentAddress(address, encoding);
  const [family, host, port] = address;
  return { address: host, port, family: family === constants.AF_INET6 ? 'IPv6' : 'IPv4' };
}

/**
 * An address as errnoError() takes it: a Unix name as it is (named by its
 * lossless string, '@name' when abstract), inet as '1.2.3.4:80' or '[::1]:80'.
 */
export function errorAddress(address: NativeSocketAddress): string | Uint8Array {
  if (!Array.isArray(address)) return address;
  const [family, host, port] = address;
  return family === constants.AF_INET6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The addressEncoding option, read once. */
function addressEncodingOf(options: unknown): AddressEncoding {
  return validateAddressEncoding(snapshotOptions(options, ['addressEncoding']).addressEncoding);
}

/** socket(2) of the family and type: a raw fd, non-blocking and close-on-exec. */
export function socket(family: SocketFamily, type: SocketType): number {
  const domain = typeof family === 'string' && Object.hasOwn(FAMILIES, family) ? FAMILIES[family] : undefined;
  if (domain === undefined) throw invalidArgValue(`The "family" argument must be 'unix', 'inet' or 'inet6'. Received ${describe(family)}`);
  const n = typeof type === 'string' && Object.hasOwn(TYPE_NUMBERS, type) ? TYPE_NUMBERS[type] : undefined;
  if (n === undefined) throw invalidArgValue(`The "type" argument must be 'stream', 'seqpacket' or 'dgram'. Received ${describe(type)}`);
  const fd = check(native.socketOf(domain, n), 'socket');
  disowned([fd]);
  return fd;
}

/** bind(2). A Unix address is a name's string or bytes (no mode: use createServer's for that); an inet one { address, port }. */
export function bind(fd: number, address: SocketAddressInput): void {
  validateFd(fd, 'fd');
  const addr = snapshotSocketAddress(address);
  check(native.bindTo(fd, addr), 'bind', errorAddress(addr));
}

/**
 * connect(2), non-blocking. Returns true when connected at once, false when
 * the connection is in progress (EINPROGRESS, as a TCP connect always is):
 * wait for writable with watch(), then read getsockopt(fd, SOL_SOCKET,
 * SO_ERROR), 0 or the errno the connection failed with. Any other failure
 * throws an errno error (a full Unix backlog is EAGAIN).
 */
export function connect(fd: number, address: SocketAddressInput): boolean {
  validateFd(fd, 'fd');
  const addr = snapshotSocketAddress(address);
  const r = native.connectTo(fd, addr);
  // EINTR leaves the connection in progress (connect(2)), as EINPROGRESS does.
  if (r === EINPROGRESS || r === EINTR) return false;
  check(r, 'connect', errorAddress(addr));
  return true;
}

/** listen(2); backlog as net.Server's default. */
export function listen(fd: number, backlog = 511): void {
  validateFd(fd, 'fd');
  const n = validateInteger(backlog, 'backlog', 0, 0x7fffffff) ?? 511;
  check(native.listen(fd, n), 'listen');
}

/**
 * accept4(2) with SOCK_CLOEXEC | SOCK_NONBLOCK; EAGAIN when none is pending.
 * The fd is the caller's. A Unix peer's name as { addressEncoding } says.
 */
export function accept(fd: number, options: BufferAddresses): AcceptedSocket<Buffer>;
export function accept(fd: number, options?: AddressOptions): AcceptedSocket;
export function accept(fd: number, options?: AddressOptions): AcceptedSocket<string | Buffer> {
  validateFd(fd, 'fd');
  const encoding = addressEncodingOf(options);
  const r = native.acceptFrom(fd);
  if (typeof r === 'number') throw errnoError(r, 'accept');
  disowned([r[0]]);
  return { fd: r[0], address: r[1] === null ? null : addressFromNative(r[1], encoding) };
}

function nameOf(fd: number, peer: boolean, options: unknown): SocketAddress<string | Buffer> | null {
  validateFd(fd, 'fd');
  const encoding = addressEncodingOf(options);
  const r = native.nameOf(fd, peer);
  if (typeof r === 'number') throw errnoError(r, peer ? 'getpeername' : 'getsockname');
  return r === null ? null : addressFromNative(r, encoding);
}

/** getsockname(2): the socket's own address; null for an unnamed Unix socket. */
export function getsockname(fd: number, options: BufferAddresses): SocketAddress<Buffer> | null;
export function getsockname(fd: number, options?: AddressOptions): SocketAddress | null;
export function getsockname(fd: number, options?: AddressOptions): SocketAddress<string | Buffer> | null {
  return nameOf(fd, false, options);
}

/** getpeername(2): the peer's address; null for an unnamed Unix peer; ENOTCONN when not connected. */
export function getpeername(fd: number, options: BufferAddresses): SocketAddress<Buffer> | null;
export function getpeername(fd: number, options?: AddressOptions): SocketAddress | null;
export function getpeername(fd: number, options?: AddressOptions): SocketAddress<string | Buffer> | null {
  return nameOf(fd, true, options);
}
