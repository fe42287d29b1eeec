// Servers as observables of accepted connections: connections() for a server
// you created, listen$() for one the subscription creates and owns.
import { Observable } from 'rxjs';
import { createServer, type ListenOptions, type ServerOptions, type UnixMessageServer, type UnixMessageSocket } from '../stream/index';
import { describe, invalidArgType, invalidArgValue } from '../stream/errors';
import { listenOptionsOf } from '../stream/server';
import { snapshotOptions, socketOptionsOf, validateBoolean } from '../stream/validate';
import { validateCallbackOption, validateServer } from './validate';

export interface ConnectionsOptions {
  /**
   * Teardown also destroys every connection the server accepted and that is
   * still open (default `true`), so that unsubscribing leaves nothing open.
   * `false` leaves them to whoever holds them.
   */
  closeConnections?: boolean;
  /**
   * Receives the errors the server reports while it keeps listening (accept
   * failures such as EMFILE, whose pending connections were dropped). Without
   * it they error the observable, which closes the server.
   */
  onAcceptError?: (err: Error) => void;
}

export interface Listen$Options extends ServerOptions, ListenOptions, ConnectionsOptions {}

/**
 * The connections `server` accepts from now on, one `next` each. The server
 * does not have to be listening yet. A listen() failure (EADDRINUSE...)
 * errors; see `onAcceptError` for errors after that. Completes on the
 * server's 'close'.
 *
 * Teardown closes the server (which stops accepting and removes the socket
 * file it created) and, unless `closeConnections` is false, destroys its
 * open connections.
 */
export function connections(server: UnixMessageServer, options: ConnectionsOptions = {}): Observable<UnixMessageSocket> {
  validateServer(server);
  const o = connectionsOptions(snapshotOptions(options, ['closeConnections', 'onAcceptError']));
  return new Observable<UnixMessageSocket>((subscriber) => {
    const onConnection = (socket: UnixMessageSocket): void => subscriber.next(socket);
    const onError = (err: Error): void => {
      if (server.listening && o.onAcceptError) o.onAcceptError(err);
      else subscriber.error(err);
    };
    const onClose = (): void => subscriber.complete();
    server.on('connection', onConnection);
    server.on('error', onError);
    server.once('close', onClose);
    return () => {
      server.off('connection', onConnection);
      server.off('error', onError);
      server.off('close', onClose);
      if (server.listening) server.close();
      if (o.closeConnections ?? true) server.closeAllConnections();
    };
  });
}

/**
 * A server that exists for the subscription: subscribing creates it and
 * listens on `options.path` (or adopts `options.fd`), and it emits every
 * accepted connection. Teardown is that of connections(), so unsubscribing
 * closes the server and, by default, its connections.
 */
export function listen$(options: Listen$Options): Observable<UnixMessageSocket> {
  if (options === undefined || options === null) {
    throw invalidArgType(`The "options" argument must be an object { path } or { fd }. Received ${describe(options)}`);
  }
  // Read once and checked now, not at each subscription.
  const { path, fd, backlog, mode, closeConnections, onAcceptError, type, ...serverOptions } = socketOptionsOf(options, [
    'path',
    'fd',
    'backlog',
    'mode',
    'closeConnections',
    'onAcceptError',
    'type',
  ]);
  if (type !== undefined && type !== 'stream' && type !== 'seqpacket') {
    throw invalidArgValue(`The "type" option of a server must be 'stream' or 'seqpacket'. Received ${describe(type)}`);
  }
  const target = listenOptionsOf({ path, fd, backlog, mode });
  const accepting = connectionsOptions({ closeConnections, onAcceptError });
  return new Observable<UnixMessageSocket>((subscriber) => {
    const server = createServer({ ...serverOptions, type });
    const subscription = connections(server, accepting).subscribe(subscriber);
    server.listen(target);
    return () => {
      subscription.unsubscribe();
      // listen() reports a failure as 'error' on the next tick, as net.Server
      // does: a subscription that ended first has taken its listener off, and
      // nobody else can see this server to listen for it.
      server.on('error', dropAfterTeardown);
    };
  });
}

function connectionsOptions(o: { closeConnections?: unknown; onAcceptError?: unknown }): ConnectionsOptions {
  validateBoolean(o.closeConnections, 'closeConnections');
  validateCallbackOption(o.onAcceptError, 'onAcceptError');
  return o as ConnectionsOptions;
}

/** What listen$'s server still emits once its subscription has ended: a failed listen() nobody waits for. */
function dropAfterTeardown(): void {}
