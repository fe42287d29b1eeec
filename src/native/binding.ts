// The one place that knows the shape of the native module. Nothing typed
// `any` crosses this boundary: every native function is declared here, and
// the rest of the package imports `native` from this file only.
import nodeGypBuild from 'node-gyp-build';
import path from 'node:path';
import { markAsUntransferable } from 'node:worker_threads';
import type { NativeAddress } from '../stream/address-codec';

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
  readonly SO_PEERPIDFD: number;
  readonly SO_SNDBUF: number;
  readonly SO_RCVBUF: number;
  readonly SO_SNDBUFFORCE: number;
  readonly SO_RCVBUFFORCE: number;
  readonly SO_PEERGROUPS: number;
  readonly SO_PEERSEC: number;
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
  /** The shape of what the addon shares with this file (src/native/shared_layout.h). */
  readonly BATCH_MESSAGES: number;
  readonly META_STRIDE: number;
  readonly META_LENGTH: number;
  readonly META_FLAGS: number;
  readonly META_FD_COUNT: number;
  readonly META_PID: number;
  readonly META_UID: number;
  readonly META_GID: number;
  readonly FLAG_TRUNCATED: number;
  readonly FLAG_FDS_TRUNCATED: number;
  readonly FLAG_CREDENTIALS: number;
  /** The message's last fd is its SCM_PIDFD (passPidfd). */
  readonly FLAG_PIDFD: number;
  /** onread status: nothing was read, the process has too few free fds. */
  readonly STATUS_NO_FD_ROOM: number;
  /** fds a read always leaves free for the rest of the process. */
  readonly FD_RESERVE: number;
  /** Capacity of the disown ring. */
  readonly DISOWN_RING: number;
  /** inet sockets of the low-level API (ip(7), ipv6(7), socket(7)). */
  readonly AF_INET: number;
  readonly AF_INET6: number;
  readonly IPPROTO_IP: number;
  readonly IP_PKTINFO: number;
  readonly IPPROTO_IPV6: number;
  readonly IPV6_RECVPKTINFO: number;
  readonly IPV6_PKTINFO: number;
  readonly SO_REUSEADDR: number;
  readonly SO_TIMESTAMP: number;
  readonly SCM_TIMESTAMP: number;
}

export type ByteView = ArrayBufferView;
export type Gather = ByteView | readonly ByteView[];
export type FdList = readonly number[] | Int32Array | null;

/** One received ancillary item, as the low-level recvmsg returns it. */
export type AncillaryItem = [level: number, type: number, data: Buffer];

/** An inet address across the boundary: [AF_INET or AF_INET6, host literal, port]. */
export type NativeInetAddress = [family: number, host: string, port: number];
/**
 * An address of any family across the boundary (inet_addr.h): a Unix name as
 * address-codec.ts's NativeAddress (a string, or its bytes), or an inet one.
 */
export type NativeSocketAddress = NativeAddress | NativeInetAddress;

export interface NativeRecvResult {
  data: Buffer;
  ancillary: AncillaryItem[];
  flags: number;
  /** A Unix name (an ASCII one as a string, any other as its bytes), or an inet [family, host, port]. */
  address?: NativeSocketAddress;
  /** The fds that arrived (SCM_RIGHTS, SCM_PIDFD): the library's until handed over. */
  fds: number[];
}

export interface NativeRecvIntoResult extends Omit<NativeRecvResult, 'data'> {
  bytes: number;
}

/** `this` of the callbacks below is the SocketHandle that polled. */
export interface NativeCallbacks {
  meta: Int32Array;
  fds: Int32Array;
  /** The disown ring: [0] entries, then delivered fds (src/native/fd_ledger.h). */
  ring: Int32Array;
  onread(
    this: NativeSocketHandle,
    count: number,
    data: Buffer | Buffer[],
    status: number,
    addresses: Array<string | Buffer | undefined> | undefined,
    base: number | undefined,
  ): void;
  onwritable(this: NativeSocketHandle): void;
  onconnection(this: NativeSocketHandle, status: number, fds: number[]): void;
}

