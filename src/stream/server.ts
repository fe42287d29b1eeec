// UnixMessageServer: shaped like net.Server, for stream and seqpacket sockets.
//
// Security (README "Security"): the socket file is created with the asked
// mode from the start (bind with a private umask, never a chmod by path),
// the options that connections inherit from the listening socket
// (SO_PASSCRED, SO_PASSPIDFD, SO_PASSRIGHTS) are set on it before listen(), so a client
// that sends before it is accepted meets them already, and the file is
// removed on close only if its path still names the inode the socket is
// bound to (recordOwnFile).
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { debug } from '../debug';
import { constants, native, type NativeSocketHandle } from '../native/binding';
import { closeOnAbort } from './abort';
import { describe, errno, errnoError, invalidArgType, invalidArgValue, invalidFdType, serverAlreadyListen, serverNotRunning } from './errors';
import { isAbstract, presentAddress, type NativeAddress } from './address-codec';
import { FdRoomWait } from './fd-room-wait';
import { UnixMessageSocket } from './socket';
import type { UnixMessageServerEvents } from './socket-events';
import type { SocketOptions } from './socket-options';
import { inspectFd, refusePolled, TYPE_NUMBERS } from './socket-type';
import { checkFramedType } from './frame-format';
import { listenOptionsOf, type ListenOptions } from './listen-options';
import { socketOptionsOf } from './validate';

export interface ServerOptions extends SocketOptions {
  /** Default 'seqpacket'. */
  type?: 'stream' | 'seqpacket';
}

export { listenOptionsOf, type ListenOptions } from './listen-options';

const scratch = new Int32Array(1);
const ENOPROTOOPT = errno('ENOPROTOOPT');

/**
 * The socket file a server created. From sock_diag (`kernel`): the device of
 * the inode's superblock and the low 32 bits of its inode number, which is
 * all unix_diag reports. From lstat (the fallback): st_dev and st_ino.
 */
interface OwnFile {
  kernel: boolean;
  dev: bigint;
  ino: bigint;
}

/** userspace's dev_t for a major and minor number (glibc's makedev(3)). */
function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

function kernelFile(id: [number, number, number] | number): OwnFile | null {
  return typeof id === 'number' ? null : { kernel: true, dev: makedev(id[0], id[1]), ino: BigInt(id[2]) };
}

export class UnixMessageServer extends EventEmitter<UnixMessageServerEvents> {
  readonly type: 'stream' | 'seqpacket';
  #options: SocketOptions;
  #handle: NativeSocketHandle | null = null;
  #address: NativeAddress | null = null;
  // The socket file we created: the only file close() may remove.
  #ownFile: OwnFile | null = null;
  #connections = new Set<UnixMessageSocket>();
  #closing = false;
  #refed = true;
  // Accepting waits for the process to have fds free (STATUS_NO_FD_ROOM).
  readonly #room = new FdRoomWait();

