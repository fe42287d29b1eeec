// The one place that knows the shape of the native module. Nothing typed
// `any` crosses this boundary: every native function is declared here, and
// the rest of the package imports `native` from this file only.
import nodeGypBuild from 'node-gyp-build';
import path from 'node:path';
import { markAsUntransferable } from 'node:worker_threads';

/** Native return convention: a result, or a negative errno. */
export type Errno = number;

export interface NativeConstants {
  readonly AF_UNIX: number;
  readonly SOCK_STREAM: number;
  readonly SOCK_DGRAM: number;
  readonly SOCK_SEQPACKET: number;
  readonly SOL_SOCKET: number;
  readonly SCM_RIGHTS: number;
  readonly SCM_CREDENTIALS: number;
  readonly SCM_PIDFD: number;
  readonly SO_TYPE: number;
  readonly SO_DOMAIN: number;
  readonly SO_ERROR: number;
  readonly SO_ACCEPTCONN: number;
  readonly SO_PASSCRED: number;
  readonly SO_PASSPIDFD: number;
  readonly SO_PASSRIGHTS: number;
  readonly SO_PEERCRED: number;
  readonly SO_SNDBUF: number;
  readonly SO_RCVBUF: number;
  readonly SO_SNDBUFFORCE: number;
  readonly SO_RCVBUFFORCE: number;
  readonly MSG_PEEK: number;
  readonly MSG_TRUNC: number;
  readonly MSG_CTRUNC: number;
  readonly MSG_DONTWAIT: number;
  readonly MSG_NOSIGNAL: number;
  readonly MSG_CMSG_CLOEXEC: number;
  readonly MSG_EOR: number;
  readonly MSG_OOB: number;
  readonly MSG_WAITALL: number;
  readonly SHUT_RD: number;
  readonly SHUT_WR: number;
  readonly SHUT_RDWR: number;
  readonly IOV_MAX: number;
  readonly ETOOMANYREFS: number;
  readonly SCM_MAX_FD: number;
  readonly BATCH_MESSAGES: number;
  readonly META_STRIDE: number;
}

export type ByteView = ArrayBufferView;
export type Gather = ByteView | readonly ByteView[];
export type FdList = readonly number[] | Int32Array | null;

/** One received ancillary item, as the low-level recvmsg returns it. */
export type AncillaryItem = [level: number, type: number, data: Buffer];

export interface NativeRecvResult {
  data: Buffer;
  ancillary: AncillaryItem[];
  flags: number;
  address?: string;
}

/** `this` of the callbacks below is the SocketHandle that polled. */
export interface NativeCallbacks {
  meta: Int32Array;
  fds: Int32Array;
  onread(this: NativeSocketHandle, count: number, data: Buffer | Buffer[], status: number,
    addresses: Array<string | undefined> | undefined, base: number | undefined): void;
  onwritable(this: NativeSocketHandle): void;
  onconnection(this: NativeSocketHandle, status: number, fds: number[]): void;
}

/** The receiver of a handle's events (a socket or a server). */
export interface HandleOwner {
  /**
   * data: the batch's bytes, from `base` when it is the shared slab for small
   * batches (undefined: from 0), or a Buffer per message.
   */
  onRead(count: number, data: Buffer | Buffer[], status: number, addresses: Array<string | undefined> | undefined,
    base: number | undefined): void;
  onWritable(): void;
  onConnection(status: number, fds: number[]): void;
}

export interface NativeSocketHandle {
  /** -1 once closed. */
  readonly fd: number;
  /** Set by the JS owner; read by the callbacks. */
  owner?: HandleOwner;
  /** Takes ownership of fd on success (0); on -errno the caller keeps it. */
  open(fd: number, type: number, maxMessageSize: number): Errno;
  /**
   * Polls for reads; a wakeup adds at most max(fdBudget, SCM_MAX_FD) received
   * fds. On a listening handle: at most fdBudget connections per wakeup (0: 512).
   */
  readStart(fdBudget: number): Errno;
  readStop(): Errno;
  writeStart(): Errno;
  writeStop(): Errno;
  setListening(listening: boolean): void;
  ref(): void;
  unref(): void;
  hasRef(): boolean;
  /** Stops polling and closes the fd now; idempotent. */
  close(): void;
}

