// watch(): readiness of a raw fd, for callers of the low-level API that need
// to wait without a busy loop (a connect in progress, EAGAIN on a read or a
// write). A Watcher polls a duplicate of the fd of its own (src/native/
// watcher.cc): the caller may close their fd while watching, and close()
// never closes theirs.
import { native, type NativeWatcher } from '../native/binding';
import { check, describe, errno, errnoError, invalidArgType, invalidArgValue, type ErrnoError } from '../stream/errors';
import { snapshotOptions, validateBoolean, validateFd } from '../stream/validate';

export interface WatchEvents {
  readable?: boolean;
  writable?: boolean;
}

export interface WatchEvent {
  readable: boolean;
  writable: boolean;
  /** A poll error (POLLERR, reported by libuv as EBADF): the watcher is stopped. */
  error: ErrnoError | null;
}

export type WatchCallback = (event: WatchEvent) => void;

// libuv's uv_poll_event values.
const UV_READABLE = 1;
const UV_WRITABLE = 2;

function eventsOf(value: unknown): number {
  const o = snapshotOptions(value, ['readable', 'writable'], 'events');
  const events =
    (validateBoolean(o.readable, 'events.readable') === true ? UV_READABLE : 0) | (validateBoolean(o.writable, 'events.writable') === true ? UV_WRITABLE : 0);
  if (events === 0) throw invalidArgValue('The "events" argument must ask for readable, writable or both');
  return events;
}

export class Watcher {
  #handle: NativeWatcher | null;

  /** Made by watch() only (the class is exported as a type). */
  constructor(handle: NativeWatcher) {
    this.#handle = handle;
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#handle === null;
  }

  /** Polls again after stop(), for the same events or new ones. */
  start(events: WatchEvents): this {
    const mask = eventsOf(events);
    if (this.#handle === null) throw errnoError(errno('EBADF'), 'watch');
    check(this.#handle.start(mask), 'watch');
    return this;
  }

  /** Stops polling; the watcher no longer keeps the process alive. */
  stop(): this {
    this.#handle?.stop();
    return this;
  }

  /** Stops for good and closes the watcher's duplicate; the caller's fd stays open. Idempotent. */
  close(): void {
    const handle = this.#handle;
    this.#handle = null;
    handle?.close();
  }

  ref(): this {
    this.#handle?.ref();
    return this;
  }

  unref(): this {
    this.#handle?.unref();
    return this;
  }
}

/**
 * Calls back on each readiness of fd (level-triggered, as poll(2): again on
 * every turn of the loop while the condition holds, until stop() or close()).
 * The watcher polls a close-on-exec duplicate of fd, so closing fd meanwhile
 * is safe; libuv sets O_NONBLOCK on the open file description.
 */
export function watch(fd: number, events: WatchEvents, callback: WatchCallback): Watcher {
  validateFd(fd, 'fd');
  const mask = eventsOf(events);
  if (typeof callback !== 'function') throw invalidArgType(`The "callback" argument must be of type function. Received ${describe(callback)}`);
  const handle = new native.Watcher();
  check(
    handle.open(fd, (status, ready) => {
      callback({
        readable: (ready & UV_READABLE) !== 0,
        writable: (ready & UV_WRITABLE) !== 0,
        error: status < 0 ? errnoError(status, 'watch') : null,
      });
    }),
    'watch',
  );
  const r = handle.start(mask);
  if (r < 0) {
    handle.close();
    throw errnoError(r, 'watch');
  }
  return new Watcher(handle);
}
