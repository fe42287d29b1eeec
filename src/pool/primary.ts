// The pool itself (WorkerPool, createPool()): its public API, its life as
// one PoolState, the frames workers send it (Ready, Done, Reply, Message),
// the acceptors of serve(), and close()'s drain. It composes three parts:
// supervisor.ts (the worker processes), dispatcher.ts (jobs to workers) and
// requests.ts (replies to requests).
//
// fd ownership, from receipt until hand-off to a worker or close (README
// "Worker pools"):
// - a job's fds (send(), request(), handOff(), accepted connections) are the
//   job's, in dispatcher.ts, until its frame is in the kernel; then the
//   primary closes its copies, and a job that never got there is re-routed
//   or failed with its fds closed;
// - a reply's fds are the request's caller's (requests.ts closes those of a
//   reply that comes too late);
// - a worker's message's fds are the pool's 'message' listener's, or closed
//   here without one; fds on any other frame from a worker are closed here;
// - each worker's channel, one end of a socketpair(2), is supervisor.ts's;
// - a listening socket is acceptor.ts's; what it accepts goes to the
//   dispatcher at once.
import { EventEmitter } from 'node:events';
import type * as net from 'node:net';
import { debug } from '../debug';
import { constants } from '../native/binding';
import { abortErrorOf, closeOnAbort, isAborted, validateSignal } from '../stream/abort';
import { coded, describe, invalidArgType, type CodedError } from '../stream/errors';
import { closeFds } from '../stream/fds';
import type { OutgoingMessage, UnixMessage, WriteCallback } from '../stream/types';
import { isArray, snapshotFds } from '../stream/validate';
import { Acceptor, type ServeAddress, type ServeOptions } from './acceptor';
import { Dispatcher } from './dispatcher';
import { poolClosed, workerExited } from './errors';
import {
  noDuplicates,
  readPoolOptions,
  sendOptions,
  validateCallback,
  validateTarget,
  validateTimeout,
  type PoolOptions,
  type RequestOptions,
  type SendOptions,
  type SpawnOptions,
  type Strategy,
} from './options';
import type { PoolWorker } from './pool-worker';
import { Kind, readFrame } from './protocol';
import { Requests, type PendingRequest } from './requests';
import { Supervisor } from './supervisor';

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

export class WorkerPool extends EventEmitter<PoolEvents> {
  readonly size: number;
  readonly strategy: Strategy;
  readonly #options: SpawnOptions;
  readonly #workers: Supervisor;
  readonly #dispatcher: Dispatcher;
  readonly #requests = new Requests({
    release: (p) => this.#dispatcher.release(p),
    settled: () => {
      if (this.#closing) this.#drainThenEnd();
    },
  });
  #acceptors: Acceptor[] = [];
  #acceptPaused = false;
  #state = PoolState.Open;
  #refed = true;
  #closeWaiters: Array<() => void> = [];
  #closeTimer: NodeJS.Timeout | null = null;

  constructor(options: PoolOptions) {
    super();
    const { size, strategy, spawn, signal } = readPoolOptions(options);
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
        if (this.#workers.noWorkerLeft()) this.#dispatcher.failWaiting();
      },
    });
    this.#dispatcher = new Dispatcher(size, strategy, this.#workers, this.#requests, {
      closing: () => this.#closing,
      sendsNothing: () => this.#sendsNothing,
      error: (err) => void this.emit('error', err),
      channelFull: () => this.#maybePauseAccepting(),
    });
    this.#workers.start();
    if (signal !== undefined) closeOnAbort(this, signal, () => void this.close());
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
    const o = sendOptions(options);
    this.#dispatcher.dispatch(this.#dispatcher.job(Kind.Message, 0, message, this.#target(o), o.transfer, callback ?? null, null));
  }

  /** Sends a request; resolves with the worker's reply, whose fds the caller owns. */
  request(message: OutgoingMessage | Buffer | string, options: RequestOptions = {}): Promise<UnixMessage> {
    const o = sendOptions(options, ['worker', 'transfer', 'timeout', 'signal']);
    validateTimeout(o.timeout, 'timeout');
    const timeout = o.timeout as number | undefined;
    const signal = validateSignal(o.signal);
    return new Promise((resolve, reject) => {
      // Before the job is made: nothing is duplicated or taken, the fds stay the caller's.
      if (signal !== undefined && isAborted(signal)) throw abortErrorOf(signal);
      const id = this.#requests.nextId();
      const pending: PendingRequest = { id, resolve, reject, worker: null, timer: null, job: null };
      const job = this.#dispatcher.job(Kind.Request, id, message, this.#target(o), o.transfer, null, pending);
      pending.job = job;
      this.#requests.add(pending, timeout, this.#refed, signal);
      this.#dispatcher.dispatch(job);
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
    this.#dispatcher.handOff(list, this.#target(sendOptions(options, ['worker'])));
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
    const onConnections = (fds: number[]): void => this.#dispatcher.spread(fds);
    const onError = (err: Error): void => void this.emit('error', err);
    // One wakeup's connections make one full frame per worker: 512 over 2
    // workers was 253 + 3 each, twice the sendmsg/recvmsg for the same fds.
    const perWakeup = this.#workers.slots.length * constants.SCM_MAX_FD;
    const acceptor =
      typeof (target as net.Server).address === 'function'
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

  /** `await using pool = createPool(...)`: close(), awaited. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Kills every worker (SIGKILL) and fails what is not yet sent. 'close' follows. */
  destroy(): void {
    // Closed: every worker has exited and no job or acceptor is left, so
    // there is nothing to destroy.
    if (this.#state === PoolState.Destroyed || this.#state === PoolState.Closed) return;
    this.#state = PoolState.Destroyed;
    this.#stopAccepting();
    this.#dispatcher.failWaiting();
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

  #target(options: { worker?: unknown }): number | null {
    if (this.#closing) throw poolClosed();
    return validateTarget(options.worker, this.size);
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
        this.#dispatcher.flushWaiting();
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
    debug('pool: worker %d (pid %s) exit reported; %d jobs unfinished', w.id, w.pid ?? '-', unfinished);
    this.emit('exit', w, code, signal, unfinished);
    if (this.#workers.noWorkerLeft()) this.#dispatcher.failWaiting();
    else if (this.#closing) this.#dispatcher.flushWaiting();
    this.#resumeAccepting();
    this.#maybeClosed();
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
    if (this.#sendsNothing || this.#requests.size > 0 || this.#dispatcher.waiting > 0) return;
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
