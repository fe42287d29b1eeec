// markHandled(): an error that an observable has given its subscriber stays
// handled when the stream it came from emits it as 'error' later.
//
// Node's Writable calls a failed write's callback first and emits the same
// error object as 'error' on a later tick (lib/internal/streams/writable.js:
// onwriteError() calls the callback, then errorOrDestroy(); _write() queues
// the callback of a write after end; destroy(err) calls the pending writes
// back, in _destroy or errorBuffer(), before destroy.js emitErrorCloseNT()
// emits). An observable that errors its subscriber from such a callback has
// unsubscribed, and taken its 'error' listener off, by then: without this,
// an error the subscriber handled would crash the process as an unhandled
// 'error'.
import type { EventEmitter } from 'node:events';

/** A stream, as far as this needs one: 'error', then 'close' once destroyed. */
export interface Destroyable extends EventEmitter {
  readonly destroyed: boolean;
}

interface Guard {
  readonly errors: Set<unknown>;
  readonly onError: (err: unknown) => void;
  readonly onClose: () => void;
}

// One guard per stream, whatever the number of subscriptions that mark errors.
const guards = new WeakMap<Destroyable, Guard>();

/**
 * Makes `err` a handled error of `stream` until its 'close': emitted as
 * 'error', it is dropped. Call it when giving `err` to a subscriber, before
 * the stream has emitted 'close'. Any other error the stream emits is left
 * as it was: it goes to the stream's other 'error' listeners or, with none,
 * is thrown as EventEmitter throws an unhandled 'error'.
 *
 * Nothing stays on the stream: the guard goes at 'close', or at once if the
 * stream is not destroyed by the next microtask. A stream that will emit the
 * error is destroyed by then (before the callback, or by onwriteError() and
 * callFinal() right after it), so one still alive failed a message only
 * (EBADF, EMSGSIZE: UnixMessageSocket reports those to the callback alone)
 * and will not emit `err`.
 */
export function markHandled(stream: Destroyable, err: unknown): void {
  let guard = guards.get(stream);
  if (guard === undefined) {
    const errors = new Set<unknown>();
    const onError = (emitted: unknown): void => {
      if (errors.has(emitted)) return;
      if (stream.listeners('error').some((listener) => listener !== onError)) return;
      // Nobody else listens: what emit() would have done without this listener.
      throw emitted;
    };
    const onClose = (): void => release(stream);
    guard = { errors, onError, onClose };
    guards.set(stream, guard);
    stream.on('error', onError);
    stream.on('close', onClose);
  }
  guard.errors.add(err);
  queueMicrotask(() => {
    if (!stream.destroyed) forget(stream, err);
  });
}

function forget(stream: Destroyable, err: unknown): void {
  const guard = guards.get(stream);
  if (guard === undefined) return;
  guard.errors.delete(err);
  if (guard.errors.size === 0) release(stream);
}

function release(stream: Destroyable): void {
  const guard = guards.get(stream);
  if (guard === undefined) return;
  guards.delete(stream);
  stream.off('error', guard.onError);
  stream.off('close', guard.onClose);
}
