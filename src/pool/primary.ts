// The primary side of a pool: N Node child processes, each with its own
// SEQPACKET socketpair end as fd 3, and a dispatcher that hands them
// messages, requests and accepted connections, many fds per sendmsg(2).
//
// fd ownership (README "Worker pools"): a job owns its fds from send() or
// accept until its frame is in the kernel; then the primary closes its copies.
// A job that never reached the kernel because its worker died is re-routed,
// so it is delivered once or failed explicitly, never dropped.
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { constants } from '../native/binding';
import { coded, describe, invalidArgType, type CodedError } from '../stream/errors';
import { closeFds, dupFds } from '../stream/fds';
import type { OutgoingMessage, UnixMessage, WriteCallback } from '../stream/types';
import { isArray, normalizeMessage, snapshotFds } from '../stream/validate';
import { Acceptor, type ServeAddress, type ServeOptions } from './acceptor';
import {
  noDuplicates, readPoolOptions, sendOptions, validateCallback, validateTarget, validateTimeout,
  type PoolOptions, type RequestOptions, type SendOptions, type SpawnOptions, type Strategy,
} from './options';
import { PoolWorker } from './pool-worker';
import { Kind, header, readFrame } from './protocol';
import { Supervisor } from './supervisor';
import { Requests, type PendingRequest } from './requests';
import { isDisconnect, poolClosed, workerExited, workerLost } from './errors';

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

export interface PoolEvents {
  online: [worker: PoolWorker];
  /** `unfinished`: jobs the worker had not finished; the kernel closed their fds. */
  exit: [worker: PoolWorker, code: number | null, signal: NodeJS.Signals | null, unfinished: number];
  message: [message: UnixMessage, worker: PoolWorker];
  error: [err: Error, worker?: PoolWorker];
  close: [];
}

/**
 * The pool's life, one state: Open -> Closing (close(): drains) -> Closed,
 * or Open/Closing -> Destroyed (destroy(), or close()'s timeout) -> Closed.
 * Closed once every worker has exited; 'close' follows.
 */
enum PoolState {
  Open,
  Closing,
  Destroyed,
  Closed,
}

/** One worker's part of the connections being spread. */
interface Share {
  w: PoolWorker;
  fds: number[];
}

const EMPTY: readonly Buffer[] = [];
const jobCount = (job: Job): number => (job.kind === Kind.Connections ? job.fds.length : 1);