  constructor(options: ServerOptions | null = {}, onConnection?: (socket: UnixMessageSocket) => void) {
    super();
    const { type: given, ...rest } = socketOptionsOf(options, ['type']);
    // null means the default, as for every other option (read with ??).
    const type = given ?? 'seqpacket';
    if (type !== 'stream' && type !== 'seqpacket') {
      throw invalidArgValue(`The "type" option of a server must be 'stream' or 'seqpacket'. Received ${describe(type)}`);
    }
    if (onConnection !== undefined && typeof onConnection !== 'function') {
      throw invalidArgType(`The "onConnection" argument must be a function. Received ${describe(onConnection)}`);
    }
    checkFramedType(rest.framed, type);
    this.type = type;
    // Checked now (a connection would fail at accept time otherwise): an
    // adopted throwaway fd is not needed, the socket constructor's own
    // checks run on each accepted connection with the same values.
    this.#options = rest;
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
  listen(target: string | Uint8Array | ListenOptions, callback?: () => void): this {
    if (this.#handle !== null) throw serverAlreadyListen();
    if (callback !== undefined && typeof callback !== 'function') {
      throw invalidArgType(`The "callback" argument must be a function. Received ${describe(callback)}`);
    }
    const { path, fd: given, backlog, mode, signal } = listenOptionsOf(target);
    const handle = given !== undefined ? this.#adoptAndOpen(given, backlog) : this.#bindAndListen(path!, backlog, mode);
    if (handle instanceof Error) {
      process.nextTick(() => this.emit('error', handle));
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
    // Before 'listening' is queued: an aborted signal closes first, and then
    // 'listening' is not emitted (as net.Server's emitListeningNextTick).
    if (signal !== undefined) closeOnAbort(this, signal, () => this.close());
    process.nextTick(() => {
      if (this.#handle !== handle) return;
      this.emit('listening');
      callback?.();
    });
    return this;
  }

  // A handle for a polled fd (never the caller's to close: see #adopt), or
  // the error; on an error the fd is closed.
  #open(fd: number): NativeSocketHandle | Error {
    const handle = new native.SocketHandle();
    const r = handle.open(fd, TYPE_NUMBERS[this.type], 1);
    if (r < 0) {
      native.close(fd);
      return errnoError(r, 'uv_poll_init', this.#address ?? undefined);
    }
    return handle;
  }

  #adoptAndOpen(given: number, backlog: number): NativeSocketHandle | Error {
    const handle = this.#open(this.#adopt(given, backlog));
    // The caller's fd, now that our duplicate polls (see #adopt).
    if (!(handle instanceof Error)) native.close(given);
    return handle;
  }

  #bindAndListen(path: NativeAddress, backlog: number, mode: number | undefined): NativeSocketHandle | Error {
    const fd = native.socket(TYPE_NUMBERS[this.type]);
    if (fd < 0) return errnoError(fd, 'socket');
    // The handle takes the fd before bind(2) creates the file, and knows the
    // file: if this env is torn down from then on (a terminated worker), the
    // addon removes it, as close() would, when the path still names the file
    // the socket is bound to (sock_diag; an unbound socket names none).
    const handle = this.#open(fd);
    if (handle instanceof Error) return handle;
    if (!isAbstract(path)) handle.setTeardownUnlink(path);
    const fail = (err: Error): Error => {
      handle.close();
      this.#removeOwnFile();
      return err;
    };
    let r = this.#inheritedOptions(fd);
    if (r < 0) return fail(errnoError(r, 'setsockopt'));
    // With a mode, the file is born with it (native bind: fchmod on the
    // unbound socket, then bind(2) in a thread with its own umask of 0).
    r = native.bind(fd, path, mode);
    if (r < 0) return fail(errnoError(r, 'listen', path));
    this.#address = path;
    if (!isAbstract(path)) this.#ownFile = recordOwnFile(fd, path);
    r = native.listen(fd, backlog);
    if (r < 0) return fail(errnoError(r, 'listen', path));
    return handle;
  }

  // Set on the listening socket before listen(): the kernel copies them into
  // each connection it makes, so messages a client sends before accept()
  // already meet them (credentials attached, fds refused). The accepted
  // socket sets them again (UnixMessageSocket's constructor).
  #inheritedOptions(fd: number): number {
    if (this.#options.passCredentials === true) {
      const r = native.setsockopt(fd, constants.SOL_SOCKET, constants.SO_PASSCRED, 1);
      if (r < 0) return r;
    }
    if (this.#options.passPidfd === true) {
      const r = native.setsockopt(fd, constants.SOL_SOCKET, constants.SO_PASSPIDFD, 1);
      if (r < 0) return r;
    }
    if (this.#options.acceptFds === false) {
      const r = native.setsockopt(fd, constants.SOL_SOCKET, constants.SO_PASSRIGHTS, 0);
      if (r < 0 && r !== ENOPROTOOPT) return r;
    }
    return 0;
  }

  // listen({ fd }) works on a duplicate of its own, as fromFd() does; the
  // caller's fd is closed once the server is set up (listen()).
  #adopt(fd: number, backlog: number): number {
    const type = inspectFd(fd);
    refusePolled(fd);
    if (type !== this.type) throw invalidFdType(`fd ${fd} is a ${type} socket; this server is ${this.type}`);
    const r = native.getsockopt(fd, constants.SOL_SOCKET, constants.SO_ACCEPTCONN, scratch);
    if (r < 0) throw errnoError(r, 'getsockopt');
    const own = native.dup(fd);
    if (own < 0) throw errnoError(own, 'dup');
    const o = this.#inheritedOptions(own);
    const l = o < 0 || scratch[0] === 1 ? 0 : native.listen(own, backlog);
    if (o < 0 || l < 0) {
      native.close(own);
      throw errnoError(o < 0 ? o : l, o < 0 ? 'setsockopt' : 'listen');
    }
    const name = native.getsockname(own);
    this.#address = typeof name === 'number' ? null : name;
    return own;
  }

