// One worker process as the primary sees it (the public PoolWorker): its
// slot id, process, channel and state, and the count of the jobs it has
// not finished. That count is the pool's only one, and it changes only
// through took(), released(), finished() and reset() here.
import type { ChildProcess } from 'node:child_process';
import type { UnixMessageSocket } from '../stream/socket';

export type WorkerState = 'starting' | 'online' | 'disconnected' | 'dead';

/** A live view of one worker slot's current process. */
export class PoolWorker {
  readonly id: number;
  readonly process: ChildProcess;
  /** @internal */ readonly channel: UnixMessageSocket;
  /** @internal */ state: WorkerState = 'starting';
  /** @internal It sent Ready once: a death after that is not a failed start. */
  cameOnline = false;
  #jobs = 0;

  /** @internal */
  constructor(id: number, child: ChildProcess, channel: UnixMessageSocket) {
    this.id = id;
    this.process = child;
    this.channel = channel;
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get online(): boolean {
    return this.state === 'online';
  }

  /**
   * Jobs sent to this worker and not yet finished: requests without a reply,
   * messages whose listeners have not run, connections not yet closed.
   */
  get outstanding(): number {
    return this.#jobs;
  }

  /** @internal A frame carrying `n` jobs was written to its channel. */
  took(n: number): void {
    this.#jobs += n;
  }

  /** @internal `n` jobs are not the worker's any more: their frame failed, or a request was settled here. */
  released(n: number): void {
    this.#jobs -= n;
  }

  /**
   * @internal The worker's DONE frame: `n` jobs finished. Never below zero,
   * as a DONE may count jobs that were already released here.
   */
  finished(n: number): void {
    this.#jobs = Math.max(0, this.#jobs - n);
  }

  /** @internal The worker exited: what it had not finished is accounted for. */
  reset(): void {
    this.#jobs = 0;
  }
}
