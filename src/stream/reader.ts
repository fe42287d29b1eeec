// When and how much a socket reads: the fd budget it polls with, pauses for
// unclaimed fds (maxPendingFds) and for the process's fd room
// (STATUS_NO_FD_ROOM), EOF and a read error held behind buffered messages,
// and the hand-over of each received message: pushed into the readable
// buffer, then delivered (emit('data')) or closed undelivered.
//
// fd ownership: received fds are the library's until delivered, when
// disowned() records them as the consumer's (README.md, "Who owns which
// fd"). The Reader closes those nobody can receive: fds refused
// (acceptFds: false), fds arriving after destroy(), fds of messages Readable
// drops (flowing with no 'data' listener), and, through its UnreadLedger,
// fds still buffered at destroy().
import type { Readable } from 'node:stream';
import { debug } from '../debug';
import { constants, disowned, type NativeSocketHandle } from '../native/binding';
import { errnoError } from './errors';
import { FdRoomWait } from './fd-room-wait';
import { FrameAssembler } from './frame-assembler';
import type { Framing } from './frame-format';
import { closeFds } from './fds';
import { decodeBatch, heldCount, heldFds, UnreadLedger } from './incoming';
import type { UnixMessage } from './types';
import type { AddressEncoding, NativeAddress } from './address-codec';

const UV_EOF = -4095;

/** The socket as its reader sees it: a Readable that may still be connecting. */
export interface ReadingSocket extends Readable {
  readonly connecting: boolean;
}

export interface ReaderLimits {
  maxPendingFds: number;
  /** 0 when the socket refuses fds. */
  maxFdsPerMessage: number;
  passCredentials: boolean;
  /** Each message also brings a pidfd, one more fd to budget for. */
  passPidfd: boolean;
  acceptFds: boolean;
  /** How `m.address` is handed out (address-codec.ts). */
  addressEncoding?: AddressEncoding;
  /** A framed stream: reads go through a FrameAssembler. */
  framing?: Framing | null;
}

export class Reader {
  readonly #socket: ReadingSocket;
  // null once the socket is destroyed (close()).
  #handle: NativeSocketHandle | null;
  // For traces only.
  readonly #fd: number;
  readonly #remote: () => NativeAddress | undefined;
  readonly #addressEncoding: AddressEncoding;
  readonly #maxPendingFds: number;
  readonly maxFdsPerMessage: number;
  // SO_PASSCRED and SO_PASSPIDFD as last set: how the handle sizes its
  // receive buffer, and the pidfd each message brings (setMaxFds).
  #passCredentials: boolean;
  #passPidfd: boolean;
  readonly #acceptFds: boolean;
  #eof = false;
  // Readable asked for more (_read) and no push has said "enough" since.
  #wantRead = false;
  // The fd budget the handle reads with (readStart), or -1 while it does
  // not read: a mirror of the handle's poll state, kept so that the common
  // case (nothing changed after a batch) costs no N-API call.
  #pollBudget = -1;
  // The framed rest the handle reads with (readStart's frameRest), 0: none.
  #pollRest = 0;
  #fdPaused = false;
  /** Reading waits for the process to have fds free (the addon reported STATUS_NO_FD_ROOM). */
  readonly room = new FdRoomWait();
  #deferredError: Error | null = null;
  // Framed: EOF or an error that arrived behind the assembler's backlog.
  #heldStatus = 0;
  readonly #unread = new UnreadLedger();
  // Framed stream sockets only: turns reads into messages (frame-assembler.ts).
  readonly #framer: FrameAssembler | null = null;
  readonly #deliverOne: (message: UnixMessage) => void;

  constructor(socket: ReadingSocket, handle: NativeSocketHandle, fd: number, limits: ReaderLimits, remote: () => NativeAddress | undefined) {
    this.#socket = socket;
    this.#handle = handle;
    this.#fd = fd;
    this.#maxPendingFds = limits.maxPendingFds;
    this.maxFdsPerMessage = limits.maxFdsPerMessage;
    this.#passCredentials = limits.passCredentials;
    this.#passPidfd = limits.passPidfd;
    this.#acceptFds = limits.acceptFds;
    this.#remote = remote;
    this.#addressEncoding = limits.addressEncoding ?? 'utf8';
    const framing = limits.framing ?? null;
    if (framing === null) {
      this.#deliverOne = (message) => this.#deliver(message);
    } else {
      const framer = new FrameAssembler(
        framing,
        (message) => this.#deliver(message),
        (err) => {
          this.#fail(err);
          this.update();
        },
        () => this.#wantRead,
      );
      this.#framer = framer;
      this.#deliverOne = (read) => framer.feed(read);
    }
  }

