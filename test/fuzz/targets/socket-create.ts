// The ways to make a socket or a server, with every option: socketPair(),
// connect(), createSocket(), UnixMessageSocket.fromFd(), createServer() and
// the server's listen() (path, { path, mode, backlog }, { fd }), close(),
// address(), ref()/unref() and closeAllConnections(). Bad options must be
// refused before anything is created; an fd handed to fromFd() or
// listen({ fd }) is closed once adopted and left alone when refused.
import fc from 'fast-check';
import { connect, createServer, createSocket, socketPair, UnixMessageSocket, type UnixMessageServer } from '../../../src/index';
import { addressV, anyFdV, boolV, consumableV, framedV, hostileV, intV, maybe, objV, openFdV, signalV } from '../arbitraries';
import type { FuzzCase } from '../case';
import { MOther, MView } from '../materialize';
import * as model from '../model';
import type { V } from '../recipe';
import { identity } from '../zoo';
import { abortedBefore, PeerLog, target } from './target';

const TYPES = ['seqpacket', 'stream', 'dgram'] as const;
const typeV = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...TYPES).map((v): V => ({ t: 'str', v })) }, { weight: 1, arbitrary: hostileV(0) });

const SOCKET_OPTIONS = {
  allowHalfOpen: maybe(boolV),
  readableHighWaterMark: maybe(intV(0, 64)),
  writableHighWaterMark: maybe(intV(0, 64)),
  maxPendingFds: maybe(intV(1, 600)),
  maxQueuedFds: maybe(intV(1, 600)),
  maxFdsPerMessage: maybe(intV(0, 253)),
  maxMessageSize: maybe(intV(1, 300000)),
  passCredentials: maybe(boolV),
  acceptFds: maybe(boolV),
  framed: framedV,
};

export const socketOptionsV = objV(SOCKET_OPTIONS);
const fnV = fc.oneof(
  { weight: 4, arbitrary: fc.constant<V>({ t: 'fn', does: 'noop' }) },
  { weight: 1, arbitrary: fc.constant<V>({ t: 'fn', does: 'throw' }) },
  { weight: 1, arbitrary: hostileV(0) },
);

type Args =
  | { fn: 'socketPair'; type: V | null; options: V | null }
  | { fn: 'connect'; options: V; onConnect: V | null; serverType: 'seqpacket' | 'stream' }
  | { fn: 'createSocket'; options: V | null }
  | { fn: 'fromFd'; fd: V; options: V | null }
  | {
      fn: 'createServer';
      options: V | null;
      onConnection: V | null;
      listen: V;
      listenCb: V | null;
      client: boolean;
      closeCb: V | null;
      extra: Array<'address' | 'ref' | 'unref' | 'closeAllConnections' | 'listenAgain' | 'closeTwice'>;
    };

const listenTargetV = fc.oneof(
  { weight: 3, arbitrary: addressV },
  {
    weight: 5,
    arbitrary: objV({
      path: addressV,
      fd: fc.oneof(openFdV, anyFdV),
      backlog: maybe(intV(0, 600)),
      mode: maybe(fc.constantFrom(0o600, 0o660, 0o666, 0o777, 0).map((v): V => ({ t: 'num', v }))),
      signal: signalV,
    }),
  },
  { weight: 1, arbitrary: hostileV(1) },
);

