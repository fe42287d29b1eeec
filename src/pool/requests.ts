// Request correlation: the requests waiting for a reply, by id (the id a
// REQUEST frame carries and its REPLY or REPLY_ERROR echoes, see protocol.ts),
// their timeouts and abort signals, and settling each exactly once.
//
// fd ownership: a reply's fds are the caller's once its promise resolves;
// a reply that finds its request settled already (timed out, or its worker
// exited, aborted) has its fds closed here. The fds of a request not yet sent are its
// job's (dispatcher.ts): the `release` hook hands them back there.
import { abortErrorOf, onAbort } from '../stream/abort';
import { coded } from '../stream/errors';
import { closeFds } from '../stream/fds';
import type { UnixMessage } from '../stream/types';
import type { Job } from './dispatcher';
import type { PoolWorker } from './pool-worker';

export interface PendingRequest {
  readonly id: number;
  readonly resolve: (m: UnixMessage) => void;
  readonly reject: (err: Error) => void;
  /** The worker it was written to (its reply may come before the write callback); null while unsent. */
  worker: PoolWorker | null;
  timer: NodeJS.Timeout | null;
  /** Removes the listener on the request's `signal`, if it has one. */
  unlisten?: () => void;
  job: Job | null;
}

export interface RequestHooks {
  /** A request was settled: the job it was is not its worker's any more, or is never to be sent. */
  release(p: PendingRequest): void;
  /** After each settlement (close() waits for the last one). */
  settled(): void;
}

export class Requests {
  readonly #pending = new Map<number, PendingRequest>();
  readonly #hooks: RequestHooks;
  #next = 1;

  constructor(hooks: RequestHooks) {
    this.#hooks = hooks;
  }

  get size(): number {
    return this.#pending.size;
  }

  /** The next request id: 1 to 2^32-1, then 1 again (the frame carries a u32). */
  nextId(): number {
    const id = this.#next;
    this.#next = this.#next >= 0xffffffff ? 1 : this.#next + 1;
    return id;
  }

  /**
   * Waits for `p`'s reply; after `timeout` ms it is settled with
   * ERR_POOL_REQUEST_TIMEOUT, and when `signal` aborts, with an AbortError
   * (the caller checked that it has not aborted yet).
   */
  add(p: PendingRequest, timeout: number | undefined, refed: boolean, signal?: AbortSignal): void {
    this.#pending.set(p.id, p);
    if (signal !== undefined) p.unlisten = onAbort(signal, () => this.settle(p.id, abortErrorOf(signal)));
    if (timeout === undefined) return;
    p.timer = setTimeout(() => {
      this.settle(p.id, coded(Error, 'ERR_POOL_REQUEST_TIMEOUT', `Request ${p.id} got no reply within ${timeout} ms`));
    }, timeout);
    if (!refed) p.timer.unref();
  }

  get(id: number): PendingRequest | undefined {
    return this.#pending.get(id);
  }

  has(id: number): boolean {
    return this.#pending.has(id);
  }

  /** The requests waiting now, as a list of our own (settling one changes the map). */
  list(): PendingRequest[] {
    return [...this.#pending.values()];
  }

  /**
   * Settles request `id` with a reply or an error, once: a second result
   * (a late reply, say) finds it gone, and a reply's fds are then closed.
   */
  settle(id: number, result: UnixMessage | Error): void {
    const p = this.#pending.get(id);
    if (p === undefined) {
      if (!(result instanceof Error)) closeFds(result.fds);
      return;
    }
    this.#pending.delete(id);
    if (p.timer !== null) clearTimeout(p.timer);
    p.unlisten?.();
    this.#hooks.release(p);
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
    this.#hooks.settled();
  }

  ref(): void {
    for (const p of this.#pending.values()) p.timer?.ref();
  }

  unref(): void {
    for (const p of this.#pending.values()) p.timer?.unref();
  }
}