/** The receiver of a handle's events (a socket or a server). */
export interface HandleOwner {
  /**
   * data: the batch's bytes, from `base` when it is the shared slab for small
   * batches (undefined: from 0), or a Buffer per message.
   */
  onRead(count: number, data: Buffer | Buffer[], status: number, addresses: Array<string | Buffer | undefined> | undefined, base: number | undefined): void;
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
   * How many fds one received message may bring (the control buffer holds
   * exactly that many; more arrive fdsTruncated), and whether credentials
   * come first (SO_PASSCRED), and whether each message's SCM_PIDFD is kept
   * as its last fd (SO_PASSPIDFD; FLAG_PIDFD) or closed on receipt. A kept
   * pidfd counts as one more fd per message against the budget.
   */
  setMaxFds(maxFdsPerMessage: number, passCredentials: boolean, passPidfd: boolean): Errno;
  /**
   * Polls for reads; a wakeup adds at most fdBudget received fds: a read is
   * made only while maxFdsPerMessage more still fit, in the budget and in
   * the process's fd room. On a listening handle: at most fdBudget
   * connections per wakeup (0: 512). frameRest (a framed stream socket):
   * the bytes left of the message being assembled; reads take no more and
   * ask for no fds (socket_read.cc, DoRead). 0: none.
   */
  readStart(fdBudget: number, frameRest?: number): Errno;
  readStop(): Errno;
  writeStart(): Errno;
  writeStop(): Errno;
  setListening(listening: boolean): Errno;
  /**
   * A listening socket's file: removed if the env is torn down while it is
   * open (a terminated worker), when the path still names the file the
   * socket is bound to (sock_diag). null: none.
   */
  setTeardownUnlink(path: string | Buffer | null): Errno;
  ref(): Errno;
  unref(): Errno;
  hasRef(): boolean;
  /** Stops polling and closes the fd now; idempotent. */
  close(): Errno;
  /**
   * NativeBinding's send() on the fd this handle owns: the same arguments
   * after the fd, the same results; -EBADF once the handle is closed.
   */
  send(data: Gather, fds: FdList, address: string | Buffer | null, flags: number): Errno;
  /** NativeBinding's sendBatch() on the fd this handle owns; -EBADF once closed. */
  sendBatch(
    datas: readonly Gather[],
    fds: readonly FdList[] | undefined,
    addresses: ReadonlyArray<string | Buffer | null> | undefined,
    start: number,
    end: number,
  ): Errno;
}

/** A uv_poll_t on a duplicate of a raw fd (src/native/watcher.cc). */
export interface NativeWatcher {
  /** Duplicates fd (F_DUPFD_CLOEXEC) and makes the poll handle, not started. */
  open(fd: number, callback: (status: number, events: number) => void): Errno;
  /** UV_READABLE (1) | UV_WRITABLE (2); 0 stops. */
  start(events: number): Errno;
  stop(): Errno;
  /** Closes the poll handle and the duplicate; idempotent. */
  close(): Errno;
  ref(): Errno;
  unref(): Errno;
}

