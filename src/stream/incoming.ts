// The incoming side of a socket: decoding a received batch from the arrays
// the addon shares (decodeBatch), and the ledger of received messages pushed
// into the readable buffer and not yet delivered (UnreadLedger).
//
// fd ownership: a received fd is the library's from recvmsg(2) until its
// message is delivered (emit('data'), where disowned() records the handover)
// or closed undelivered: by decodeBatch when a 'data' listener throws before
// the rest of the batch was delivered, and by UnreadLedger.closeAll() when
// the socket is destroyed with messages still buffered. README.md, "Who owns
// which fd". A message's pidfd (passPidfd) is held like one more fd: it
// arrives as the last fd of the message in recvFds (FLAG_PIDFD), and
// heldFds() lists it with the others wherever fds are counted, closed or
// handed over.
import { debug } from '../debug';
import { constants, native, recvFds, recvMeta } from '../native/binding';
import { closeFds } from './fds';
import type { UnixMessage } from './types';
import { presentAddress, type AddressEncoding, type NativeAddress } from './address-codec';

const { META_STRIDE, META_LENGTH, META_FLAGS, META_FD_COUNT, META_PID, META_UID, META_GID } = constants;
const { FLAG_TRUNCATED, FLAG_FDS_TRUNCATED, FLAG_CREDENTIALS, FLAG_PIDFD } = constants;

/** The fds a received message holds: its `fds`, then its `pidfd` if it has one. */
export function heldFds(message: UnixMessage): number[] {
  return message.pidfd === undefined ? message.fds : [...message.fds, message.pidfd];
}

/** How many fds a received message holds (heldFds().length). */
export function heldCount(message: UnixMessage): number {
  return message.fds.length + (message.pidfd === undefined ? 0 : 1);
}

/**
 * Builds the batch's `count` messages from recvMeta/recvFds and hands each
 * to deliver(), in order. data: the batch's bytes in one Buffer (from `base`
 * in the shared slab), or one Buffer per message for a large batch
 * (SocketHandle::MessageBytes, socket_read.cc). If deliver() throws (a 'data' listener
 * threw), the fds of the messages after it are closed, as nobody got them.
 */
export function decodeBatch(
  fd: number,
  count: number,
  data: Buffer | Buffer[],
  addresses: Array<NativeAddress | undefined> | undefined,
  base: number | undefined,
  deliver: (message: UnixMessage) => void,
  addressEncoding: AddressEncoding = 'utf8',
): void {
  const perMessage = Array.isArray(data);
  let offset = base ?? 0;
  let fdOffset = 0;
  let i = 0;
  try {
    for (; i < count; i++) {
      const m = i * META_STRIDE;
      const length = recvMeta[m + META_LENGTH]!;
      const flags = recvMeta[m + META_FLAGS]!;
      const nfds = recvMeta[m + META_FD_COUNT]!;
      const withPidfd = (flags & FLAG_PIDFD) !== 0;
      const fds: number[] = [];
      for (let k = 0; k < nfds - (withPidfd ? 1 : 0); k++) fds.push(recvFds[fdOffset + k]!);
      const message: UnixMessage = {
        data: perMessage ? trimmed(data[i]!, length) : data.subarray(offset, offset + length),
        fds,
        truncated: (flags & FLAG_TRUNCATED) !== 0,
        fdsTruncated: (flags & FLAG_FDS_TRUNCATED) !== 0,
      };
      const address = addresses?.[i];
      // The common case, an ASCII name read as a string, is handed on as it is.
      if (address !== undefined) message.address = presentAddress(address, addressEncoding);
      if ((flags & FLAG_CREDENTIALS) !== 0) {
        message.credentials = { pid: recvMeta[m + META_PID]!, uid: recvMeta[m + META_UID]!, gid: recvMeta[m + META_GID]! };
      }
      if (withPidfd) message.pidfd = recvFds[fdOffset + nfds - 1]!;
      if (nfds > 0 && debug.enabled) debug('fd %d: received fds %j (message %d of %d, %d bytes)', fd, heldFds(message), i + 1, count, length);
      offset += length;
      fdOffset += nfds;
      deliver(message);
    }
  } finally {
    // A 'data' listener threw: the messages after it were never delivered.
    for (let j = i + 1; j < count; j++) {
      const nfds = recvMeta[j * META_STRIDE + META_FD_COUNT]!;
      if (nfds > 0 && debug.enabled) debug('fd %d: closing undelivered fds %j (a listener threw)', fd, Array.from(recvFds.subarray(fdOffset, fdOffset + nfds)));
      for (let k = 0; k < nfds; k++) native.close(recvFds[fdOffset + k]!);
      fdOffset += nfds;
    }
  }
}

// A stream read that went straight into a Buffer of its own (maxMessageSize
// bytes, SocketHandle::ReadStream) may hold fewer bytes than it has room for.
function trimmed(buf: Buffer, length: number): Buffer {
  return buf.length === length ? buf : buf.subarray(0, length);
}

/**
 * Messages pushed into the readable buffer and not yet read out of it, in
 * order, with their fd total (the socket's pendingFds). Their fds are still
 * the library's until delivered.
 */
export class UnreadLedger {
  #unread: Array<UnixMessage | undefined> = [];
  #head = 0;
  #fds = 0;

  /** Received fds in the readable buffer, not yet delivered. */
  get fds(): number {
    return this.#fds;
  }

  /** message went into the readable buffer. */
  push(message: UnixMessage): void {
    this.#unread.push(message);
    this.#fds += heldCount(message);
  }

  /**
   * message is being delivered (emit('data')): true if it was the oldest
   * buffered one, now out of the ledger. Readable delivers in order, so any
   * other message is one pushed straight to a listener, never buffered.
   */
  take(message: UnixMessage): boolean {
    if (this.#unread[this.#head] !== message) return false;
    this.#unread[this.#head++] = undefined;
    this.#fds -= heldCount(message);
    if (this.#head === this.#unread.length) {
      this.#unread = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#unread.length) {
      this.#unread = this.#unread.slice(this.#head);
      this.#head = 0;
    }
    return true;
  }

  /** The socket is destroyed: closes the fds of every message never delivered. */
  closeAll(fd: number): void {
    for (let i = this.#head; i < this.#unread.length; i++) {
      const fds = heldFds(this.#unread[i]!);
      if (fds.length > 0 && debug.enabled) debug('fd %d: destroyed; closing undelivered fds %j', fd, fds);
      closeFds(fds);
    }
    this.#unread = [];
    this.#head = 0;
    this.#fds = 0;
  }
}
