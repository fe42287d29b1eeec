// The options a socket is made with: SocketOptions (public), the internal
// ones (the fd, its type, an address to connect to), limitsOf(), which
// checks them and fills in the defaults once, at construction, and
// openHandle(), which applies them to the fd and the handle that adopts it.
import { constants, native, type NativeSocketHandle } from '../native/binding';
import { describe, errno, errnoError, outOfRange } from './errors';
import { defaultFdBound } from './fds';
import { FRAMED_READ_SIZE, framingOf, type FrameFormat, type Framing } from './frame-format';
import { TYPE_NUMBERS } from './socket-type';
import type { SocketType } from './types';
import type { AddressEncoding, NativeAddress } from './address-codec';

const { SCM_MAX_FD } = constants;
const ENOPROTOOPT = errno('ENOPROTOOPT');

export interface SocketOptions {
  /** Like net.Socket: end the writable side when the peer ends (default false). */
  allowHalfOpen?: boolean;
  /** Received messages buffered before reading pauses (default 16). */
  readableHighWaterMark?: number;
  /**
   * Queued outgoing messages before write() returns false (default 64: a
   * sender that waits for 'drain' then sends up to 64 per sendmmsg).
   */
  writableHighWaterMark?: number;
  /**
   * Reading pauses before the received fds sitting unclaimed in the readable
   * buffer could exceed max(maxPendingFds, maxFdsPerMessage). Default: a
   * quarter of RLIMIT_NOFILE, at most 4096 and at least 253.
   */
  maxPendingFds?: number;
  /**
   * write() returns false once the duplicated fds this socket holds for
   * queued messages reach max(maxQueuedFds, 253), and 'drain' follows when
   * they fall below. Default as for maxPendingFds.
   */
  maxQueuedFds?: number;
  /**
   * The most fds one received message may bring (default 253, SCM_MAX_FD).
   * The receive buffer holds exactly that many: a message with more arrives
   * with `fdsTruncated` and the kernel closes the rest. A read is made only
   * while that many more fds fit the budgets, so a small value lets a
   * socket read more messages per wakeup under a low fd limit.
   */
  maxFdsPerMessage?: number;
  /**
   * Largest message received whole (seqpacket, dgram; default 256 KiB; larger
   * ones arrive with `truncated: true`), the read size (stream; default 64 KiB),
   * or the largest message (framed stream; default 16 MiB; a larger one is a
   * protocol error, ERR_FRAME_TOO_LARGE, and a larger write ERR_OUT_OF_RANGE).
   */
  maxMessageSize?: number;
  /** SO_PASSCRED: every received message carries the sender's credentials. */
  passCredentials?: boolean;
  /**
   * SO_PASSPIDFD (Linux 6.5+, else ENOPROTOOPT): every received message
   * carries a pidfd for its sender (`pidfd`), which counts against
   * maxPendingFds like one more fd.
   */
  passPidfd?: boolean;
  /**
   * false: refuse fds. Sets SO_PASSRIGHTS=0 (Linux 6.16+: senders get EPERM);
   * on older kernels fds that still arrive are closed on receipt.
   */
  acceptFds?: boolean;
  /**
   * How addresses are handed out (`m.address`, address(), remoteAddress,
   * server.address()): 'utf8' (default), lossless strings (address-codec.ts),
   * or 'buffer', the raw sun_path bytes.
   */
  addressEncoding?: AddressEncoding;
  /**
   * Stream sockets only: one `{ data, fds }` per message sent, with exactly
   * its fds. `true`: each message is a 4-byte big-endian length and its
   * bytes; `{ headerSize, frameLength }`: an existing protocol's framing.
   * README.md, "Framed stream sockets". maxMessageSize then limits a
   * message (default 16 MiB).
   */
  framed?: boolean | FrameFormat;
}

export interface InternalOptions extends SocketOptions {
  fd: number;
  type: SocketType;
  /** Connect to this address before reading or writing. */
  connectTo?: NativeAddress;
}

