// The outgoing side of a socket: the messages between write() and the
// kernel, the dups they hold, and the sends that move them, from write()
// itself (sendNow), in stream gathers (sendStream) or in sendmmsg batches
// (sendBatch), with what a refused send asks for: a writable wait (EAGAIN,
// ENOBUFS) or a timed retry (ETOOMANYREFS, an unconnected dgram's EAGAIN).
//
// It sends through a SendPort, never through the binding itself, so that
// partial writes, EAGAIN and ETOOMANYREFS can be tested without filling a
// kernel queue (test/send-queue.test.ts). The socket's Connection owns the
// poll and the timer; the queue asks for them through its SendLink.
//
// fd ownership: a QueuedMessage owns its dups (unless lent) from queue() to
// release(), which closes them exactly once: sent, failed, or the queue
// closed (close()).
import { debug } from '../debug';
import { native, type Errno, type FdList, type Gather } from '../native/binding';
import { errno, errnoError, streamDestroyed } from './errors';
import { dupFds } from './fds';
import { framedMessage, type Framing } from './frame-format';
import { appendParts, changedError, cutError, isDone, QueuedMessage } from './queued-message';
import type { SocketType } from './types';
import { normalizeMessage, type NormalizedMessage } from './validate';
import { byteLengthOf, isByteView } from './views';
import type { NativeAddress } from './address-codec';

const EACCES = errno('EACCES'),
  EAGAIN = errno('EAGAIN'),
  EBADF = errno('EBADF'),
  ECONNREFUSED = errno('ECONNREFUSED'),
  ECONNRESET = errno('ECONNRESET'),
  EINVAL = errno('EINVAL'),
  EISCONN = errno('EISCONN'),
  EMSGSIZE = errno('EMSGSIZE'),
  ENOBUFS = errno('ENOBUFS'),
  ENOENT = errno('ENOENT'),
  ENOMEM = errno('ENOMEM'),
  ENOTCONN = errno('ENOTCONN'),
  ENOTDIR = errno('ENOTDIR'),
  EPERM = errno('EPERM'),
  EPROTOTYPE = errno('EPROTOTYPE'),
  ETOOMANYREFS = errno('ETOOMANYREFS');

// Errors that fail one message and leave the socket usable. Everything else
// (EPIPE, ECONNRESET, ENOTCONN...) ends the connection.
const MESSAGE_ERRORS = new Set([EMSGSIZE, EINVAL, EPERM, EBADF, ENOMEM]);
const DESTINATION_ERRORS = new Set([ECONNREFUSED, ENOENT, EPROTOTYPE, EACCES, ENOTDIR, EISCONN, ECONNRESET, ENOTCONN]);
/** A sendmsg error that fails this message and leaves the socket usable. */
function failsOnlyTheMessage(r: number, address: NativeAddress | null): boolean {
  return MESSAGE_ERRORS.has(r) || (address !== null && DESTINATION_ERRORS.has(r));
}
/** Messages per sendmmsg; also the socket's default writableHighWaterMark. */
export const SEND_BATCH = 64;
// Messages per gathering stream sendmsg; their buffers stay under IOV_MAX.
const STREAM_GATHER = 64;

/**
 * Where the queue's sendmsg(2)/sendmmsg(2) calls go: the shape of the
 * binding's send and sendBatch with the fd bound (fdSendPort). A handle
 * with methods of these signatures is a SendPort as it is.
 */
export interface SendPort {
  /** The socket's fd, read only for debug traces. */
  readonly fd: number;
  /** Bytes sent, or -errno. */
  send(data: Gather, fds: FdList, address: NativeAddress | null, flags: number): Errno;
  /** Messages sent, or -errno. */
  sendBatch(
    datas: readonly Gather[],
    fds: readonly FdList[] | undefined,
    addresses: ReadonlyArray<NativeAddress | null> | undefined,
    start: number,
    end: number,
  ): Errno;
}

/**
 * The binding's free functions on one fd: the port every socket uses. The
 * handle's own send()/sendBatch() methods (SocketHandle) are a SendPort as
 * they are and share the native implementation, but a method call on the
 * handle measured slower than these with the fd bound, most on the 1-CPU
 * ping-pong (bench/run.js 'ping-*-1cpu', interleaved runs), so the hot path
 * keeps the free functions. The fd stays the handle's (closed only by
 * it); _destroy() drops this port (close()) in the same synchronous step
 * in which the handle closes the fd, so no send can reach a later file
 * that reuses the number.
 */
