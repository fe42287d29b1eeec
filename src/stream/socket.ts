// UnixMessageSocket: an object-mode Duplex over one SocketHandle.
//
// The handle polls and reads batches; everything else is decided here:
// backpressure in both directions, fd ownership, retries, and errors.
import { Duplex } from 'node:stream';
import { constants, disowned, native, recvFds, recvMeta, type NativeSocketHandle, type Gather } from '../native/binding';
import { describe, errno, errnoError, invalidArgType, invalidFdType, invalidState, streamDestroyed } from './errors';
import { FdRoomWait } from './fd-room-wait';
import { closeFds, dupFds } from './fds';
import { isInt32, limitsOf, type InternalOptions, type SocketOptions } from './socket-options';
import { dataLength, normalizeMessage, socketOptionsOf, validateAddress, validateFd, writeCallback, type NormalizedMessage } from './validate';
import { inspectFd, refusePolled, TYPE_NUMBERS } from './socket-type';
import { byteLengthOf, bytesAfter, isByteView } from './views';
import type { Credentials, SocketType, UnixMessage, WriteCallback } from './types';

const UV_EOF = -4095;
const EACCES = errno('EACCES'), EAGAIN = errno('EAGAIN'), EBADF = errno('EBADF'), ECONNREFUSED = errno('ECONNREFUSED'), ECONNRESET = errno('ECONNRESET'), EINPROGRESS = errno('EINPROGRESS'), EINTR = errno('EINTR'), EINVAL = errno('EINVAL'), EISCONN = errno('EISCONN'), EMSGSIZE = errno('EMSGSIZE'), ENOBUFS = errno('ENOBUFS'), ENOENT = errno('ENOENT'), ENOMEM = errno('ENOMEM'), ENOPROTOOPT = errno('ENOPROTOOPT'), ENOTCONN = errno('ENOTCONN'), ENOTDIR = errno('ENOTDIR'), EPERM = errno('EPERM'), EPROTOTYPE = errno('EPROTOTYPE'), ETOOMANYREFS = errno('ETOOMANYREFS');
const META = constants.META_STRIDE;
const { META_LENGTH, META_FLAGS, META_FD_COUNT, META_PID, META_UID, META_GID } = constants;
const { FLAG_TRUNCATED, FLAG_FDS_TRUNCATED, FLAG_CREDENTIALS } = constants;

/**
 * A message between write() and the kernel. It owns `dups` until they are
 * sent, unless they are `lent` (OutgoingMessage.lend): then their owner
 * keeps them open until the write callback and closes them itself.
 */
class QueuedMessage {
  dups: number[] | null;
  error: Error | null = null;
  data: Gather;
  byteLength: number;
  readonly address: string | null;
  readonly lent: boolean;
  /** Wholly in the kernel. A later error of the same flush is not this message's. */
  sent = false;
  /** `error` ends the socket, not only this message (#sendNow). */
  fatal = false;

  constructor(data: Gather, byteLength: number, address: string | null, dups: number[] | null, lent: boolean) {
    this.data = data;
    this.byteLength = byteLength;
    this.address = address;
    this.dups = dups !== null && dups.length > 0 ? dups : null;
    this.lent = lent;
  }

  /** Closes the dups (unless lent); returns how many of ours were closed. */
  releaseDups(): number {
    const dups = this.dups;
    if (dups === null) return 0;
    this.dups = null;
    if (this.lent) return 0;
    closeFds(dups);
    return dups.length;
  }

  /**
   * The views no longer hold what they held when write() returned: a buffer
   * was detached or resized meanwhile. Such a message fails with its own
   * error; it is never sent short or empty.
   */
  changed(): boolean {
    return dataLength(this.data) !== this.byteLength;
  }

  /** Drops the first n bytes after a partial stream write. */
  advance(n: number): void {
    const parts: readonly ArrayBufferView[] = Array.isArray(this.data) ? this.data : [this.data as ArrayBufferView];
    const rest: ArrayBufferView[] = [];
    let skip = n;
    for (const part of parts) {
      const length = byteLengthOf(part);
      if (skip >= length) {
        skip -= length;
      } else {
        rest.push(skip > 0 ? bytesAfter(part, skip) : part);
        skip = 0;
      }
    }
    this.data = rest;
    this.byteLength -= n;
  }
}

const changedError = (): Error => invalidState('the data of a write was detached or resized after write() returned; nothing of it was sent');

/** Sent, or failed with its own error, before it reached a flush. */
function isDone(q: QueuedMessage): boolean {
  return q.sent || q.error !== null;
}

interface PendingWrite {
  messages: QueuedMessage[];
  index: number;
  callback: (error?: Error | null) => void;
}

// Errors that fail one message and leave the socket usable. Everything else
// (EPIPE, ECONNRESET, ENOTCONN...) ends the connection.
const MESSAGE_ERRORS = new Set([EMSGSIZE, EINVAL, EPERM, EBADF, ENOMEM]);
const DESTINATION_ERRORS = new Set([
  ECONNREFUSED, ENOENT, EPROTOTYPE, EACCES, ENOTDIR, EISCONN, ECONNRESET, ENOTCONN,
]);
/** A sendmsg error that fails this message and leaves the socket usable. */
function failsOnlyTheMessage(r: number, address: string | null): boolean {
  return MESSAGE_ERRORS.has(r) || (address !== null && DESTINATION_ERRORS.has(r));
}
const MAX_RETRY_MS = 64;
const SEND_BATCH = 64;
// Messages per gathering stream sendmsg; their buffers stay under IOV_MAX.
const STREAM_GATHER = 64;

