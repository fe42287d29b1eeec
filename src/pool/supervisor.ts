// Supervision of the pool's worker processes: spawning each one with its
// channel, respawning a slot whose worker exits (with a backoff for workers
// that die before coming online), and draining an exited worker's channel
// before its exit is reported. The slots and the set of live workers are
// kept here.
//
// fd ownership: spawnWorker() makes a SEQPACKET socketpair(2). Our end goes
// to a UnixMessageSocket at once (the channel owns it from then on, and the
// PoolWorker owns the channel); the child's end is ours until spawn() has
// dup2()'d it to the child's fd 3, and is closed right after, or on any
// failure before.
import { spawn, type ChildProcess } from 'node:child_process';
import { debug } from '../debug';
import { native } from '../native/binding';
import { coded, errnoError } from '../stream/errors';
import { UnixMessageSocket } from '../stream/socket';
import { TYPE_NUMBERS } from '../stream/socket-type';
import type { UnixMessage } from '../stream/types';
import { isDisconnect, workerExited } from './errors';
import type { SpawnOptions } from './options';
import { PoolWorker } from './pool-worker';
import { ENV_FD, ENV_ID } from './protocol';

/** What the supervisor tells its pool, and asks it. */
export interface SupervisorHost {
  /** close() or destroy() was called: nothing is respawned. */
  closing(): boolean;
  refed(): boolean;
  /** 'error' on the pool, with the worker when there is one. */
  error(err: Error, w?: PoolWorker): void;
  frame(w: PoolWorker, m: UnixMessage): void;
  /** A channel has room again ('drain'). */
  drained(): void;
  /** A worker exited and its channel is read to the end. */
  exited(w: PoolWorker, code: number | null, signal: NodeJS.Signals | null): void;
  /** A slot gave up after MAX_EARLY_DEATHS failed spawns. */
  startAbandoned(): void;
}

const MAX_EARLY_DEATHS = 5;
/** After a worker's exit, how long its channel may take to deliver what the worker sent last. */
const EXIT_DRAIN_MS = 1000;

export class Supervisor {
  readonly #options: SpawnOptions;
  readonly #host: SupervisorHost;
  readonly #slots: Array<PoolWorker | null>;
  readonly #earlyDeaths: number[];
  /** Workers spawned whose exit is not yet reported (a slot's old worker may still be here). */
  readonly #live = new Set<PoolWorker>();
  // start() runs inside createPool(), before anyone can listen for 'error'.
  #starting = false;

  constructor(size: number, options: SpawnOptions, host: SupervisorHost) {
    this.#options = options;
    this.#host = host;
    this.#slots = new Array<PoolWorker | null>(size).fill(null);
    this.#earlyDeaths = new Array<number>(size).fill(0);
  }

