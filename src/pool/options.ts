// The pool's options: createPool()'s, read and checked once before any
// worker is spawned, and send()/request()/handOff()'s, each read once.
// Everything here throws a TypeError or RangeError with an ERR_* code.
import os from 'node:os';
import { validateSignal } from '../stream/abort';
import { describe, invalidArgType, invalidArgValue, outOfRange } from '../stream/errors';
import { isArray, snapshotList, snapshotOptions, validateBoolean, validateInteger } from '../stream/validate';

export type Strategy = 'round-robin' | 'least-outstanding';

export interface PoolOptions {
  /** The worker script; it must call connectToPrimary(). */
  script: string;
  /** Number of worker processes; default os.availableParallelism(). */
  size?: number;
  /** Default 'round-robin'. */
  strategy?: Strategy;
  args?: readonly string[];
  /** Node flags for the workers; default process.execArgv, as fork() does. */
  execArgv?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** The workers' stdin/stdout/stderr; default 'inherit'. */
  stdio?: 'inherit' | 'ignore' | 'pipe';
  /** Replace a worker that exits while the pool is open; default true. */
  respawn?: boolean;
  /** close(): ms to wait for workers to exit before SIGKILL; default 10000. */
  closeTimeout?: number;
  /**
   * close() the pool when aborted (on the next tick if already aborted);
   * the listener is removed once the pool emits 'close'.
   */
  signal?: AbortSignal;
}

export interface SendOptions {
  /** A worker id (0..size-1) instead of the strategy's choice. */
  worker?: number;
  /**
   * true: the pool takes the caller's fds and closes them once sent (a
   * hand-off). false (default): they are duplicated and the caller keeps its own.
   */
  transfer?: boolean;
}

export interface RequestOptions extends SendOptions {
  /** ms; rejects with ERR_POOL_REQUEST_TIMEOUT. Default: none. */
  timeout?: number;
  /**
   * Rejects with an `AbortError` (`code: 'ABORT_ERR'`, `cause`: the
   * signal's reason) when aborted. Already aborted: nothing is sent and the
   * message's fds stay the caller's. Aborted while waiting: as a timeout,
   * the message's fds are closed if it was not sent, and a reply that still
   * comes is dropped with its fds closed.
   */
  signal?: AbortSignal;
}

/** What the supervisor needs to start a worker process, checked. */
export type SpawnOptions = Required<Omit<PoolOptions, 'size' | 'strategy' | 'env' | 'signal'>> & { env: NodeJS.ProcessEnv };

/** send()/request()/handOff() options once read. */
export interface JobOptions {
  worker?: unknown;
  transfer: boolean;
  timeout?: unknown;
  signal?: unknown;
}

const MAX_TIMER_MS = 0x7fffffff;

export function validateTimeout(value: unknown, name: string): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_TIMER_MS)) {
    throw outOfRange(`The "${name}" option must be a number of ms from 0 to ${MAX_TIMER_MS}. Received ${describe(value)}`);
  }
}

export function validateCallback(callback: unknown): void {
  if (callback !== undefined && typeof callback !== 'function') {
    throw invalidArgType(`The "callback" argument must be a function. Received ${describe(callback)}`);
  }
}

/** send()/request()/handOff() options, each read once. */
export function sendOptions(options: unknown, keys: ReadonlyArray<'worker' | 'transfer' | 'timeout' | 'signal'> = ['worker', 'transfer']): JobOptions {
  if (options === null || typeof options !== 'object' || isArray(options, 'options')) {
    throw invalidArgType(`The "options" argument must be an object. Received ${describe(options)}`);
  }
  const o = snapshotOptions(options, keys);
  return { ...o, transfer: validateBoolean(o.transfer, 'transfer') ?? false };
}

/** The "worker" option: a slot id, or null for the strategy's choice. */
export function validateTarget(worker: unknown, size: number): number | null {
  const target = worker ?? null;
  if (target !== null && (typeof target !== 'number' || !Number.isInteger(target) || target < 0 || target >= size)) {
    throw outOfRange(`The "worker" option must be an integer from 0 to ${size - 1}. Received ${describe(target)}`);
  }
  return target;
}

