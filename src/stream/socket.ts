// UnixMessageSocket: an object-mode Duplex over one SocketHandle. This file
// keeps the options, the Duplex hooks and the public API; the parts they
// drive are in reader.ts (reading and received fds), send-queue.ts (sending
// and the dups of queued messages), write-reports.ts (write callbacks and
// 'drain'), connection.ts (connect, the writable poll, retries) and
// socket-calls.ts (plain socket calls). The socket owns its fd (the handle
// closes it on destroy); the fds in messages are owned as those files say.
import { Duplex } from 'node:stream';
import { native, type NativeSocketHandle } from '../native/binding';
import { describe, errnoError, invalidArgType, invalidState, streamDestroyed } from './errors';
import { fdSendPort, SEND_BATCH, SendQueue } from './send-queue';
import { Connection } from './connection';
import { Reader } from './reader';
import { limitsOf, openHandle, type InternalOptions, type SocketLimits, type SocketOptions } from './socket-options';
import { normalizeMessage, socketOptionsOf, validateFd, writeCallback } from './validate';
import * as calls from './socket-calls';
import { adoptDuplicate } from './socket-type';
import { isByteView } from './views';
import { WriteReports } from './write-reports';
import type { Credentials, MessageInput, SocketType, UnixMessage, WriteCallback } from './types';
import './socket-events';