export class WorkerPool extends EventEmitter<PoolEvents> {
  readonly size: number;
  readonly strategy: Strategy;
  readonly #options: SpawnOptions;
  readonly #workers: Supervisor;
  #waiting: Job[] = [];
  readonly #requests = new Requests({
    release: (p) => this.#release(p),
    settled: () => {
      if (this.#closing) this.#drainThenEnd();
    },
  });
  #next = 0;
  #acceptors: Acceptor[] = [];
  #acceptPaused = false;
  #state = PoolState.Open;
  #refed = true;
  #closeWaiters: Array<() => void> = [];
  #closeTimer: NodeJS.Timeout | null = null;

  constructor(options: PoolOptions) {
    super();
    const { size, strategy, spawn } = readPoolOptions(options);
    this.size = size;
    this.strategy = strategy;
    this.#options = spawn;
    this.#workers = new Supervisor(size, spawn, {
      closing: () => this.#closing,
      refed: () => this.#refed,
      error: (err, w) => {
        if (w === undefined) this.emit('error', err);
        else this.emit('error', err, w);
      },
      frame: (w, m) => this.#onFrame(w, m),
      drained: () => this.#resumeAccepting(),
      exited: (w, code, signal) => this.#finishExit(w, code, signal),
      startAbandoned: () => {
        if (this.#workers.noWorkerLeft()) this.#failWaiting();
      },
    });
    this.#workers.start();
  }

  /** The current worker of each slot (null while a slot respawns or after close). */
  get workers(): ReadonlyArray<PoolWorker | null> {
    return this.#workers.slots;
  }

  /** Resolves once every slot has an online worker. */
  ready(): Promise<this> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (this.#closing) {
          cleanup();
          reject(poolClosed());
          return true;
        }
        const lost = this.#workers.slots.findIndex((w, id) => w === null && this.#workers.gaveUp(id));
        if (lost >= 0) {
          cleanup();
          reject(coded(Error, 'ERR_POOL_WORKER_EXITED', `Worker ${lost} exited before coming online and is not respawned`));
          return true;
        }
        if (this.#workers.slots.every((w) => w?.online === true)) {
          cleanup();
          resolve(this);
          return true;
        }
        return false;
      };
      const onEvent = (): void => void check();
      const onError = (err: Error): void => {
        if ((err as CodedError).code === 'ERR_POOL_WORKER_EXITED') {
          cleanup();
          reject(err);
        }
      };
      const cleanup = (): void => {
        this.off('online', onEvent);
        this.off('exit', onEvent);
        this.off('close', onEvent);
        this.off('error', onError);
      };
      this.on('online', onEvent);
      this.on('exit', onEvent);
      this.on('close', onEvent);
      this.on('error', onError);
      check();
    });
  }

  /** A fire-and-forget message; callback(err) once it is in a worker's socket, or failed. */
  send(message: OutgoingMessage | Buffer | string, options: SendOptions = {}, callback?: WriteCallback): void {
    validateCallback(callback);
    this.#dispatch(this.#job(Kind.Message, 0, message, sendOptions(options), callback ?? null, null));
  }

  /** Sends a request; resolves with the worker's reply, whose fds the caller owns. */
  request(message: OutgoingMessage | Buffer | string, options: RequestOptions = {}): Promise<UnixMessage> {
    const o = sendOptions(options, ['worker', 'transfer', 'timeout']);
    validateTimeout(o.timeout, 'timeout');
    const timeout = o.timeout as number | undefined;
    return new Promise((resolve, reject) => {
      const id = this.#requests.nextId();
      const pending: PendingRequest = { id, resolve, reject, worker: null, timer: null, job: null };
      const job = this.#job(Kind.Request, id, message, o, null, pending);
      pending.job = job;
      this.#requests.add(pending, timeout, this.#refed);
      this.#dispatch(job);
    });
  }

  /**
   * Hands connections (or any fds) to the workers, which see each as a
   * net.Socket on 'connection'. The pool owns `fds` from now on.
   */
  handOff(fds: readonly number[], options: Omit<SendOptions, 'transfer'> = {}): void {
    if (!isArray(fds, 'fds')) throw invalidArgType(`handOff() takes an array of fds. Received ${describe(fds)}`);
    // Read once: the fds checked are the fds handed off (and closed).
    const list = snapshotFds(fds, 'fds', 0x7fffffff);
    noDuplicates(list);
    const target = this.#target(sendOptions(options, ['worker']));
    if (target !== null) this.#dispatch({ kind: Kind.Connections, value: 0, payload: EMPTY, fds: [...list], target, callback: null, request: null });
    else this.#spread(list);
  }

  /**
   * Accepts TCP connections and hands them to the workers: on { port, host },
   * or by taking over a listening net.Server (which is closed; the pool keeps
   * its socket). Connections are accepted natively, no net.Socket each.
   */
  async serve(target: ServeOptions | net.Server = {}): Promise<ServeAddress> {
    if (this.#closing) throw poolClosed();
    if (target === null || typeof target !== 'object' || isArray(target, 'target')) {
      throw invalidArgType(`serve() takes options { port, host, backlog } or a listening net.Server. Received ${describe(target)}`);
    }
    const onConnections = (fds: number[]): void => this.#spread(fds);
    const onError = (err: Error): void => void this.emit('error', err);
    // One wakeup's connections make one full frame per worker: 512 over 2
    // workers was 253 + 3 each, twice the sendmsg/recvmsg for the same fds.
    const perWakeup = this.#workers.slots.length * constants.SCM_MAX_FD;
    const acceptor = typeof (target as net.Server).address === 'function'
      ? Acceptor.adopt(target as net.Server, perWakeup, onConnections, onError)
      : await Acceptor.listen(target as ServeOptions, perWakeup, onConnections, onError);
    if (this.#closing) {
      acceptor.close();
      throw poolClosed();
    }
    if (!this.#refed) acceptor.unref();
    if (this.#acceptPaused) acceptor.pause();
    this.#acceptors.push(acceptor);
    return acceptor.address;
  }

  /**
   * Stops accepting and drains: waits until every job is finished (requests
   * answered, messages handled, handed-off connections closed), then ends
   * every channel; workers see 'disconnect' and should exit. Workers still
   * running after `closeTimeout` ms are killed (SIGKILL).
   */
  close(): Promise<void> {
    const done = new Promise<void>((resolve) => {
      if (this.#state === PoolState.Closed) resolve();
      else this.#closeWaiters.push(resolve);
    });
    if (this.#state !== PoolState.Open) return done;
    this.#state = PoolState.Closing;
    this.#stopAccepting();
    this.#closeTimer = setTimeout(() => this.destroy(), this.#options.closeTimeout);
    if (!this.#refed) this.#closeTimer.unref();
    this.#drainThenEnd();
    return done;
  }

  /** Kills every worker (SIGKILL) and fails what is not yet sent. 'close' follows. */
  destroy(): void {
    // Closed: every worker has exited and no job or acceptor is left, so
    // there is nothing to destroy.
    if (this.#state === PoolState.Destroyed || this.#state === PoolState.Closed) return;
    this.#state = PoolState.Destroyed;
    this.#stopAccepting();
    this.#failWaiting();
    for (const p of this.#requests.list()) this.#requests.settle(p.id, poolClosed());
    this.#workers.killAll();
    this.#maybeClosed();
  }

  ref(): this {
    this.#refed = true;
    this.#workers.ref();
    for (const a of this.#acceptors) a.ref();
    this.#requests.ref();
    this.#closeTimer?.ref();
    return this;
  }

  unref(): this {
    this.#refed = false;
    this.#workers.unref();
    for (const a of this.#acceptors) a.unref();
    this.#requests.unref();
    this.#closeTimer?.unref();
    return this;
  }

  #job(kind: Job['kind'], value: number, message: OutgoingMessage | Buffer | string, options: { worker?: unknown; transfer: boolean }, callback: WriteCallback | null, request: PendingRequest | null): Job {
    const target = this.#target(options);
    const msg = normalizeMessage(message, 'seqpacket');
    let fds: number[];
    if (options.transfer) {
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

  #target(options: { worker?: unknown }): number | null {
    if (this.#closing) throw poolClosed();
    return validateTarget(options.worker, this.size);
  }

  // `shares`: what #spread has assigned so far and not yet sent, which
  // least-outstanding counts as the workers' too.
  #pick(shares?: ReadonlyArray<Share | undefined>): PoolWorker | null {
    let best: PoolWorker | null = null;
    let bestJobs = 0;
    for (let i = 0; i < this.size; i++) {
      const w = this.#workers.worker((this.#next + i) % this.size);
      if (w?.state !== 'online') continue;
      if (this.strategy === 'round-robin') {
        this.#next = (w.id + 1) % this.size;
        return w;
      }
      const jobs = w.outstanding + (shares?.[w.id]?.fds.length ?? 0);
      if (best === null || jobs < bestJobs) {
        best = w;
        bestJobs = jobs;
      }
    }
    if (best !== null) this.#next = (best.id + 1) % this.size;
    return best;
  }

  #dispatch(job: Job): void {
    if (this.#sendsNothing) {
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
  #spread(fds: readonly number[]): void {
    if (this.#sendsNothing) {
      closeFds(fds);
      return;
    }
    if (this.#workers.noWorkerLeft()) {
      closeFds(fds);
      this.emit('error', workerLost(null));
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
    const ok = w.channel.write(
      { data: [header(job.kind, value), ...job.payload], fds: job.fds, lend: true },
      (err) => this.#written(w, job, err ?? null),
    );
    if (!ok && job.kind === Kind.Connections) this.#maybePauseAccepting();
  }

  // The socket reports success for every frame the kernel took, even when a
  // later frame of the same batch failed; so a failure here means the frame
  // never reached the worker and can go to another one.
  #written(w: PoolWorker, job: Job, err: Error | null): void {
    if (err === null) {
      closeFds(job.fds);
      job.fds = [];
      job.callback?.(null);
      return;
    }
    w.released(jobCount(job));
    const request = job.request;
    if (request !== null) {
      request.worker = null;
      if (!this.#requests.has(request.id)) {
        // Timed out meanwhile: nobody waits for it any more.
        closeFds(job.fds);
        job.fds = [];
        return;
      }
    }
    // The channel itself failed (errored: its 'error' listener reports that
    // once, as the pool's 'error'), or the worker is going: either way the
    // frame never reached a worker, and its caller is not the one to tell.
    // Failing the job with the channel's error as well would report it twice,
    // and crash a pool without an 'error' listener after the caller had it.
    if (isDisconnect(err) || w.state !== 'online' || w.channel.errored !== null) {
      // Before re-routing, or the job would go straight back to this channel.
      if (w.state === 'online' || w.state === 'starting') w.state = 'disconnected';
      if (job.kind === Kind.Connections && job.target === null) this.#spread(job.fds);
      else this.#dispatch(job);
      return;
    }
    this.#fail(job, err);
  }

  #fail(job: Job, err: Error): void {
    closeFds(job.fds);
    job.fds = [];
    if (job.request !== null) this.#requests.settle(job.request.id, err);
    // On a later tick, as a Node callback is: from inside destroy() or a
    // dispatch loop, a callback that throws would cut the loop short and
    // leave the jobs after it (and their fds) behind.
    else if (job.callback !== null) process.nextTick(job.callback, err);
    // After close()/destroy() the caller asked for it; anything else is news.
    else if ((err as CodedError).code !== 'ERR_POOL_CLOSED') this.emit('error', err);
  }

  // A request was settled: it is not its worker's job any more, or, still
  // waiting for a worker, it will never be sent.
  #release(p: PendingRequest): void {
    if (p.worker !== null) {
      p.worker.released(1);
    } else if (p.job !== null) {
      // Still waiting for a worker: it will never be sent.
      const i = this.#waiting.indexOf(p.job);
      if (i >= 0) this.#waiting.splice(i, 1);
      closeFds(p.job.fds);
      p.job.fds = [];
    }
  }

  /** close() or destroy() was called: no new job is taken, no worker respawned. */
  get #closing(): boolean {
    return this.#state !== PoolState.Open;
  }

  /** destroy() was called (or the pool is closed): nothing more is sent, jobs fail. */
  get #sendsNothing(): boolean {
    return this.#state === PoolState.Destroyed || this.#state === PoolState.Closed;
  }

  #onFrame(w: PoolWorker, m: UnixMessage): void {
    const frame = readFrame(m);
    if (frame === null) return;
    const { message } = frame;
    switch (frame.kind) {
      case Kind.Ready:
        // Ready and Done carry no fds; any that a worker sends along are
        // closed, or a misbehaving worker could fill the primary's fd table.
        closeFds(message.fds);
        if (w.state !== 'starting') return;
        w.state = 'online';
        w.cameOnline = true;
        this.emit('online', w);
        this.#flushWaiting();
        this.#resumeAccepting();
        if (this.#closing) this.#drainThenEnd();
        return;
      case Kind.Done:
        closeFds(message.fds);
        w.finished(frame.value);
        if (this.#closing) this.#drainThenEnd();
        return;
      case Kind.Reply:
      case Kind.ReplyError: {
        const p = this.#requests.get(frame.value);
        if (p?.worker !== w) {
          closeFds(message.fds);
          return;
        }
        if (frame.kind === Kind.Reply) {
          this.#requests.settle(frame.value, message);
        } else {
          closeFds(message.fds);
          const err = coded(Error, 'ERR_POOL_REMOTE_ERROR', `Worker ${w.id}: ${message.data.toString('utf8')}`);
          this.#requests.settle(frame.value, err);
        }
        return;
      }
      case Kind.Message:
        if (!this.emit('message', message, w)) closeFds(message.fds);
        return;
      default:
        closeFds(m.fds);
    }
  }

  #finishExit(w: PoolWorker, code: number | null, signal: NodeJS.Signals | null): void {
    const unfinished = w.outstanding;
    for (const p of this.#requests.list()) {
      if (p.worker === w) this.#requests.settle(p.id, workerExited(w, 'before replying'));
    }
    w.reset();
    this.#workers.forget(w);
    this.emit('exit', w, code, signal, unfinished);
    if (this.#workers.noWorkerLeft()) this.#failWaiting();
    else if (this.#closing) this.#flushWaiting();
    this.#resumeAccepting();
    this.#maybeClosed();
  }

  #flushWaiting(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const job of waiting) {
      if (job.kind === Kind.Connections && job.target === null) this.#spread(job.fds);
      else this.#dispatch(job);
    }
  }

  #failWaiting(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const job of waiting) this.#fail(job, this.#closing ? poolClosed() : workerLost(job.target));
  }

  #maybePauseAccepting(): void {
    for (const w of this.#workers.live) {
      if (w.online && !w.channel.writableNeedDrain) return;
    }
    this.#acceptPaused = true;
    for (const a of this.#acceptors) a.pause();
  }

  #resumeAccepting(): void {
    if (!this.#acceptPaused) return;
    this.#acceptPaused = false;
    for (const a of this.#acceptors) a.resume();
  }

  #stopAccepting(): void {
    for (const a of this.#acceptors) a.close();
    this.#acceptors = [];
  }

  // close(): once every job is finished (requests answered, messages handled,
  // connections closed) and nothing waits for a worker, end the channels;
  // workers exit on 'disconnect'.
  #drainThenEnd(): void {
    if (this.#sendsNothing || this.#requests.size > 0 || this.#waiting.length > 0) return;
    for (const w of this.#workers.live) {
      if (w.online && w.outstanding > 0) return;
    }
    for (const w of this.#workers.live) {
      if (!w.channel.writableEnded) w.channel.end();
    }
    this.#maybeClosed();
  }

  #maybeClosed(): void {
    if (this.#state === PoolState.Open || this.#workers.live.size > 0 || this.#state === PoolState.Closed) return;
    this.#state = PoolState.Closed;
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
    this.#closeTimer = null;
    for (const resolve of this.#closeWaiters) resolve();
    this.#closeWaiters = [];
    process.nextTick(() => this.emit('close'));
  }
}

/** Starts a pool of `size` worker processes running `script`. */
export function createPool(options: PoolOptions): WorkerPool {
  return new WorkerPool(options);
}