const args: fc.Arbitrary<Args> = fc.oneof(
  fc.record({ fn: fc.constant('socketPair' as const), type: fc.option(typeV, { nil: null }), options: fc.option(socketOptionsV, { nil: null }) }),
  fc.record({
    fn: fc.constant('connect' as const),
    options: objV({
      ...SOCKET_OPTIONS,
      path: fc.oneof({ weight: 4, arbitrary: fc.constant<V>({ t: 'str', v: '@listening' }) }, { weight: 1, arbitrary: addressV }),
      type: typeV,
      signal: signalV,
    }),
    onConnect: fc.option(fnV, { nil: null }),
    serverType: fc.constantFrom('seqpacket', 'stream'),
  }),
  fc.record({
    fn: fc.constant('createSocket' as const),
    options: fc.option(objV({ ...SOCKET_OPTIONS, type: typeV, signal: signalV, bind: maybe(fc.oneof(addressV, fc.constant<V>({ t: 'str', v: '' }))) }), {
      nil: null,
    }),
  }),
  fc.record({
    fn: fc.constant('fromFd' as const),
    fd: fc.oneof({ weight: 4, arbitrary: anyFdV }, { weight: 1, arbitrary: consumableV() }),
    options: fc.option(socketOptionsV, { nil: null }),
  }),
  fc.record({
    fn: fc.constant('createServer' as const),
    options: fc.option(fc.oneof({ weight: 5, arbitrary: objV({ ...SOCKET_OPTIONS, type: typeV }) }, { weight: 1, arbitrary: fnV }), { nil: null }),
    onConnection: fc.option(fnV, { nil: null }),
    listen: listenTargetV,
    listenCb: fc.option(fnV, { nil: null }),
    client: fc.boolean(),
    closeCb: fc.option(fnV, { nil: null }),
    extra: fc.array(fc.constantFrom('address', 'ref', 'unref', 'closeAllConnections', 'listenAgain', 'closeTwice'), { maxLength: 3 }),
  }),
);

/** Arguments as a caller passes them: trailing absent ones left out, middle ones undefined. */
function argList(...built: Array<{ value: unknown } | null>): unknown[] {
  const out = built.map((b) => (b === null ? undefined : b.value));
  while (out.length > 0 && built[out.length - 1] === null) out.pop();
  return out;
}

const isFn = (v: unknown): boolean => v instanceof MOther && v.what === 'function';

async function closed(s: { closed?: boolean; once(e: string, f: () => void): unknown }): Promise<void> {
  if (s.closed === true) return;
  await Promise.race([new Promise<void>((r) => s.once('close', r)), new Promise<void>((r) => setTimeout(r, 1000))]);
}

/** A socket the case made: errors checked, destroyed at cleanup. */
function adopt(c: FuzzCase, s: UnixMessageSocket, where: string): UnixMessageSocket {
  s.on('error', (err) => c.checkError(`${where}: 'error' event`, err));
  c.defer(async () => {
    s.destroy();
    await closed(s);
  });
  return s;
}

/** One message with an fd across a new pair: whatever the options, fds still arrive whole (or are refused). */
async function smoke(c: FuzzCase, a: UnixMessageSocket, b: UnixMessageSocket, acceptFds: boolean, framed: 'builtin' | 'custom' | null): Promise<void> {
  // A custom framing takes only whole frames of its own protocol: not 'x'.
  if (a.type === 'dgram' || a.destroyed || b.destroyed || framed === 'custom') return;
  const peer = new PeerLog(c, b);
  const fd = c.fd({ zoo: 'memfd' });
  let status: Error | null | undefined;
  a.write({ data: 'x', fds: [fd] }, (err) => {
    status = err;
  });
  await peer.until(() => peer.messages.length > 0 || status != null, 1000);
  const m = peer.messages[0];
  if (m === undefined) {
    if (status == null) c.fail('a message written on the new pair never arrived');
    return;
  }
  const want = acceptFds ? [identity(fd)] : [];
  if (JSON.stringify(m.ids) !== JSON.stringify(want)) c.fail(`the new pair delivered fds ${JSON.stringify(m.ids)}, not ${JSON.stringify(want)}`);
}

interface OptionsModel {
  /** Whether a message's fd arrives: refused, or no room for one in the receive buffer, it does not. */
  fds: boolean;
  framed: 'builtin' | 'custom' | null;
  /** A genuine signal was given. */
  signal: boolean;
}

/**
 * The common options, then `extra` (which says the socket's type: null when
 * it is the fd's), then `framed` on that type, then `signal` where taken.
 */