export interface NativeBinding {
  readonly constants: NativeConstants;
  readonly SocketHandle: new () => NativeSocketHandle;
  readonly Watcher: new () => NativeWatcher;
  /** Once per env; every call returns the shared arrays actually in use. */
  setup(callbacks: NativeCallbacks): { meta: Int32Array; fds: Int32Array; ring: Int32Array };
  /**
   * Every fd these create (socket, socketpair, dup, listenInet, received
   * fds) is the library's until a SocketHandle adopts it, JS closes it, or
   * JS records it in the disown ring (handed to the user); the env teardown
   * hook closes the library's fds when JS can no longer run.
   */
  socket(type: number): Errno;
  socketpair(type: number, out: Int32Array): Errno;
  /** F_DUPFD_CLOEXEC. */
  dup(fd: number): Errno;
  /**
   * F_DUPFD_CLOEXEC of every fd into out, all checked before the first is
   * duplicated; the count, or -errno with out[0] the index that failed
   * (nothing left open then).
   */
  dupAll(fds: readonly number[], out: Int32Array): Errno;
  /** Sets FD_CLOEXEC on fd in place (F_GETFD, F_SETFD); the fd is not the library's. */
  setCloexec(fd: number): Errno;
  /** The soft RLIMIT_NOFILE (getrlimit(2)). */
  fdLimit(): number;
  /** close(2); also forgets the fd as the library's. -EBUSY for an fd a SocketHandle polls. */
  close(fd: number): Errno;
  /** Whether a SocketHandle of this process polls fd (such an fd is never closed by close/closeAll). */
  isPolled(fd: number): boolean;
  /**
   * close(2) for each fd of the list, in one call, skipping fds a SocketHandle
   * polls; errors are not reported (close is never retried).
   */
  closeAll(fds: readonly number[]): Errno;
  /** Applies the deliveries recorded in the disown ring (when it is full). */
  disown(): Errno;
  /** address null: autobind. mode: the socket file is created with exactly this mode. */
  bind(fd: number, address: string | Buffer | null, mode?: number): Errno;
  connect(fd: number, address: string | Buffer): Errno;
  listen(fd: number, backlog: number): Errno;
  /** A listening TCP socket on an IP literal (SO_REUSEADDR); port 0 picks one. */
  listenInet(host: string, port: number, backlog: number): Errno;
  /** The port an AF_INET/AF_INET6 socket is bound to. */
  inetPort(fd: number): Errno;
  shutdown(fd: number, how: number): Errno;
  getsockopt(fd: number, level: number, name: number, out: Int32Array): Errno;
  setsockopt(fd: number, level: number, name: number, value: number): Errno;
  /** getsockopt(2) into `out`; len[0] is the length the kernel reported, also on -ERANGE. */
  getsockoptBytes(fd: number, level: number, name: number, out: ByteView, len: Int32Array): Errno;
  /** setsockopt(2) with the bytes of `value`. */
  setsockoptBytes(fd: number, level: number, name: number, value: ByteView): Errno;
  /** The name, null for an unnamed socket, or -errno. */
  getsockname(fd: number): string | Buffer | null | Errno;
  getpeername(fd: number): string | Buffer | null | Errno;
  peercred(fd: number, out: Int32Array): Errno;
  /** SO_PEERPIDFD: a new pidfd (O_CLOEXEC, the library's until handed on), or -errno. */
  peerPidfd(fd: number): Errno;
  /**
   * [major, minor, low 32 bits of the inode number] of the file a socket is
   * bound to, from sock_diag, whatever its path names now; -errno when
   * sock_diag cannot answer (no unix_diag, another network namespace).
   */
  boundFile(fd: number): [number, number, number] | Errno;
  /** The same identity for the file a path names (a final symlink is not followed). */
  fileAtPath(path: string | Buffer): [number, number, number] | Errno;
  /** What these read is the caller's own snapshot: its arrays, validated views and numbers. */
  send(fd: number, data: Gather, fds: FdList, address: string | Buffer | null, flags: number): Errno;
  sendBatch(
    fd: number,
    datas: readonly Gather[],
    fds: readonly FdList[] | undefined,
    addresses: ReadonlyArray<string | Buffer | null> | undefined,
    start: number,
    end: number,
  ): Errno;
  sendmsg(
    fd: number,
    buffers: Gather,
    ancillary: ReadonlyArray<readonly [number, number, ByteView]> | null,
    flags: number,
    address: NativeSocketAddress | null,
  ): Errno;
  /** socket(2) of any domain, SOCK_NONBLOCK | SOCK_CLOEXEC. */
  socketOf(domain: number, type: number): Errno;
  bindTo(fd: number, address: NativeSocketAddress): Errno;
  connectTo(fd: number, address: NativeSocketAddress): Errno;
  /** accept4(2) with SOCK_CLOEXEC | SOCK_NONBLOCK: [fd, peer address or null]. */
  acceptFrom(fd: number): [number, NativeSocketAddress | null] | Errno;
  /** getsockname(2), or getpeername(2) when peer is true. */
  nameOf(fd: number, peer: boolean): NativeSocketAddress | null | Errno;
  recvmsg(fd: number, maxSize: number, cmsgSize: number, flags: number): NativeRecvResult | Errno;
  /** One recvmsg(2) with an iovec per view, filled in order; bytes is recvmsg's return. */
  recvmsgInto(fd: number, buffers: readonly ByteView[], cmsgSize: number, flags: number): NativeRecvIntoResult | Errno;
}

const root = path.join(__dirname, '..', '..');
export const native = nodeGypBuild(root) as NativeBinding;
export const constants = native.constants;

// Shared arrays: the native side writes a batch's per-message records and
// fds here, and the owner's onRead reads them before returning; JS records
// delivered fds in the ring (disowned()). If another copy of this module got
// here first in this env, its arrays are the ones.
const shared = native.setup({
  meta: new Int32Array(constants.BATCH_MESSAGES * constants.META_STRIDE),
  fds: new Int32Array(constants.BATCH_MESSAGES * constants.SCM_MAX_FD),
  ring: new Int32Array(constants.DISOWN_RING + 1),
  onread(count, data, status, addresses, base) {
    // A new slab (AddonData::SlabCopy). Like Buffer.allocUnsafe()'s pool,
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
const ring = shared.ring;
const RING_CAPACITY = constants.DISOWN_RING;

/**
 * These fds are no longer the library's: they were handed to the user. Called
 * before a message is emitted, so that if the env is torn down while a
 * listener runs, the teardown hook leaves them alone. A store per fd; the
 * addon applies the ring on its next use of the ledger.
 */
export function disowned(fds: readonly number[]): void {
  for (let i = 0; i < fds.length; i++) {
    let n = ring[0]!;
    if (n >= RING_CAPACITY) {
      native.disown(); // empties the ring (it only fails while the env is torn down)
      n = ring[0]!;
      if (n >= RING_CAPACITY) return;
    }
    // The fd first, then the count: an fd is disowned once it is counted.
    ring[n + 1] = fds[i]!;
    ring[0] = n + 1;
  }
}
