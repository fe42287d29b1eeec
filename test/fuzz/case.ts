// One fuzz case as the child runs it: the values it built, the fds it owns,
// what it must clean up, and the invariants it checks on the way. Every
// finding is a line in `violations`; the runner reports them with the seed
// and the case's recipe.
import fs from 'node:fs';
import { types } from 'node:util';
import { lowlevel } from '../../src/index';
import { Materializer, isTrap, type Built } from './materialize';
import type { FdRef, V } from './recipe';
import { LENIENT } from './model';
import { identity, type Zoo } from './zoo';

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

interface Counter {
  label: string;
  forbidden: boolean;
  reads: number;
}

/** How many fds the process has open now (readdir's own fd excluded). */
export function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length - 1;
}

export function openFdList(): string {
  return fs
    .readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return `${fd}->${fs.readlinkSync(`/proc/self/fd/${fd}`)}`;
      } catch {
        return `${fd}->?`;
      }
    })
    .join(' ');
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// Node's own unmapped errno code is UNKNOWN (uvException).
const CODE = /^(ERR_[A-Z0-9_]+|E[A-Z0-9]+|UNKNOWN)$/;

let nameCounter = 0;

export class FuzzCase {
  readonly violations: string[] = [];
  readonly counters: Counter[] = [];
  /** Labels of the fuzzer's functions the library called. */
  readonly calls: string[] = [];
  /** Run right after the call under test returns (a buffer detached after write()...). */
  afterCall: Array<() => void> = [];
  /** fds handed to the case (duplicates of zoo files): number -> identity. */
  readonly owned = new Map<number, string>();
  /** The socket under test's fd and its peer's, for FdRef 'self' and 'peer'. */
  self = -1;
  peer = -1;
  readonly #cleanups: Array<() => void | Promise<void>> = [];
  readonly #m: Materializer;

  constructor(
    readonly zoo: Zoo,
    readonly target: string,
  ) {
    this.#m = new Materializer(this);
  }

  /** A function of the fuzzer's threw when the library called it (see settle()). */
  userThrew(): boolean {
    return this.calls.some((label) => label.endsWith('!'));
  }

  fail(message: string): void {
    this.violations.push(message);
  }

  counter(label: string, forbidden: boolean): Counter {
    const c = { label, forbidden, reads: 0 };
    this.counters.push(c);
    return c;
  }

  build(v: V, label: string, forbid = true): Built {
    return this.#m.build(v, label, forbid);
  }

  /** A number for an fd recipe; zoo kinds are fresh duplicates the case owns. */
  fd(ref: FdRef): number {
    if ('zoo' in ref) {
      // The library's dup on a known-good fd: the happy path, not what is tested.
      const dup = lowlevel.dup(this.zoo.fds.get(ref.zoo)!);
      this.owned.set(dup, identity(dup) ?? '?');
      return dup;
    }
    switch (ref.special) {
      case 'closed': {
        const fd = lowlevel.dup(this.zoo.fds.get('file')!);
        fs.closeSync(fd);
        return fd;
      }
      case 'huge':
        return 0x7ffffff0;
      case 'self':
        return this.self;
      case 'peer':
        return this.peer;
    }
  }

  readonly #names = new Map<string, string>();
  #files: string[] = [];

  /**
   * The socket names recipes spell as placeholders: '@peer' (the peer's
   * bound name), '@listening' (a server of the case), '@fresh' (an
   * abstract name nobody uses), '~file' (a path in the zoo's directory),
   * '~missing/dir' (a path whose directory does not exist). Any other string
   * is itself.
   */
  name(s: string): string {
    const known = this.#names.get(s);
    if (known !== undefined) return known;
    const n = `${process.pid}-${++nameCounter}`;
    switch (s) {
      case '@peer':
      case '@listening':
      case '@fresh': {
        const name = `\0ums-fuzz-${s.slice(1)}-${n}`;
        this.#names.set(s, name);
        return name;
      }
      case '~file': {
        const p = `${this.zoo.dir}/s${n}`;
        this.#files.push(p);
        this.#names.set(s, p);
        return p;
      }
      case '~missing/dir':
        return `${this.zoo.dir}/missing-${n}/s`;
      default:
        return s;
    }
  }

  /** Registers a cleanup; they run last-first in finish(). */
  defer(cleanup: () => void | Promise<void>): void {
    this.#cleanups.push(cleanup);
  }

