// Accepts TCP connections for the pool without building a net.Socket per
// connection: the same native accept4 loop as UnixMessageServer, on a TCP
// listening fd, hands batches of raw fds (up to `perWakeup` per wakeup) to the pool.
import dns from 'node:dns/promises';
import type * as net from 'node:net';
import { constants, native, type NativeSocketHandle } from '../native/binding';
import { describe, errnoError, invalidArgType, invalidArgValue } from '../stream/errors';
import { FdRoomWait } from '../stream/fd-room-wait';
import { snapshotOptions, validateInteger } from '../stream/validate';
import { TYPE_NUMBERS } from '../stream/socket-type';

export interface ServeOptions {
  /** Default 0: a free port. */
  port?: number;
  /** An IP address or a name to resolve; default '127.0.0.1'. */
  host?: string;
  /** listen(2) backlog; default 511 like net.Server. */
  backlog?: number;
}

export interface ServeAddress {
  host: string;
  port: number;
}

/** The listening fd of a net.Server. Node exposes it only on the handle. */
function serverFd(server: net.Server): number {
  const handle: unknown = Reflect.get(server, '_handle');
  const fd: unknown = handle !== null && typeof handle === 'object' ? Reflect.get(handle, 'fd') : undefined;
  if (!server.listening || typeof fd !== 'number' || fd < 0) {
    throw invalidArgValue('serve() needs a net.Server that is already listening');
  }
  return fd;
}

export class Acceptor {
  readonly address: ServeAddress;
  #handle: NativeSocketHandle;
  #paused = false;
  readonly #perWakeup: number;
  // Accepting waits for the process to have fds free (STATUS_NO_FD_ROOM).
  readonly #room = new FdRoomWait();
  readonly #retry = (): void => {
    if (!this.#paused) this.#handle.readStart(this.#perWakeup);
  };

  private constructor(fd: number, host: string, perWakeup: number, onConnections: (fds: number[]) => void, onError: (err: Error) => void) {
    const port = native.inetPort(fd);
    const handle = new native.SocketHandle();
    const r = port < 0 ? port : handle.open(fd, TYPE_NUMBERS.stream, 1);
    if (r < 0) {
      native.close(fd);
      throw errnoError(r, port < 0 ? 'getsockname' : 'uv_poll_init');
    }
    this.address = { host, port };
    handle.owner = {
      onRead: () => undefined,
      onWritable: () => undefined,
      onConnection: (status, fds) => {
        if (status === constants.STATUS_NO_FD_ROOM) {
          handle.readStop();
          this.#room.wait(this.#retry);
          return;
        }
        if (fds.length > 0) {
          this.#room.progressed();
          onConnections(fds);
        }
        // EMFILE and friends: the pending connections were dropped (emfile
        // trick) and accepting goes on, as net.Server does.
        if (status < 0) onError(errnoError(status, 'accept', `${host}:${port}`));
      },
    };
    handle.setListening(true);
    this.#perWakeup = perWakeup;
    handle.readStart(this.#perWakeup);
    this.#handle = handle;
  }

  static async listen(options: ServeOptions, perWakeup: number, onConnections: (fds: number[]) => void, onError: (err: Error) => void): Promise<Acceptor> {
    // Each option read once.
    const o = snapshotOptions(options, ['port', 'backlog', 'host']);
    const port = validateInteger(o.port, 'port', 0, 65535) ?? 0;
    const backlog = validateInteger(o.backlog, 'backlog', 0, 0x7fffffff) ?? 511;
    const name = o.host ?? '127.0.0.1';
    if (typeof name !== 'string') throw invalidArgType(`The "host" option must be a string. Received ${describe(name)}`);
    const { address } = await dns.lookup(name);
    const fd = native.listenInet(address, port, backlog);
    if (fd < 0) throw errnoError(fd, 'listen', `${address}:${port}`);
    return new Acceptor(fd, address, perWakeup, onConnections, onError);
  }

  /**
   * Takes over a listening net.Server: its socket is duplicated and the
   * server closed, so only the pool accepts from the kernel's queue (two
   * pollers on one queue would split the connections between them).
   */
  static adopt(server: net.Server, perWakeup: number, onConnections: (fds: number[]) => void, onError: (err: Error) => void): Acceptor {
    const info = server.address();
    const fd = native.dup(serverFd(server));
    if (fd < 0) throw errnoError(fd, 'dup');
    const host = info !== null && typeof info === 'object' ? info.address : '';
    const acceptor = new Acceptor(fd, host, perWakeup, onConnections, onError);
    server.close();
    return acceptor;
  }

  /** Stops accepting while every worker's channel is full (see WorkerPool). */
  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#handle.readStop();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (!this.#room.waiting) this.#handle.readStart(this.#perWakeup);
  }

  unref(): void {
    this.#handle.unref();
    this.#room.unref();
  }

  ref(): void {
    this.#handle.ref();
    this.#room.ref();
  }

  /** Closes the listening socket; connections already accepted are not affected. */
  close(): void {
    this.#room.cancel();
    this.#handle.close();
  }
}
