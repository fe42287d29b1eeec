// A socket's link to its peer: connect() to an address (non-blocking:
// EINPROGRESS, then SO_ERROR once writable; EAGAIN from a full backlog is
// retried on a timer), the peer's address once connected, and the writable
// poll and backoff timer that the connect and the send queue share (one
// poll, one timer per socket).
import { constants, native, type NativeSocketHandle } from '../native/binding';
import { errno } from './errors';
import type { NativeAddress } from './address-codec';

const EAGAIN = errno('EAGAIN'),
  EINPROGRESS = errno('EINPROGRESS'),
  EINTR = errno('EINTR');
const MAX_RETRY_MS = 64;

export interface ConnectionHost {
  /** The connect() finished: 0, or -errno. */
  connected(status: number): void;
  /** Writable again, or the retry timer fired, with no connect in progress. */
  flush(): void;
}

const scratch = new Int32Array(1);

export class Connection {
  // null once the socket is destroyed (close()).
  #handle: NativeSocketHandle | null;
  readonly #host: ConnectionHost;
  /** The address connect() was asked for (connect()), if any. */
  readonly connectTo: NativeAddress | undefined;
  /** True from construction until that connect() has completed. */
  connecting: boolean;
  /** The peer's address once connect() succeeded. */
  remote: NativeAddress | undefined;
  // Whether the handle polls for writability. It mirrors the handle's own
  // state so that the end of every write costs no N-API call (writeStop).
  #watchingWritable = false;
  #retryTimer: NodeJS.Timeout | null = null;
  #retryDelay = 1;
  #refed = true;

  constructor(handle: NativeSocketHandle, connectTo: NativeAddress | undefined, host: ConnectionHost) {
    this.#handle = handle;
    this.connectTo = connectTo;
    this.connecting = connectTo !== undefined;
    this.#host = host;
  }

  connect(): void {
    const h = this.#handle;
    if (h === null) return;
    const r = native.connect(h.fd, this.connectTo!);
    if (r === EINPROGRESS || r === EINTR) {
      this.#watchingWritable = true;
      h.writeStart();
    } else if (r === EAGAIN) {
      // The listener's backlog is full; a Unix connect() does not queue, and
      // the socket polls writable meanwhile, so retry on a timer.
      this.retryLater();
    } else {
      this.#connected(r);
    }
  }

  #connected(status: number): void {
    this.connecting = false;
    this.#retryDelay = 1;
    if (status >= 0) this.remote = this.connectTo;
    this.#host.connected(status);
  }

  /** The handle's onWritable. */
  onWritable(): void {
    this.stopWatchingWritable();
    if (this.connecting) {
      // A non-blocking connect finished: SO_ERROR says how (connect(2)).
      const r = native.getsockopt(this.#handle!.fd, constants.SOL_SOCKET, constants.SO_ERROR, scratch);
      this.#connected(r < 0 ? r : -scratch[0]!);
      return;
    }
    this.#host.flush();
  }

  /** Polls for writability (EAGAIN, ENOBUFS); onWritable() follows. */
  waitWritable(): void {
    if (!this.#watchingWritable && this.#handle !== null) {
      this.#watchingWritable = true;
      this.#handle.writeStart();
    }
  }

  stopWatchingWritable(): void {
    if (this.#watchingWritable) {
      this.#watchingWritable = false;
      this.#handle?.writeStop();
    }
  }

  /** Tries again after a delay that doubles up to MAX_RETRY_MS: the connect, or a flush. */
  retryLater(): void {
    if (this.#retryTimer !== null) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.connecting) this.connect();
      else this.#host.flush();
    }, this.#retryDelay);
    if (!this.#refed) this.#retryTimer.unref();
    this.#retryDelay = Math.min(this.#retryDelay * 2, MAX_RETRY_MS);
  }

  /** Something was sent: the next retryLater() starts short again. */
  progressed(): void {
    this.#retryDelay = 1;
  }

  ref(): void {
    this.#refed = true;
    this.#retryTimer?.ref();
  }

  unref(): void {
    this.#refed = false;
    this.#retryTimer?.unref();
  }

  /** The socket is destroyed: no timer, no poll, no connect any more. */
  close(): void {
    if (this.#retryTimer !== null) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = null;
    }
    this.#handle = null;
    this.connecting = false;
  }
}