export class UnixMessageSocket extends Duplex {
  /** 'stream', 'seqpacket' or 'dgram'. */
  readonly type: SocketType;
  #handle: NativeSocketHandle | null = null;
  // connect(), the peer's address, the writable poll and the retry timer.
  readonly #link: Connection;
  readonly #limits: SocketLimits;
  // Read side: the poll budget, pauses, EOF, and the received fds (reader.ts).
  readonly #reader: Reader;
  // Write side: the queued messages, their dups and the sends (send-queue.ts).
  readonly #out: SendQueue;
  // Write callbacks and the 'drain' events owed on top of Writable's.
  readonly #reports = new WriteReports(this, () => this.#out.needDrain);
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
    this.#limits = limits;
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
    this.#out = new SendQueue(type, fdSendPort(options.fd), link, limits.maxQueuedFds, () => this.#reports.fdRoomFreed(), limits.framing);
    if (link.connecting) {
      process.nextTick(() => link.connect());
    } else {
      this.#startReading();
    }
  }

  // Like net.Socket: a socket reads from the start (into its bounded buffer), so
  // a connection keeps the process alive until it ends or is unref()ed. An unnamed,
  // unconnected dgram socket can receive nothing and does not, like an unbound
  // dgram.Socket. (A socketpair end has no name either, but is connected.)
  #startReading(): void {
    const fd = this.#handle?.fd ?? -1;
    if (this.type === 'dgram' && !calls.hasName(native.getsockname(fd)) && typeof native.getpeername(fd) === 'number') {
      return;
    }
    this.read(0);
  }

  /**
   * Adopts an existing AF_UNIX socket fd (its type read from SO_TYPE); the
   * socket takes ownership of it and works on a duplicate, closing `fd` at
   * once (adoptDuplicate). On an error `fd` is left open, still the caller's.
   * Polling sets O_NONBLOCK on the open file description, which other
   * processes sharing it also see.
   */
  static fromFd(fd: number, options: SocketOptions = {}): UnixMessageSocket {
    validateFd(fd, 'fd');
    const opts = socketOptionsOf(options);
    return adoptDuplicate(fd, (own, type) => new UnixMessageSocket({ ...opts, fd: own, type }));
  }

  /** The socket's fd, or -1 once destroyed. Owned by the socket: do not close it. */
  get fd(): number {
    return this.#handle?.fd ?? -1;
  }

  /** True until a connect() started by connect() has completed. */
  get connecting(): boolean {
    return this.#link.connecting;
  }

  /** The peer's address (getpeername), if it has one (a Buffer with addressEncoding: 'buffer'). */
  get remoteAddress(): string | Buffer | undefined {
    return calls.remoteAddressOf(this.#link.remote, this.#handle?.fd, this.#limits.addressEncoding);
  }

  /** This socket's own address (getsockname): a path, '\0name', or '' when unnamed (or as bytes). */
  address(): string | Buffer {
    return calls.localAddress(this.#liveFd('address'), this.#limits.addressEncoding);
  }

  /** dgram: binds to a path or '\0abstract' name (or its bytes); with no argument, autobinds. */
  bind(address?: string | Uint8Array): this {
    const name = calls.bindName(address);
    calls.bindTo(this.#liveFd('bind'), name);
    this.#startReading();
    return this;
  }

  /** SO_PEERCRED: the peer's credentials at connect()/socketpair() time. */
  peerCredentials(): Credentials {
    return calls.peerCredentialsOf(this.#liveFd('peerCredentials'));
  }

  /** SO_PEERPIDFD (Linux 6.5+): a new pidfd (close-on-exec) for the peer; the caller owns and closes it. */
  peerPidfd(): number {
    return calls.peerPidfdOf(this.#liveFd('peerPidfd'));
  }

  /** SO_PEERGROUPS: the peer's supplementary groups at connect()/socketpair() time. */
  peerGroups(): number[] {
    return calls.peerGroupsOf(this.#liveFd('peerGroups'));
  }

  /** SO_PEERSEC: the peer's security context; undefined when no LSM labels sockets. */
  peerSecurityContext(): string | undefined {
    return calls.peerSecurityContextOf(this.#liveFd('peerSecurityContext'));
  }

  /** setsockopt(2): an integer, or the bytes of a Buffer, TypedArray or DataView. */
  setOption(level: number, name: number, value: number | ArrayBufferView): this {
    calls.validateSetOption(level, name, value);
    const on = calls.setSocketOption(this.#liveFd('setOption'), level, name, value);
    if (on !== undefined) this.#reader.optionSet(name, on);
    return this;
  }

  /** getsockopt(2): the integer, or with `length`, a Buffer of up to `length` bytes. */
  getOption(level: number, name: number): number;
  getOption(level: number, name: number, length: number): Buffer;
  getOption(level: number, name: number, length?: number): number | Buffer {
    const n = calls.validateGetOption(level, name, length);
    return calls.getOptionOn(this.#liveFd('getOption'), level, name, n);
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

  // The Writable overrides (write, cork, end, _write/_writev, and the
  // writableCorked/writableNeedDrain getters) keep these invariants:
  // 1. Every chunk in Writable's buffer is a QueuedMessage that write() made
  //    (SendQueue.queue): its fds were sent or duplicated before write()
  //    returned, so the caller may close its copies at once. end(chunk)
  //    hands its chunk to write() for the same reason; _write/_writev queue
  //    a raw chunk only for a caller of Writable.prototype.write itself.
  // 2. A message goes to the kernel from write() itself (queued.sent) only
  //    when nothing can be ahead of it (#idle: no batch in flight or
  //    buffered, not connecting, no cork, the caller's or ours). It never
  //    enters Writable's buffer, so Writable's order and counts stay right.
  // 3. At most one cork is ours (#tickCorked): taken by the first buffered
  //    write of a tick, released at its end or by cork(). writableCorked
  //    hides it; a caller's uncork() that took it leaves nothing to undo.
  // 4. Each write's callback runs once: a nextTick for a message sent from
  //    write(), Writable's callback (WriteReports.afterWrite) for a buffered
  //    one, WriteReports.reportMessageError for one that failed at once.
  // 5. write() returns false while Writable's buffer is full, while the dups
  //    held reach maxQueuedFds (SendQueue.overFdBound), and for a write that
  //    failed at once. One 'drain' follows: Writable's, or the one
  //    WriteReports owes (fdRoomFreed, failedNow), emitted only once neither
  //    holds (writableNeedDrain is their union).

  /**
   * Takes an OutgoingMessage, a Buffer or a string. Throws TypeError or
   * RangeError (ERR_*) for malformed input; nothing is queued then. The
   * caller may close its own copies of the fds as soon as write() returns
   * (unless the message says `lend: true`): they are sent now, or
   * duplicated if the message has to wait.
   */
  override write(chunk: MessageInput, callback?: WriteCallback): boolean;
  override write(chunk: MessageInput, encoding: BufferEncoding | undefined, callback?: WriteCallback): boolean;
  override write(chunk: unknown, encoding?: BufferEncoding | WriteCallback, callback?: WriteCallback): boolean {
    const cb = writeCallback(encoding, callback);
    if (this.destroyed || this.writableEnded) {
      // Checked all the same, as Writable checks a chunk first; then
      // Writable reports ERR_STREAM_DESTROYED / ERR_STREAM_WRITE_AFTER_END.
      if (!isByteView(chunk)) normalizeMessage(chunk, this.type, this.#limits.framing?.builtin);
      return super.write(chunk, cb ?? noop);
    }
    const queued = this.#out.queue(chunk, this.#idleNow);
    if (queued instanceof Error) {
      process.nextTick(() => this.#reports.reportMessageError(queued, cb));
      return this.#reports.failedNow(cb);
    }
    if (queued.sent) {
      // Sent from write() itself (invariant 2): Writable's per-write callback
      // and nextTick were most of the JS a message with fds costs
      // (bench/README.md). The callback still comes after earlier ones.
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
    const room = super.write(queued, (err?: Error | null) => {
      this.#out.release(queued);
      this.#reports.afterWrite(queued, err, cb);
    });
    if (queued.error !== null) return this.#reports.failedNow(cb);
    if (this.#out.overFdBound()) return false;
    return room;
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

  // Invariants 3 and 5.
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
  override end(chunk: MessageInput, callback?: () => void): this;
  override end(chunk: MessageInput, encoding: BufferEncoding | undefined, callback?: () => void): this;
  override end(chunk?: unknown, encoding?: BufferEncoding | (() => void), callback?: () => void): this {
    if (typeof chunk === 'function') return super.end(chunk as () => void);
    const cb = writeCallback(encoding, callback);
    if (chunk !== undefined && chunk !== null) {
      if (!this.destroyed && !this.writableEnded) {
        this.write(chunk);
        return super.end(cb);
      }
      // Checked as write() checks it; Writable then reports the state.
      if (!isByteView(chunk)) normalizeMessage(chunk, this.type, this.#limits.framing?.builtin);
    }
    return super.end(chunk, cb);
  }

  // Nothing queued anywhere and the socket ready: a message sent now cannot
  // overtake another.
  readonly #idleNow = (): boolean => this.#idle();

  #idle(): boolean {
    return this.#out.idle && !this.#link.connecting && this.writableLength === 0 && this.writableCorked === 0 && !this.#tickCorked;
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
    this.#out.start(
      chunks.map((c) => c.chunk),
      callback,
      this.#link.connecting,
    );
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
    callback(calls.shutdownWrite(h.fd, this.#link.remote));
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
    throw invalidState(
      `setEncoding(${describe(encoding)}) does not apply to a message socket: it emits { data, fds } objects; decode each message's data instead`,
    );
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
