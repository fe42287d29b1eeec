// connect$(): a client socket whose lifetime is the subscription's.
import { Observable } from 'rxjs';
import { connect, type ConnectOptions, type UnixMessageSocket } from '../stream/index';
import { connectOptionsOf } from '../stream/validate';
import { markHandled } from './handled-errors';

/**
 * A cold observable of one connection: each subscription connects a new
 * socket and emits it once 'connect' has fired. It errors when the connect
 * fails or the socket errors later, and completes when the socket closes.
 *
 * The subscription owns the socket: teardown destroys it (its undelivered
 * fds are closed). Keep the subscription for as long as the socket is used,
 * e.g. `connect$(o).pipe(switchMap((socket) => ...))`; `firstValueFrom()`
 * would hand over a socket that is already destroyed. For a socket that
 * outlives any subscription, use connect().
 */
export function connect$(options: ConnectOptions): Observable<UnixMessageSocket> {
  // Read once and checked now, not at each subscription.
  const o = connectOptionsOf(options);
  return new Observable<UnixMessageSocket>((subscriber) => {
    const socket = connect(o);
    let settled = false;
    const onConnect = (): void => subscriber.next(socket);
    const onError = (err: Error): void => {
      settled = true;
      subscriber.error(err);
    };
    const onClose = (): void => {
      settled = true;
      subscriber.complete();
    };
    socket.once('connect', onConnect);
    socket.once('error', onError);
    socket.once('close', onClose);
    return () => {
      socket.off('connect', onConnect);
      socket.off('error', onError);
      socket.off('close', onClose);
      // As in fromSocket()'s readMessages(): the socket failed while we
      // listened and has not emitted 'error' yet; its write callbacks, which
      // Writable calls first, may be why this subscription ends.
      if (!settled && socket.errored !== null) markHandled(socket, socket.errored);
      socket.destroy();
    };
  });
}