/** Appends m's buffers to parts; false if they no longer hold m.byteLength bytes. */
function appendParts(parts: ArrayBufferView[], m: QueuedMessage): boolean {
  const from = parts.length;
  let n = 0;
  if (Array.isArray(m.data)) {
    for (const part of m.data as readonly ArrayBufferView[]) {
      parts.push(part);
      n += byteLengthOf(part);
    }
  } else {
    parts.push(m.data as ArrayBufferView);
    n = byteLengthOf(m.data as ArrayBufferView);
  }
  if (n === m.byteLength && parts.length <= constants.IOV_MAX) return true;
  parts.length = from;
  return false;
}

const scratch = new Int32Array(3);

export class UnixMessageSocket extends Duplex {
  /** 'stream', 'seqpacket' or 'dgram'. */
  readonly type: SocketType;
  #handle: NativeSocketHandle | null = null;
  // The handle's fd, read once: the getter is an N-API call, and #flush runs
  // per batch. Valid while #handle is not null.
  #fd = -1;
  #connectTo: string | undefined;
  #connecting = false;
  #remote: string | undefined;
  #refed = true;
  #eof = false;
  // Read side.
  #wantRead = false;
  // The fd budget the handle reads with (readStart), or -1 while it does not read.
  #pollBudget = -1;
  #fdPaused = false;
  // Reading waits for the process to have fds free (the addon reported
  // STATUS_NO_FD_ROOM).
  readonly #room = new FdRoomWait();
  #deferredError: Error | null = null;
  #maxPendingFds: number;
  #maxFdsPerMessage: number;
  #passCredentials: boolean;
  #acceptFds: boolean;
  // Messages pushed into the readable buffer and not yet read out of it, in
  // order, with their fd total. Their fds are still ours (README ownership).
  #unread: Array<UnixMessage | undefined> = [];
  #unreadHead = 0;
  #unreadFds = 0;
  // Write side.
  #maxQueuedFds: number;
  // Duplicated fds held by queued messages, and whether write() returned
  // false because of them ('drain' is then owed once they fall below).
  #queuedFds = 0;
  #fdNeedDrain = false;
  // write() returned false for a message that failed at once (#failedNow);
  // the 'drain' owed for it is scheduled.
  #failDrainOwed = false;
  #pending: PendingWrite | null = null;
  #watchingWritable = false;
  #retryTimer: NodeJS.Timeout | null = null;
  #retryDelay = 1;
  // cork()ed by write() until the end of the tick (#uncorkTick).
  #tickCorked = false;
  #finalCallback: ((error?: Error | null) => void) | null = null;

