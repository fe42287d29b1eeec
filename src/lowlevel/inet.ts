// The BSD socket calls of the low-level API for any family: socket, bind,
// connect, listen, accept, getsockname, getpeername and integer socket
// options, on raw fds. An inet address, given or returned, has the shape of
// dgram's rinfo ({ address, port, family: 'IPv4' | 'IPv6' }); a Unix one is
// a string, as everywhere in the package. Each user value is read once into
// a snapshot of ours before the addon sees it.
import net from 'node:net';
import { constants, disowned, native, type NativeAddress } from '../native/binding';
import { check, describe, errno, errnoError, formatAddress, invalidArgType, invalidArgValue } from '../stream/errors';
import { TYPE_NUMBERS } from '../stream/socket-type';
import type { SocketType } from '../stream/types';
import { snapshotOptions, validateAddress, validateFd, validateInteger } from '../stream/validate';

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

/** A Unix socket name (a path, or '\0' and an abstract name), or an inet address. */
export type SocketAddress = string | InetAddress;
/** What the calls take: a Unix name, or an inet address with or without family. */
export type SocketAddressInput = string | InetAddressInput;

export type SocketFamily = 'unix' | 'inet' | 'inet6';

export interface AcceptedSocket {
  fd: number;
  /** The peer's address; null for an unnamed Unix peer. */
  address: SocketAddress | null;
}

const FAMILIES: Record<SocketFamily, number> = { unix: constants.AF_UNIX, inet: constants.AF_INET, inet6: constants.AF_INET6 };
const EINPROGRESS = errno('EINPROGRESS');
const EINTR = errno('EINTR');

/** A given address read once and checked: a Unix string, or [family, host, port] for the addon. */
export function snapshotSocketAddress(value: unknown, name = 'address'): NativeAddress {
  if (typeof value === 'string') return validateAddress(value, name);
  if (typeof value !== 'object' || value === null) {
    throw invalidArgType(`The "${name}" argument must be a string or an { address, port, family } object. Received ${describe(value)}`);
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

/** What the addon returned, in the shape the API shows. */
export function addressFromNative(address: NativeAddress): SocketAddress {
  if (typeof address === 'string') return address;
  const [family, host, port] = address;
  return { address: host, port, family: family === constants.AF_INET6 ? 'IPv6' : 'IPv4' };
}

/** How an address is named in an error message: a path, '@name', '1.2.3.4:80' or '[::1]:80'. */
export function formatSocketAddress(address: NativeAddress): string {
  if (typeof address === 'string') return formatAddress(address);
  const [family, host, port] = address;
  return family === constants.AF_INET6 ? `[${host}]:${port}` : `${host}:${port}`;
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

/** bind(2). A Unix address is a name (no mode: use createServer's for that); an inet one { address, port }. */
export function bind(fd: number, address: SocketAddressInput): void {
  validateFd(fd, 'fd');
  const addr = snapshotSocketAddress(address);
  check(native.bindTo(fd, addr), 'bind', formatSocketAddress(addr));
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
  check(r, 'connect', formatSocketAddress(addr));
  return true;
}

/** listen(2); backlog as net.Server's default. */
export function listen(fd: number, backlog = 511): void {
  validateFd(fd, 'fd');
  const n = validateInteger(backlog, 'backlog', 0, 0x7fffffff) ?? 511;
  check(native.listen(fd, n), 'listen');
}

/** accept4(2) with SOCK_CLOEXEC | SOCK_NONBLOCK; EAGAIN when none is pending. The fd is the caller's. */
export function accept(fd: number): AcceptedSocket {
  validateFd(fd, 'fd');
  const r = native.acceptFrom(fd);
  if (typeof r === 'number') throw errnoError(r, 'accept');
  disowned([r[0]]);
  return { fd: r[0], address: r[1] === null ? null : addressFromNative(r[1]) };
}

function nameOf(fd: number, peer: boolean): SocketAddress | null {
  validateFd(fd, 'fd');
  const r = native.nameOf(fd, peer);
  if (typeof r === 'number') throw errnoError(r, peer ? 'getpeername' : 'getsockname');
  return r === null ? null : addressFromNative(r);
}

/** getsockname(2): the socket's own address; null for an unnamed Unix socket. */
export function getsockname(fd: number): SocketAddress | null {
  return nameOf(fd, false);
}

/** getpeername(2): the peer's address; null for an unnamed Unix peer; ENOTCONN when not connected. */
export function getpeername(fd: number): SocketAddress | null {
  return nameOf(fd, true);
}
