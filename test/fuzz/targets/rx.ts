// The rx entry (unix-message-socket/rx): fromSocket(), processMessages(),
// connect$(), listen$(), connections(), sendTo(), fds(), withFds() and
// fromPrimary() outside a pool worker. A bad argument must be refused when
// the function is called (a typed error, not a TypeError of RxJS's or the
// engine's at subscribe time); errors reaching a subscriber must be typed;
// a subscription that ends leaves no fd behind; sendTo() delivers exactly
// the messages whose writes succeeded.
import fc from 'fast-check';
import fs from 'node:fs';
import { from, type Observable, of, take as takeOp, tap, type Subscription } from 'rxjs';
import { connect, createServer, lowlevel, socketPair, type UnixMessage, type UnixMessageServer, type UnixMessageSocket } from '../../../src/index';
import { connect$, connections, fds, fromPrimary, fromSocket, listen$, processMessages, sendTo, withFds } from '../../../src/rx/index';
import { addressV, boolV, consumableV, hostileV, intV, maybe, numV, objV, openFdV } from '../arbitraries';
import { sleep, type FuzzCase } from '../case';
import { MArr, MObj, MOther } from '../materialize';
import * as model from '../model';
import type { V } from '../recipe';
import { identity } from '../zoo';
import { messageV } from './socket-methods';
import { checkMessages, PeerLog, target, type Sent } from './target';

type Real = { real: 'socket' } | { real: 'server' } | { real: 'destroyed' };
type Arg = V | Real;

type Args =
  | { fn: 'fromSocket' | 'processMessages'; socket: Arg; f: V; options: V | null; sends: number; endEarly: boolean }
  | { fn: 'connect$'; options: V }
  | { fn: 'listen$'; options: V; client: boolean }
  | { fn: 'connections'; server: Arg; options: V | null; client: boolean }
  | { fn: 'sendTo'; socket: Arg; options: V | null; source: 'array' | 'observable' | 'generator' | 'asyncGenerator' | V; messages: V[] }
  | { fn: 'fds' | 'withFds'; count: V; counts: number[]; take: number }
  | { fn: 'fromPrimary'; event: V; channel: V | null };

const socketArg: fc.Arbitrary<Arg> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Arg>({ real: 'socket' }) },
  { weight: 1, arbitrary: fc.constantFrom<Arg>({ real: 'server' }, { real: 'destroyed' }) },
  { weight: 1, arbitrary: hostileV(1) },
);
const serverArg: fc.Arbitrary<Arg> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Arg>({ real: 'server' }) },
  { weight: 1, arbitrary: fc.constant<Arg>({ real: 'socket' }) },
  { weight: 1, arbitrary: hostileV(1) },
);
const fnV = (returns: fc.Arbitrary<V>): fc.Arbitrary<V> =>
  fc.oneof(
    { weight: 5, arbitrary: returns.map((value): V => ({ t: 'fn', does: 'return', value })) },
    { weight: 1, arbitrary: fc.constant<V>({ t: 'fn', does: 'throw' }) },
    { weight: 1, arbitrary: hostileV(0) },
  );
const returnV: fc.Arbitrary<V> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<V>({ t: 'arr', items: [{ v: { t: 'num', v: 1 } }] }) },
  { weight: 2, arbitrary: fc.constant<V>({ t: 'misc', what: 'promise' }) },
  { weight: 2, arbitrary: hostileV(1) },
);