function judgeOptions(options: unknown, extra: (o: model.MObjLike) => string | null, takesSignal = false): ReturnType<typeof model.judge<OptionsModel>> {
  return model.judge(() => {
    const o = model.objectArg(options, 'options');
    model.socketOptions(o);
    const type = extra(o);
    const framed = model.framed(model.prop(o, 'framed'), type);
    const signal = takesSignal ? model.signal(model.prop(o, 'signal')) : false;
    return { fds: model.prop(o, 'acceptFds') !== false && model.prop(o, 'maxFdsPerMessage') !== 0, framed, signal };
  });
}

/** README "Cancellation and disposal": an already aborted signal destroys the socket, with an AbortError (code ABORT_ERR) on the next tick. */
async function expectAborted(c: FuzzCase, where: string, s: UnixMessageSocket): Promise<void> {
  let error: unknown = null;
  s.on('error', (err) => {
    error = err;
  });
  await new Promise((r) => setImmediate(r));
  if (!s.destroyed) c.fail(`${where}: a signal that had aborted left the socket undestroyed`);
  const e = error as { name?: unknown; code?: unknown } | null;
  if (e === null || e.name !== 'AbortError' || e.code !== 'ABORT_ERR') c.fail(`${where}: a signal that had aborted gave ${String(e?.code)}, not an AbortError`);
}

export const socketCreate = target<Args>({
  name: 'socket.create',
  weight: 20,
  args,
  async run(c, a) {
    switch (a.fn) {
      case 'socketPair': {
        const type = a.type === null ? null : c.build(a.type, 'type');
        const options = a.options === null ? null : c.build(a.options, 'options');
        const m = judgeOptions(options?.model, () => model.socketType(type?.model, 'type', TYPES, true) ?? 'seqpacket');
        const out = c.call('socketPair()', () => (socketPair as (...args: unknown[]) => [UnixMessageSocket, UnixMessageSocket])(...argList(type, options)));
        if (!m.valid) c.expectArgumentError('socketPair()', out, m.why);
        else c.expectNoArgumentError('socketPair()', out);
        if (!out.ok) return;
        const [x, y] = out.value.map((s) => adopt(c, s, 'socketPair()'));
        await smoke(c, x!, y!, m.valid ? m.value.fds : true, m.valid ? m.value.framed : 'custom');
        return;
      }
      case 'connect': {
        const server = createServer({ type: a.serverType });
        server.on('error', (err) => c.checkError('server error event', err));
        server.listen(c.name('@listening'));
        c.defer(() => closeServer(server));
        const options = c.build(a.options, 'options');
        const onConnect = a.onConnect === null ? null : c.build(a.onConnect, 'onConnect');
        const m = judgeOptions(
          options.model,
          (o) => {
            if (o === null) throw new model.Reject('connect() needs options');
            model.address(model.prop(o, 'path'), 'path');
            const type = model.socketType(model.prop(o, 'type'), 'type', TYPES) ?? 'seqpacket';
            model.callback(onConnect?.model, 'onConnect');
            return type;
          },
          true,
        );
        const out = c.call('connect()', () =>
          onConnect === null ? connect(options.value as { path: string }) : connect(options.value as { path: string }, onConnect.value as () => void),
        );
        if (!m.valid) c.expectArgumentError('connect()', out, m.why);
        else c.expectNoArgumentError('connect()', out);
        if (!out.ok) return;
        const s = adopt(c, out.value, 'connect()');
        if (abortedBefore(a.options)) return expectAborted(c, 'connect()', s);
        await Promise.race([new Promise((r) => s.once('connect', r)), new Promise((r) => s.once('close', r)), new Promise((r) => setTimeout(r, 1000))]);
        return;
      }
      case 'createSocket': {
        const options = a.options === null ? null : c.build(a.options, 'options');
        const m = judgeOptions(
          options?.model,
          (o) => {
            const type = model.socketType(model.prop(o, 'type'), 'type', TYPES) ?? 'dgram';
            const bind = model.prop(o, 'bind');
            if (bind !== undefined && bind !== '') model.address(bind, 'bind');
            return type;
          },
          true,
        );
        const out = c.call('createSocket()', () => (options === null ? createSocket() : createSocket(options.value as object)));
        if (!m.valid) c.expectArgumentError('createSocket()', out, m.why);
        else c.expectNoArgumentError('createSocket()', out);
        if (out.ok) {
          const s = adopt(c, out.value, 'createSocket()');
          if (abortedBefore(a.options)) await expectAborted(c, 'createSocket()', s);
        }
        return;
      }
      case 'fromFd': {
        const fd = c.build(a.fd, 'fd');
        const options = a.options === null ? null : c.build(a.options, 'options');
        const before = typeof fd.value === 'number' ? identity(fd.value) : null;
        const m = judgeOptions(options?.model, () => {
          model.fd(fd.model, 'fd');
          return null;
        });
        const out = c.call('fromFd()', () =>
          options === null ? UnixMessageSocket.fromFd(fd.value as number) : UnixMessageSocket.fromFd(fd.value as number, options.value as object),
        );
        if (!m.valid) c.expectArgumentError('fromFd()', out, m.why);
        if (typeof fd.value === 'number' && c.owned.has(fd.value)) {
          const now = identity(fd.value);
          if (out.ok && now === before) c.fail(`fromFd() adopted fd ${fd.value} and left it open`);
          if (!out.ok && now !== before) c.fail(`fromFd() refused fd ${fd.value} and closed it anyway (${String(before)} -> ${String(now)})`);
        }
        if (out.ok) adopt(c, out.value, 'fromFd()');
        return;
      }
      case 'createServer':
        return runServer(c, a);
    }
  },
});