export function fdSendPort(fd: number): SendPort {
  return {
    fd,
    send: (data, fds, address, flags) => native.send(fd, data, fds, address, flags),
    sendBatch: (datas, fds, addresses, start, end) => native.sendBatch(fd, datas, fds, addresses, start, end),
  };
}

/** What the queue asks of the socket's connection (connection.ts). */
export interface SendLink {
  /** The connected peer's address, named in errors. */
  readonly remote: NativeAddress | undefined;
  /** Poll for writability and call flush() then (EAGAIN, ENOBUFS). */
  waitWritable(): void;
  /** The wait above is no longer needed: the write it was for is done. */
  stopWatchingWritable(): void;
  /** Call flush() again after a backoff: no poll event announces the room. */
  retryLater(): void;
  /** The kernel took something: the next retryLater() starts short again. */
  progressed(): void;
}

interface PendingWrite {
  messages: QueuedMessage[];
  index: number;
  callback: (error?: Error | null) => void;
}

export class SendQueue {
  readonly #type: SocketType;
  readonly #link: SendLink;
  readonly #fdRoomFreed: () => void;
  readonly #maxQueuedFds: number;
  // A framed stream socket's format (frame-format.ts), or null.
  readonly #framing: Framing | null;
  #port: SendPort | null;
  // The _write/_writev batch in progress (Writable hands us one at a time).
  #pending: PendingWrite | null = null;
  // Duplicated fds held by queued messages, counted from queue() to release().
  #queuedFds = 0;
  /** write() returned false because of the dups held: 'drain' is owed once they fall below. */
  needDrain = false;

  /**
   * fdRoomFreed(): the dups held fell below maxQueuedFds after write()
   * returned false for them ('drain' is owed).
   */
  constructor(type: SocketType, port: SendPort, link: SendLink, maxQueuedFds: number, fdRoomFreed: () => void, framing: Framing | null = null) {
    this.#type = type;
    this.#framing = framing;
    this.#port = port;
    this.#link = link;
    this.#maxQueuedFds = maxQueuedFds;
    this.#fdRoomFreed = fdRoomFreed;
  }

  get queuedFds(): number {
    return this.#queuedFds;
  }

  /** A _write/_writev batch is in progress. */
  get writing(): boolean {
    return this.#pending !== null;
  }

  /** No write in progress, and the queue open. */
  get idle(): boolean {
    return this.#port !== null && this.#pending === null;
  }