  /** Received fds in the readable buffer, not yet delivered. */
  get pendingFds(): number {
    return this.#unread.fds + (this.#framer?.heldFds ?? 0);
  }

  /**
   * setOption() turned SOL_SOCKET option `name` (SO_PASSCRED or
   * SO_PASSPIDFD) on or off, as the kernel reads it back: that changes the
   * receive buffer (credentials come before the fds, the pidfd after them)
   * and the fds a message may bring (setMaxFds).
   */
  optionSet(name: number, on: boolean): void {
    if (name === constants.SO_PASSCRED) this.#passCredentials = on;
    else if (name === constants.SO_PASSPIDFD) this.#passPidfd = on;
    else return;
    this.#handle?.setMaxFds(this.maxFdsPerMessage, this.#passCredentials, this.#passPidfd);
    this.update();
  }

  /** Readable's _read(): it waits for a push. */
  requested(): void {
    this.#wantRead = true;
    const framer = this.#framer;
    if (framer !== null && framer.backlogged) {
      // Messages of reads already made come first; then EOF or an error held behind them.
      try {
        framer.drain();
      } catch (err) {
        // A 'data' listener threw, as in onRead.
        this.#socket.destroy();
        throw err;
      }
      if (!framer.backlogged && this.#heldStatus !== 0) {
        const status = this.#heldStatus;
        this.#heldStatus = 0;
        this.#afterRead(status, 0);
        return;
      }
    }
    this.update();
  }

  // Readable calls _read() once and waits for a push. A pause for the fd
  // budget pushes nothing, so resume from here, once the consumer has taken
  // messages (and their fds) out of the buffer. An error that arrived behind
  // buffered messages is raised once they have all been read.
  /** After the consumer's read(). */
  consumed(): void {
    if (this.#deferredError !== null && this.#socket.readableLength === 0) {
      const err = this.#deferredError;
      this.#deferredError = null;
      this.#socket.destroy(err);
    } else if (this.#fdPaused) {
      this.update();
    }
  }