  /**
   * Adopts `options.fd`, which the socket then owns and closes on destroy.
   * Prefer socketPair(), connect(), createSocket() or UnixMessageSocket.fromFd().
   */
  constructor(options: InternalOptions) {
    const type = options.type;
    super({
      objectMode: true,
      allowHalfOpen: options.allowHalfOpen ?? false,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark ?? SEND_BATCH,
      decodeStrings: false,
    });
    this.type = type;
    const limits = limitsOf(options);
    this.#acceptFds = limits.acceptFds;
    this.#passCredentials = limits.passCredentials;
    const maxMessageSize = limits.maxMessageSize;
    this.#maxPendingFds = limits.maxPendingFds;
    this.#maxQueuedFds = limits.maxQueuedFds;
    this.#maxFdsPerMessage = limits.maxFdsPerMessage;
    // Options first: if one fails, the caller still owns (and closes) the fd.
    // A server sets both on its listening socket too, which accepted
    // connections inherit (UnixMessageServer.listen).
    if (this.#passCredentials) {
      const s = native.setsockopt(options.fd, constants.SOL_SOCKET, constants.SO_PASSCRED, 1);
      if (s < 0) throw errnoError(s, 'setsockopt');
    }
    if (!this.#acceptFds) {
      const s = native.setsockopt(options.fd, constants.SOL_SOCKET, constants.SO_PASSRIGHTS, 0);
      if (s < 0 && s !== ENOPROTOOPT) throw errnoError(s, 'setsockopt');
    }
    const handle = new native.SocketHandle();
    handle.setMaxFds(this.#maxFdsPerMessage, this.#passCredentials);
    const r = handle.open(options.fd, TYPE_NUMBERS[type], maxMessageSize);
    if (r < 0) throw errnoError(r, 'uv_poll_init');
    handle.owner = {
      onRead: (count, data, status, addresses, base) => this.#onRead(count, data, status, addresses, base),
      onWritable: () => this.#onWritable(),
      onConnection: () => undefined,
    };
    this.#handle = handle;
    this.#fd = options.fd;
    if (options.connectTo !== undefined) {
      this.#connectTo = options.connectTo;
      this.#connecting = true;
      process.nextTick(() => this.#connect());
    } else {
      this.#startReading();
    }
  }

  // Like net.Socket: a socket reads from the start (into its bounded buffer),
  // so a connection keeps the process alive until it ends or is unref()ed.
  // An unnamed, unconnected dgram socket can receive nothing and does not,
  // like an unbound dgram.Socket. (A socketpair end has no name either, but
  // is connected: getpeername succeeds, with an unnamed peer.)
  #startReading(): void {
    const fd = this.#handle?.fd ?? -1;
    if (this.type === 'dgram' && typeof native.getsockname(fd) !== 'string' && typeof native.getpeername(fd) === 'number') {
      return;
    }
    this.read(0);
  }

  /**
   * Adopts an existing AF_UNIX socket fd; the socket takes ownership of it.
   * The type is read from SO_TYPE. The socket works on a duplicate of its
   * own and closes `fd` at once: libuv aborts the process if a polled fd is
   * closed before the loop registers it, so nothing else may be able to
   * close the fd we poll (a former owner's stray close(fd) now fails with
   * EBADF instead). On an error `fd` is left open, still the caller's. Note
   * that polling sets O_NONBLOCK on the open file description, which other
   * processes sharing it also see.
   */
  static fromFd(fd: number, options: SocketOptions = {}): UnixMessageSocket {
    validateFd(fd, 'fd');
    const opts = socketOptionsOf(options);
    const type = inspectFd(fd);
    refusePolled(fd);
    if (native.getsockopt(fd, constants.SOL_SOCKET, constants.SO_ACCEPTCONN, scratch) === 0 && scratch[0] === 1) {
      throw invalidFdType(`fd ${fd} is a listening socket; adopt it with createServer().listen({ fd })`);
    }
    const own = native.dup(fd);
    if (own < 0) throw errnoError(own, 'dup');
    let socket: UnixMessageSocket;
    try {
      socket = new UnixMessageSocket({ ...opts, fd: own, type });
    } catch (err) {
      native.close(own);
      throw err;
    }
    native.close(fd);
    return socket;
  }

  /** The socket's fd, or -1 once destroyed. Owned by the socket: do not close it. */
  get fd(): number {
    return this.#handle?.fd ?? -1;
  }

  /** True until a connect() started by connect() has completed. */
  get connecting(): boolean {
    return this.#connecting;
  }

  /** The peer's address (getpeername), if it has one. */
  get remoteAddress(): string | undefined {
    if (this.#remote !== undefined) return this.#remote;
    const h = this.#handle;
    if (h === null) return undefined;
    const r = native.getpeername(h.fd);
    return typeof r === 'string' ? r : undefined;
  }

  /** This socket's own address (getsockname): a path, '\0name', or '' when unnamed. */
  address(): string {
    const r = native.getsockname(this.#liveFd('address'));
    if (typeof r === 'number') throw errnoError(r, 'getsockname');
    return r ?? '';
  }

  /** dgram: binds to a path or '\0abstract' name; with no argument, autobinds. */
  bind(address?: string): this {
    const name = address === undefined ? null : validateAddress(address);
    const r = native.bind(this.#liveFd('bind'), name);
    if (r < 0) throw errnoError(r, 'bind', name ?? undefined);
    this.#startReading();
    return this;
  }

  /** SO_PEERCRED: the peer's credentials at connect()/socketpair() time. */
  peerCredentials(): Credentials {
    const out = new Int32Array(3);
    const r = native.peercred(this.#liveFd('peerCredentials'), out);
    if (r < 0) throw errnoError(r, 'getsockopt');
    return { pid: out[0]!, uid: out[1]!, gid: out[2]! };
  }

  /** setsockopt(2) for integer options. */
  setOption(level: number, name: number, value: number): this {
    for (const [k, v] of [['level', level], ['name', name], ['value', value]] as const) {
      if (!isInt32(v)) throw invalidArgType(`The "${k}" argument must be a 32-bit integer. Received ${describe(v)}`);
    }
    const r = native.setsockopt(this.#liveFd('setOption'), level, name, value);
    if (r < 0) throw errnoError(r, 'setsockopt');
    if (level === constants.SOL_SOCKET && name === constants.SO_PASSCRED) {
      // Credentials come before the fds in the receive buffer (setMaxFds).
      this.#passCredentials = value !== 0;
      this.#handle?.setMaxFds(this.#maxFdsPerMessage, this.#passCredentials);
    }
    return this;
  }

  /** getsockopt(2) for integer options. */
  getOption(level: number, name: number): number {
    if (!isInt32(level) || !isInt32(name)) {
      throw invalidArgType('The "level" and "name" arguments must be 32-bit integers');
    }
    const r = native.getsockopt(this.#liveFd('getOption'), level, name, scratch);
    if (r < 0) throw errnoError(r, 'getsockopt');
    return scratch[0]!;
  }

  ref(): this {
    this.#refed = true;
    this.#handle?.ref();
    this.#retryTimer?.ref();
    this.#room.ref();
    return this;
  }

  unref(): this {
    this.#refed = false;
    this.#handle?.unref();
    this.#retryTimer?.unref();
    this.#room.unref();
    return this;
  }

  /** Received fds in the readable buffer, not yet delivered (they count against maxPendingFds). */
  get pendingFds(): number {
    return this.#unreadFds;
  }

  /** Duplicated fds held for queued messages (they count against maxQueuedFds). */
  get queuedFds(): number {
    return this.#queuedFds;
  }

  /**
   * True while reading waits because the process has too few free fds for
   * another message (RLIMIT_NOFILE): it retries on a timer, and resumes as
   * fds are freed.
   */
  get waitingForFdRoom(): boolean {
    return this.#room.waiting;
  }

  /**
   * Takes an OutgoingMessage, a Buffer or a string. Throws TypeError or
   * RangeError (ERR_*) for malformed input; nothing is queued then. The
   * caller may close its own copies of the fds as soon as write() returns
   * (unless the message says `lend: true`): they are sent now, or
   * duplicated if the message has to wait.
   */
  override write(chunk: unknown, callback?: WriteCallback): boolean;
  override write(chunk: unknown, encoding: BufferEncoding | undefined, callback?: WriteCallback): boolean;
  override write(chunk: unknown, encoding?: BufferEncoding | WriteCallback, callback?: WriteCallback): boolean {
    const cb = writeCallback(encoding, callback);
    if (this.destroyed || this.writableEnded) {
      // Checked all the same, as Writable checks a chunk first; then
      // Writable reports ERR_STREAM_DESTROYED / ERR_STREAM_WRITE_AFTER_END.
      if (!isByteView(chunk)) normalizeMessage(chunk, this.type);
      return super.write(chunk, cb ?? noop);
    }
    const queued = this.#queue(chunk, true);
    if (queued instanceof Error) {
      process.nextTick(() => this.#reportMessageError(queued, cb));
      return this.#failedNow(cb);
    }
    if (queued.sent) {
      // Sent from write() itself (#sendNow), with nothing queued before it:
      // Writable has nothing to order, buffer or count, and its per-write
      // callback and nextTick were most of the JS a message with fds costs
      // (bench/README.md). The callback still comes asynchronously, after
      // those of earlier writes (both are nextTicks).
      if (cb !== undefined) process.nextTick(cb, null);
      return true;
    }
    if (!this.#tickCorked && this.writableCorked === 0) {
      // The writes of this tick go to the kernel together at its end
      // (_writev: one sendmmsg), not the first one alone and the rest after it.
      this.#tickCorked = true;
      super.cork();
      process.nextTick(this.#uncorkTick);
    }
    const room = super.write(queued, (err?: Error | null) => this.#afterWrite(queued, err, cb));
    if (queued.error !== null) return this.#failedNow(cb);
    if (this.#queuedFds >= this.#maxQueuedFds) {
      this.#fdNeedDrain = true;
      return false;
    }
    return room;
  }

  // A write whose message failed before it could be queued or sent (dup(2)
  // or sendmsg(2) refused it: EMFILE, EBADF...) returns false, as Writable's
  // write() does for a write that fails at once: a writer that writes while
  // write() returns true (the usual backpressure loop) would otherwise never
  // yield, and its error, reported on the next tick, would never come (at
  // EMFILE, a million failed writes a second until the heap ran out). With
  // a callback the socket goes on: the 'drain' owed follows once the event
  // loop has turned (setImmediate, not a tick: I/O and timers run first).
  // Without one the error destroys the socket, and 'close' follows instead.
  #failedNow(cb: WriteCallback | undefined): false {
    if (cb !== undefined && !this.#failDrainOwed) {
      this.#failDrainOwed = true;
      setImmediate(this.#emitFailDrain);
    }
    return false;
  }

  readonly #emitFailDrain = (): void => {
    this.#failDrainOwed = false;
    // Otherwise Writable, or #release, emits it once the buffer drains.
    if (!this.destroyed && !this.writableNeedDrain) this.emit('drain');
  };

  // Every dup the socket holds for a queued message is counted from #queue
  // to its release (sent, failed, or destroyed).
  #release(m: QueuedMessage): void {
    const n = m.releaseDups();
    if (n === 0) return;
    this.#queuedFds -= n;
    if (this.#fdNeedDrain && this.#queuedFds < this.#maxQueuedFds) {
      this.#fdNeedDrain = false;
      // Writable emits 'drain' itself once its own buffer empties, if it
      // told the writer to wait too; otherwise this is the 'drain' owed.
      // After the current flush, as Writable's own 'drain' comes.
      if (!this.#writableBufferFull()) process.nextTick(this.#emitDrain);
    }
  }

  readonly #emitDrain = (): void => {
    if (!this.destroyed && !this.#fdNeedDrain && !this.#writableBufferFull()) this.emit('drain');
  };

  // Writable's own writableNeedDrain (the message count), without ours.
  #writableBufferFull(): boolean {
    return Reflect.get(Duplex.prototype, 'writableNeedDrain', this) as boolean;
  }

  readonly #uncorkTick = (): void => this.#releaseTickCork();

  // A caller's stray uncork() may have taken our cork already; Writable's
  // uncork() does nothing at zero.
  #releaseTickCork(): void {
    if (this.#tickCorked) {
      this.#tickCorked = false;
      super.uncork();
    }
  }

  /**
   * As Writable's cork(). The writes made before it in this tick go to the
   * kernel now: a cork holds back only the writes that follow it.
   */
  override cork(): void {
    this.#releaseTickCork();
    super.cork();
  }

  // writableCorked counts the caller's cork() calls, as on any Writable; the
  // end-of-tick cork of write() is the library's own. writableNeedDrain is
  // also true while write() returned false for the fds held (maxQueuedFds).
  static {
    Object.defineProperty(UnixMessageSocket.prototype, 'writableCorked', {
      configurable: true,
      get(this: UnixMessageSocket): number {
        const all = Reflect.get(Duplex.prototype, 'writableCorked', this) as number;
        return this.#tickCorked ? Math.max(0, all - 1) : all;
      },
    });
    Object.defineProperty(UnixMessageSocket.prototype, 'writableNeedDrain', {
      configurable: true,
      get(this: UnixMessageSocket): boolean {
        return this.#fdNeedDrain || (Reflect.get(Duplex.prototype, 'writableNeedDrain', this) as boolean);
      },
    });
  }

  /**
   * As Writable's end(), and a final chunk takes the same path as write():
   * its fds are sent or duplicated before end() returns, so the caller may
   * close its copies at once even while earlier writes are still queued.
   */
  override end(callback?: () => void): this;
  override end(chunk: unknown, callback?: () => void): this;
  override end(chunk: unknown, encoding: BufferEncoding | undefined, callback?: () => void): this;
  override end(chunk?: unknown, encoding?: BufferEncoding | (() => void), callback?: () => void): this {
    if (typeof chunk === 'function') return super.end(chunk as () => void);
    const cb = writeCallback(encoding, callback);
    if (chunk !== undefined && chunk !== null) {
      if (!this.destroyed && !this.writableEnded) {
        this.write(chunk);
        return super.end(cb);
      }
      // Checked as write() checks it; Writable then reports the state.
      if (!isByteView(chunk)) normalizeMessage(chunk, this.type);
    }
    return super.end(chunk, cb);
  }

  #queue(chunk: unknown, fromWrite = false): QueuedMessage | Error {
    // A bare Buffer, the common case, needs no normalizing.
    if (isByteView(chunk)) return new QueuedMessage(chunk, byteLengthOf(chunk), null, null, false);
    const msg = normalizeMessage(chunk, this.type);
    if (msg.fds.length === 0) return new QueuedMessage(msg.data, msg.byteLength, msg.address, null, false);
    // normalizeMessage's copy: nobody else holds it.
    if (msg.lend) return new QueuedMessage(msg.data, msg.byteLength, msg.address, msg.fds as number[], true);
    if (fromWrite && this.#idle()) {
      const now = this.#sendNow(msg);
      if (now !== null) return now;
    }
    const dups = dupFds(msg.fds);
    if (dups instanceof Error) return dups;
    this.#queuedFds += dups.length;
    return new QueuedMessage(msg.data, msg.byteLength, msg.address, dups, false);
  }

  // Nothing queued anywhere and the socket ready: a message sent now cannot
  // overtake another.
  #idle(): boolean {
    return this.#handle !== null && this.#pending === null && !this.#connecting &&
      this.writableLength === 0 && this.writableCorked === 0 && !this.#tickCorked;
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
    const r = native.send(this.#fd, msg.data, msg.fds, msg.address, 0);
    const q = new QueuedMessage(msg.data, msg.byteLength, msg.address, null, false);
    if (r >= 0) {
      // The rest of a partial stream write goes without the fds, which went
      // with the first byte (unix_stream_sendmsg).
      if (this.type !== 'stream' || r >= msg.byteLength) q.sent = true;
      else q.advance(r);
      return q;
    }
    if (r === EAGAIN || r === ENOBUFS || r === ETOOMANYREFS) return null;
    const own = failsOnlyTheMessage(r, msg.address);
    q.error = errnoError(r, 'sendmsg', own ? msg.address ?? this.#remote : this.#remote);
    q.fatal = !own;
    return q;
  }

  #afterWrite(queued: QueuedMessage, err: Error | null | undefined, cb: WriteCallback | undefined): void {
    this.#release(queued);
    // Writable gives one error to every message of a _writev batch, but the
    // ones the kernel already took were sent: their callbacks say so, so a
    // caller that re-sends failed messages never sends one twice.
    if (queued.sent) err = null;
    if (!err && queued.error !== null) {
      this.#reportMessageError(queued.error, cb);
    } else if (cb) {
      cb(err ?? null);
    }
  }

  // A failure of one message (a bad fd, EMSGSIZE, an unreachable dgram
  // destination) goes to that write's callback and the socket stays usable.
  // Without a callback nobody would see it, so, like Node's dgram send(),
  // it becomes an 'error' on the socket instead.
  #reportMessageError(err: Error, cb: WriteCallback | undefined): void {
    if (cb) {
      cb(err);
    } else {
      this.destroy(err);
    }
  }

  // write() corks the socket until the end of the tick (#uncorkTick), so the
  // writes made in one tick reach _writev as one batch: one sendmmsg(2), not a
  // sendmsg(2) each, and not the first alone and the rest after it
  // (bench/README.md, profile). A lone request/reply waits one nextTick,
  // which the ping-pong bench shows costs nothing measurable.
  override _write(chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#startWrite([chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: unknown }>, callback: (error?: Error | null) => void): void {
    this.#startWrite(chunks.map((c) => c.chunk), callback);
  }

  #startWrite(chunks: unknown[], callback: (error?: Error | null) => void): void {
    const messages: QueuedMessage[] = [];
    for (const chunk of chunks) {
      // A chunk that reached _write without passing through write() (end() hands
      // its chunk to write(), so only a caller of Writable.prototype directly).
      let q: QueuedMessage | Error;
      try {
        q = chunk instanceof QueuedMessage ? chunk : this.#queue(chunk);
      } catch (err) {
        q = err as Error;
      }
      if (q instanceof Error) {
        for (const m of messages) this.#release(m);
        callback(q);
        return;
      }
      messages.push(q);
    }
    // Sent from write() already (#sendNow): nothing for the kernel, or an
    // error that ends the socket, as it would from #flush.
    const fatal = messages.find((m) => m.fatal);
    if (fatal !== undefined) {
      for (const m of messages) this.#release(m);
      callback(fatal.error);
      return;
    }
    if (messages.every(isDone)) {
      callback(null);
      return;
    }
    this.#pending = { messages, index: 0, callback };
    if (!this.#connecting) this.#flush();
  }

  #flush(): void {
    const p = this.#pending;
    if (p === null || this.#handle === null) return;
    const fd = this.#fd;
    while (p.index < p.messages.length) {
      const q = p.messages[p.index]!;
      if (isDone(q)) {
        p.index++;
        continue;
      }
      if (q.changed()) {
        q.error = changedError();
        this.#release(q);
        p.index++;
        continue;
      }
      let r: number;
      if (this.type === 'stream') {
        r = this.#sendStream(fd, p);
        if (r >= 0) {
          this.#retryDelay = 1;
          continue;
        }
      } else {
        r = this.#sendBatch(fd, p);
        if (r > 0) {
          for (let i = p.index; i < p.index + r; i++) {
            const m = p.messages[i]!;
            this.#release(m);
            m.sent = true;
          }
          p.index += r;
          this.#retryDelay = 1;
          continue;
        }
      }
      if (r === EAGAIN || r === ENOBUFS) {
        this.#waitWritable(q.address !== null);
        return;
      }
      if (r === ETOOMANYREFS) {
        // The per-user in-flight fd limit (unix(7)); it clears as receivers
        // drain, which no poll event announces.
        this.#retryLater();
        return;
      }
      if (failsOnlyTheMessage(r, q.address)) {
        q.error = errnoError(r, 'sendmsg', q.address ?? this.#remote);
        this.#release(q);
        p.index++;
        continue;
      }
      this.#finishWrite(errnoError(r, 'sendmsg', this.#remote));
      return;
    }
    this.#finishWrite(null);
  }

  // Stream: consecutive messages leave in one gathering sendmsg, as Node's
  // writev does. Only the first may carry fds: the kernel attaches them to
  // the sendmsg's first byte, which must be that message's first byte
  // (docs/kernel.md, "SOCK_STREAM"). Returns bytes sent or -errno, and moves
  // p.index past what the kernel took.
  #sendStream(fd: number, p: PendingWrite): number {
    const q = p.messages[p.index]!;
    if (q.byteLength === 0) {
      q.sent = true;
      p.index++;
      return 0;
    }
    let end = p.index + 1;
    let data: Gather = q.data;
    if (end < p.messages.length && p.messages[end]!.dups === null) {
      const parts: ArrayBufferView[] = [];
      let k = p.index;
      for (; k < p.messages.length && k - p.index < STREAM_GATHER; k++) {
        const m = p.messages[k]!;
        if (k > p.index && (m.dups !== null || isDone(m))) break;
        // A buffer the caller detached or emptied after write() would shift
        // the byte count onto the next message: such a one goes alone.
        if (!appendParts(parts, m)) break;
      }
      if (k > p.index + 1) {
        data = parts;
        end = k;
      }
    }
    const r = native.send(fd, data, q.dups, null, 0);
    if (r < 0) return r;
    // The fds went with the first byte; a retry of the rest must not carry
    // them again (libuv c560cf931; docs/kernel.md, "Partial writes").
    this.#release(q);
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
  #sendBatch(fd: number, p: PendingWrite): number {
    let end = Math.min(p.messages.length, p.index + SEND_BATCH);
    const q = p.messages[p.index]!;
    if (end - p.index === 1) {
      // One message: plain sendmsg, which returns bytes, not a count.
      const r = native.send(fd, q.data, q.dups, q.address, 0);
      return r >= 0 ? 1 : r;
    }
    const datas: Gather[] = [];
    let fds: Array<number[] | null> | undefined;
    let addresses: Array<string | null> | undefined;
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
    return native.sendBatch(fd, datas, fds, addresses, 0, datas.length);
  }

  #finishWrite(err: Error | null): void {
    const p = this.#pending;
    this.#pending = null;
    this.#stopWatchingWritable();
    if (p === null) return;
    if (err !== null) for (let i = p.index; i < p.messages.length; i++) this.#release(p.messages[i]!);
    p.callback(err);
  }

  #waitWritable(unconnectedDgram: boolean): void {
    if (unconnectedDgram) {
      // poll(2) reports an unconnected datagram socket writable even when the
      // destination's queue is full (max_dgram_qlen), so back off on a timer.
      this.#retryLater();
      return;
    }
    if (!this.#watchingWritable && this.#handle !== null) {
      this.#watchingWritable = true;
      this.#handle.writeStart();
    }
  }

  #stopWatchingWritable(): void {
    if (this.#watchingWritable) {
      this.#watchingWritable = false;
      this.#handle?.writeStop();
    }
  }

  #retryLater(): void {
    if (this.#retryTimer !== null) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.#connecting) this.#connect();
      else this.#flush();
    }, this.#retryDelay);
    if (!this.#refed) this.#retryTimer.unref();
    this.#retryDelay = Math.min(this.#retryDelay * 2, MAX_RETRY_MS);
  }

  #onWritable(): void {
    this.#stopWatchingWritable();
    if (this.#connecting) {
      // A non-blocking connect finished: SO_ERROR says how (connect(2)).
      const r = native.getsockopt(this.#handle!.fd, constants.SOL_SOCKET, constants.SO_ERROR, scratch);
      this.#connected(r < 0 ? r : -scratch[0]!);
      return;
    }
    this.#flush();
  }

  #connect(): void {
    const h = this.#handle;
    if (h === null) return;
    const r = native.connect(h.fd, this.#connectTo!);
    if (r === EINPROGRESS || r === EINTR) {
      this.#watchingWritable = true;
      h.writeStart();
    } else if (r === EAGAIN) {
      // The listener's backlog is full; a Unix connect() does not queue, and
      // the socket polls writable meanwhile, so retry on a timer.
      this.#retryLater();
    } else {
      this.#connected(r);
    }
  }

  #connected(status: number): void {
    this.#connecting = false;
    this.#retryDelay = 1;
    if (status < 0) {
      this.destroy(errnoError(status, 'connect', this.#connectTo));
      return;
    }
    this.#remote = this.#connectTo;
    this.emit('connect');
    this.emit('ready');
    this.#flush();
    this.#startReading();
    this.#updateReading();
    const final = this.#finalCallback;
    if (final !== null && this.#pending === null) {
      this.#finalCallback = null;
      this._final(final);
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    const h = this.#handle;
    if (this.#connecting) {
      this.#finalCallback = callback;
      return;
    }
    if (h === null || this.type === 'dgram') {
      callback();
      return;
    }
    const r = native.shutdown(h.fd, constants.SHUT_WR);
    callback(r < 0 && r !== ENOTCONN ? errnoError(r, 'shutdown', this.#remote) : null);
  }

  // Every delivery (read() in paused mode, flowing mode, push() straight to a
  // 'data' listener, async iteration, pipe) goes through emit('data'). Record
  // it there, before any listener runs: from then on the fds are the
  // consumer's, even if the listener destroys the socket or throws.
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'data') {
      // Readable keeps handing out its buffer after destroy() (a listener
      // that destroys mid-flow, read() after destroy), but _destroy has
      // closed those messages' fds: delivering them would hand out dead or
      // reused fd numbers.
      if (this.destroyed) return false;
      this.#delivering(args[0] as UnixMessage);
    }
    return super.emit(event, ...args);
  }

  #delivering(message: UnixMessage): void {
    const ours = this.#unread[this.#unreadHead] === message;
    if (ours) {
      this.#unread[this.#unreadHead++] = undefined;
      this.#unreadFds -= message.fds.length;
      if (this.#unreadHead === this.#unread.length) {
        this.#unread = [];
        this.#unreadHead = 0;
      } else if (this.#unreadHead > 1024 && this.#unreadHead * 2 > this.#unread.length) {
        this.#unread = this.#unread.slice(this.#unreadHead);
        this.#unreadHead = 0;
      }
    }
    if (message.fds.length === 0) return;
    if (ours && this.readableFlowing === true && this.listenerCount('data') === 0) {
      // Flowing with no 'data' listener (resume() to discard what comes, or
      // the last listener removed): Readable drops the message, so nobody
      // ever gets its fds. They are ours to close, as for a message never
      // delivered; a read() that takes it anyway finds no fds in it.
      closeFds(message.fds);
      message.fds = [];
      return;
    }
    // From here the fds are the consumer's, also if the env is torn down
    // while a listener runs: the addon's teardown closes only what is still
    // the library's (env_state.h).
    disowned(message.fds);
  }

  /**
   * Refused with ERR_INVALID_STATE: the socket emits message objects, which
   * a string decoder cannot decode (Readable would throw from the read path,
   * with the message's fds in no one's hands). Decode `m.data` instead.
   */
  override setEncoding(encoding: BufferEncoding): this {
    throw invalidState(`setEncoding(${describe(encoding)}) does not apply to a message socket: it emits { data, fds } objects; decode each message's data instead`);
  }

  // Readable calls _read() once and waits for a push. A pause for the fd
  // budget pushes nothing, so resume from here, once the consumer has taken
  // messages (and their fds) out of the buffer. An error that arrived behind
  // buffered messages is raised once they have all been read.
  override read(size?: number): UnixMessage | null {
    // Readable would parseInt() anything else, running its toString().
    if (size !== undefined && typeof size !== 'number') throw invalidArgType(`The "size" argument must be of type number. Received ${describe(size)}`);
    if (this.destroyed) return null; // see emit()
    const message = super.read(size) as UnixMessage | null;
    if (this.#deferredError !== null && this.readableLength === 0) {
      const err = this.#deferredError;
      this.#deferredError = null;
      this.destroy(err);
    } else if (this.#fdPaused) {
      this.#updateReading();
    }
    return message;
  }

  override _read(): void {
    this.#wantRead = true;
    this.#updateReading();
  }

  // The handle reads only while maxFdsPerMessage more fds fit the budget
  // max(maxPendingFds, maxFdsPerMessage) - pendingFds (and the process's fd
  // room, which the addon checks), so unclaimed fds never pass the bound.
  #updateReading(): void {
    const h = this.#handle;
    if (h === null) return;
    const perMessage = this.#maxFdsPerMessage;
    const budget = perMessage === 0 ? 0 : Math.max(this.#maxPendingFds, perMessage) - this.#unreadFds;
    this.#fdPaused = this.#wantRead && budget < perMessage;
    const want = this.#wantRead && !this.#eof && !this.#connecting && !this.#fdPaused && !this.#room.waiting;
    // Nothing to tell the handle: the common case after every read batch,
    // where a call would cost an N-API round trip per wakeup.
    if (want ? budget === this.#pollBudget : this.#pollBudget < 0) return;
    this.#pollBudget = want ? budget : -1;
    // Restarting an active poll only updates the budget (poll.rst).
    const r = want ? h.readStart(budget) : h.readStop();
    if (r < 0) this.destroy(errnoError(r, 'uv_poll_start'));
  }

  // data: the batch's bytes in one Buffer (from `base` in the shared slab),
  // or one Buffer per message for a large batch (socket_handle.cc MessageBytes).
  #onRead(count: number, data: Buffer | Buffer[], status: number, addresses: Array<string | undefined> | undefined,
    base: number | undefined): void {
    const perMessage = Array.isArray(data);
    let offset = base ?? 0;
    let fdOffset = 0;
    let i = 0;
    try {
      for (; i < count; i++) {
        const m = i * META;
        const length = recvMeta[m + META_LENGTH]!;
        const flags = recvMeta[m + META_FLAGS]!;
        const nfds = recvMeta[m + META_FD_COUNT]!;
        const fds: number[] = [];
        for (let k = 0; k < nfds; k++) fds.push(recvFds[fdOffset + k]!);
        const message: UnixMessage = {
          data: perMessage ? trimmed(data[i]!, length) : data.subarray(offset, offset + length),
          fds,
          truncated: (flags & FLAG_TRUNCATED) !== 0,
          fdsTruncated: (flags & FLAG_FDS_TRUNCATED) !== 0,
        };
        const address = addresses?.[i];
        if (address !== undefined) message.address = address;
        if ((flags & FLAG_CREDENTIALS) !== 0) {
          message.credentials = { pid: recvMeta[m + META_PID]!, uid: recvMeta[m + META_UID]!, gid: recvMeta[m + META_GID]! };
        }
        offset += length;
        fdOffset += nfds;
        this.#deliver(message);
      }
    } finally {
      // A 'data' listener threw: the messages after it were never delivered.
      for (let j = i + 1; j < count; j++) {
        const nfds = recvMeta[j * META + META_FD_COUNT]!;
        for (let k = 0; k < nfds; k++) native.close(recvFds[fdOffset + k]!);
        fdOffset += nfds;
      }
      this.#afterRead(status, count);
    }
  }

  #afterRead(status: number, count: number): void {
    if (count > 0) this.#room.progressed();
    if (status === constants.STATUS_NO_FD_ROOM) {
      // Stop polling (the next #updateReading sees the wait) until the retry.
      this.#room.wait(this.#retryRead);
      this.#updateReading();
      return;
    }
    if (status === UV_EOF) {
      this.#eof = true;
      this.push(null);
    } else if (status < 0) {
      this.#eof = true;
      const err = errnoError(status, 'recvmsg', this.#remote);
      // The messages read before the error (docs/kernel.md, "Errors and readiness": after a
      // reset, SEQPACKET still delivers what was queued) reach the consumer
      // first; read() raises the error when the buffer is empty.
      if (this.readableLength === 0) this.destroy(err);
      else this.#deferredError = err;
      return;
    }
    this.#updateReading();
  }

  readonly #retryRead = (): void => this.#updateReading();

  #deliver(message: UnixMessage): void {
    if (!this.#acceptFds && message.fds.length > 0) {
      closeFds(message.fds);
      message.fds = [];
    }
    if (this.destroyed) {
      // Nobody can receive it any more: its fds are ours to close.
      closeFds(message.fds);
      return;
    }
    const before = this.readableLength;
    const more = this.push(message);
    if (this.readableLength > before) {
      this.#unread.push(message);
      this.#unreadFds += message.fds.length;
    }
    if (!more) this.#wantRead = false;
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#retryTimer !== null) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = null;
    }
    this.#room.cancel();
    const h = this.#handle;
    this.#handle = null;
    this.#connecting = false;
    if (h !== null) {
      h.owner = undefined;
      h.close();
    }
    // Messages still in the readable buffer were never delivered.
    for (let i = this.#unreadHead; i < this.#unread.length; i++) closeFds(this.#unread[i]!.fds);
    this.#unread = [];
    this.#unreadHead = 0;
    this.#unreadFds = 0;
    const p = this.#pending;
    this.#pending = null;
    if (p !== null) {
      for (const m of p.messages) this.#release(m);
      p.callback(err ?? streamDestroyed('write'));
    }
    const final = this.#finalCallback;
    this.#finalCallback = null;
    final?.(err ?? streamDestroyed('end'));
    callback(err);
  }

  #liveFd(method: string): number {
    const h = this.#handle;
    if (h === null || this.destroyed) throw streamDestroyed(method);
    return h.fd;
  }
}

function noop(): void {}


// A stream read that went straight into a Buffer of its own (maxMessageSize
// bytes, SocketHandle::ReadStream) may hold fewer bytes than it has room for.
function trimmed(buf: Buffer, length: number): Buffer {
  return buf.length === length ? buf : buf.subarray(0, length);
}
