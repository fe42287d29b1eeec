// Cancellation of sockets by AbortSignal (connect({ signal }),
// createSocket({ signal })) and disposal (Symbol.asyncDispose, which sockets
// inherit from Readable), as net.connect and dgram.createSocket do it: the
// AbortError's shape, before / while / after connecting, the dups of queued
// messages closed, and no listener left on the signal once the socket closes.
import test, { type ExecutionContext } from 'ava';
import { getEventListeners, setMaxListeners } from 'node:events';
import { connect, createServer, createSocket, lowlevel, type UnixMessageServer, type UnixMessageSocket } from '../src/index';
import { abstractName, assertProbeClosed, closeServer, leakFree, listen, probe, settled, waitFor } from './helpers';

const abortListeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length;

/**
 * The error a socket was destroyed with, and whether it emitted 'connect'.
 * Called before 'close' is emitted; it waits for the event itself, not for
 * `closed`, which a destroy() sets before 'error' is emitted.
 */
function outcome(socket: UnixMessageSocket): Promise<{ error: Error | undefined; connected: boolean }> {
  let error: Error | undefined;
  let connected = false;
  socket.on('error', (err) => (error = err));
  socket.on('connect', () => (connected = true));
  return new Promise((resolve) => socket.once('close', () => resolve({ error, connected })));
}

function assertAbortError(t: ExecutionContext, err: Error | undefined, reason: unknown): void {
  t.truthy(err, 'destroyed with an error');
  t.is(err?.name, 'AbortError');
  t.is((err as NodeJS.ErrnoException | undefined)?.code, 'ABORT_ERR');
  t.is(err?.message, 'The operation was aborted');
  t.is(err?.cause, reason, "cause is the signal's reason");
}

async function server(): Promise<{ server: UnixMessageServer; path: string; accepted: UnixMessageSocket[] }> {
  const accepted: UnixMessageSocket[] = [];
  const s = createServer((c) => accepted.push(c));
  const path = abstractName('abort');
  await listen(s, path);
  return { server: s, path, accepted };
}

async function shutdown(s: UnixMessageServer, accepted: UnixMessageSocket[]): Promise<void> {
  for (const c of accepted) c.destroy();
  await closeServer(s);
}

test(
  'connect({ signal }) refuses anything but a genuine AbortSignal with ERR_INVALID_ARG_TYPE, before a socket is made',
  leakFree((t) => {
    const real = new AbortController().signal;
    const shadowed = new AbortController().signal;
    Object.defineProperty(shadowed, 'aborted', { get: () => false });
    const bad: unknown[] = [
      'abort',
      1,
      {},
      { aborted: true, addEventListener() {} },
      new Proxy(real, {}),
      Object.create(AbortSignal.prototype),
      shadowed,
      null,
    ];
    for (const signal of bad) {
      const err = t.throws(() => connect({ path: abstractName('x'), signal: signal as AbortSignal }));
      t.is((err as NodeJS.ErrnoException).code, 'ERR_INVALID_ARG_TYPE');
      t.regex(err!.message, /"signal" option must be an instance of AbortSignal/);
    }
    t.throws(() => createSocket({ signal: 'abort' as unknown as AbortSignal }), { code: 'ERR_INVALID_ARG_TYPE' });
  }),
);

test(
  'connect() reads the signal option once',
  leakFree(async (t) => {
    const ac = new AbortController();
    ac.abort();
    let reads = 0;
    const options = {
      path: abstractName('once'),
      get signal(): AbortSignal {
        reads++;
        return reads === 1 ? ac.signal : (undefined as unknown as AbortSignal);
      },
    };
    const socket = connect(options);
    const { error } = await outcome(socket);
    t.is(reads, 1);
    t.is(error?.name, 'AbortError', 'the signal read is the one used');
  }),
);

test(
  'an already aborted signal destroys the socket with an AbortError before it connects: nothing reaches the server',
  leakFree(async (t) => {
    const { server: s, path, accepted } = await server();
    const reason = new Error('changed my mind');
    const ac = new AbortController();
    ac.abort(reason);
    const aborted = connect({ path, signal: ac.signal });
    const result = outcome(aborted);
    t.true(aborted.destroyed, 'destroyed at once, as a Duplex given an aborted signal is');
    const p = probe();
    const writeErr = await new Promise<Error | null | undefined>((resolve) => aborted.write({ data: 'no', fds: [p.fd] }, resolve));
    t.is((writeErr as NodeJS.ErrnoException | null | undefined)?.code, 'ERR_STREAM_DESTROYED');
    lowlevel.close(p.fd);
    await assertProbeClosed(t, p);
    const { error, connected } = await result;
    assertAbortError(t, error, reason);
    t.false(connected);
    t.is(abortListeners(ac.signal), 0, 'no listener added for a signal that had aborted');
    // A second client: the server sees it alone (the aborted one never called connect(2)).
    const other = connect({ path });
    await waitFor(() => accepted.length === 1);
    t.is(accepted.length, 1);
    other.destroy();
    await settled(other);
    await shutdown(s, accepted);
  }),
);