async function closeServer(server: UnixMessageServer): Promise<void> {
  server.closeAllConnections();
  if (!server.listening) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 1000);
    server.close(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

async function runServer(c: FuzzCase, a: Extract<Args, { fn: 'createServer' }>): Promise<void> {
  const options = a.options === null ? null : c.build(a.options, 'options');
  const onConnection = a.onConnection === null ? null : c.build(a.onConnection, 'onConnection');
  const fnOnly = options !== null && isFn(options.model);
  const m = model.judge(() => {
    if (fnOnly) return 'seqpacket';
    const o = model.objectArg(options?.model, 'options');
    model.socketOptions(o);
    model.callback(onConnection?.model, 'onConnection');
    const type = model.socketType(model.prop(o, 'type'), 'type', ['seqpacket', 'stream']) ?? 'seqpacket';
    model.framed(model.prop(o, 'framed'), type);
    return type;
  });
  const made = c.call('createServer()', () => (createServer as (...args: unknown[]) => UnixMessageServer)(...argList(options, fnOnly ? null : onConnection)));
  if (!m.valid) c.expectArgumentError('createServer()', made, m.why);
  else c.expectNoArgumentError('createServer()', made);
  if (!made.ok) return;
  const server = made.value;
  let closedEmitted = false;
  server.on('error', (err) => c.checkError("server 'error' event", err));
  server.on('close', () => {
    closedEmitted = true;
  });
  server.on('connection', (s: UnixMessageSocket) => adopt(c, s, 'accepted connection'));
  c.defer(() => closeServer(server));

  const target = c.build(a.listen, 'listen target');
  const cb = a.listenCb === null ? null : c.build(a.listenCb, 'listen callback');
  const l = model.judge(() => {
    model.callback(cb?.model, 'callback');
    const t = model.readable(target.model, 'target');
    // A name is a string or a Uint8Array (a Buffer) of raw bytes, as every socket name is.
    if (typeof t === 'string' || (t instanceof MView && (t.ctor === 'Uint8Array' || t.ctor === 'Buffer'))) return { path: model.address(t, 'path'), fd: null };
    const o = model.objectArg(t, 'target', { nullish: false });
    model.int(model.prop(o, 'backlog'), 'backlog', 0, 0x7fffffff);
    const mode = model.int(model.prop(o, 'mode'), 'mode', 0, 0o7777);
    model.signal(model.prop(o, 'signal'));
    const path = model.prop(o, 'path');
    const fd = model.prop(o, 'fd');
    if ((path === undefined) === (fd === undefined)) throw new model.Reject('not exactly one of path and fd');
    if (fd !== undefined) {
      if (mode !== undefined) throw new model.Reject('mode with fd');
      return { path: null, fd: model.fd(fd, 'fd') };
    }
    const p = model.address(path, 'path');
    if (mode !== undefined && p.startsWith('\0')) throw new model.Reject('mode on an abstract name');
    return { path: p, fd: null };
  });
  const fdBefore = l.valid && l.value.fd !== null ? identity(l.value.fd) : null;
  const listened = c.call('listen()', () =>
    cb === null ? server.listen(target.value as string) : server.listen(target.value as string, cb.value as () => void),
  );
  if (!l.valid) c.expectArgumentError('listen()', listened, l.why);
  else c.expectNoArgumentError('listen()', listened);
  if (l.valid && l.value.fd !== null && c.owned.has(l.value.fd)) {
    const now = identity(l.value.fd);
    if (listened.ok && server.listening && now === fdBefore) c.fail(`listen({ fd }) adopted fd ${l.value.fd} and left it open`);
    if (!listened.ok && now !== fdBefore) c.fail(`listen({ fd }) refused fd ${l.value.fd} and closed it anyway`);
  }
  await new Promise((r) => setTimeout(r, 0));
  await new Promise((r) => setImmediate(r));
  // README "Cancellation and disposal": an already aborted signal closes the server on the next tick, without 'listening' or the callback.
  if (listened.ok && l.valid && abortedBefore(a.listen)) {
    if (server.listening) c.fail('listen() with a signal that had aborted left the server listening');
    if (c.calls.includes('listen callback')) c.fail('listen() with a signal that had aborted called its callback');
  }
  if (server.listening && a.client) {
    const address = server.address();
    if (address === null) c.fail('a listening server has no address');
    else {
      const client = adopt(c, connect({ path: address, type: server.type }), 'client');
      await Promise.race([new Promise((r) => client.once('connect', r)), new Promise((r) => client.once('close', r)), new Promise((r) => setTimeout(r, 1000))]);
    }
  }
  for (const op of a.extra) {
    switch (op) {
      case 'listenAgain': {
        const listening = server.listening;
        const again = c.call('listen() again', () => server.listen(c.name('@fresh')));
        if (again.ok && listening) c.fail('listen() on a listening server did not throw');
        break;
      }
      case 'closeTwice':
        c.call('close()', () =>
          server.close((err) => {
            if (err) c.checkError('close() callback', err);
          }),
        );
        break;
      default:
        c.call(`${op}()`, () => (server as unknown as Record<string, () => unknown>)[op]!());
    }
  }
  const closeCb = a.closeCb === null ? null : c.build(a.closeCb, 'close callback');
  const cm = model.judge(() => model.callback(closeCb?.model, 'close callback'));
  const wasListening = server.listening;
  const out = c.call('close()', () => (closeCb === null ? server.close() : server.close(closeCb.value as () => void)));
  if (!cm.valid) {
    c.expectArgumentError('close()', out, cm.why);
    if (!out.ok && wasListening && !server.listening) c.fail('close() threw for its callback but closed the server anyway');
  }
  server.closeAllConnections();
  if (wasListening && out.ok) {
    const deadline = Date.now() + 1000;
    while (!closedEmitted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    if (!closedEmitted) c.fail("the server never emitted 'close' after close() and closeAllConnections()");
  }
}
