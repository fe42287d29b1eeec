// UnixMessageServer: shaped like net.Server, for stream and seqpacket sockets.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { constants, native, type NativeSocketHandle } from '../native/binding';
import { errnoError, invalidArgType, invalidArgValue, invalidFdType, outOfRange, serverAlreadyListen, serverNotRunning } from './errors';
import { inspectFd, TYPE_NUMBERS, UnixMessageSocket, type SocketOptions } from './socket';
import { validateAddress, validateFd } from './validate';

export interface ServerOptions extends SocketOptions {
  /** Default 'seqpacket'. */
  type?: 'stream' | 'seqpacket';
}

export interface ListenOptions {
  /** A filesystem path, or '\0name' for the abstract namespace. */
  path?: string;
  /** Adopt an already bound (and possibly listening) socket fd. */
  fd?: number;
  /** listen(2) backlog; default 511 like net.Server. */
  backlog?: number;
  /** chmod the socket file to this mode before accepting (pathname sockets only). */
  mode?: number;
}

const scratch = new Int32Array(1);

export class UnixMessageServer extends EventEmitter {
  readonly type: 'stream' | 'seqpacket';
  #options: SocketOptions;
  #handle: NativeSocketHandle | null = null;
  #address: string | null = null;
  // The socket file we created (dev, ino): the only file close() may remove.
  #ownFile: { dev: number; ino: number } | null = null;
  #connections = new Set<UnixMessageSocket>();
  #closing = false;
  #refed = true;

  constructor(options: ServerOptions = {}, onConnection?: (socket: UnixMessageSocket) => void) {
    super();
    const type = options.type ?? 'seqpacket';
    if (type !== 'stream' && type !== 'seqpacket') {
      throw invalidArgValue(`The "type" option of a server must be 'stream' or 'seqpacket'. Received ${String(type)}`);
    }
    this.type = type;
    const { type: _ignored, ...socketOptions } = options;
    this.#options = socketOptions;
    if (onConnection) this.on('connection', onConnection);
  }

  get listening(): boolean {
    return this.#handle !== null;
  }

  /** Connections accepted and not yet closed. */
  get connections(): number {
    return this.#connections.size;
  }