  /** The dups held reached maxQueuedFds: write() returns false, and 'drain' is owed. */
  overFdBound(): boolean {
    if (this.#queuedFds < this.#maxQueuedFds) return false;
    this.needDrain = true;
    return true;
  }

  /**
   * A chunk as a QueuedMessage, or the error that fails it at once (dup(2)
   * refused). `canSendNow()`: nothing is queued anywhere, so a message with
   * fds may go to the kernel from here (see sendNow). Throws for malformed input.
   */
  queue(chunk: unknown, canSendNow?: () => boolean): QueuedMessage | Error {
    // A bare Buffer, the common case, needs no normalizing.
    const framing = this.#framing;
    if (framing === null && isByteView(chunk)) return new QueuedMessage(chunk, byteLengthOf(chunk), null, null, false);
    const msg = framing === null ? normalizeMessage(chunk, this.#type) : framedMessage(chunk, framing);
    // A custom frameLength() ran the caller's code, which may have destroyed the socket.
    if (framing !== null && this.#port === null) throw streamDestroyed('write');
    if (msg.fds.length === 0) return new QueuedMessage(msg.data, msg.byteLength, msg.address, null, false);
    // normalizeMessage's copy: nobody else holds it.
    if (msg.lend) return new QueuedMessage(msg.data, msg.byteLength, msg.address, msg.fds as number[], true);
    if (canSendNow !== undefined && canSendNow()) {
      const now = this.#sendNow(msg);
      if (now !== null) return now;
    }
    const dups = dupFds(msg.fds);
    if (dups instanceof Error) return dups;
    this.#queuedFds += dups.length;
    if (debug.enabled) debug('fd %d: write queued; fds %j duplicated as %j (%d held)', this.#port?.fd, msg.fds, dups, this.#queuedFds);
    return new QueuedMessage(msg.data, msg.byteLength, msg.address, dups, false);
  }

  // An idle socket sends a message with fds from write() itself: the kernel
  // takes its own references, so the fds need no dup(2) and close(2) of ours
  // (0.5 us of the 1.5 us a message with one fd costs, bench/README.md).
  // Returns the message, done (sent, or failed with its own error or one
  // that ends the socket) or with the rest of a partial stream write, whose
  // fds went with the first byte; null when it has to wait (EAGAIN and the
  // like) and so needs its dups. A fatal error is kept, not retried: the
  // kernel reports a reset once (sk_err), and a retry would see EPIPE.
  #sendNow(msg: NormalizedMessage): QueuedMessage | null {
    const r = this.#port!.send(msg.data, msg.fds, msg.address, 0);
    const q = new QueuedMessage(msg.data, msg.byteLength, msg.address, null, false);
    if (r >= 0) {
      // The rest of a partial stream write goes without the fds, which went
      // with the first byte (unix_stream_sendmsg).
      if (this.#type !== 'stream' || r >= msg.byteLength) {
        q.sent = true;
      } else {
        if (debug.enabled) debug('fd %d: partial write of %d/%d bytes; fds %j went with the first byte', this.#port!.fd, r, msg.byteLength, msg.fds);
        q.advance(r);
      }
      return q;
    }
    if (r === EAGAIN || r === ENOBUFS || r === ETOOMANYREFS) return null;
    const own = failsOnlyTheMessage(r, msg.address);
    const remote = this.#link.remote;
    q.error = errnoError(r, 'sendmsg', own ? (msg.address ?? remote) : remote);
    q.fatal = !own;
    return q;
  }

  // Every dup the queue holds is counted from queue() to its release (sent,
  // failed, or the queue closed); releaseDups() closes them once.
  release(m: QueuedMessage): void {
    const n = m.releaseDups();
    if (n === 0) return;
    this.#queuedFds -= n;
    if (this.needDrain && this.#queuedFds < this.#maxQueuedFds) {
      this.needDrain = false;
      this.#fdRoomFreed();
    }
  }

  /**
   * Takes one _write/_writev batch; callback as Writable's. `connecting`:
   * hold it until flush() is called after connect().
   */
  start(chunks: unknown[], callback: (error?: Error | null) => void, connecting: boolean): void {
    const messages: QueuedMessage[] = [];
    for (const chunk of chunks) {
      // A chunk that reached _write without passing through write() (end() hands
      // its chunk to write(), so only a caller of Writable.prototype directly).
      let q: QueuedMessage | Error;
      try {
        q = chunk instanceof QueuedMessage ? chunk : this.queue(chunk);
      } catch (err) {
        q = err as Error;
      }
      if (q instanceof Error) {
        for (const m of messages) this.release(m);
        callback(q);
        return;
      }
      messages.push(q);
    }
    // Sent from write() already (sendNow): nothing for the kernel, or an
    // error that ends the socket, as it would from flush().
    const fatal = messages.find((m) => m.fatal);
    if (fatal !== undefined) {
      for (const m of messages) this.release(m);
      callback(fatal.error);
      return;
    }
    if (messages.every(isDone)) {
      callback(null);
      return;
    }
    this.#pending = { messages, index: 0, callback };
    if (!connecting) this.flush();
  }

  /** Sends what the kernel takes; on EAGAIN and the like, asks the owner to call again. */
  flush(): void {
    const p = this.#pending;
    const port = this.#port;
    if (p === null || port === null) return;
    while (p.index < p.messages.length) {
      const q = p.messages[p.index]!;
      if (isDone(q)) {
        p.index++;
        continue;
      }
      if (q.changed()) {
        // Begun: the peer waits for the rest (the body a framed header announced); so on a message error below.
        if (q.begun) return this.#finish(cutError());
        q.error = changedError();
        this.release(q);
        p.index++;
        continue;
      }
      let r: number;
      if (this.#type === 'stream') {
        r = this.#sendStream(port, p);
        if (r >= 0) {
          this.#link.progressed();
          continue;
        }
      } else {
        r = this.#sendBatch(port, p);
        if (r > 0) {
          for (let i = p.index; i < p.index + r; i++) {
            const m = p.messages[i]!;
            this.release(m);
            m.sent = true;
          }
          p.index += r;
          this.#link.progressed();
          continue;
        }
      }
      if (r === EAGAIN || r === ENOBUFS) {
        if (debug.enabled) debug('fd %d: sendmsg %s; %d messages wait', port.fd, r === EAGAIN ? 'EAGAIN' : 'ENOBUFS', p.messages.length - p.index);
        if (q.address !== null) {
          // poll(2) reports an unconnected datagram socket writable even when the
          // destination's queue is full (max_dgram_qlen), so back off on a timer.
          this.#link.retryLater();
        } else {
          this.#link.waitWritable();
        }
        return;
      }
      if (r === ETOOMANYREFS) {
        // The per-user in-flight fd limit (unix(7)); it clears as receivers
        // drain, which no poll event announces.
        if (debug.enabled) debug('fd %d: sendmsg ETOOMANYREFS; retrying on a timer', port.fd);
        this.#link.retryLater();
        return;
      }
      if (failsOnlyTheMessage(r, q.address) && !q.begun) {
        q.error = errnoError(r, 'sendmsg', q.address ?? this.#link.remote);
        this.release(q);
        p.index++;
        continue;
      }
      this.#finish(errnoError(r, 'sendmsg', this.#link.remote));
      return;
    }
    this.#finish(null);
  }

  // Stream: consecutive messages leave in one gathering sendmsg, as Node's
  // writev does. Only the first may carry fds: the kernel attaches them to
  // the sendmsg's first byte, which must be that message's first byte
  // (docs/kernel.md, "SOCK_STREAM"). Returns bytes sent or -errno, and moves
  // p.index past what the kernel took.
  #sendStream(port: SendPort, p: PendingWrite): number {
    const q = p.messages[p.index]!;
    if (q.byteLength === 0) {
      q.sent = true;
      p.index++;
      return 0;
    }
    let end = p.index + 1;
    let data: Gather = q.data;
    let bytes = q.byteLength;
    // Framed: the sendmsg with a message's fds holds no later header (README.md, "Framed stream sockets").
    if (end < p.messages.length && p.messages[end]!.dups === null && (q.dups === null || this.#framing === null)) {
      const parts: ArrayBufferView[] = [];
      let k = p.index;
      let n = 0;
      for (; k < p.messages.length && k - p.index < STREAM_GATHER; k++) {
        const m = p.messages[k]!;
        if (k > p.index && (m.dups !== null || isDone(m))) break;
        // A buffer the caller detached or emptied after write() would shift
        // the byte count onto the next message: such a one goes alone.
        if (!appendParts(parts, m)) break;
        n += m.byteLength;
      }
      if (k > p.index + 1) {
        data = parts;
        end = k;
        bytes = n;
      }
    }
    const r = port.send(data, q.dups, null, 0);
    if (r < 0) return r;
    if (r < bytes && debug.enabled) debug('fd %d: partial write of %d/%d bytes; fds %j went with the first byte', port.fd, r, bytes, q.dups ?? []);
    // The fds went with the first byte; a retry of the rest must not carry
    // them again (libuv c560cf931; docs/kernel.md, "Partial writes").
    this.release(q);
    let left = r;
    while (left > 0 && p.index < end) {
      const m = p.messages[p.index]!;
      if (left >= m.byteLength) {
        left -= m.byteLength;
        m.sent = true;
        p.index++;
      } else {
        m.advance(left);
        left = 0;
      }
    }
    return r;
  }

  // seqpacket/dgram: up to SEND_BATCH messages in one sendmmsg. The batch
  // stops before a message whose buffers changed since write() (the caller
  // checks p.messages[p.index] itself), so that one fails on its own.
  #sendBatch(port: SendPort, p: PendingWrite): number {
    let end = Math.min(p.messages.length, p.index + SEND_BATCH);
    const q = p.messages[p.index]!;
    if (end - p.index === 1) {
      // One message: plain sendmsg, which returns bytes, not a count.
      const r = port.send(q.data, q.dups, q.address, 0);
      return r >= 0 ? 1 : r;
    }
    const datas: Gather[] = [];
    let fds: Array<number[] | null> | undefined;
    let addresses: Array<NativeAddress | null> | undefined;
    for (let i = p.index; i < end; i++) {
      const m = p.messages[i]!;
      if (i > p.index && (isDone(m) || m.changed())) {
        end = i;
        break;
      }
      datas.push(m.data);
      if (m.dups !== null) fds ??= [];
      if (m.address !== null) addresses ??= [];
    }
    // Lists only when some message has fds or an address: the native side
    // reads each element with an N-API call.
    if (fds !== undefined) for (let i = p.index; i < end; i++) fds.push(p.messages[i]!.dups);
    if (addresses !== undefined) for (let i = p.index; i < end; i++) addresses.push(p.messages[i]!.address);
    return port.sendBatch(datas, fds, addresses, 0, datas.length);
  }

  #finish(err: Error | null): void {
    const p = this.#pending;
    this.#pending = null;
    this.#link.stopWatchingWritable();
    if (p === null) return;
    if (err !== null) for (let i = p.index; i < p.messages.length; i++) this.release(p.messages[i]!);
    p.callback(err);
  }

  /** The socket is destroyed: no more sends; the write in progress fails with err. */
  close(err: Error | null): void {
    this.#port = null;
    const p = this.#pending;
    this.#pending = null;
    if (p !== null) {
      for (const m of p.messages) this.release(m);
      p.callback(err ?? streamDestroyed('write'));
    }
  }
}
