// sendTo(): writes a sequence of messages into a socket.
import { isObservable, Observable } from 'rxjs';
import { closeFds } from '../stream/fds';
import { streamDestroyed } from '../stream/errors';
import type { OutgoingMessage, UnixMessageSocket } from '../stream/index';
import { prematureClose } from './errors';
import { markHandled } from './handled-errors';

/** What UnixMessageSocket.write() takes. */
export type Sendable = OutgoingMessage | Buffer | Uint8Array | string;

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
   * `false`: the fds stay the caller's, as with write().
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
  const end = options.end ?? true;
  return (source) => new Observable<number>((subscriber) => {
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
      try {
        return socket.write(message, (err?: Error | null) => {
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
        if (options.closeFds) closeMessageFds(message);
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

    if (isObservable(source)) {
      subscriber.add(source.subscribe({
        next: (message) => void write(message),
        error: (err: unknown) => subscriber.error(err),
        complete: onSourceDone,
      }));
      return;
    }
    const iterator = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
    const drained = (): Promise<void> => new Promise((resolve) => {
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
}

/** The fds of a message handed over with `closeFds`, as far as they are fds at all. */
function closeMessageFds(message: Sendable): void {
  if (typeof message !== 'object' || message === null || message instanceof Uint8Array) return;
  const fds: unknown = message.fds;
  if (Array.isArray(fds)) closeFds(fds.filter((fd): fd is number => Number.isInteger(fd) && fd >= 0));
}