/** The options a socket keeps, checked, with their defaults applied. */
export interface SocketLimits {
  maxMessageSize: number;
  maxPendingFds: number;
  /** At least SCM_MAX_FD: one full message always fits. */
  maxQueuedFds: number;
  /** 0 when the socket refuses fds. */
  maxFdsPerMessage: number;
  passCredentials: boolean;
  passPidfd: boolean;
  acceptFds: boolean;
  addressEncoding: AddressEncoding;
  /** The `framed` option, checked; null when not framed. */
  framing: Framing | null;
  /** Bytes one stream read asks for: maxMessageSize, or FRAMED_READ_SIZE when framed. */
  readSize: number;
}

/** Throws ERR_OUT_OF_RANGE for the first option out of range. */
export function limitsOf(options: InternalOptions): SocketLimits {
  const acceptFds = options.acceptFds ?? true;
  const passCredentials = options.passCredentials ?? false;
  const passPidfd = options.passPidfd ?? false;
  const given = options.maxMessageSize;
  if (given !== undefined && (!Number.isInteger(given) || given < 1 || given > 0x7fffffff)) {
    throw outOfRange(`The "maxMessageSize" option must be a positive integer. Received ${describe(given)}`);
  }
  const framing = framingOf(options.framed, options.type, given);
  const maxMessageSize = framing?.maxMessageSize ?? given ?? (options.type === 'stream' ? 65536 : 262144);
  const readSize = framing === null ? maxMessageSize : FRAMED_READ_SIZE;
  const maxPendingFds = fdOption(options.maxPendingFds, 'maxPendingFds');
  const maxQueuedFds = Math.max(fdOption(options.maxQueuedFds, 'maxQueuedFds'), SCM_MAX_FD);
  const maxFds = options.maxFdsPerMessage ?? SCM_MAX_FD;
  if (!Number.isInteger(maxFds) || maxFds < 0 || maxFds > SCM_MAX_FD) {
    throw outOfRange(`The "maxFdsPerMessage" option must be an integer from 0 to ${SCM_MAX_FD}. Received ${describe(maxFds)}`);
  }
  // A socket that refuses fds never lets the kernel install one: it reads
  // with no room for them (older kernels, without SO_PASSRIGHTS, drop them
  // there and flag the message fdsTruncated).
  const maxFdsPerMessage = acceptFds ? maxFds : 0;
  const addressEncoding = options.addressEncoding ?? 'utf8';
  return { maxMessageSize, maxPendingFds, maxQueuedFds, maxFdsPerMessage, passCredentials, passPidfd, acceptFds, addressEncoding, framing, readSize };
}

/**
 * Sets the socket options the limits need, then opens a SocketHandle on fd,
 * which owns fd from then on. Options first: if one fails, the caller still
 * owns (and closes) the fd. A server sets both on its listening socket too,
 * which accepted connections inherit (UnixMessageServer.listen).
 */
export function openHandle(fd: number, type: SocketType, limits: SocketLimits): NativeSocketHandle {
  if (limits.passCredentials) {
    const s = native.setsockopt(fd, constants.SOL_SOCKET, constants.SO_PASSCRED, 1);
    if (s < 0) throw errnoError(s, 'setsockopt');
  }
  if (limits.passPidfd) {
    const s = native.setsockopt(fd, constants.SOL_SOCKET, constants.SO_PASSPIDFD, 1);
    if (s < 0) throw errnoError(s, 'setsockopt');
  }
  if (!limits.acceptFds) {
    const s = native.setsockopt(fd, constants.SOL_SOCKET, constants.SO_PASSRIGHTS, 0);
    if (s < 0 && s !== ENOPROTOOPT) throw errnoError(s, 'setsockopt');
  }
  const handle = new native.SocketHandle();
  handle.setMaxFds(limits.maxFdsPerMessage, limits.passCredentials, limits.passPidfd);
  const r = handle.open(fd, TYPE_NUMBERS[type], limits.readSize);
  if (r < 0) throw errnoError(r, 'uv_poll_init');
  return handle;
}

/** maxPendingFds / maxQueuedFds: a positive integer, or the default bound. */
function fdOption(value: unknown, name: string): number {
  if (value === undefined) return defaultFdBound();
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw outOfRange(`The "${name}" option must be a positive integer. Received ${describe(value)}`);
  }
  return value;
}

export function isInt32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff;
}