  /** Spawns every slot's first worker. */
  start(): void {
    this.#starting = true;
    try {
      for (let id = 0; id < this.#slots.length; id++) this.#spawn(id);
    } finally {
      this.#starting = false;
    }
  }

  /** The current worker of each slot (null while a slot respawns or after close). */
  get slots(): ReadonlyArray<PoolWorker | null> {
    return this.#slots;
  }

  get live(): ReadonlySet<PoolWorker> {
    return this.#live;
  }

  worker(id: number): PoolWorker | null {
    return this.#slots[id] ?? null;
  }

  /** Slot `id` has no worker and will not get one. */
  gaveUp(id: number): boolean {
    return this.#slots[id] === null && (this.#host.closing() || !this.#options.respawn || this.#earlyDeaths[id]! >= MAX_EARLY_DEATHS);
  }

  noWorkerLeft(): boolean {
    return this.#slots.every((_, id) => this.gaveUp(id));
  }

  /** Its exit is reported: the worker is not live any more. */
  forget(w: PoolWorker): void {
    this.#live.delete(w);
  }

  /** destroy(): SIGKILL for every live worker, and its channel destroyed. */
  killAll(): void {
    for (const w of this.#live) {
      w.process.kill('SIGKILL');
      w.channel.destroy();
    }
  }

  ref(): void {
    for (const w of this.#live) {
      w.process.ref();
      w.channel.ref();
    }
  }

  unref(): void {
    for (const w of this.#live) {
      w.process.unref();
      w.channel.unref();
    }
  }

  #spawn(id: number): void {
    const pair = new Int32Array(2);
    const r = native.socketpair(TYPE_NUMBERS.seqpacket, pair);
    if (r < 0) {
      this.#spawnFailed(id, errnoError(r, 'socketpair'));
      return;
    }
    const [mine, theirs] = [pair[0]!, pair[1]!];
    let channel: UnixMessageSocket;
    try {
      channel = UnixMessageSocket.fromFd(mine);
    } catch (err) {
      native.close(mine);
      native.close(theirs);
      this.#spawnFailed(id, err as Error);
      return;
    }
    const o = this.#options;
    let child: ChildProcess;
    try {
      // The child's end becomes its fd 3; spawn dup2()s it there, so our copy
      // (close-on-exec, like every fd of ours) is closed right after.
      child = spawn(process.execPath, [...o.execArgv, o.script, ...o.args], {
        stdio: [o.stdio, o.stdio, o.stdio, theirs],
        env: { ...o.env, [ENV_FD]: '3', [ENV_ID]: String(id) },
      });
    } catch (err) {
      channel.destroy();
      native.close(theirs);
      this.#spawnFailed(id, err as Error);
      return;
    }
    native.close(theirs);
    const w = new PoolWorker(id, child, channel);
    debug('pool: worker %d spawned, pid %s', id, child.pid ?? '-');
    this.#slots[id] = w;
    this.#live.add(w);
    if (!this.#host.refed()) {
      child.unref();
      channel.unref();
    }
    const host = this.#host;
    channel.on('data', (m: UnixMessage) => host.frame(w, m));
    channel.on('error', (err) => {
      if (!isDisconnect(err)) host.error(err, w);
    });
    channel.on('close', () => {
      if (w.state === 'online' || w.state === 'starting') w.state = 'disconnected';
    });
    channel.on('drain', () => host.drained());
    child.on('error', (err) => {
      host.error(err, w);
      // A spawn that failed never emits 'exit'.
      if (child.pid === undefined) this.#onExit(w, null, null);
    });
    child.on('exit', (code, signal) => this.#onExit(w, code, signal));
  }

  // EMFILE and the like: counted as a failed start, retried with a delay.
  // A start that fails inside start() (createPool()) is handled on the next
  // tick: an 'error' emitted there would throw out of createPool(), leave
  // the other slots unstarted, and no listener could have been added yet.
  #spawnFailed(id: number, err: Error): void {
    if (this.#starting) {
      process.nextTick(() => this.#spawnFailed(id, err));
      return;
    }
    this.#host.error(err);
    const deaths = ++this.#earlyDeaths[id]!;
    debug('pool: worker %d could not be started (%s), failure %d of %d', id, err.message, deaths, MAX_EARLY_DEATHS);
    if (this.#host.closing()) return;
    if (deaths < MAX_EARLY_DEATHS) {
      const t = setTimeout(() => !this.#host.closing() && this.#spawn(id), 100 * deaths);
      if (!this.#host.refed()) t.unref();
    } else {
      this.#host.error(coded(Error, 'ERR_POOL_WORKER_EXITED', `Worker ${id} could not be started ${deaths} times; not retried`));
      this.#host.startAbandoned();
    }
  }

  #onExit(w: PoolWorker, code: number | null, signal: NodeJS.Signals | null): void {
    if (w.state === 'dead') return;
    w.state = 'dead';
    if (this.#slots[w.id] === w) this.#slots[w.id] = null;
    this.#earlyDeaths[w.id] = w.cameOnline ? 0 : this.#earlyDeaths[w.id]! + 1;
    debug('pool: worker %d (pid %s) exited, code %s, signal %s', w.id, w.pid ?? '-', code, signal);
    // What the worker wrote before dying (replies, messages, DONE frames) is
    // still in the channel: read it to EOF before settling the accounts. A
    // grandchild holding the channel open would delay EOF, hence the timer.
    const timer = setTimeout(() => w.channel.destroy(), EXIT_DRAIN_MS);
    const finish = (): void => {
      clearTimeout(timer);
      this.#host.exited(w, code, signal);
    };
    if (w.channel.closed) finish();
    else w.channel.once('close', finish);
    if (!this.#host.closing() && this.#options.respawn) {
      if (this.#earlyDeaths[w.id]! < MAX_EARLY_DEATHS) {
        debug('pool: respawning worker %d', w.id);
        this.#spawn(w.id);
      } else {
        this.#host.error(workerExited(w, `${MAX_EARLY_DEATHS} times before coming online; not respawned`), w);
      }
    }
  }
}
