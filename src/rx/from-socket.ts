// Observables over a socket's readable side: fromSocket() and processMessages().
//
// Both read through readMessages(), which owns the rules they share: one
// reader per socket, 'end' completes, 'error' errors, and a subscription that
// stops before the socket has ended stops reading (and by default destroys
// the socket, which closes the fds of every message it did not deliver).
import { finished } from 'node:stream';
import { from, Observable, type ObservableInput, type Subscriber } from 'rxjs';
import { coded, describe, isRevokedProxy, outOfRange } from '../stream/errors';
import { snapshotOptions, validateBoolean } from '../stream/validate';
import { isFakeView } from '../stream/views';
import type { UnixMessage, UnixMessageSocket } from '../stream/index';
import { alreadyReading } from './errors';
import { markHandled } from './handled-errors';
import { validateFunction, validateSocket } from './validate';

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
  validateSocket(socket);
  const o = snapshotOptions(options, ['destroyOnUnsubscribe']);
  validateBoolean(o.destroyOnUnsubscribe, 'destroyOnUnsubscribe');
  return new Observable<UnixMessage>((subscriber) =>
    readMessages(
      socket,
      subscriber,
      (message) => subscriber.next(message),
      () => subscriber.complete(),
      o as FromSocketOptions,
    ),
  );
}

/** processMessages()'s options, read once and checked when it is called. */
function readOptions(options: unknown): ProcessMessagesOptions {
  const o = snapshotOptions(options, ['destroyOnUnsubscribe', 'concurrency']);
  validateBoolean(o.destroyOnUnsubscribe, 'destroyOnUnsubscribe');
  const concurrency = o.concurrency;
  if (concurrency !== undefined && concurrency !== Infinity && (typeof concurrency !== 'number' || !Number.isSafeInteger(concurrency) || concurrency < 1)) {
    throw outOfRange(`The "concurrency" option must be a positive integer or Infinity. Received ${describe(concurrency)}`);
  }
  return o as ProcessMessagesOptions;
}

/**
 * What fn returned, as an Observable. RxJS's from() refuses a value that is
 * no ObservableInput with a TypeError of its own, without a code: that one
 * becomes ERR_INVALID_RETURN_VALUE, as Node names a callback's bad return
 * value. Anything else from() throws came from the value's own code (a
 * getter, a Proxy trap) and goes on unchanged.
 */
function output<R>(value: ObservableInput<R>): Observable<R> {
  const invalid = (): Error =>
    coded(
      TypeError,
      'ERR_INVALID_RETURN_VALUE',
      `The function given to processMessages() must return an ObservableInput (an Observable, a Promise, an array, an iterable...). It returned ${describe(value)}`,
    );
  // What from() cannot even look at without an engine error of its own.
  const kind = typeof value;
  if ((kind !== 'object' && kind !== 'function' && kind !== 'string') || value === null) throw invalid();
  if (isRevokedProxy(value) || isFakeView(value as object)) throw invalid();
  try {
    return from(value);
  } catch (err) {
    if (err instanceof TypeError && (err as { code?: unknown }).code === undefined && err.message.startsWith('You provided')) throw invalid();
    throw err;
  }
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
  validateSocket(socket);
  validateFunction(fn, 'fn');
  const o = readOptions(options);
  const concurrency = o.concurrency ?? 1;
  return new Observable<R>((subscriber) => {
    let running = 0;
    let ended = false;
    const onMessage = (message: UnixMessage): void => {
      running++;
      if (running >= concurrency) socket.pause();
      let results: Observable<R>;
      try {
        results = output(fn(message));
      } catch (err) {
        subscriber.error(err);
        return;
      }
      subscriber.add(
        results.subscribe({
          next: (value) => subscriber.next(value),
          error: (err: unknown) => subscriber.error(err),
          complete: () => {
            running--;
            if (subscriber.closed) return;
            if (!ended) socket.resume();
            else if (running === 0) subscriber.complete();
          },
        }),
      );
    };
    const onEnd = (): void => {
      ended = true;
      if (running === 0) subscriber.complete();
    };
    return readMessages(socket, subscriber, onMessage, onEnd, o);
  });
}
