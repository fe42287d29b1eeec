// UnixMessageSocket: an object-mode Duplex over one SocketHandle.
//
// The handle polls and reads batches; everything else is decided here:
// backpressure in both directions, fd ownership, retries, and errors.
import { Duplex } from 'node:stream';
import { constants, native, type NativeSocketHandle } from '../native/binding';
import { describe, errno, errnoError, invalidArgType, invalidState, streamDestroyed } from './errors';
import type { QueuedMessage } from './queued-message';
import { fdSendPort, SEND_BATCH, SendQueue } from './send-queue';
import { Connection } from './connection';
import { Reader } from './reader';
import { limitsOf, openHandle, type InternalOptions, type SocketOptions } from './socket-options';
import { normalizeMessage, socketOptionsOf, validateFd, writeCallback } from './validate';
import { bindName, bindTo, getIntOption, localAddress, peerAddress, peerCredentialsOf, setIntOption, validateGetOption, validateSetOption } from './socket-calls';
import { adoptableType } from './socket-type';
import { isByteView } from './views';
import type { Credentials, SocketType, UnixMessage, WriteCallback } from './types';

const ENOTCONN = errno('ENOTCONN');

export class UnixMessageSocket extends Duplex {
  /** 'stream', 'seqpacket' or 'dgram'. */
  readonly type: SocketType;
  #handle: NativeSocketHandle | null = null;
  // connect(), the peer's address, the writable poll and the retry timer.
  readonly #link: Connection;
  #passCredentials: boolean;
  // Read side: the poll budget, pauses, EOF, and the received fds (reader.ts).
  readonly #reader: Reader;
  // Write side: the queued messages, their dups and the sends (send-queue.ts).
  readonly #out: SendQueue;
  // write() returned false for a message that failed at once (#failedNow);
  // the 'drain' owed for it is scheduled.
  #failDrainOwed = false;
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
    this.#passCredentials = limits.passCredentials;
    const handle = openHandle(options.fd, type, limits);
    handle.owner = {
      onRead: (count, data, status, addresses, base) => this.#reader.onRead(count, data, status, addresses, base),
      onWritable: () => this.#link.onWritable(),
      onConnection: () => undefined,
    };
    this.#handle = handle;
    const link = new Connection(handle, options.connectTo, {
      connected: (status) => this.#connected(status),
      flush: () => this.#out.flush(),
    });
    this.#link = link;
    this.#reader = new Reader(this, handle, options.fd, limits, () => link.remote);
    // fdRoomFreed: Writable emits 'drain' itself once its own buffer
    // empties, if it told the writer to wait too; otherwise this is the
    // 'drain' owed. After the current flush, as Writable's own 'drain' comes.
    this.#out = new SendQueue(type, fdSendPort(options.fd), link, limits.maxQueuedFds, () => {
      if (!this.#writableBufferFull()) process.nextTick(this.#emitDrain);
    });
    if (link.connecting) {
      process.nextTick(() => link.connect());
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
    const type = adoptableType(fd);
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
    return this.#link.connecting;
  }

  /** The peer's address (getpeername), if it has one. */
  get remoteAddress(): string | undefined {
    if (this.#link.remote !== undefined) return this.#link.remote;
    const h = this.#handle;
    return h === null ? undefined : peerAddress(h.fd);
  }

  /** This socket's own address (getsockname): a path, '\0name', or '' when unnamed. */
  address(): string {
    return localAddress(this.#liveFd('address'));
  }

  /** dgram: binds to a path or '\0abstract' name; with no argument, autobinds. */
  bind(address?: string): this {
    const name = bindName(address);
    bindTo(this.#liveFd('bind'), name);
    this.#startReading();
    return this;
  }

  /** SO_PEERCRED: the peer's credentials at connect()/socketpair() time. */
  peerCredentials(): Credentials {
    return peerCredentialsOf(this.#liveFd('peerCredentials'));
  }

  /** setsockopt(2) for integer options. */
  setOption(level: number, name: number, value: number): this {
    validateSetOption(level, name, value);
    setIntOption(this.#liveFd('setOption'), level, name, value);
    if (level === constants.SOL_SOCKET && name === constants.SO_PASSCRED) {
      // Credentials come before the fds in the receive buffer (setMaxFds).
      this.#passCredentials = value !== 0;
      this.#handle?.setMaxFds(this.#reader.maxFdsPerMessage, this.#passCredentials);
    }
    return this;
  }

  /** getsockopt(2) for integer options. */
  getOption(level: number, name: number): number {
    validateGetOption(level, name);
    return getIntOption(this.#liveFd('getOption'), level, name);
  }

  ref(): this {
    this.#handle?.ref();
    this.#link.ref();
    this.#reader.room.ref();
    return this;
  }

  unref(): this {
    this.#handle?.unref();
    this.#link.unref();
    this.#reader.room.unref();
    return this;
  }

  /** Received fds in the readable buffer, not yet delivered (they count against maxPendingFds). */
  get pendingFds(): number {
    return this.#reader.pendingFds;
  }

  /** Duplicated fds held for queued messages (they count against maxQueuedFds). */
  get queuedFds(): number {
    return this.#out.queuedFds;
  }

  /**
   * True while reading waits because the process has too few free fds for
   * another message (RLIMIT_NOFILE): it retries on a timer, and resumes as
   * fds are freed.
   */
  get waitingForFdRoom(): boolean {
    return this.#reader.room.waiting;
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
    const queued = this.#out.queue(chunk, this.#idleNow);
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
    if (this.#out.overFdBound()) return false;
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

  readonly #emitDrain = (): void => {
    if (!this.destroyed && !this.#out.needDrain && !this.#writableBufferFull()) this.emit('drain');
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
        return this.#out.needDrain || (Reflect.get(Duplex.prototype, 'writableNeedDrain', this) as boolean);
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

  // Nothing queued anywhere and the socket ready: a message sent now cannot
  // overtake another.
  readonly #idleNow = (): boolean => this.#idle();

  #idle(): boolean {
    return this.#out.idle && !this.#link.connecting &&
      this.writableLength === 0 && this.writableCorked === 0 && !this.#tickCorked;
  }

  #afterWrite(queued: QueuedMessage, err: Error | null | undefined, cb: WriteCallback | undefined): void {
    this.#out.release(queued);
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
    this.#out.start([chunk], callback, this.#link.connecting);
  }

  override _writev(chunks: Array<{ chunk: unknown }>, callback: (error?: Error | null) => void): void {
    this.#out.start(chunks.map((c) => c.chunk), callback, this.#link.connecting);
  }

  #connected(status: number): void {
    if (status < 0) {
      this.destroy(errnoError(status, 'connect', this.#link.connectTo));
      return;
    }
    this.emit('connect');
    this.emit('ready');
    this.#out.flush();
    this.#startReading();
    this.#reader.update();
    const final = this.#finalCallback;
    if (final !== null && !this.#out.writing) {
      this.#finalCallback = null;
      this._final(final);
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    const h = this.#handle;
    if (this.#link.connecting) {
      this.#finalCallback = callback;
      return;
    }
    if (h === null || this.type === 'dgram') {
      callback();
      return;
    }
    const r = native.shutdown(h.fd, constants.SHUT_WR);
    callback(r < 0 && r !== ENOTCONN ? errnoError(r, 'shutdown', this.#link.remote) : null);
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
      this.#reader.delivering(args[0] as UnixMessage);
    }
    return super.emit(event, ...args);
  }

  /**
   * Refused with ERR_INVALID_STATE: the socket emits message objects, which
   * a string decoder cannot decode (Readable would throw from the read path,
   * with the message's fds in no one's hands). Decode `m.data` instead.
   */
  override setEncoding(encoding: BufferEncoding): this {
    throw invalidState(`setEncoding(${describe(encoding)}) does not apply to a message socket: it emits { data, fds } objects; decode each message's data instead`);
  }

  // Resumes a read paused for the fd budget, or raises an error held behind
  // buffered messages (Reader.consumed).
  override read(size?: number): UnixMessage | null {
    // Readable would parseInt() anything else, running its toString().
    if (size !== undefined && typeof size !== 'number') throw invalidArgType(`The "size" argument must be of type number. Received ${describe(size)}`);
    if (this.destroyed) return null; // see emit()
    const message = super.read(size) as UnixMessage | null;
    this.#reader.consumed();
    return message;
  }

  override _read(): void {
    this.#reader.requested();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#link.close();
    const h = this.#handle;
    this.#handle = null;
    if (h !== null) {
      h.owner = undefined;
      h.close();
    }
    // Messages still in the readable buffer were never delivered.
    this.#reader.close();
    this.#out.close(err);
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
