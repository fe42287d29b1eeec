// sendTo(): writes a sequence of messages into a socket.
import { isObservable, Observable } from 'rxjs';
import { closeFds as closeFdList } from '../stream/fds';
import { describe, invalidArgType, isRevokedProxy, streamDestroyed } from '../stream/errors';
import { messageFromParts, readMessage, snapshotFds, snapshotOptions, validateBoolean } from '../stream/validate';
import { isByteView, isFakeView } from '../stream/views';
import type { MessageInput, UnixMessageSocket } from '../stream/index';
import { prematureClose } from './errors';
import { markHandled } from './handled-errors';
import { validateSocket } from './validate';

/** What UnixMessageSocket.write() takes. */
export type Sendable = MessageInput;

/**
 * An Observable is pushed into the socket as fast as it emits. An Iterable
 * or AsyncIterable (a generator, a Node Readable) is pulled only while the
 * socket has room, so it gets real backpressure.
 */
export type SendSource<T> = Observable<T> | Iterable<T> | AsyncIterable<T>;

export interface SendToOptions {
  /** end() the socket once the source completes and every write succeeded (default `true`). */
  end?: boolean;
  /**
   * Take ownership of the fds of every message: close them once write() has
   * returned (it duplicates them first) or has refused the message. For
   * forwarding received messages without keeping their fds open. Default
   * `false`: the fds stay the caller's, as with write(). A message whose
   * `fds` is not a valid list of fds is refused with them left to you: no
   * library can tell which numbers in it are fds.
   */
  closeFds?: boolean;
}

/**
 * Writes every message of a source into `socket`. Use it as an operator
 * (`messages$.pipe(sendTo(socket))`) or call it on an iterable
 * (`sendTo(socket)(generator())`). The result emits the number of messages
 * written, then completes: with `end`, after the socket's 'finish'; without,
 * once every write has called back. It errors with the first write error
 * (per-message errors such as EBADF included), a socket error, or
 * ERR_STREAM_PREMATURE_CLOSE if the socket closes first.
 *
 * Backpressure: when write() returns false, an iterable source is not pulled
 * again until 'drain', so memory stays bounded whatever its length. An
 * Observable cannot be paused: its messages are queued in the socket's
 * writable buffer (with their duplicated fds) as fast as it emits them. For
 * a large or fast source, pass a lazy iterable, not an Observable made from
 * one.
 *
 * The socket is the caller's: unsubscribing stops the writing (messages
 * already written are still sent) and neither ends nor destroys it.
 */
export function sendTo(socket: UnixMessageSocket, options: SendToOptions = {}): (source: SendSource<Sendable>) => Observable<number> {
  validateSocket(socket);
  // Read once and checked now, not at each write.
  const o = snapshotOptions(options, ['end', 'closeFds']);
  const end = validateBoolean(o.end, 'end') ?? true;
  const closeFds = validateBoolean(o.closeFds, 'closeFds') ?? false;
  return (source) => {
    const kind = sourceKind(source);
    return new Observable<number>((subscriber) => {
      if (socket.destroyed) {
        subscriber.error(streamDestroyed('write'));
        return;
      }
      let issued = 0;
      let written = 0;
      let sourceDone = false;
      let ending = false;
      let wake: (() => void) | null = null;
      // An error from a write's or end()'s callback: the socket may emit it as
      // 'error' after this subscription has gone (handled-errors.ts).
      const fail = (err: Error): void => {
        if (subscriber.closed) return;
        markHandled(socket, err);
        subscriber.error(err);
      };
      const finish = (): void => {
        subscriber.next(written);
        subscriber.complete();
      };
      const maybeDone = (): void => {
        if (!sourceDone || written < issued || ending || subscriber.closed) return;
        if (!end) {
          finish();
          return;
        }
        ending = true;
        if (socket.writableFinished) finish();
        else socket.end((err?: Error | null) => (err ? fail(err) : finish()));
      };
      const write = (message: Sendable): boolean => {
        issued++;
        let chunk: MessageInput = message;
        let owned: readonly number[] = [];
        try {
          if (closeFds) {
            // The message read once here, so that the fds closed below are
            // exactly the ones written. Not lent: write() duplicates them.
            const parts = readMessage(message);
            owned = snapshotFds(parts.fds);
            // Whether an empty message may carry fds is write()'s to judge: a
            // framed stream's may (README.md, "Framed stream sockets").
            const msg = messageFromParts({ ...parts, fds: owned }, socket.type, true);
            chunk = { data: msg.data, fds: msg.fds, address: msg.address ?? undefined };
          }
          return socket.write(chunk, (err?: Error | null) => {
            if (err) {
              fail(err);
            } else {
              written++;
              maybeDone();
            }
          });
        } catch (err) {
          subscriber.error(err);
          return false;
        } finally {
          closeFdList(owned);
        }
      };
      const onDrain = (): void => wake?.();
      const onError = (err: Error): void => subscriber.error(err);
      const onClose = (): void => subscriber.error(prematureClose());
      socket.on('drain', onDrain);
      socket.on('error', onError);
      socket.on('close', onClose);
      subscriber.add(() => {
        socket.off('drain', onDrain);
        socket.off('error', onError);
        socket.off('close', onClose);
        wake?.();
      });
      const onSourceDone = (): void => {
        sourceDone = true;
        maybeDone();
      };

      if (kind === 'observable') {
        subscriber.add(
          (source as Observable<Sendable>).subscribe({
            // A source that emits synchronously goes on after a failed write
            // has ended the subscription: nothing more is written then.
            next: (message) => void (subscriber.closed || write(message)),
            error: (err: unknown) => subscriber.error(err),
            complete: onSourceDone,
          }),
        );
        return;
      }
      const iterator = kind === 'async' ? (source as AsyncIterable<Sendable>)[Symbol.asyncIterator]() : (source as Iterable<Sendable>)[Symbol.iterator]();
      const drained = (): Promise<void> =>
        new Promise((resolve) => {
          wake = () => {
            wake = null;
            resolve();
          };
        });
      // An async generator's return() settles later, when nobody can be told.
      subscriber.add(() => void Promise.resolve(iterator.return?.()).catch(() => undefined));
      void (async () => {
        try {
          while (!subscriber.closed) {
            const step = await iterator.next();
            if (subscriber.closed) return;
            if (step.done) {
              onSourceDone();
              return;
            }
            if (!write(step.value) && !subscriber.closed) await drained();
          }
        } catch (err) {
          subscriber.error(err);
        }
      })();
    });
  };
}

/**
 * What kind of source this is; anything that is neither an Observable nor
 * iterable is refused when the operator is applied. A string is iterable.
 */
function sourceKind(source: unknown): 'observable' | 'async' | 'sync' {
  if (typeof source === 'string') return 'sync';
  // A byte view is one message, not a source of them (its iterator yields
  // numbers, or throws once detached), and a fake one inherits an iterator
  // that throws.
  if (
    (typeof source === 'object' && source !== null && !isRevokedProxy(source) && !isByteView(source) && !isFakeView(source)) ||
    typeof source === 'function'
  ) {
    if (isObservable(source)) return 'observable';
    if (Symbol.asyncIterator in source) return 'async';
    if (Symbol.iterator in source) return 'sync';
  }
  throw invalidArgType(`sendTo() takes an Observable, an Iterable or an AsyncIterable of messages. Received ${describe(source)}`);
}