const args: fc.Arbitrary<Args> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      fn: fc.constantFrom('fromSocket' as const, 'processMessages' as const),
      socket: socketArg,
      f: fnV(returnV),
      options: fc.option(objV({ destroyOnUnsubscribe: maybe(boolV), concurrency: maybe(fc.oneof(intV(1, 4), fc.constant<V>({ t: 'num', v: 'Infinity' }))) }), {
        nil: null,
      }),
      sends: fc.integer({ min: 0, max: 3 }),
      endEarly: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      fn: fc.constant('connect$' as const),
      options: fc.oneof(
        {
          weight: 5,
          arbitrary: objV({
            path: fc.oneof(fc.constant<V>({ t: 'str', v: '@listening' }), addressV),
            type: maybe(fc.constant<V>({ t: 'str', v: 'seqpacket' })),
            passCredentials: maybe(boolV),
          }),
        },
        { weight: 1, arbitrary: hostileV(1) },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      fn: fc.constant('listen$' as const),
      options: fc.oneof(
        {
          weight: 5,
          arbitrary: objV({
            path: fc.oneof(fc.constant<V>({ t: 'str', v: '@fresh' }), fc.constant<V>({ t: 'str', v: '~file' }), addressV),
            backlog: maybe(intV(0, 10)),
            mode: maybe(fc.constantFrom(0o600, 0o666).map((v): V => ({ t: 'num', v }))),
            closeConnections: maybe(boolV),
            onAcceptError: maybe(fc.constant<V>({ t: 'fn', does: 'noop' })),
            type: maybe(fc.constantFrom('seqpacket', 'stream').map((v): V => ({ t: 'str', v }))),
            fd: fc.oneof(openFdV, consumableV()),
          }),
        },
        { weight: 1, arbitrary: hostileV(1) },
      ),
      client: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      fn: fc.constant('connections' as const),
      server: serverArg,
      options: fc.option(objV({ closeConnections: maybe(boolV), onAcceptError: maybe(fc.constant<V>({ t: 'fn', does: 'noop' })) }), { nil: null }),
      client: fc.boolean(),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      fn: fc.constant('sendTo' as const),
      socket: socketArg,
      options: fc.option(objV({ end: maybe(boolV), closeFds: maybe(boolV) }), { nil: null }),
      source: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom('array' as const, 'observable' as const, 'generator' as const, 'asyncGenerator' as const) },
        { weight: 1, arbitrary: hostileV(0) },
      ),
      messages: fc.array(messageV, { maxLength: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      fn: fc.constantFrom('fds' as const, 'withFds' as const),
      count: fc.oneof(
        intV(0, 3),
        objV({ min: maybe(intV(0, 3)), max: maybe(fc.oneof(intV(0, 3), fc.constant<V>({ t: 'num', v: 'Infinity' }))) }),
        numV,
        hostileV(1),
      ),
      counts: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 4 }),
      take: fc.integer({ min: 0, max: 6 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      fn: fc.constant('fromPrimary' as const),
      event: fc.oneof(
        fc.constantFrom('message', 'request', 'connection', 'handoff').map((v): V => ({ t: 'str', v })),
        hostileV(0),
      ),
      channel: fc.option(hostileV(1), { nil: null }),
    }),
  },
);

interface Made {
  value: unknown;
  model: unknown;
  socket: UnixMessageSocket | null;
  peer: UnixMessageSocket | null;
  server: UnixMessageServer | null;
}

/** A real socket (with its peer), a real server, or a hostile value. */
function make(c: FuzzCase, arg: Arg, label: string): Made {
  if (!('real' in arg)) {
    const b = c.build(arg, label);
    return { value: b.value, model: b.model, socket: null, peer: null, server: null };
  }
  if (arg.real === 'server') {
    const server = createServer();
    server.on('error', (err) => c.checkError('server error event', err));
    c.defer(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          if (!server.listening) return resolve();
          const t = setTimeout(resolve, 1000);
          server.close(() => {
            clearTimeout(t);
            resolve();
          });
        }),
    );
    return { value: server, model: 'server', socket: null, peer: null, server };
  }
  const [a, b] = socketPair('seqpacket');
  c.self = a.fd;
  c.peer = b.fd;
  for (const s of [a, b]) {
    s.on('error', (err) => c.checkError(`${label} error event`, err));
    c.defer(async () => {
      s.destroy();
      if (!s.closed) await new Promise((r) => s.once('close', r));
    });
  }
  if (arg.real === 'destroyed') a.destroy();
  return { value: a, model: arg.real === 'destroyed' ? 'destroyed' : 'socket', socket: a, peer: b, server: null };
}

