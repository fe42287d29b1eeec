// What a socket tells its writer after write() has returned: each write's
// callback, once, with that message's own error (reportMessageError,
// afterWrite), and the 'drain' events the socket owes on top of Writable's
// own: for a write that failed at once (failedNow) and for the fd bound
// (fdRoomFreed). UnixMessageSocket.write() states the invariants these keep.
import { Duplex } from 'node:stream';
import type { QueuedMessage } from './queued-message';
import type { WriteCallback } from './types';

/** Writable's own writableNeedDrain (the message count), without the fd bound. */
export function writableBufferFull(socket: Duplex): boolean {
  return Reflect.get(Duplex.prototype, 'writableNeedDrain', socket) as boolean;
}

export class WriteReports {
  readonly #socket: Duplex;
  // write() returned false because of the dups held (SendQueue.needDrain).
  readonly #fdNeedDrain: () => boolean;
  // write() returned false for a message that failed at once (failedNow);
  // the 'drain' owed for it is scheduled.
  #failDrainOwed = false;

  constructor(socket: Duplex, fdNeedDrain: () => boolean) {
    this.#socket = socket;
    this.#fdNeedDrain = fdNeedDrain;
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
  /** write()'s result for a write that failed at once. */
  failedNow(cb: WriteCallback | undefined): false {
    if (cb !== undefined && !this.#failDrainOwed) {
      this.#failDrainOwed = true;
      setImmediate(this.#emitFailDrain);
    }
    return false;
  }

  readonly #emitFailDrain = (): void => {
    this.#failDrainOwed = false;
    const socket = this.#socket;
    // Otherwise Writable, or fdRoomFreed(), emits it once the buffer drains.
    if (!socket.destroyed && !socket.writableNeedDrain) socket.emit('drain');
  };

  /**
   * The dups held fell below maxQueuedFds after write() returned false for
   * them. Writable emits 'drain' itself once its own buffer empties, if it
   * told the writer to wait too; otherwise this is the 'drain' owed. After
   * the current flush, as Writable's own 'drain' comes.
   */
  fdRoomFreed(): void {
    if (!writableBufferFull(this.#socket)) process.nextTick(this.#emitDrain);
  }

  readonly #emitDrain = (): void => {
    const socket = this.#socket;
    if (!socket.destroyed && !this.#fdNeedDrain() && !writableBufferFull(socket)) socket.emit('drain');
  };

  /** Writable's callback for a queued message: reports it to the write's own callback. */
  afterWrite(queued: QueuedMessage, err: Error | null | undefined, cb: WriteCallback | undefined): void {
    // Writable gives one error to every message of a _writev batch, but the
    // ones the kernel already took were sent: their callbacks say so, so a
    // caller that re-sends failed messages never sends one twice.
    if (queued.sent) err = null;
    if (!err && queued.error !== null) {
      this.reportMessageError(queued.error, cb);
    } else if (cb) {
      cb(err ?? null);
    }
  }

  // A failure of one message (a bad fd, EMSGSIZE, an unreachable dgram
  // destination) goes to that write's callback and the socket stays usable.
  // Without a callback nobody would see it, so, like Node's dgram send(),
  // it becomes an 'error' on the socket instead.
  reportMessageError(err: Error, cb: WriteCallback | undefined): void {
    if (cb) {
      cb(err);
    } else {
      this.#socket.destroy(err);
    }
  }
}
