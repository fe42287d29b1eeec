// The events of a UnixMessageSocket and of a UnixMessageServer, typed: what
// each listener receives. The socket's typing is merged into the class
// declared in socket.ts (a module augmentation, since a Duplex's listener
// methods are overloads that a subclass can only narrow by redeclaring
// them); the server passes its map to EventEmitter<T>.
import type { Readable } from 'node:stream';
import type { UnixMessageSocket } from './socket';
import type { UnixMessage } from './types';

/** The events of a UnixMessageSocket and the arguments each listener gets. */
export interface UnixMessageSocketEvents {
  close: [];
  /** connect() reached the peer. */
  connect: [];
  /** One received message; its `fds` are the listener's (README, "Who owns which fd"). */
  data: [message: UnixMessage];
  drain: [];
  end: [];
  error: [error: Error];
  finish: [];
  pause: [];
  pipe: [source: Readable];
  readable: [];
  /** Emitted right after 'connect', as net.Socket does. */
  ready: [];
  resume: [];
  unpipe: [source: Readable];
}

/** The events of a UnixMessageServer and the arguments each listener gets. */
export interface UnixMessageServerEvents {
  close: [];
  /** An accepted connection, already reading. */
  connection: [socket: UnixMessageSocket];
  error: [error: Error];
  listening: [];
}

type SocketEvent = keyof UnixMessageSocketEvents;
type SocketListener<E extends SocketEvent> = (...args: UnixMessageSocketEvents[E]) => void;
// Another name than the ones above: the listener's arguments are unknown.
type OtherListener = (...args: unknown[]) => void;

declare module './socket' {
  interface UnixMessageSocket {
    addListener<E extends SocketEvent>(event: E, listener: SocketListener<E>): this;
    addListener(event: string | symbol, listener: OtherListener): this;
    on<E extends SocketEvent>(event: E, listener: SocketListener<E>): this;
    on(event: string | symbol, listener: OtherListener): this;
    once<E extends SocketEvent>(event: E, listener: SocketListener<E>): this;
    once(event: string | symbol, listener: OtherListener): this;
    prependListener<E extends SocketEvent>(event: E, listener: SocketListener<E>): this;
    prependListener(event: string | symbol, listener: OtherListener): this;
    prependOnceListener<E extends SocketEvent>(event: E, listener: SocketListener<E>): this;
    prependOnceListener(event: string | symbol, listener: OtherListener): this;
    removeListener<E extends SocketEvent>(event: E, listener: SocketListener<E>): this;
    removeListener(event: string | symbol, listener: OtherListener): this;
    off<E extends SocketEvent>(event: E, listener: SocketListener<E>): this;
    off(event: string | symbol, listener: OtherListener): this;
    /** Yields each message; the fds of the messages it yields are the loop's. */
    [Symbol.asyncIterator](): NodeJS.AsyncIterator<UnixMessage>;
  }
}
