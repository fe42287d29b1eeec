// The pool's own errors (ERR_POOL_*), and which channel errors only mean
// that a worker went away.
import { coded, type CodedError } from '../stream/errors';
import type { PoolWorker } from './pool-worker';

export const poolClosed = (): CodedError => coded(Error, 'ERR_POOL_CLOSED', 'The worker pool is closed');

export const workerExited = (w: PoolWorker, what: string): CodedError =>
  coded(Error, 'ERR_POOL_WORKER_EXITED', `Worker ${w.id} (pid ${w.pid ?? '-'}) exited ${what}`);

/** A job for `target` (or any worker, when null) that no worker will ever take. */
export const workerLost = (target: number | null): CodedError =>
  coded(
    Error,
    'ERR_POOL_WORKER_EXITED',
    target !== null ? `Worker ${target} has exited and is not respawned` : 'No worker is left to take the message (every worker exited and none is respawned)',
  );

/** A write error that says the worker's end is gone (EPIPE, ECONNRESET), not that the frame was bad. */
export const isDisconnect = (err: Error): boolean => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EPIPE' || code === 'ECONNRESET' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_WRITE_AFTER_END';
};
