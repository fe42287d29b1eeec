import { constants, native } from '../native/binding';
import { errnoError, invalidArgValue } from './errors';
import { UnixMessageServer, type ServerOptions } from './server';
import { TYPE_NUMBERS, UnixMessageSocket, type SocketOptions } from './socket';
import type { SocketType } from './types';
import { validateAddress } from './validate';

export { UnixMessageServer, UnixMessageSocket };
export type { ListenOptions, ServerOptions } from './server';
export type { SocketOptions } from './socket';
export * from './types';

function validateType(type: unknown): SocketType {
  if (type !== 'stream' && type !== 'seqpacket' && type !== 'dgram') {
    throw invalidArgValue(`The "type" option must be 'stream', 'seqpacket' or 'dgram'. Received ${String(type)}`);
  }
  return type;
}

/** A connected pair (socketpair(2)); default type 'seqpacket'. */
export function socketPair(type: SocketType = 'seqpacket', options: SocketOptions = {}): [UnixMessageSocket, UnixMessageSocket] {
  const out = new Int32Array(2);
  const r = native.socketpair(TYPE_NUMBERS[validateType(type)], out);
  if (r < 0) throw errnoError(r, 'socketpair');
  let a: UnixMessageSocket | undefined;
  try {
    a = new UnixMessageSocket({ ...options, fd: out[0]!, type });
    return [a, new UnixMessageSocket({ ...options, fd: out[1]!, type })];
  } catch (err) {
    if (a) a.destroy();
    else native.close(out[0]!);
    native.close(out[1]!);
    throw err;
  }
}

export interface ConnectOptions extends SocketOptions {
  /** A filesystem path, or '\0name' for the abstract namespace. */
  path: string;
  /** Default 'seqpacket'. */
  type?: SocketType;
}

/** Connects to a listening (or, for dgram, bound) socket. 'connect' follows. */
export function connect(options: ConnectOptions, onConnect?: () => void): UnixMessageSocket {
  const path = validateAddress(options?.path, 'path');
  const type = validateType(options.type ?? 'seqpacket');
  const fd = native.socket(TYPE_NUMBERS[type]);
  if (fd < 0) throw errnoError(fd, 'socket');
  let socket: UnixMessageSocket;
  try {
    socket = new UnixMessageSocket({ ...options, fd, type, connectTo: path });
  } catch (err) {
    native.close(fd);
    throw err;
  }
  if (onConnect) socket.once('connect', onConnect);
  return socket;
}

export interface CreateSocketOptions extends SocketOptions {
  /** Default 'dgram'. */
  type?: SocketType;
  /** Bind at once: a path, '\0name', or '' to autobind. */
  bind?: string;
}

/** An unconnected socket, typically dgram: bind() it, then write({ data, address }). */
export function createSocket(options: CreateSocketOptions = {}): UnixMessageSocket {
  const type = validateType(options.type ?? 'dgram');
  const fd = native.socket(TYPE_NUMBERS[type]);
  if (fd < 0) throw errnoError(fd, 'socket');
  let socket: UnixMessageSocket;
  try {
    socket = new UnixMessageSocket({ ...options, fd, type });
  } catch (err) {
    native.close(fd);
    throw err;
  }
  if (options.bind !== undefined) {
    try {
      socket.bind(options.bind === '' ? undefined : options.bind);
    } catch (err) {
      socket.destroy();
      throw err;
    }
  }
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
