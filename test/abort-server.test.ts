// Cancellation and disposal of servers, as net.Server does them:
// listen({ signal }) closes the server when aborted (before, while or after
// listening) and removes its socket file; the listener goes when the server
// closes; UnixMessageServer[Symbol.asyncDispose] closes and waits for 'close'.
import test from 'ava';
import { getEventListeners } from 'node:events';
import fs from 'node:fs';
import { connect, createServer, type UnixMessageServer, type UnixMessageSocket } from '../src/index';
import { closeServer, leakFree, listen, settled, tick, tmpPath, waitFor } from './helpers';

const abortListeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length;

/** Records the events a server emits, in order. */
function record(server: UnixMessageServer): string[] {
  const seen: string[] = [];
  server.on('listening', () => seen.push('listening'));
  server.on('close', () => seen.push('close'));
  server.on('error', (err) => seen.push(`error ${(err as NodeJS.ErrnoException).code}`));
  return seen;
}

test(
  'listen({ signal }) refuses anything but an AbortSignal with ERR_INVALID_ARG_TYPE, and creates no socket file',
  leakFree((t) => {
    const path = tmpPath('bad-signal.sock');
    const server = createServer();
    for (const signal of ['abort', {}, { aborted: false }, new Proxy(new AbortController().signal, {})]) {
      const err = t.throws(() => server.listen({ path, signal: signal as AbortSignal }));
      t.is((err as NodeJS.ErrnoException).code, 'ERR_INVALID_ARG_TYPE');
    }
    t.false(server.listening);
    t.false(fs.existsSync(path));
  }),
);

test(
  'listen({ signal }) with an already aborted signal closes the server on the next tick: no listening, no callback, no socket file left',
  leakFree(async (t) => {
    const path = tmpPath('pre-aborted.sock');
    const ac = new AbortController();
    ac.abort();
    const server = createServer();
    const seen = record(server);
    let called = false;
    server.listen({ path, signal: ac.signal }, () => (called = true));
    await new Promise<void>((resolve) => server.once('close', resolve));
    await tick();
    t.deepEqual(seen, ['close']);
    t.false(called, "listen()'s callback is a 'listening' listener, and there was none");
    t.false(server.listening);
    t.false(fs.existsSync(path), 'the socket file was removed');
    t.is(abortListeners(ac.signal), 0);
  }),
);

test(
  'aborting in the same tick as listen() closes the server before it emits listening',
  leakFree(async (t) => {
    const path = tmpPath('same-tick.sock');
    const ac = new AbortController();
    const server = createServer();
    const seen = record(server);
    server.listen({ path, signal: ac.signal });
    t.true(server.listening);
    t.is(abortListeners(ac.signal), 1);
    ac.abort();
    t.false(server.listening, 'closed by the abort itself');
    t.false(fs.existsSync(path));
    await new Promise<void>((resolve) => server.once('close', resolve));
    await tick();
    t.deepEqual(seen, ['close']);
    t.is(abortListeners(ac.signal), 0);
  }),
);

test(
  'aborting a listening server closes it and removes its socket file; accepted connections stay open, and close follows when they end',
  leakFree(async (t) => {
    const path = tmpPath('after.sock');
    const ac = new AbortController();
    const accepted: UnixMessageSocket[] = [];
    const server = createServer((c) => accepted.push(c));
    const seen = record(server);
    await listen(server, { path, signal: ac.signal });
    const client = connect({ path });
    await waitFor(() => accepted.length === 1);
    ac.abort();
    t.false(server.listening);
    t.false(fs.existsSync(path), 'the socket file was removed');
    t.false(accepted[0]!.destroyed, 'as net.Server: close() stops accepting, connections stay');
    t.is(abortListeners(ac.signal), 0, 'a listener runs once');
    const closed = new Promise<void>((resolve) => server.once('close', resolve));
    client.destroy();
    await settled(client);
    accepted[0]!.destroy();
    await closed;
    t.deepEqual(seen, ['listening', 'close']);
  }),
);

test(
  'a server closed by close() removes its listener from the signal, which can then abort harmlessly',
  leakFree(async (t) => {
    const ac = new AbortController();
    const servers = [createServer(), createServer(), createServer()];
    for (const s of servers) await listen(s, { path: tmpPath('many.sock'), signal: ac.signal });
    t.is(abortListeners(ac.signal), 3);
    for (const s of servers) await closeServer(s);
    t.is(abortListeners(ac.signal), 0);
    ac.abort();
    // A server that listens again after close() on the same signal gets a new listener.
    const again = servers[0]!;
    const path = tmpPath('again.sock');
    const ac2 = new AbortController();
    await listen(again, { path, signal: ac2.signal });
    t.true(again.listening, 'the first signal, aborted after close, does not touch the new listen');
    ac2.abort();
    t.false(again.listening);
  }),
);

test(
  'await using a server closes it at the end of the block and waits for close; disposing a server that is not listening resolves at once',
  leakFree(async (t) => {
    const path = tmpPath('using.sock');
    let kept: UnixMessageServer;
    let closed = false;
    {
      await using server = createServer();
      kept = server;
      server.on('close', () => (closed = true));
      await listen(server, path);
      t.true(fs.existsSync(path));
    }
    t.false(kept.listening);
    t.true(closed, "resolved after 'close'");
    t.false(fs.existsSync(path));
    await t.notThrowsAsync(createServer()[Symbol.asyncDispose](), 'never listened: nothing to close, no ERR_SERVER_NOT_RUNNING');
    await t.notThrowsAsync(kept[Symbol.asyncDispose](), 'a second dispose resolves too');
  }),
);