  /**
   * Checks an error the library threw or reported: an Error with a string
   * code (ERR_* or an errno name), of the class its code implies. The
   * fuzzer's own exceptions pass unchanged, as they must.
   */
  checkError(where: string, err: unknown): void {
    if (isTrap(err)) return;
    if (!(err instanceof Error)) {
      this.fail(`${where}: threw a non-Error (${typeof err})`);
      return;
    }
    const code = (err as { code?: unknown }).code;
    const name = `${err.constructor.name}: ${err.message}`;
    if (typeof code !== 'string') {
      this.fail(`${where}: error without a code: ${name}`);
      return;
    }
    // README "Cancellation and disposal": an abort destroys or rejects with an AbortError, code ABORT_ERR.
    const abort = code === 'ABORT_ERR' && err.name === 'AbortError';
    if (!CODE.test(code) && !abort) this.fail(`${where}: error code ${JSON.stringify(code)} is neither ERR_* nor an errno name: ${name}`);
    if ((code === 'ERR_INVALID_ARG_TYPE' || code === 'ERR_INVALID_ARG_VALUE') && !(err instanceof TypeError)) {
      this.fail(`${where}: ${code} is not a TypeError: ${name}`);
    }
    if (code === 'ERR_OUT_OF_RANGE' && !(err instanceof RangeError)) this.fail(`${where}: ${code} is not a RangeError: ${name}`);
    if (err.message.includes('[object ')) this.fail(`${where}: message formats a value with String(): ${err.message}`);
  }

  /** Runs the call under test, checks what it threw, then runs the afterCall actions. */
  call<T>(where: string, fn: () => T): Outcome<T> {
    let out: Outcome<T>;
    try {
      out = { ok: true, value: fn() };
    } catch (error) {
      this.checkError(where, error);
      out = { ok: false, error };
    }
    const after = this.afterCall;
    this.afterCall = [];
    for (const a of after) a();
    if (out.ok && types.isPromise(out.value)) {
      (out.value as Promise<unknown>).catch((err: unknown) => this.checkError(`${where} (rejection)`, err));
    }
    return out;
  }

  /** A thrown error must be an argument error (ERR_*) or the fuzzer's own. */
  expectArgumentError(where: string, out: Outcome<unknown>, why: string): void {
    if (why === LENIENT) return;
    if (out.ok) {
      this.fail(`${where}: accepted ${why}`);
      return;
    }
    const err = out.error;
    if (isTrap(err)) return;
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('ERR_')) {
      this.fail(`${where}: ${why} gave ${String((err as Error).message)} (code ${String(code)}), not an ERR_* argument error`);
    }
  }

  /** A valid call may fail with a system error, never with an argument error. */
  expectNoArgumentError(where: string, out: Outcome<unknown>): void {
    if (out.ok) return;
    const code = (out.error as { code?: unknown }).code;
    if (isTrap(out.error)) {
      this.fail(`${where}: the fuzzer's exception escaped a call whose values all read fine: ${(out.error as Error).message}`);
    } else if (typeof code === 'string' && /^ERR_(INVALID_ARG|OUT_OF_RANGE)/.test(code)) {
      this.fail(`${where}: rejected valid arguments: ${(out.error as Error).message}`);
    }
  }

  /** Runs every cleanup, closes the case's own fds, and checks the read counts. */
  async finish(): Promise<void> {
    while (this.#cleanups.length > 0) {
      const cleanup = this.#cleanups.pop()!;
      try {
        await cleanup();
      } catch (err) {
        const inner = (err as { errors?: unknown[] }).errors ?? [];
        this.fail(`cleanup threw: ${(err as Error).stack ?? String(err)}${inner.map((e) => `\n    inner: ${(e as Error).stack ?? String(e)}`).join('')}`);
      }
    }
    for (const p of this.#files) fs.rmSync(p, { force: true });
    for (const [fd, id] of this.owned) {
      if (identity(fd) === id) fs.closeSync(fd);
    }
    for (const c of this.counters) {
      if (c.forbidden && c.reads > 0) this.fail(`read ${c.label}, which no library code should touch`);
      else if (c.reads > 1) this.fail(`read ${c.label} ${c.reads} times (each user value must be read once)`);
    }
  }
}