const isFn = (v: unknown): boolean => v instanceof MOther && v.what === 'function';

/** Subscribes, recording the errors the subscriber gets (they must be typed). */
function watch(c: FuzzCase, where: string, o: Observable<unknown>): { sub: Subscription | null; state: { done: boolean; values: unknown[]; error: unknown } } {
  const state = { done: false, values: [] as unknown[], error: undefined as unknown };
  const out = c.call(`${where}.subscribe()`, () =>
    o.subscribe({
      next: (v) => state.values.push(v),
      error: (err: unknown) => {
        c.checkError(`${where} subscriber error`, err);
        state.error = err;
        state.done = true;
      },
      complete: () => {
        state.done = true;
      },
    }),
  );
  if (out.ok) c.defer(() => out.value.unsubscribe());
  return { sub: out.ok ? out.value : null, state };
}

async function until(done: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await sleep(1);
}

export const rxTarget = target<Args>({
  name: 'rx',
  weight: 15,
  args,
  async run(c, a) {
    switch (a.fn) {
      case 'fromSocket':
      case 'processMessages': {
        const s = make(c, a.socket, 'socket');
        const f = c.build(a.f, 'fn', false);
        const options = a.options === null ? null : c.build(a.options, 'options');
        const m = model.judge(() => {
          if (s.model !== 'socket' && s.model !== 'destroyed') throw new model.Reject('socket is not a UnixMessageSocket');
          const o = model.objectArg(options?.model, 'options');
          model.bool(model.prop(o, 'destroyOnUnsubscribe'), 'destroyOnUnsubscribe');
          if (a.fn === 'processMessages') {
            model.callback(f.model, 'fn');
            if (!isFn(f.model)) throw new model.Reject('fn is not a function');
            const n = model.prop(o, 'concurrency');
            if (n !== undefined && n !== Infinity && !model.isInt(n, 1, Number.MAX_SAFE_INTEGER)) throw new model.Reject('concurrency');
          }
        });
        // fn owns each message's fds: the fuzzer's function closes them first.
        const fn =
          typeof f.value === 'function'
            ? (msg: UnixMessage): unknown => {
                closeMessage(msg);
                return (f.value as (x: unknown) => unknown)(msg);
              }
            : f.value;
        const out = c.call(
          `${a.fn}()`,
          () =>
            (a.fn === 'fromSocket'
              ? options === null
                ? fromSocket(s.value as UnixMessageSocket)
                : fromSocket(s.value as UnixMessageSocket, options.value as object)
              : options === null
                ? processMessages(s.value as UnixMessageSocket, fn as () => [])
                : processMessages(s.value as UnixMessageSocket, fn as () => [], options.value as object)) as Observable<unknown>,
        );
        if (!m.valid) c.expectArgumentError(`${a.fn}()`, out, m.why);
        else c.expectNoArgumentError(`${a.fn}()`, out);
        if (!out.ok) return;
        const w = watch(c, a.fn, out.value);
        if (s.peer !== null && !s.peer.destroyed) {
          for (let i = 0; i < a.sends; i++) s.peer.write({ data: `m${i}`, fds: [c.fd({ zoo: 'memfd' })] });
          if (a.endEarly) s.peer.end();
        }
        await until(() => w.state.done || (a.fn === 'fromSocket' && w.state.values.length >= a.sends && !a.endEarly), 300);
        if (a.fn === 'fromSocket') for (const v of w.state.values) closeMessage(v as UnixMessage);
        return;
      }
      case 'connect$': {
        const server = createServer();
        server.on('error', () => undefined);
        server.listen(c.name('@listening'));
        server.on('connection', (s: UnixMessageSocket) => c.defer(() => void s.destroy()));
        c.defer(
          () =>
            new Promise<void>((r) => {
              server.closeAllConnections();
              server.close(() => r());
            }),
        );
        const options = c.build(a.options, 'options');
        const m = model.judge(() => {
          const o = model.objectArg(options.model, 'options', { nullish: false });
          model.socketOptions(o);
          model.address(model.prop(o, 'path'), 'path');
          model.socketType(model.prop(o, 'type'), 'type', ['seqpacket', 'stream', 'dgram']);
        });
        const out = c.call('connect$()', () => connect$(options.value as { path: string }));
        if (!m.valid) c.expectArgumentError('connect$()', out, m.why);
        else c.expectNoArgumentError('connect$()', out);
        if (!out.ok) return;
        const w = watch(c, 'connect$', out.value);
        await until(() => w.state.done || w.state.values.length > 0, 500);
        return;
      }
      case 'listen$': {
        const options = c.build(a.options, 'options');
        const m = model.judge(() => {
          const o = model.objectArg(options.model, 'options', { nullish: false });
          model.socketOptions(o);
          model.socketType(model.prop(o, 'type'), 'type', ['seqpacket', 'stream']);
          model.bool(model.prop(o, 'closeConnections'), 'closeConnections');
          model.callback(model.prop(o, 'onAcceptError'), 'onAcceptError');
          model.int(model.prop(o, 'backlog'), 'backlog', 0, 0x7fffffff);
          const mode = model.int(model.prop(o, 'mode'), 'mode', 0, 0o7777);
          const path = model.prop(o, 'path');
          const fd = model.prop(o, 'fd');
          if ((path === undefined) === (fd === undefined)) throw new model.Reject('not exactly one of path and fd');
          if (fd !== undefined) {
            if (mode !== undefined) throw new model.Reject('mode with fd');
            model.fd(fd, 'fd');
          } else if (model.address(path, 'path').startsWith('\0') && mode !== undefined) {
            throw new model.Reject('mode on an abstract name');
          }
        });
        const out = c.call('listen$()', () => listen$(options.value as { path: string }));
        if (!m.valid) c.expectArgumentError('listen$()', out, m.why);
        else c.expectNoArgumentError('listen$()', out);
        if (!out.ok) return;
        watch(c, 'listen$', out.value);
        await sleep(1);
        return;
      }
      case 'connections': {
        const server = make(c, a.server, 'server');
        const options = a.options === null ? null : c.build(a.options, 'options');
        const m = model.judge(() => {
          if (server.model !== 'server') throw new model.Reject('server is not a UnixMessageServer');
          const o = model.objectArg(options?.model, 'options');
          model.bool(model.prop(o, 'closeConnections'), 'closeConnections');
          model.callback(model.prop(o, 'onAcceptError'), 'onAcceptError');
        });
        const out = c.call('connections()', () =>
          options === null ? connections(server.value as UnixMessageServer) : connections(server.value as UnixMessageServer, options.value as object),
        );
        if (!m.valid) c.expectArgumentError('connections()', out, m.why);
        else c.expectNoArgumentError('connections()', out);
        if (!out.ok) return;
        const w = watch(c, 'connections', out.value);
        if (server.server !== null) {
          const name = c.name('@listening');
          server.server.listen(name);
          if (a.client) {
            const client = connect({ path: name });
            client.on('error', () => undefined);
            c.defer(() => void client.destroy());
            await until(() => w.state.values.length > 0 || w.state.done, 500);
          }
        }
        return;
      }
      case 'sendTo':
        return runSendTo(c, a);
      case 'fds':
      case 'withFds': {
        const count = c.build(a.count, 'count');
        const m = model.judge(() => {
          if (a.fn === 'fds') return;
          const x = model.readable(count.model, 'count');
          if (typeof x === 'number') {
            if (!model.isInt(x, 0, Number.MAX_SAFE_INTEGER)) throw new model.Reject('count');
            return;
          }
          const o = model.objectArg(x, 'count', { nullish: false });
          const min = model.prop(o, 'min') ?? 0;
          const max = model.prop(o, 'max') ?? Infinity;
          if (!model.isInt(min, 0, Number.MAX_SAFE_INTEGER) || !(max === Infinity || model.isInt(max, 0, Number.MAX_SAFE_INTEGER)) || max < min)
            throw new model.Reject('range');
        });
        const out = c.call(`${a.fn}()`, () => (a.fn === 'fds' ? fds() : withFds(count.value as number)));
        if (!m.valid) c.expectArgumentError(`${a.fn}()`, out, m.why);
        else c.expectNoArgumentError(`${a.fn}()`, out);
        if (!out.ok) return;
        // Messages with fresh fds: what the operator emits is ours to close,
        // what it drops it must close, and what it never saw (take() ended
        // first) is still ours.
        const messages: UnixMessage[] = a.counts.map((n, i) => ({
          data: Buffer.from(`m${i}`),
          fds: Array.from({ length: n }, () => lowlevel.dup(c.zoo.fds.get('memfd')!)),
          truncated: false,
          fdsTruncated: false,
        }));
        const seen = new Set<UnixMessage>();
        const piped = (
          of(...messages).pipe(
            tap((msg) => seen.add(msg)),
            out.value as never,
          ) as Observable<unknown>
        ).pipe(takeOp(a.take));
        const w = watch(c, a.fn, piped);
        await until(() => w.state.done, 500);
        for (const v of w.state.values) {
          if (typeof v === 'number') lowlevel.close(v);
          else closeMessage(v as UnixMessage);
        }
        if (process.env.FUZZ_DEBUG !== undefined)
          process.stderr.write(`withFds: ${messages.length} messages, seen ${seen.size}, values ${w.state.values.length}, done ${String(w.state.done)}\n`);
        for (const msg of messages) if (!seen.has(msg)) closeMessage(msg);
        return;
      }
      case 'fromPrimary': {
        const event = c.build(a.event, 'event');
        const channel = a.channel === null ? null : c.build(a.channel, 'channel');
        const out = c.call('fromPrimary()', () =>
          channel === null ? fromPrimary(event.value as 'message') : fromPrimary(event.value as 'message', channel.value as never),
        );
        // Not a pool worker: with no channel, ERR_POOL_NOT_A_WORKER; a hostile one must be refused.
        if (out.ok) c.fail('fromPrimary() outside a pool worker, or with a channel that is not one, returned an observable');
        return;
      }
    }
  },
});

