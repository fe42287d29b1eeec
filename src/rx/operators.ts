// Operators on received messages that keep the fd ownership rules: an fd an
// operator does not pass downstream is closed, never dropped.
import { Observable, type OperatorFunction, type MonoTypeOperatorFunction } from 'rxjs';
import { describe, invalidArgType, outOfRange } from '../stream/errors';
import { isArray, snapshotOptions } from '../stream/validate';
import { closeFds } from '../stream/fds';
import type { UnixMessage } from '../stream/index';

/**
 * Each fd of each message, in order, as its own value; the data is dropped.
 * Every fd emitted is the subscriber's. When the subscription ends in the
 * middle of a message (e.g. after `take(1)`), the fds of that message not
 * yet emitted are closed.
 */
export function fds(): OperatorFunction<UnixMessage, number> {
  return (source) =>
    new Observable<number>((subscriber) =>
      source.subscribe({
        next: (message) => {
          const list = message.fds;
          for (let i = 0; i < list.length; i++) {
            if (subscriber.closed) {
              closeFds(list.slice(i));
              return;
            }
            subscriber.next(list[i]!);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}

/** An fd count: exactly `n`, or a range `{ min, max }` (both inclusive, either optional). */
export type FdCount = number | { min?: number; max?: number };

/**
 * Keeps the messages whose fd count matches, and closes the fds of the ones
 * it drops (a plain `filter()` would leak them). `withFds(1)` for a protocol
 * where each message carries one fd, `withFds({ min: 1 })` for "carries
 * any". A message that lost fds to MSG_CTRUNC (`fdsTruncated`) is counted
 * with the fds that did arrive.
 */
export function withFds(count: FdCount): MonoTypeOperatorFunction<UnixMessage> {
  let min: unknown = count;
  let max: unknown = count;
  if (typeof count !== 'number') {
    if (typeof count !== 'object' || count === null || isArray(count, 'count')) {
      throw invalidArgType(`withFds() takes a count of fds or a range { min, max } of them. Received ${describe(count)}`);
    }
    // Each read once.
    const range = snapshotOptions(count, ['min', 'max'], 'count');
    min = range.min ?? 0;
    max = range.max ?? Infinity;
  }
  if (
    typeof min !== 'number' ||
    typeof max !== 'number' ||
    !Number.isSafeInteger(min) ||
    min < 0 ||
    !(Number.isSafeInteger(max) || max === Infinity) ||
    max < min
  ) {
    throw outOfRange(
      `withFds() takes a count of fds or a range { min, max } of them. Received ${describe(count)}${typeof count === 'number' ? '' : ` (min ${describe(min)}, max ${describe(max)})`}`,
    );
  }
  return (source) =>
    new Observable<UnixMessage>((subscriber) =>
      source.subscribe({
        next: (message) => {
          const n = message.fds.length;
          // A synchronous source goes on emitting after the subscriber has
          // gone (take(1)): those messages' fds are closed, never dropped.
          if (n >= min && n <= max && !subscriber.closed) subscriber.next(message);
          else closeFds(message.fds);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}
