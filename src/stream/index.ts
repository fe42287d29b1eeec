// The stream layer's public entry: the socket and server classes, the
// factories that make them (socketPair, connect, createSocket, createServer),
// and the types and constants a user of the package imports.
import { constants, native } from '../native/binding';
import { destroyOnAbort, validateSignal } from './abort';
import { describe, errnoError, invalidArgType } from './errors';
import { UnixMessageServer, type ServerOptions } from './server';
import { UnixMessageSocket } from './socket';
import type { SocketOptions } from './socket-options';
import { TYPE_NUMBERS } from './socket-type';
import type { SocketType } from './types';
import { connectOptionsOf, socketOptionsOf, validateAddress, validateSocketType } from './validate';

export { UnixMessageServer, UnixMessageSocket };
export type { ListenOptions, ServerOptions } from './server';
export type { SocketOptions } from './socket-options';
export type { FrameFormat } from './frame-format';
export type { UnixMessageServerEvents, UnixMessageSocketEvents } from './socket-events';
export * from './types';

function validateCallback(callback: unknown, name: string): void {
  if (callback !== undefined && typeof callback !== 'function') {
    throw invalidArgType(`The "${name}" argument must be a function. Received ${describe(callback)}`);
  }
}

/** A connected pair (socketpair(2)); default type 'seqpacket'. */
export function socketPair(type: SocketType = 'seqpacket', options: SocketOptions = {}): [UnixMessageSocket, UnixMessageSocket] {
  const t = validateSocketType(type);
  // Read once: both sockets get the same values.
  const opts = socketOptionsOf(options);
  const out = new Int32Array(2);
  const r = native.socketpair(TYPE_NUMBERS[t], out);
  if (r < 0) throw errnoError(r, 'socketpair');
  let a: UnixMessageSocket | undefined;
  try {
    a = new UnixMessageSocket({ ...opts, fd: out[0]!, type: t });
    return [a, new UnixMessageSocket({ ...opts, fd: out[1]!, type: t })];
  } catch (err) {
    if (a) a.destroy();
    else native.close(out[0]!);
    native.close(out[1]!);
    throw err;
  }
}

export interface ConnectOptions extends SocketOptions {
  /** A filesystem path, or '\0name' for the abstract namespace; or its raw bytes (a Uint8Array). */
  path: string | Uint8Array;
  /** Default 'seqpacket'. */
  type?: SocketType;
  /**
   * Destroys the socket with an `AbortError` (`code: 'ABORT_ERR'`, `cause`:
   * the signal's reason) when aborted: before, while or after connecting, as
   * `net.connect({ signal })` does. Queued messages fail and their duplicated
   * fds are closed. The listener is removed once the socket closes.
   */
  signal?: AbortSignal;
}

/** Connects to a listening (or, for dgram, bound) socket. 'connect' follows. */
export function connect(options: ConnectOptions, onConnect?: () => void): UnixMessageSocket {
  const { path, type, signal, ...opts } = connectOptionsOf(options);
  validateCallback(onConnect, 'onConnect');
  const fd = native.socket(TYPE_NUMBERS[type]);
  if (fd < 0) throw errnoError(fd, 'socket');
  let socket: UnixMessageSocket;
  try {
    socket = new UnixMessageSocket({ ...opts, fd, type, connectTo: path });
  } catch (err) {
    native.close(fd);
    throw err;
  }
  if (onConnect) socket.once('connect', onConnect);
  // After the constructor: an already aborted signal destroys the socket
  // before its connect(), queued for the next tick, can run.
  if (signal !== undefined) destroyOnAbort(socket, signal);
  return socket;
}

export interface CreateSocketOptions extends SocketOptions {
  /** Default 'dgram'. */
  type?: SocketType;
  /** Bind at once: a path, '\0name' (or its raw bytes, a Uint8Array), or '' to autobind. */
  bind?: string | Uint8Array;
  /** As dgram.createSocket({ signal }): the socket is destroyed with an `AbortError` when aborted. */
  signal?: AbortSignal;
}

/** An unconnected socket, typically dgram: bind() it, then write({ data, address }). */
export function createSocket(options: CreateSocketOptions = {}): UnixMessageSocket {
  const { type: rawType, bind, signal: rawSignal, ...opts } = socketOptionsOf(options, ['type', 'bind', 'signal']);
  const type = validateSocketType(rawType ?? 'dgram');
  const signal = validateSignal(rawSignal);
  const name = bind === undefined || bind === '' ? undefined : validateAddress(bind, 'bind');
  const fd = native.socket(TYPE_NUMBERS[type]);
  if (fd < 0) throw errnoError(fd, 'socket');
  let socket: UnixMessageSocket;
  try {
    socket = new UnixMessageSocket({ ...opts, fd, type });
  } catch (err) {
    native.close(fd);
    throw err;
  }
  if (bind !== undefined) {
    try {
      socket.bind(name);
    } catch (err) {
      socket.destroy();
      throw err;
    }
  }
  if (signal !== undefined) destroyOnAbort(socket, signal);
  return socket;
}

export function createServer(options?: ServerOptions, onConnection?: (socket: UnixMessageSocket) => void): UnixMessageServer;
export function createServer(onConnection?: (socket: UnixMessageSocket) => void): UnixMessageServer;
export function createServer(
  options?: ServerOptions | ((socket: UnixMessageSocket) => void),
  onConnection?: (socket: UnixMessageSocket) => void,
): UnixMessageServer {
  if (typeof options === 'function') return new UnixMessageServer({}, options);
  return new UnixMessageServer(options, onConnection);
}

export { constants };
