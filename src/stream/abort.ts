// Cancellation by AbortSignal, as Node's net, dgram and streams do it: the
// `signal` option checked once (validateSignal), the AbortError an abort
// rejects or destroys with (code 'ABORT_ERR', `cause` the signal's reason),
// and the two ways a resource reacts to it: a socket is destroyed
// (destroyOnAbort, like stream.addAbortSignal) and a server or pool is closed
// (closeOnAbort, like net.Server's listen({ signal })).
//
// Every abort listener is removed once its resource has closed (or its
// request settled), so many resources on one long-lived signal leave no
// listener, and no reference to themselves, on it. No fd is owned here.
import events, { type EventEmitter } from 'node:events';
import { types } from 'node:util';
import { describe, invalidArgType, type CodedError } from './errors';

/** The error an abort destroys or rejects with, shaped like Node's internal AbortError. */
export class AbortError extends Error {
  declare code: 'ABORT_ERR';

  constructor(reason: unknown) {
    super('The operation was aborted', { cause: reason });
    this.code = 'ABORT_ERR';
    this.name = 'AbortError';
    Error.captureStackTrace(this, AbortError);
  }
}

// AbortSignal's own accessors, called on the signal: an own property of the
// same name (a getter that lies, or throws) is never consulted.
function accessor(name: 'aborted' | 'reason'): (this: AbortSignal) => unknown {
  const get: unknown = Reflect.get(Object.getOwnPropertyDescriptor(AbortSignal.prototype, name) ?? {}, 'get');
  if (typeof get !== 'function') throw new Error(`AbortSignal.prototype.${name} is not an accessor`);
  return get as (this: AbortSignal) => unknown;
}
const abortedOf = accessor('aborted');
const reasonOf = accessor('reason');
const SHADOWED = ['aborted', 'reason', 'addEventListener', 'removeEventListener', 'dispatchEvent'] as const;

/**
 * The `signal` option: undefined, or a genuine AbortSignal (AbortController's,
 * AbortSignal.timeout() or .any()), else ERR_INVALID_ARG_TYPE. No Proxy, no
 * object merely shaped like one, and none with its own `aborted` or
 * listener methods: events.addAbortListener reads those by name.
 */
export function validateSignal(value: unknown, name = 'signal'): AbortSignal | undefined {
  if (value === undefined) return undefined;
  const fail = (): CodedError => invalidArgType(`The "${name}" option must be an instance of AbortSignal. Received ${describe(value)}`);
  if (typeof value !== 'object' || value === null || types.isProxy(value)) throw fail();
  if (Object.getPrototypeOf(value) !== AbortSignal.prototype) throw fail();
  for (const key of SHADOWED) if (Object.getOwnPropertyDescriptor(value, key) !== undefined) throw fail();
  try {
    // The brand check: AbortSignal's getter throws ERR_INVALID_THIS on anything else.
    abortedOf.call(value as AbortSignal);
  } catch {
    throw fail();
  }
  return value as AbortSignal;
}

export function isAborted(signal: AbortSignal): boolean {
  return abortedOf.call(signal) === true;
}

export function abortErrorOf(signal: AbortSignal): AbortError {
  return new AbortError(reasonOf.call(signal));
}

/**
 * Calls `listener` once when `signal` aborts; returns what removes it.
 * events.addAbortListener (Node 20.5+) is net's own way: another listener's
 * stopImmediatePropagation() cannot keep ours from running.
 *
 * The remover never throws: it runs inside close(), a 'close' emit or a
 * request's settling, which must finish. Removal calls
 * signal.removeEventListener by name, which a replaced
 * EventTarget.prototype method can make throw; the listener then stays on
 * the signal, and every caller's listener does nothing once its resource is
 * gone (destroy() of a destroyed socket, close() of another listen, settle()
 * of a settled request).
 */
export function onAbort(signal: AbortSignal, listener: () => void): () => void {
  const add = (events as { addAbortListener?: typeof events.addAbortListener }).addAbortListener;
  let remove: () => void;
  if (add !== undefined) {
    const disposable = add(signal, listener);
    remove = () => disposable[Symbol.dispose]();
  } else {
    signal.addEventListener('abort', listener, { once: true });
    remove = () => signal.removeEventListener('abort', listener);
  }
  return () => {
    try {
      remove();
    } catch {
      // Left on the signal, inert (see above).
    }
  };
}

/**
 * A socket made with a `signal` (connect(), createSocket()): destroyed with an
 * AbortError when it aborts, at once if it has already (nothing is sent
 * then: the connect and the writes wait for a later tick). Destroying closes
 * the duplicates held for queued messages, as every destroy() does.
 */
export function destroyOnAbort(socket: EventEmitter & { destroy(err?: Error): unknown }, signal: AbortSignal): void {
  if (isAborted(signal)) {
    socket.destroy(abortErrorOf(signal));
    return;
  }
  let remove: () => void;
  try {
    remove = onAbort(signal, () => socket.destroy(abortErrorOf(signal)));
  } catch (err) {
    // events.addAbortListener reads signal.aborted and calls addEventListener
    // by name, so a replaced AbortSignal.prototype getter can throw here;
    // the caller (connect(), createSocket()) then throws, and the socket it
    // made but never returns must not stay open.
    socket.destroy();
    throw err;
  }
  socket.once('close', remove);
}

/**
 * A server or pool given a `signal`: close() when it aborts. Already aborted:
 * close() on the next tick, as net.Server does (a server then never emits
 * 'listening'). Returns what removes the listener: the pool removes it on
 * 'close', a server as soon as the listen it belongs to is closed.
 */
export function closeOnAbort(signal: AbortSignal, close: () => void): () => void {
  if (isAborted(signal)) {
    process.nextTick(close);
    return () => {};
  }
  return onAbort(signal, close);
}