export interface NativeBinding {
  readonly constants: NativeConstants;
  readonly SocketHandle: new () => NativeSocketHandle;
  /** Once per env; every call returns the shared arrays actually in use. */
  setup(callbacks: NativeCallbacks): { meta: Int32Array; fds: Int32Array };
  socket(type: number): Errno;
  socketpair(type: number, out: Int32Array): Errno;
  /** F_DUPFD_CLOEXEC; `owned` records the copy as the library's until close() or disown(). */
  dup(fd: number, owned?: boolean): Errno;
  /** close(2); also forgets the fd as the library's. */
  close(fd: number): Errno;
  /** close(2) for each fd of the list, in one call; errors are not reported (close is never retried). */
  closeAll(fds: readonly number[]): void;
  /**
   * The library no longer owns these fds (a message was delivered). Owned fds
   * are closed by the env teardown hook, when JS can no longer run.
   */
  disown(fds: readonly number[]): void;
  bind(fd: number, address: string | null): Errno;
  connect(fd: number, address: string): Errno;
  listen(fd: number, backlog: number): Errno;
  accept(fd: number): Errno;
  /** A listening TCP socket on an IP literal (SO_REUSEADDR); port 0 picks one. */
  listenInet(host: string, port: number, backlog: number): Errno;
  /** The port an AF_INET/AF_INET6 socket is bound to. */
  inetPort(fd: number): Errno;
  shutdown(fd: number, how: number): Errno;
  getsockopt(fd: number, level: number, name: number, out: Int32Array): Errno;
  setsockopt(fd: number, level: number, name: number, value: number): Errno;
  /** The name, null for an unnamed socket, or -errno. */
  getsockname(fd: number): string | null | Errno;
  getpeername(fd: number): string | null | Errno;
  peercred(fd: number, out: Int32Array): Errno;
  send(fd: number, data: Gather, fds: FdList, address: string | null, flags: number): Errno;
  sendBatch(fd: number, datas: readonly Gather[], fds: readonly FdList[] | null,
    addresses: ReadonlyArray<string | null> | null, start: number, end: number): Errno;
  sendmsg(fd: number, buffers: Gather, ancillary: ReadonlyArray<readonly [number, number, ByteView]> | null,
    flags: number, address: string | null): Errno;
  recvmsg(fd: number, maxSize: number, cmsgSize: number, flags: number): NativeRecvResult | Errno;
}

const root = path.join(__dirname, '..', '..');
export const native = nodeGypBuild(root) as NativeBinding;
export const constants = native.constants;

// Shared out-arrays: the native side writes a batch's per-message records and
// fds here, and the owner's onRead reads them before returning. If another
// copy of this module got here first in this env, its arrays are the ones.
const shared = native.setup({
  meta: new Int32Array(constants.BATCH_MESSAGES * constants.META_STRIDE),
  fds: new Int32Array(constants.BATCH_MESSAGES * constants.SCM_MAX_FD),
  onread(count, data, status, addresses, base) {
    // A new slab (SocketHandle::SlabCopy). Like Buffer.allocUnsafe()'s pool,
    // it holds many messages: transferring one message's ArrayBuffer to a
    // worker must copy it, not detach every other message's bytes.
    if (base === 0) markAsUntransferable((data as Buffer).buffer);
    this.owner?.onRead(count, data, status, addresses, base);
  },
  onwritable() {
    this.owner?.onWritable();
  },
  onconnection(status, fds) {
    this.owner?.onConnection(status, fds);
  },
});
export const recvMeta = shared.meta;
export const recvFds = shared.fds;
