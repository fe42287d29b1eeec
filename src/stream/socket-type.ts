// What kind of socket an fd is: the socket type names and their SOCK_*
// numbers, inspectFd() (SO_DOMAIN, SO_TYPE), and whether an fd may be
// adopted: refusePolled() (not already a socket's of this process) and
// adoptableType() (UnixMessageSocket.fromFd's checks), and adoptDuplicate(),
// fromFd's adoption by duplicate.
// The lowest layers (lowlevel.ts, server.ts, the pool) import these from
// here, so nothing below the Duplex depends on socket.ts.
import { constants, native } from '../native/binding';
import { errno, errnoError, invalidArgValue, invalidFdType } from './errors';
import type { SocketType } from './types';

const ENOTSOCK = errno('ENOTSOCK');

export const TYPE_NUMBERS: Readonly<Record<SocketType, number>> = {
  stream: constants.SOCK_STREAM,
  seqpacket: constants.SOCK_SEQPACKET,
  dgram: constants.SOCK_DGRAM,
};

export function typeName(type: number): SocketType | undefined {
  if (type === constants.SOCK_STREAM) return 'stream';
  if (type === constants.SOCK_SEQPACKET) return 'seqpacket';
  if (type === constants.SOCK_DGRAM) return 'dgram';
  return undefined;
}

const scratch = new Int32Array(1);

/**
 * fromFd() and listen({ fd }) close the fd they adopt: one that a socket or
 * server of this process polls is that socket's, never the caller's to hand
 * over (closing it under its poll can make libuv abort the process).
 */
export function refusePolled(fd: number): void {
  if (native.isPolled(fd)) {
    throw invalidArgValue(
      `fd ${fd} belongs to an open UnixMessageSocket or UnixMessageServer of this process; it cannot be adopted (destroy that one, or pass a dup of its peer)`,
    );
  }
}

/** Checks that fd is an AF_UNIX socket and returns its type. */
export function inspectFd(fd: number): SocketType {
  let r = native.getsockopt(fd, constants.SOL_SOCKET, constants.SO_DOMAIN, scratch);
  if (r === ENOTSOCK) throw invalidFdType(`fd ${fd} is not a socket`);
  if (r < 0) throw errnoError(r, 'getsockopt');
  if (scratch[0] !== constants.AF_UNIX) {
    // SCM_RIGHTS is AF_UNIX only (unix(7)): another family would silently drop the fds.
    throw invalidFdType(`fd ${fd} is not an AF_UNIX socket (address family ${scratch[0]})`);
  }
  r = native.getsockopt(fd, constants.SOL_SOCKET, constants.SO_TYPE, scratch);
  if (r < 0) throw errnoError(r, 'getsockopt');
  const type = typeName(scratch[0]!);
  if (type === undefined) throw invalidFdType(`fd ${fd} has unsupported socket type ${scratch[0]}`);
  return type;
}

/**
 * The type of an fd that UnixMessageSocket.fromFd() may adopt: an AF_UNIX
 * socket no socket of this process polls, and not a listening one.
 */
export function adoptableType(fd: number): SocketType {
  const type = inspectFd(fd);
  refusePolled(fd);
  if (native.getsockopt(fd, constants.SOL_SOCKET, constants.SO_ACCEPTCONN, scratch) === 0 && scratch[0] === 1) {
    throw invalidFdType(`fd ${fd} is a listening socket; adopt it with createServer().listen({ fd })`);
  }
  return type;
}

/**
 * fromFd()'s adoption: the socket works on a duplicate of its own and closes
 * `fd` at once. libuv aborts the process if a polled fd is closed before the
 * loop registers it (uv__io_poll: epoll_ctl fails), so nothing else may be
 * able to close the fd we poll; a former owner's stray close(fd) now fails
 * with EBADF instead. On an error `fd` is left open, still the caller's, and
 * the duplicate is closed: `open` owns it only once it has returned.
 */
export function adoptDuplicate<T>(fd: number, open: (own: number, type: SocketType) => T): T {
  const type = adoptableType(fd);
  const own = native.dup(fd);
  if (own < 0) throw errnoError(own, 'dup');
  let adopted: T;
  try {
    adopted = open(own, type);
  } catch (err) {
    native.close(own);
    throw err;
  }
  native.close(fd);
  return adopted;
}
