// fd helpers for the stream layer. Ownership rules are in README.md
// ("Who owns which fd").
import { constants, native } from '../native/binding';
import { errnoError } from './errors';

const DEFAULT_FD_BOUND = 4096;
let boundLimit = -1;
let bound = DEFAULT_FD_BOUND;

/**
 * The default of maxPendingFds and maxQueuedFds: a quarter of the soft
 * RLIMIT_NOFILE, at most 4096, at least SCM_MAX_FD (one full message). One
 * socket then holds at most a quarter of what the process may open, so a
 * slow peer or a slow consumer cannot push the process into EMFILE by
 * itself. Node raises the soft limit to the hard one at start-up, so this
 * is 4096 unless the hard limit is below 16384.
 */
export function defaultFdBound(): number {
  const limit = native.fdLimit();
  if (limit !== boundLimit) {
    boundLimit = limit;
    bound = Math.max(constants.SCM_MAX_FD, Math.min(DEFAULT_FD_BOUND, Math.floor(limit / 4)));
  }
  return bound;
}

/** Closes every fd of a list the library owns. close(2) is never retried. */
export function closeFds(fds: readonly number[]): void {
  if (fds.length === 1) native.close(fds[0]!);
  else if (fds.length > 1) native.closeAll(fds);
}

/**
 * Duplicates fds (F_DUPFD_CLOEXEC) so that a queued message holds its own
 * references: the caller may close its copies as soon as write() returns, and
 * a reused fd number can never send the wrong file. On failure nothing is
 * left open and the errno error is returned.
 */
export function dupFds(fds: readonly number[]): number[] | Error {
  const out = fds.length <= scratch.length ? scratch : new Int32Array(fds.length);
  const r = native.dupAll(fds, out);
  if (r < 0) {
    const fd = fds[out[0]!]!;
    const err = errnoError(r, 'dup');
    return Object.assign(err, { message: `${err.message} (fd ${fd})`, fd });
  }
  return Array.from(out.subarray(0, r));
}

// Big enough for one message's fds (SCM_MAX_FD).
const scratch = new Int32Array(constants.SCM_MAX_FD);