export function noDuplicates(fds: readonly number[]): void {
  if (new Set(fds).size !== fds.length) {
    throw invalidArgValue('The "fds" of a hand-off must be distinct: the pool closes each one once it is sent');
  }
}

/** A list of strings (args, execArgv), read once into an array of ours. */
function snapshotStrings(value: unknown, name: string): string[] {
  const list = snapshotList(value, name, 0xffff);
  list.forEach((item, i) => {
    if (typeof item !== 'string') throw invalidArgType(`The "${name}[${i}]" option must be a string. Received ${describe(item)}`);
    if (item.includes('\0')) throw invalidArgValue(`The "${name}[${i}]" option must be a string without NUL bytes (spawn would refuse it)`);
  });
  return list as string[];
}

/** The env option, its own enumerable keys read once into an object of ours; values must be strings. */
function snapshotEnv(value: unknown): NodeJS.ProcessEnv {
  if (typeof value !== 'object' || value === null || isArray(value, 'env')) {
    throw invalidArgType(`The "env" option must be an object. Received ${describe(value)}`);
  }
  const env: NodeJS.ProcessEnv = {};
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw invalidArgType(`The "env.${key}" option must be a string. Received ${describe(v)}`);
    if (v.includes('\0') || key.includes('\0'))
      throw invalidArgValue(`The "env" option must have no NUL bytes in its keys and values (spawn would refuse them)`);
    env[key] = v;
  }
  return env;
}

// What fork() does: a primary started with -e/-p must not hand its code to
// the workers (they would run it instead of the script).
function workerExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print' || a === '-pe') {
      i++;
      continue;
    }
    if (a.startsWith('--eval=') || a.startsWith('--print=')) continue;
    out.push(a);
  }
  return out;
}

/** createPool()'s options, each read once, in this order, and checked before any worker is spawned. */
export function readPoolOptions(options: unknown): { size: number; strategy: Strategy; spawn: SpawnOptions; signal?: AbortSignal } {
  if (options === null || typeof options !== 'object' || isArray(options, 'options')) {
    throw invalidArgType(`createPool() takes an options object. Received ${describe(options)}`);
  }
  const o = snapshotOptions(options, ['script', 'size', 'strategy', 'args', 'execArgv', 'env', 'stdio', 'respawn', 'closeTimeout', 'signal']);
  if (typeof o.script !== 'string' || o.script === '' || o.script.includes('\0')) {
    throw invalidArgType(`The "script" option must be a non-empty string without NUL bytes (the worker script). Received ${describe(o.script)}`);
  }
  const size = validateInteger(o.size, 'size', 1, 1024) ?? os.availableParallelism();
  const strategy = o.strategy ?? 'round-robin';
  if (strategy !== 'round-robin' && strategy !== 'least-outstanding') {
    throw invalidArgValue(`The "strategy" option must be 'round-robin' or 'least-outstanding'. Received ${describe(strategy)}`);
  }
  const stdio = o.stdio ?? 'inherit';
  if (stdio !== 'inherit' && stdio !== 'ignore' && stdio !== 'pipe') {
    throw invalidArgValue(`The "stdio" option must be 'inherit', 'ignore' or 'pipe'. Received ${describe(stdio)}`);
  }
  validateTimeout(o.closeTimeout, 'closeTimeout');
  const signal = validateSignal(o.signal);
  return {
    ...(signal === undefined ? {} : { signal }),
    size,
    strategy,
    spawn: {
      script: o.script,
      args: o.args === undefined ? [] : snapshotStrings(o.args, 'args'),
      execArgv: o.execArgv === undefined ? workerExecArgv() : snapshotStrings(o.execArgv, 'execArgv'),
      env: o.env === undefined ? process.env : snapshotEnv(o.env),
      stdio,
      respawn: validateBoolean(o.respawn, 'respawn') ?? true,
      closeTimeout: (o.closeTimeout as number | undefined) ?? 10_000,
    },
  };
}
