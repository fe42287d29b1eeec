// listenFds(): the fds socket activation passed to this process
// (sd_listen_fds_with_names(3)), read from LISTEN_PID, LISTEN_FDS and
// LISTEN_FDNAMES as libsystemd reads them.
//
// Who owns which fd: the fds (3, 4, ... as SD_LISTEN_FDS_START says) were
// inherited by the process and are the caller's. listenFds() only sets
// FD_CLOEXEC on each, in place, so that a child the service spawns does not
// inherit them; it never opens, duplicates or closes one. Handing one to
// createServer().listen({ fd }) or UnixMessageSocket.fromFd(fd) gives it to
// the library (which works on a duplicate and closes the original), and
// net.createServer().listen({ fd }) gives it to Node (libuv adopts it).
// The pidfd made to check LISTEN_PIDFDID is ours and closed here.
import fs from 'node:fs';
import { native } from '../native/binding';
import { errnoError } from '../stream/errors';
import { TYPE_NUMBERS } from '../stream/socket-type';
import { snapshotOptions, validateBoolean } from '../stream/validate';
import { parsePid, parseUnsigned, readEnv, systemdEnvError, unsetEnv } from './env';

/** One fd from socket activation, with its name from FileDescriptorName= or FDNAME= ("unknown" when unnamed). */
export interface ListenFd {
  fd: number;
  name: string;
}

export interface ListenFdsOptions {
  /** Remove LISTEN_PID, LISTEN_PIDFDID, LISTEN_FDS and LISTEN_FDNAMES from process.env (default true), also when they were invalid. */
  unsetEnvironment?: boolean;
}

/** SD_LISTEN_FDS_START: the first passed fd (sd-daemon.h). */
export const LISTEN_FDS_START = 3;
const LISTEN_VARIABLES = ['LISTEN_PID', 'LISTEN_PIDFDID', 'LISTEN_FDS', 'LISTEN_FDNAMES'] as const;
// statfs(2) f_type of pidfs (linux/magic.h PID_FS_MAGIC), kernel 6.9+.
const PID_FS_MAGIC = 0x50494446;
const INT_MAX = 0x7fffffff;

/**
 * The passed fds as `[{ fd, name }]`, in order, or `[]` when the process was
 * not socket-activated (LISTEN_PID unset or another process's pid, as
 * sd_listen_fds(3) returns 0). Each fd is made close-on-exec. A LISTEN_*
 * value sd_listen_fds refuses (not a number, LISTEN_FDS of 0 or more than
 * INT_MAX - 3, a LISTEN_FDNAMES count that differs from LISTEN_FDS) throws
 * ERR_SYSTEMD_ENV; a listed fd that is not open throws EBADF (fcntl). With
 * `unsetEnvironment` (the default) the variables are removed either way, so
 * that a child process does not take the fds for its own.
 */
export function listenFds(options: ListenFdsOptions = {}): ListenFd[] {
  const o = snapshotOptions(options, ['unsetEnvironment']);
  const unset = validateBoolean(o.unsetEnvironment, 'options.unsetEnvironment') ?? true;
  try {
    return passedFds();
  } finally {
    if (unset) unsetEnv(LISTEN_VARIABLES);
  }
}

function passedFds(): ListenFd[] {
  // Each variable read once, before anything is decided.
  const [pidText, pidfdIdText, countText, namesText] = LISTEN_VARIABLES.map(readEnv);
  if (pidText === undefined) return [];
  if (parsePid('LISTEN_PID', pidText) !== process.pid) return [];
  if (pidfdIdText !== undefined) {
    // Set by systemd 257+ so that a process that reuses the pid does not
    // take the fds; like libsystemd, trusted only where pidfs can tell.
    const wanted = parseUnsigned('LISTEN_PIDFDID', pidfdIdText, 0xffffffffffffffffn);
    const own = ownPidfdId();
    if (own !== null && own !== wanted) return [];
  }
  if (countText === undefined) return [];
  const count = Number(parseUnsigned('LISTEN_FDS', countText, BigInt(INT_MAX)));
  if (count === 0 || count > INT_MAX - LISTEN_FDS_START) {
    throw systemdEnvError('LISTEN_FDS', countText, `must be from 1 to ${INT_MAX - LISTEN_FDS_START}`);
  }
  // fd_cloexec() on each, stopping at the first that fails (an fd that is
  // not open: EBADF), as sd_listen_fds does; so a lying count ends there.
  for (let fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + count; fd++) {
    const r = native.setCloexec(fd);
    if (r < 0) throw errnoError(r, 'fcntl');
  }
  // strv_split_full(..., ":", EXTRACT_DONT_COALESCE_SEPARATORS): "" is no
  // name at all, "a::b" three names, the middle one empty.
  const names = namesText === undefined ? null : namesText === '' ? [] : namesText.split(':');
  if (names !== null && names.length !== count) {
    throw systemdEnvError('LISTEN_FDNAMES', namesText!, `must hold ${count} names separated by ':', as LISTEN_FDS says; it holds ${names.length}`);
  }
  return Array.from({ length: count }, (_, i) => ({ fd: LISTEN_FDS_START + i, name: names?.[i] ?? 'unknown' }));
}

/**
 * The pidfs inode number of this process (what LISTEN_PIDFDID holds), or
 * null when it cannot be known (no SO_PEERPIDFD before Linux 6.5, no pidfs
 * before 6.9). A socketpair's peer credentials are this process's own
 * (af_unix.c init_peercred), so SO_PEERPIDFD on it gives a pidfd of ours
 * without pidfd_open(2).
 */
function ownPidfdId(): bigint | null {
  const pair = new Int32Array(2);
  if (native.socketpair(TYPE_NUMBERS.stream, pair) < 0) return null;
  const pidfd = native.peerPidfd(pair[0]!);
  native.close(pair[0]!);
  native.close(pair[1]!);
  if (pidfd < 0) return null;
  try {
    if (fs.statfsSync(`/proc/self/fd/${pidfd}`).type !== PID_FS_MAGIC) return null;
    return fs.fstatSync(pidfd, { bigint: true }).ino;
  } catch {
    return null;
  } finally {
    native.close(pidfd);
  }
}
