// Dispatch: turning send()/request()/handOff() calls and accepted
// connections into jobs, choosing a worker for each (the strategy), writing
// them as frames on the worker's channel, re-routing a frame that never
// reached its worker, and the queue of jobs waiting for a worker to come
// online. A worker's count of outstanding jobs (PoolWorker.took/released)
// changes only here, and on its DONE frames and exit (primary.ts).
//
// fd ownership: a job owns its fds from send()/request() (duplicates, or the
// caller's own with `transfer`), handOff() or the acceptor, until its frame
// is in the kernel: #written() then closes the primary's copies. A job that
// never reached the kernel because its worker went away is re-routed, so it
// is delivered once or failed explicitly (#fail closes its fds), never
// dropped. A request settled before it was sent gives its fds back here
// (release()).
import { debug } from '../debug';
import { constants } from '../native/binding';
import type { CodedError } from '../stream/errors';
import { closeFds, dupFds } from '../stream/fds';
import type { OutgoingMessage, WriteCallback } from '../stream/types';
import { normalizeMessage } from '../stream/validate';
import { isDisconnect, poolClosed, workerLost } from './errors';
import { noDuplicates, type Strategy } from './options';
import type { PoolWorker } from './pool-worker';
import { Kind, header } from './protocol';
import type { PendingRequest } from './requests';

export interface Job {
  kind: Kind.Message | Kind.Request | Kind.Connections;
  value: number;
  payload: readonly ArrayBufferView[];
  /** Owned by the job until its frame is in the kernel. */
  fds: number[];
  target: number | null;
  callback: WriteCallback | null;
  request: PendingRequest | null;
}

/** The workers as dispatch sees them (the Supervisor). */
export interface WorkerSlots {
  worker(id: number): PoolWorker | null;
  /** Slot `id` has no worker and will not get one. */
  gaveUp(id: number): boolean;
  noWorkerLeft(): boolean;
}

/** The requests waiting for a reply (Requests). */
export interface RequestBook {
  has(id: number): boolean;
  settle(id: number, err: Error): void;
}

export interface DispatchHost {
  /** close() or destroy() was called: what waits for a worker fails with ERR_POOL_CLOSED. */
  closing(): boolean;
  /** destroy() was called, or the pool is closed: nothing more is sent. */
  sendsNothing(): boolean;
  /** A failure nobody else hears of: 'error' on the pool. */
  error(err: Error): void;
  /** A connections frame found its worker's channel full. */
  channelFull(): void;
}

/** One worker's part of the connections being spread. */
interface Share {
  w: PoolWorker;
  fds: number[];
}

const EMPTY: readonly Buffer[] = [];
const jobCount = (job: Job): number => (job.kind === Kind.Connections ? job.fds.length : 1);

export class Dispatcher {
  readonly #size: number;
  readonly #strategy: Strategy;
  readonly #workers: WorkerSlots;
  readonly #requests: RequestBook;
  readonly #host: DispatchHost;
  #waiting: Job[] = [];
  /** Where the next pick starts looking. */
  #next = 0;

  constructor(size: number, strategy: Strategy, workers: WorkerSlots, requests: RequestBook, host: DispatchHost) {
    this.#size = size;
    this.#strategy = strategy;
    this.#workers = workers;
    this.#requests = requests;
    this.#host = host;
  }

  /** Jobs waiting for a worker to come online. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * A message or request job; its fds are duplicated, or with `transfer`
   * taken over (then they must be distinct, as each is closed once sent).
   */
  job(
    kind: Kind.Message | Kind.Request,
    value: number,
    message: OutgoingMessage | Buffer | string,
    target: number | null,
    transfer: boolean,
    callback: WriteCallback | null,
    request: PendingRequest | null,
  ): Job {
    const msg = normalizeMessage(message, 'seqpacket');
    let fds: number[];
    if (transfer) {
      noDuplicates(msg.fds);
      fds = [...msg.fds];
    } else {
      const dups = dupFds(msg.fds);
      if (dups instanceof Error) throw dups;
      fds = dups;
    }
    const payload = Array.isArray(msg.data) ? msg.data : msg.byteLength > 0 ? [msg.data] : EMPTY;
    return { kind, value, payload, fds, target, callback, request };
  }