  /**
   * True while accepting waits because the process has too few free fds
   * (RLIMIT_NOFILE): pending connections stay in the backlog, and accepting
   * resumes on its own as fds are freed.
   */
  get waitingForFdRoom(): boolean {
    return this.#room.waiting;
  }

  readonly #resumeAccepting = (): void => {
    this.#handle?.readStart(0);
  };

  #onConnection(status: number, fds: number[]): void {
    if (status === constants.STATUS_NO_FD_ROOM) {
      if (debug.enabled) debug('listening fd %d: too few free fds to accept (RLIMIT_NOFILE); accepting waits', this.#handle?.fd);
      this.#handle?.readStop();
      this.#room.wait(this.#resumeAccepting);
      return;
    }
    if (fds.length > 0) this.#room.progressed();
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
      this.emit('error', err as Error);
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
    if (callback !== undefined && typeof callback !== 'function') {
      throw invalidArgType(`The "callback" argument must be a function. Received ${describe(callback)}`);
    }
    const h = this.#handle;
    if (h === null) {
      if (callback) process.nextTick(callback, serverNotRunning());
      return this;
    }
    this.#handle = null;
    this.#room.cancel();
    h.owner = undefined;
    h.close();
    this.#removeOwnFile();
    this.#closing = true;
    if (callback) this.once('close', callback);
    this.#maybeEmitClose();
    return this;
  }

  /**
   * `await using server = createServer()...`: close(), resolved once 'close'
   * is emitted (every accepted connection closed), as net.Server's. Resolves
   * at once when not listening.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#handle === null) return;
    await new Promise<void>((resolve, reject) => this.close((err) => (err === undefined ? resolve() : reject(err))));
  }

  /** Destroys every accepted connection that is still open. */
  closeAllConnections(): void {
    for (const socket of this.#connections) socket.destroy();
  }

  /**
   * The bound name: a path or '\0name' (a Buffer with addressEncoding:
   * 'buffer'); null when not listening.
   */
  address(): string | Buffer | null {
    const name = this.#handle === null ? null : this.#address;
    return name === null ? null : presentAddress(name, this.#options.addressEncoding ?? 'utf8');
  }

  ref(): this {
    this.#refed = true;
    this.#handle?.ref();
    this.#room.ref();
    return this;
  }

  unref(): this {
    this.#refed = false;
    this.#handle?.unref();
    this.#room.unref();
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
      // Never delete a file someone else put there since we bound. (Between
      // this check and unlink(2) the path can still change: no call unlinks
      // a name only if it is a given inode.)
      if (isOwnFile(path, own)) fs.unlinkSync(path);
    } catch {
      // Already gone.
    }
  }
}

/**
 * The identity of the file the socket's bind(2) created. sock_diag names the
 * inode the socket is bound to, so a file that someone who can write to the
 * directory put at the path after bind is never taken for ours. Where
 * sock_diag cannot answer (a kernel without unix_diag, a socket of another
 * network namespace, no fd free for the netlink socket), the file the path
 * names right after bind stands in for it, if it is a socket: that one could
 * already have been replaced.
 */
function recordOwnFile(fd: number, path: NativeAddress): OwnFile | null {
  const own = kernelFile(native.boundFile(fd));
  if (own !== null) return own;
  try {
    const st = fs.lstatSync(path, { bigint: true });
    return st.isSocket() ? { kernel: false, dev: st.dev, ino: st.ino } : null;
  } catch {
    return null; // removed already: nothing of ours to remove on close
  }
}

/** Whether `path` names the file recorded in `own` (a final symlink is not followed). */
function isOwnFile(path: NativeAddress, own: OwnFile): boolean {
  const st = fs.lstatSync(path, { bigint: true, throwIfNoEntry: false });
  if (st === undefined || !st.isSocket()) return false;
  if (!own.kernel) return st.dev === own.dev && st.ino === own.ino;
  if (BigInt.asUintN(32, st.ino) !== own.ino) return false;
  if (st.dev === own.dev) return true;
  // btrfs and overlayfs report a st_dev other than the superblock's device
  // that sock_diag gives: ask for the device of the file's mount. If that
  // fails too (before Linux 5.8, or without /proc), the file stays: better
  // left behind than someone else's removed.
  const at = kernelFile(native.fileAtPath(path));
  return at !== null && at.dev === own.dev && at.ino === own.ino;
}