/** A received message's fds are the receiver's: close them. */
function closeMessage(msg: UnixMessage): void {
  for (const fd of msg.fds) fs.closeSync(fd);
}

async function runSendTo(c: FuzzCase, a: Extract<Args, { fn: 'sendTo' }>): Promise<void> {
  const s = make(c, a.socket, 'socket');
  const options = a.options === null ? null : c.build(a.options, 'options');
  const m = model.judge(() => {
    if (s.model !== 'socket' && s.model !== 'destroyed') throw new model.Reject('socket is not a UnixMessageSocket');
    const o = model.objectArg(options?.model, 'options');
    model.bool(model.prop(o, 'end'), 'end');
    return model.bool(model.prop(o, 'closeFds'), 'closeFds') ?? false;
  });
  const out = c.call('sendTo()', () =>
    options === null ? sendTo(s.value as UnixMessageSocket) : sendTo(s.value as UnixMessageSocket, options.value as object),
  );
  if (!m.valid) c.expectArgumentError('sendTo()', out, m.why);
  else c.expectNoArgumentError('sendTo()', out);
  if (!out.ok) return;
  const closeFds = m.valid && m.value;
  // The library may close these fds (closeFds): never one a socket of the case polls.
  c.self = -1;
  c.peer = -1;
  const built = a.messages.map((msg, i) => c.build(msg, `messages[${i}]`));
  // Buffers detached "after the call" would be detached before the source hands them over.
  c.afterCall = [];
  // The first message write() refuses ends the subscription: none after it is written.
  let refused = false;
  const sent: Sent[] = built.map((b, i) => {
    const j = model.judge(() => model.message(b.model, 'seqpacket'));
    refused ||= !j.valid;
    return {
      label: `messages[${i}]`,
      bytes: j.valid ? j.value.bytes : Buffer.alloc(0),
      ids: j.valid ? j.value.fds.map(identity) : [],
      status: refused ? 'failed' : 'unknown',
    };
  });
  // closeFds closes what the messages name, as told: a raw number that names
  // an fd of the harness (stdio, the zoo) would be closed too. Such a case
  // tests the harness, not the library.
  // (It closes them for a message write() then refuses too.)
  if (closeFds) {
    for (const b of built) {
      const fdsModel = b.model instanceof MObj ? model.judge(() => model.prop(b.model as MObj, 'fds')) : null;
      const list = fdsModel?.valid === true && fdsModel.value instanceof MArr ? fdsModel.value.items : [];
      const named = list
        .map((x) => model.judge(() => model.readable(x, 'fd')))
        .filter((x) => x.valid)
        .map((x) => x.value);
      if (named.some((fd) => typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 && !c.owned.has(fd) && identity(fd) !== null)) return;
    }
  }
  // With end (the default), README "seqpacket EOF": empty fd-less messages
  // right before the shutdown may read as the EOF.
  const ends = !(options !== null && options.model instanceof MObj && options.model.get('end') === false);
  const mayVanish = (x: Sent): boolean => ends && x.bytes.length === 0 && x.ids.length === 0;
  const values = built.map((b) => b.value);
  let source: unknown;
  let sourceModel: unknown = 'ok';
  switch (a.source) {
    case 'array':
      source = values;
      break;
    case 'observable':
      source = from(values);
      break;
    case 'generator':
      source = (function* gen() {
        yield* values;
      })();
      break;
    case 'asyncGenerator': {
      // Not an async generator: its yield would await each message, reading then.
      let i = 0;
      source = {
        [Symbol.asyncIterator]: () => ({
          next: () => Promise.resolve(i < values.length ? { value: values[i++], done: false } : { value: undefined, done: true }),
        }),
      };
      break;
    }
    default: {
      const b = c.build(a.source, 'source', false);
      source = b.value;
      sourceModel = b.model;
    }
  }
  const applied = c.call('sendTo()(source)', () => (out.value as (x: unknown) => Observable<number>)(source));
  // Neither an Observable nor iterable (a string is): refused, typed, when applied.
  const x = sourceModel;
  const notSource =
    x === undefined ||
    x === null ||
    typeof x === 'number' ||
    typeof x === 'boolean' ||
    typeof x === 'bigint' ||
    typeof x === 'symbol' ||
    (x instanceof MObj && !x.proxy && (x.proto === 'object' || x.proto === 'null'));
  if (notSource) c.expectArgumentError('sendTo()(source)', applied, 'a source that is neither an Observable nor iterable');
  if (!applied.ok) return;
  const w = watch(c, 'sendTo', applied.value);
  await until(() => w.state.done, 1000);
  const firstFailed = w.state.error !== undefined;
  // Delivered: the peer got, in order, some of the valid messages; after the first failure nothing is owed.
  if (s.peer !== null && s.socket !== null && !s.socket.destroyed && typeof a.source === 'string') {
    const peer = new PeerLog(c, s.peer);
    await until(() => false, 20);
    if (!firstFailed && w.state.done && w.state.values.length > 0) for (const x of sent) if (x.status === 'unknown' && !mayVanish(x)) x.status = 'ok';
    checkMessages(c, sent, peer.messages);
  }
  if (closeFds) {
    // Every valid message's fds were the library's to close.
    for (let i = 0; i < built.length; i++) {
      const j = model.judge(() => model.message(built[i]!.model, 'seqpacket'));
      if (!j.valid) continue;
      for (const fd of j.value.fds) {
        if (c.owned.has(fd) && identity(fd) === c.owned.get(fd) && i < w.state.values.length)
          c.fail(`sendTo({ closeFds: true }) left fd ${fd} of messages[${i}] open`);
      }
    }
  }
}