  /** handOff(): connections (any fds) for one worker, or spread over all of them. */
  handOff(fds: readonly number[], target: number | null): void {
    if (target !== null) this.dispatch({ kind: Kind.Connections, value: 0, payload: EMPTY, fds: [...fds], target, callback: null, request: null });
    else this.spread(fds);
  }

  dispatch(job: Job): void {
    if (this.#host.sendsNothing()) {
      this.#fail(job, poolClosed());
      return;
    }
    const w = job.target !== null ? this.#workers.worker(job.target) : this.#pick();
    if (w?.state === 'online') this.#send(w, job);
    else if (job.target !== null ? this.#workers.gaveUp(job.target) : this.#workers.noWorkerLeft()) this.#fail(job, workerLost(job.target));
    else this.#waiting.push(job);
  }

  // Connections are spread one by one over the workers, then each worker's
  // share goes in frames of up to SCM_MAX_FD fds (#send): one sendmsg per 253.
  spread(fds: readonly number[]): void {
    if (this.#host.sendsNothing()) {
      debug('pool: closing connection fds %j: the pool is destroyed', fds);
      closeFds(fds);
      return;
    }
    if (this.#workers.noWorkerLeft()) {
      debug('pool: closing connection fds %j: no worker left', fds);
      closeFds(fds);
      this.#host.error(workerLost(null));
      return;
    }
    const shares: Array<Share | undefined> = []; // by worker id
    let orphans: number[] | null = null;
    for (const fd of fds) {
      const w = this.#pick(shares);
      if (w === null) {
        (orphans ??= []).push(fd);
        continue;
      }
      (shares[w.id] ??= { w, fds: [] }).fds.push(fd);
    }
    for (const share of shares) {
      if (share === undefined) continue;
      this.#send(share.w, { kind: Kind.Connections, value: 0, payload: EMPTY, fds: share.fds, target: null, callback: null, request: null });
    }
    if (orphans !== null) {
      this.#waiting.push({ kind: Kind.Connections, value: 0, payload: EMPTY, fds: orphans, target: null, callback: null, request: null });
    }
  }

  /** A worker came online, or one exited while closing: the waiting jobs try again. */
  flushWaiting(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const job of waiting) {
      if (job.kind === Kind.Connections && job.target === null) this.spread(job.fds);
      else this.dispatch(job);
    }
  }