test(
  'aborting while connecting (a full backlog: connect(2) retries on EAGAIN) destroys the socket and closes the dups of queued messages',
  leakFree(async (t) => {
    // A listener with backlog 0 that never accepts: the first connection
    // fills its queue, the second gets EAGAIN (unix_recvq_full) and retries.
    const name = abstractName('full');
    const listener = lowlevel.socket('unix', 'seqpacket');
    lowlevel.bind(listener, name);
    lowlevel.listen(listener, 0);
    const filler = connect({ path: name });
    await new Promise((resolve) => filler.once('connect', resolve));
    const ac = new AbortController();
    const socket = connect({ path: name, signal: ac.signal });
    const result = outcome(socket);
    const p = probe();
    const written = new Promise<Error | null | undefined>((resolve) => socket.write({ data: 'queued', fds: [p.fd] }, resolve));
    lowlevel.close(p.fd);
    t.true(await waitFor(() => socket.queuedFds === 1), 'the message waits, holding a dup');
    t.true(socket.connecting, 'still connecting');
    t.is(abortListeners(ac.signal), 1);
    ac.abort();
    const { error, connected } = await result;
    assertAbortError(t, error, ac.signal.reason);
    t.false(connected);
    t.truthy(await written, "the queued write's callback gets an error");
    await assertProbeClosed(t, p);
    t.is(abortListeners(ac.signal), 0, 'the listener is removed on close');
    filler.destroy();
    await settled(filler);
    lowlevel.close(listener);
  }),
);

test(
  'aborting after connecting destroys the socket with an AbortError; a corked message with fds has its dup closed and the peer sees the end',
  leakFree(async (t) => {
    const { server: s, path, accepted } = await server();
    const ac = new AbortController();
    const socket = connect({ path, signal: ac.signal });
    const result = outcome(socket);
    await new Promise((resolve) => socket.once('connect', resolve));
    await waitFor(() => accepted.length === 1);
    const peer = accepted[0]!;
    const peerEnded = new Promise((resolve) => peer.once('close', resolve));
    peer.on('error', () => undefined);
    peer.resume();
    socket.cork();
    const p = probe();
    socket.write({ data: 'held', fds: [p.fd] }, () => undefined);
    lowlevel.close(p.fd);
    t.is(socket.queuedFds, 1);
    ac.abort('enough');
    const { error, connected } = await result;
    t.true(connected);
    assertAbortError(t, error, 'enough');
    await assertProbeClosed(t, p);
    await peerEnded;
    t.is(abortListeners(ac.signal), 0);
    await shutdown(s, accepted);
  }),
);

test(
  'many sockets on one long-lived signal leave no listener on it once they close (no leak)',
  leakFree(async (t) => {
    const { server: s, path, accepted } = await server();
    const ac = new AbortController();
    setMaxListeners(200, ac.signal); // 100 is what this test means to add
    const sockets: UnixMessageSocket[] = [];
    for (let i = 0; i < 100; i++) sockets.push(connect({ path, signal: ac.signal }));
    await Promise.all(sockets.map((c) => new Promise((resolve) => c.once('connect', resolve))));
    t.is(abortListeners(ac.signal), 100, 'one listener per open socket');
    const closes = sockets.map((c) => new Promise((resolve) => c.once('close', resolve)));
    for (const c of sockets) c.destroy();
    await Promise.all(closes);
    t.is(abortListeners(ac.signal), 0, 'each removed as its socket closed');
    // A failed connect removes its listener too.
    const failed = connect({ path: abstractName('nobody'), signal: ac.signal });
    const { error } = await outcome(failed);
    t.is((error as NodeJS.ErrnoException | undefined)?.code, 'ECONNREFUSED');
    t.is(abortListeners(ac.signal), 0);
    t.false(ac.signal.aborted);
    await waitFor(() => accepted.length === 100);
    await shutdown(s, accepted);
  }),
);

test(
  'createSocket({ signal }) destroys a datagram socket with an AbortError when aborted, and removes its listener',
  leakFree(async (t) => {
    const ac = new AbortController();
    const socket = createSocket({ bind: '', signal: ac.signal });
    const result = outcome(socket);
    t.is(abortListeners(ac.signal), 1);
    ac.abort();
    const { error } = await result;
    assertAbortError(t, error, ac.signal.reason);
    t.is(abortListeners(ac.signal), 0);
    const pre = new AbortController();
    pre.abort();
    const { error: early } = await outcome(createSocket({ signal: pre.signal }));
    t.is(early?.name, 'AbortError', 'already aborted: destroyed at once');
  }),
);

test(
  'await using a socket destroys it at the end of the block (Readable[Symbol.asyncDispose]), closing the dups of queued messages',
  leakFree(async (t) => {
    const { server: s, path, accepted } = await server();
    const p = probe();
    let kept: UnixMessageSocket;
    {
      await using socket = connect({ path });
      kept = socket; // no 'error' listener: the dispose's AbortError is not an uncaught one
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.cork();
      socket.write({ data: 'held', fds: [p.fd] }, () => undefined);
      lowlevel.close(p.fd);
      t.is(socket.queuedFds, 1);
    }
    t.true(kept.destroyed);
    t.true(kept.closed, 'closed once the dispose resolved');
    await assertProbeClosed(t, p);
    await shutdown(s, accepted);
  }),
);

test(
  "another abort listener's stopImmediatePropagation() does not keep the socket from being destroyed (events.addAbortListener)",
  leakFree(async (t) => {
    const ac = new AbortController();
    ac.signal.addEventListener('abort', (e) => e.stopImmediatePropagation());
    const socket = createSocket({ bind: '', signal: ac.signal });
    const result = outcome(socket);
    ac.abort();
    const { error } = await result;
    t.is(error?.name, 'AbortError');
    t.true(socket.destroyed);
  }),
);
