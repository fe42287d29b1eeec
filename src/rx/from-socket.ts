// Observables over a socket's readable side: fromSocket() and processMessages().
//
// Both read through readMessages(), which owns the rules they share: one
// reader per socket, 'end' completes, 'error' errors, and a subscription that
// stops before the socket has ended stops reading (and by default destroys
// the socket, which closes the fds of every message it did not deliver).
import { finished } from 'node:stream';
import { from, Observable, type ObservableInput, type Subscriber } from 'rxjs';
import { outOfRange } from '../stream/errors';
import type { UnixMessage, UnixMessageSocket } from '../stream/index';
import { alreadyReading } from './errors';
import { markHandled } from './handled-errors';

export interface FromSocketOptions {
  /**
   * When the subscription ends before the socket does (unsubscribe, or an
   * error raised downstream), destroy the socket (default `true`). `false`
   * leaves it open and paused: messages stay in its bounded buffer and in the
   * kernel for the next reader, and its 'error' events are yours to handle
   * (except the error it had already failed with while subscribed: that one
   * was the subscription's).
   */
  destroyOnUnsubscribe?: boolean;
}

export interface ProcessMessagesOptions extends FromSocketOptions {
  /** How many calls of `fn` may run at once (default 1; `Infinity` never pauses). */
  concurrency?: number;
}

// Two readers would each receive every message, so each would own, and
// close, the same fds.
const reading = new WeakSet<UnixMessageSocket>();

/**
 * Starts reading `socket` for `subscriber`. Messages go to `onMessage`, the
 * end of the readable side to `onEnd`, errors (also a close before the end:
 * ERR_STREAM_PREMATURE_CLOSE) to the subscriber. Returns the teardown.
 */
function readMessages(
  socket: UnixMessageSocket,
  subscriber: Subscriber<unknown>,
  onMessage: (message: UnixMessage) => void,
  onEnd: () => void,
  options: FromSocketOptions,
): () => void {
  if (reading.has(socket)) {
    subscriber.error(alreadyReading());
    return () => undefined;
  }
  reading.add(socket);
  let settled = false;
  const stopWatching = finished(socket, { writable: false }, (err) => {
    settled = true;
    if (err) subscriber.error(err);
    else onEnd();
  });
  socket.on('data', onMessage);
  socket.resume();
  return () => {
    reading.delete(socket);
    stopWatching();
    // The socket failed while we watched it and has not emitted 'error' yet
    // (settled would say so): Writable gives the error to the pending write
    // callbacks first, and one of them may be why this subscription ends.
    // The error was ours to report, so it must not become an unhandled one.
    if (!settled && socket.errored !== null) markHandled(socket, socket.errored);
    socket.off('data', onMessage);
    // Pause even before destroy(): when this runs inside a 'data' listener,
    // Node's flow loop would go on emitting the buffered messages of a
    // destroyed socket, with fds that destroy() has already closed.
    socket.pause();
    if (!settled && (options.destroyOnUnsubscribe ?? true)) socket.destroy();
  };
}

/**
 * The messages of `socket`. Subscribing starts reading; each message is a
 * `next`, the peer's end completes, and a socket error errors.
 *
 * A message is the subscriber's, fds included, once it is emitted. When the
 * subscription ends before the socket does, reading stops and, unless
 * `destroyOnUnsubscribe` is false, the socket is destroyed, which closes the
 * fds of the messages it had received and not delivered.
 *
 * The socket is read in flowing mode: every message is emitted as soon as it
 * arrives, whatever the subscriber is doing. That suits synchronous
 * consumers. A consumer whose work is asynchronous should use
 * processMessages(), which stops reading while that work runs; otherwise the
 * work (and its messages) piles up in the operators that run it.
 *
 * One subscriber at a time: a second concurrent subscription errors with
 * ERR_INVALID_STATE (use share() to multicast).
 */
export function fromSocket(socket: UnixMessageSocket, options: FromSocketOptions = {}): Observable<UnixMessage> {
  return new Observable<UnixMessage>((subscriber) =>
    readMessages(socket, subscriber, (message) => subscriber.next(message), () => subscriber.complete(), options));
}

/**
 * Runs `fn` on each message of `socket` and emits what it returns (a
 * promise, observable or any ObservableInput), like
 * `fromSocket(socket).pipe(mergeMap(fn, concurrency))`, except that the
 * socket stops reading while `concurrency` calls are unsettled. Messages then
 * wait in the socket's bounded buffer and in the kernel, so the sender feels
 * the backpressure, and memory does not grow with a slow `fn`.
 *
 * `fn` owns the message it is given, fds included. Completes once the socket
 * has ended and every call has settled; errors on a socket error or when `fn`
 * throws or its result errors. Teardown is that of fromSocket().
 */
export function processMessages<R>(
  socket: UnixMessageSocket,
  fn: (message: UnixMessage) => ObservableInput<R>,
  options: ProcessMessagesOptions = {},
): Observable<R> {
  const concurrency = options.concurrency ?? 1;
  if (concurrency !== Infinity && (!Number.isInteger(concurrency) || concurrency < 1)) {
    throw outOfRange(`The "concurrency" option must be a positive integer or Infinity. Received ${String(concurrency)}`);
  }
  return new Observable<R>((subscriber) => {
    let running = 0;
    let ended = false;
    const onMessage = (message: UnixMessage): void => {
      running++;
      if (running >= concurrency) socket.pause();
      let output: Observable<R>;
      try {
        output = from(fn(message));
      } catch (err) {
        subscriber.error(err);
        return;
      }
      subscriber.add(output.subscribe({
        next: (value) => subscriber.next(value),
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          running--;
          if (subscriber.closed) return;
          if (!ended) socket.resume();
          else if (running === 0) subscriber.complete();
        },
      }));
    };
    const onEnd = (): void => {
      ended = true;
      if (running === 0) subscriber.complete();
    };
    return readMessages(socket, subscriber, onMessage, onEnd, options);
  });
}