  // The handle reads only while maxFdsPerMessage more fds (plus the pidfd,
  // passPidfd) fit the budget max(maxPendingFds, that) - pendingFds (and the
  // process's fd room, which the addon checks), so unclaimed fds never pass
  // the bound.
  /** Starts, stops or re-budgets the handle's read poll. */
  update(): void {
    const h = this.#handle;
    if (h === null) return;
    // The rest of a framed message is read asking for no fds (readStart's
    // frameRest): it needs budget only for a pidfd, and the fds held for the
    // message need none (they are freed by finishing it, and only then).
    const rest = this.#framer?.rest ?? 0;
    const perMessage = (rest > 0 ? 0 : this.maxFdsPerMessage) + (this.#passPidfd ? 1 : 0);
    const budget = perMessage === 0 ? 0 : Math.max(this.#maxPendingFds, perMessage) - this.#unread.fds;
    this.#fdPaused = this.#wantRead && budget < perMessage;
    const want = this.#wantRead && !this.#eof && !this.#socket.connecting && !this.#fdPaused && !this.room.waiting && !this.#framer?.backlogged;
    // Nothing to tell the handle: the common case after every read batch,
    // where a call would cost an N-API round trip per wakeup. Not while a
    // framed rest is (or was) read: the handle counts it down, JS sets it.
    if (want ? budget === this.#pollBudget && rest === 0 && this.#pollRest === 0 : this.#pollBudget < 0) return;
    this.#pollBudget = want ? budget : -1;
    this.#pollRest = want ? rest : 0;
    // Restarting an active poll only updates the budget (uv_poll_start).
    const r = want ? h.readStart(budget, rest) : h.readStop();
    if (r < 0) this.#socket.destroy(errnoError(r, 'uv_poll_start'));
  }

  /** The handle's onRead: a batch of `count` messages, then `status`. */
  onRead(count: number, data: Buffer | Buffer[], status: number, addresses: Array<NativeAddress | undefined> | undefined, base: number | undefined): void {
    try {
      decodeBatch(this.#fd, count, data, addresses, base, this.#deliverOne, this.#addressEncoding);
    } catch (err) {
      // A 'data' listener threw in the middle of a framed read: the rest of
      // the stream cannot be cut into messages any more.
      if (this.#framer !== null) this.#socket.destroy();
      throw err;
    } finally {
      this.#afterRead(status, count);
    }
  }

  #afterRead(status: number, count: number): void {
    if (count > 0) this.room.progressed();
    const framer = this.#framer;
    if (framer !== null) {
      // Broken by its peer (#fail has stopped it), or cut inside a message.
      if (framer.closed || (status === UV_EOF && !framer.backlogged && framer.eof())) return;
      if (framer.backlogged && status < 0 && status !== constants.STATUS_NO_FD_ROOM) {
        // EOF or an error behind messages the consumer has not asked for yet: after them (requested()).
        this.#heldStatus = status;
        this.#eof = true;
        return;
      }
    }
    if (status === constants.STATUS_NO_FD_ROOM) {
      // Stop polling (the next update() sees the wait) until the retry.
      if (debug.enabled) debug('fd %d: too few free fds for another read (RLIMIT_NOFILE); reading waits', this.#fd);
      this.room.wait(this.#retryRead);
      this.update();
      return;
    }
    if (status === UV_EOF) {
      this.#eof = true;
      this.#socket.push(null);
    } else if (status < 0) {
      this.#fail(errnoError(status, 'recvmsg', this.#remote()));
      return;
    }
    this.update();
  }

  // The messages read before the error (docs/kernel.md, "Errors and readiness": after a
  // reset, SEQPACKET still delivers what was queued) reach the consumer
  // first; read() raises the error when the buffer is empty.
  #fail(err: Error): void {
    this.#eof = true;
    if (this.#socket.readableLength === 0) this.#socket.destroy(err);
    else this.#deferredError = err;
  }

  readonly #retryRead = (): void => this.update();

  #deliver(message: UnixMessage): void {
    const socket = this.#socket;
    if (!this.#acceptFds && message.fds.length > 0) {
      if (debug.enabled) debug('fd %d: acceptFds is false; closing received fds %j', this.#fd, message.fds);
      closeFds(message.fds);
      message.fds = [];
    }
    if (socket.destroyed) {
      // Nobody can receive it any more: its fds are ours to close.
      const fds = heldFds(message);
      if (fds.length > 0 && debug.enabled) debug('fd %d: destroyed; closing received fds %j', this.#fd, fds);
      closeFds(fds);
      return;
    }
    const before = socket.readableLength;
    const more = socket.push(message);
    if (socket.readableLength > before) this.#unread.push(message);
    if (!more) this.#wantRead = false;
  }

  /** emit('data', message): from here its fds are the consumer's. */
  delivering(message: UnixMessage): void {
    const ours = this.#unread.take(message);
    if (heldCount(message) === 0) return;
    const fds = heldFds(message);
    if (ours && this.#socket.readableFlowing === true && this.#socket.listenerCount('data') === 0) {
      // Flowing with no 'data' listener (resume() to discard what comes, or
      // the last listener removed): Readable drops the message, so nobody
      // ever gets its fds (or pidfd). They are ours to close, as for a
      // message never delivered; a read() that takes it anyway finds none.
      if (debug.enabled) debug("fd %d: flowing with no 'data' listener; closing fds %j", this.#fd, fds);
      closeFds(fds);
      message.fds = [];
      delete message.pidfd;
      return;
    }
    // From here the fds are the consumer's, also if the env is torn down
    // while a listener runs: the addon's teardown closes only what is still
    // the library's (FdLedger, fd_ledger.h).
    if (debug.enabled) debug('fd %d: delivered fds %j', this.#fd, fds);
    disowned(fds);
  }

  /** The socket is destroyed (its handle closed): stop, and close every fd never delivered. */
  close(): void {
    this.#handle = null;
    this.room.cancel();
    this.#unread.closeAll(this.#fd);
    this.#framer?.close();
  }
}
