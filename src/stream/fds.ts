// fd helpers for the stream layer. Ownership rules are in README.md
// ("Who owns which fd").
import { native } from '../native/binding';
import { errnoError } from './errors';

/** Closes every fd of a list the library owns. close(2) is never retried. */
export function closeFds(fds: readonly number[]): void {
  if (fds.length === 1) native.close(fds[0]!);
  else if (fds.length > 1) native.closeAll(fds);
}

/**
 * Duplicates fds (F_DUPFD_CLOEXEC) so that a queued message holds its own
 * references: the caller may close its copies as soon as write() returns, and
 * a reused fd number can never send the wrong file (kernel-semantics.md §6.5).
 * On failure nothing is left open and the errno error is returned.
 */
export function dupFds(fds: readonly number[]): number[] | Error {
  const dups: number[] = [];
  for (const fd of fds) {
    const r = native.dup(fd, true);
    if (r < 0) {
      closeFds(dups);
      const err = errnoError(r, 'dup');
      return Object.assign(err, { message: `${err.message} (fd ${fd})`, fd });
    }
    dups.push(r);
  }
  return dups;
}