  /**
   * listen('/path' | '\0abstract' | { path, backlog, mode } | { fd }).
   * Errors (EADDRINUSE, EACCES...) are emitted as 'error', like net.Server.
   */
  listen(target: string | ListenOptions, callback?: () => void): this {
    if (this.#handle !== null) throw serverAlreadyListen();
    const options: ListenOptions = typeof target === 'string' ? { path: target } : target;
    if (typeof options !== 'object' || options === null) {
      throw invalidArgType('listen() takes a path or an options object { path, backlog, mode, fd }');
    }
    const backlog = options.backlog ?? 511;
    if (!Number.isInteger(backlog) || backlog < 0) throw outOfRange(`The "backlog" option must be a non-negative integer. Received ${String(backlog)}`);
    if (options.mode !== undefined && (!Number.isInteger(options.mode) || options.mode < 0 || options.mode > 0o7777)) {
      throw outOfRange(`The "mode" option must be a file mode such as 0o660. Received ${String(options.mode)}`);
    }
    if ((options.path === undefined) === (options.fd === undefined)) {
      throw invalidArgValue('listen() needs exactly one of "path" and "fd"');
    }
    let fd: number;
    if (options.fd !== undefined) {
      fd = this.#adopt(validateFd(options.fd, 'fd'), backlog);
    } else {
      const path = validateAddress(options.path, 'path');
      if (options.mode !== undefined && path.startsWith('\0')) {
        throw invalidArgValue('The "mode" option applies to pathname sockets; an abstract name has no file');
      }
      const r = this.#bindAndListen(path, backlog, options.mode);
      if (r instanceof Error) {
        process.nextTick(() => this.emit('error', r));
        return this;
      }
      fd = r;
    }
    const handle = new native.SocketHandle();
    const r = handle.open(fd, TYPE_NUMBERS[this.type], 1);
    if (r < 0) {
      native.close(fd);
      this.#removeOwnFile();
      process.nextTick(() => this.emit('error', errnoError(r, 'uv_poll_init', this.#address ?? undefined)));
      return this;
    }
    handle.owner = {
      onRead: () => undefined,
      onWritable: () => undefined,
      onConnection: (status, fds) => this.#onConnection(status, fds),
    };
    handle.setListening(true);
    if (!this.#refed) handle.unref();
    handle.readStart(0);
    this.#handle = handle;
    this.#closing = false;
    process.nextTick(() => {
      this.emit('listening');
      callback?.();
    });
    return this;
  }

  #bindAndListen(path: string, backlog: number, mode: number | undefined): number | Error {
    const fd = native.socket(TYPE_NUMBERS[this.type]);
    if (fd < 0) return errnoError(fd, 'socket');
    let r = native.bind(fd, path);
    if (r < 0) {
      native.close(fd);
      return errnoError(r, 'listen', path);
    }
    this.#address = path;
    try {
      if (!path.startsWith('\0')) {
        const st = fs.lstatSync(path);
        this.#ownFile = { dev: st.dev, ino: st.ino };
        // Before listen(), so nobody connects while the mode is still umask's.
        if (mode !== undefined) fs.chmodSync(path, mode);
      }
    } catch (err) {
      native.close(fd);
      this.#removeOwnFile();
      return err as Error;
    }
    r = native.listen(fd, backlog);
    if (r < 0) {
      native.close(fd);
      this.#removeOwnFile();
      return errnoError(r, 'listen', path);
    }
    return fd;
  }

  #adopt(fd: number, backlog: number): number {
    const type = inspectFd(fd);
    if (type !== this.type) throw invalidFdType(`fd ${fd} is a ${type} socket; this server is ${this.type}`);
    const r = native.getsockopt(fd, constants.SOL_SOCKET, constants.SO_ACCEPTCONN, scratch);
    if (r < 0) throw errnoError(r, 'getsockopt');
    if (scratch[0] !== 1) {
      const l = native.listen(fd, backlog);
      if (l < 0) throw errnoError(l, 'listen');
    }
    const name = native.getsockname(fd);
    this.#address = typeof name === 'string' ? name : null;
    return fd;
  }

  #onConnection(status: number, fds: number[]): void {
    let i = 0;
    try {
      for (; i < fds.length; i++) this.#adoptConnection(fds[i]!);
    } finally {
      // A 'connection' listener threw: the rest were never adopted.
      for (let j = i + 1; j < fds.length; j++) native.close(fds[j]!);
    }
    // Like net.Server: accept errors (EMFILE...) are reported, the server
    // keeps listening. Pending connections were dropped (emfile trick).
    if (status < 0) this.emit('error', errnoError(status, 'accept', this.#address ?? undefined));
  }

  #adoptConnection(fd: number): void {
    if (this.#handle === null) {
      native.close(fd);
      return;
    }
    let socket: UnixMessageSocket;
    try {
      socket = new UnixMessageSocket({ ...this.#options, fd, type: this.type });
    } catch (err) {
      native.close(fd);
      this.emit('error', err);
      return;
    }
    this.#connections.add(socket);
    socket.once('close', () => {
      this.#connections.delete(socket);
      this.#maybeEmitClose();
    });
    this.emit('connection', socket);
  }

  /**
   * Stops accepting and removes the socket file this server created. 'close'
   * follows once every accepted connection has closed, like net.Server.
   */
  close(callback?: (err?: Error) => void): this {
    const h = this.#handle;
    if (h === null) {
      if (callback) process.nextTick(callback, serverNotRunning());
      return this;
    }
    this.#handle = null;
    h.owner = undefined;
    h.close();
    this.#removeOwnFile();
    this.#closing = true;
    if (callback) this.once('close', callback);
    this.#maybeEmitClose();
    return this;
  }

  /** Destroys every accepted connection that is still open. */
  closeAllConnections(): void {
    for (const socket of this.#connections) socket.destroy();
  }

  /** The bound name: a path or '\0name'; null when not listening. */
  address(): string | null {
    return this.#handle === null ? null : this.#address;
  }

  ref(): this {
    this.#refed = true;
    this.#handle?.ref();
    return this;
  }

  unref(): this {
    this.#refed = false;
    this.#handle?.unref();
    return this;
  }

  #maybeEmitClose(): void {
    if (this.#closing && this.#connections.size === 0) {
      this.#closing = false;
      process.nextTick(() => this.emit('close'));
    }
  }

  #removeOwnFile(): void {
    const own = this.#ownFile;
    const path = this.#address;
    this.#ownFile = null;
    if (own === null || path === null) return;
    try {
      // Never delete a file someone else put there since we bound.
      const st = fs.lstatSync(path);
      if (st.isSocket() && st.dev === own.dev && st.ino === own.ino) fs.unlinkSync(path);
    } catch {
      // Already gone.
    }
  }
}