  /** No worker will take them: every waiting job fails. */
  failWaiting(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const job of waiting) this.#fail(job, this.#host.closing() ? poolClosed() : workerLost(job.target));
  }

  /**
   * A request was settled (Requests' release hook): it is not its worker's
   * job any more, or, still waiting for a worker, it will never be sent.
   */
  release(p: PendingRequest): void {
    if (p.worker !== null) {
      p.worker.released(1);
    } else if (p.job !== null) {
      const i = this.#waiting.indexOf(p.job);
      if (i >= 0) this.#waiting.splice(i, 1);
      if (p.job.fds.length > 0) debug('pool: closing fds %j of request %d: settled before it was sent', p.job.fds, p.id);
      closeFds(p.job.fds);
      p.job.fds = [];
    }
  }

  // `shares`: what spread() has assigned so far and not yet sent, which
  // least-outstanding counts as the workers' too.
  #pick(shares?: ReadonlyArray<Share | undefined>): PoolWorker | null {
    let best: PoolWorker | null = null;
    let bestJobs = 0;
    for (let i = 0; i < this.#size; i++) {
      const w = this.#workers.worker((this.#next + i) % this.#size);
      if (w?.state !== 'online') continue;
      if (this.#strategy === 'round-robin') {
        this.#next = (w.id + 1) % this.#size;
        return w;
      }
      const jobs = w.outstanding + (shares?.[w.id]?.fds.length ?? 0);
      if (best === null || jobs < bestJobs) {
        best = w;
        bestJobs = jobs;
      }
    }
    if (best !== null) this.#next = (best.id + 1) % this.#size;
    return best;
  }

  #send(w: PoolWorker, job: Job): void {
    if (job.kind === Kind.Connections && job.fds.length > constants.SCM_MAX_FD) {
      for (let i = 0; i < job.fds.length; i += constants.SCM_MAX_FD) {
        this.#send(w, { ...job, fds: job.fds.slice(i, i + constants.SCM_MAX_FD) });
      }
      return;
    }
    w.took(jobCount(job));
    // Set now, not in the write callback: with batched writes the reply can
    // come back before the callback runs.
    if (job.request !== null) job.request.worker = w;
    // A Connections frame carries its fd count, so that fds the kernel had
    // to drop at the worker (EMFILE: MSG_CTRUNC) are still accounted for.
    const value = job.kind === Kind.Connections ? job.fds.length : job.value;
    // Lent, not duplicated: the job keeps its fds open until #written.
    const ok = w.channel.write({ data: [header(job.kind, value), ...job.payload], fds: job.fds, lend: true }, (err) => this.#written(w, job, err ?? null));
    if (!ok && job.kind === Kind.Connections) this.#host.channelFull();
  }

  // The socket reports success for every frame the kernel took, even when a
  // later frame of the same batch failed; so a failure here means the frame
  // never reached the worker and can go to another one.
  #written(w: PoolWorker, job: Job, err: Error | null): void {
    if (err === null) {
      if (job.fds.length > 0) debug('pool: fds %j handed to worker %d (pid %s); closing our copies', job.fds, w.id, w.pid ?? '-');
      closeFds(job.fds);
      job.fds = [];
      job.callback?.(null);
      return;
    }
    const request = job.request;
    if (request !== null) {
      request.worker = null;
      if (!this.#requests.has(request.id)) {
        // Timed out meanwhile: nobody waits for it any more, and settling it
        // took it off this worker's count already (release()).
        if (job.fds.length > 0) debug('pool: closing fds %j of request %d: settled while its write failed', job.fds, request.id);
        closeFds(job.fds);
        job.fds = [];
        return;
      }
    }
    w.released(jobCount(job));
    // The channel itself failed (errored: its 'error' listener reports that
    // once, as the pool's 'error'), or the worker is going: either way the
    // frame never reached a worker, and its caller is not the one to tell.
    // Failing the job with the channel's error as well would report it twice,
    // and crash a pool without an 'error' listener after the caller had it.
    if (isDisconnect(err) || w.state !== 'online' || w.channel.errored !== null) {
      // Before re-routing, or the job would go straight back to this channel.
      if (w.state === 'online' || w.state === 'starting') w.state = 'disconnected';
      if (job.fds.length > 0) debug('pool: fds %j did not reach worker %d (%s); re-routed', job.fds, w.id, (err as NodeJS.ErrnoException).code ?? err.message);
      if (job.kind === Kind.Connections && job.target === null) this.spread(job.fds);
      else this.dispatch(job);
      return;
    }
    this.#fail(job, err);
  }

  #fail(job: Job, err: Error): void {
    if (job.fds.length > 0) debug('pool: closing fds %j of a failed job: %s', job.fds, (err as CodedError).code ?? err.message);
    closeFds(job.fds);
    job.fds = [];
    if (job.request !== null) this.#requests.settle(job.request.id, err);
    // On a later tick, as a Node callback is: from inside destroy() or a
    // dispatch loop, a callback that throws would cut the loop short and
    // leave the jobs after it (and their fds) behind.
    else if (job.callback !== null) process.nextTick(job.callback, err);
    // After close()/destroy() the caller asked for it; anything else is news.
    else if ((err as CodedError).code !== 'ERR_POOL_CLOSED') this.#host.error(err);
  }
}
