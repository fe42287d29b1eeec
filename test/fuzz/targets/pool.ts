// The pool entry (unix-message-socket/pool): createPool() with every option,
// and on a small real pool (one worker, test/fuzz/pool-worker.js, which
// echoes requests) send(), request(), handOff(), serve(), ready(),
// ref()/unref(), close() and destroy(). A bad argument is refused before
// anything is queued; a request's reply carries exactly the fds sent; fds
// the pool takes (transfer, handOff) are closed by it, others stay the
// caller's; destroy() leaves no fd behind.
import fc from 'fast-check';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createPool, type WorkerPool } from '../../../src/pool/index';
import type { UnixMessage } from '../../../src/index';
import { arrV, boolV, consumableV, dataV, hostileV, intV, maybe, objV, openFdV, signalV, strV } from '../arbitraries';
import { sleep } from '../case';
import { MOther, MView } from '../materialize';
import * as model from '../model';
import type { V } from '../recipe';
import { identity } from '../zoo';
import { abortedBefore, target } from './target';

const SCRIPT = path.join(__dirname, '..', 'pool-worker.js');

/** fds the pool may close (transfer, handOff): zoo duplicates, never a number the child holds. */
const poolFdsV = fc.oneof(
  { weight: 6, arbitrary: arrV(fc.oneof({ weight: 6, arbitrary: openFdV }, { weight: 1, arbitrary: consumableV() }), 4) },
  { weight: 1, arbitrary: consumableV() },
);
const poolMessageV = fc.oneof(
  { weight: 6, arbitrary: objV({ data: dataV, fds: poolFdsV, lend: maybe(boolV) }) },
  { weight: 1, arbitrary: dataV },
  { weight: 1, arbitrary: consumableV() },
);
const sendOptionsV = fc.option(
  objV({
    worker: maybe(intV(0, 1)),
    transfer: maybe(boolV),
    timeout: maybe(
      fc.oneof(
        intV(0, 2000),
        fc.constantFrom(2 ** 31, -1, 0.5).map((v): V => ({ t: 'num', v })),
      ),
    ),
    // request() only; send() takes no signal (an unknown option it ignores).
    signal: signalV,
  }),
  { nil: null },
);

type Op =
  | { op: 'send'; message: V; options: V | null; cb: V | null }
  | { op: 'request'; message: V; options: V | null }
  | { op: 'handOff'; fds: V; options: V | null }
  | { op: 'serve'; target: V | 'server' | null }
  | { op: 'ready' | 'ref' | 'unref' | 'workers' | 'close' };

interface Args {
  options: V;
  ready: boolean;
  ops: Op[];
}

const cbV = fc.oneof({ weight: 4, arbitrary: fc.constant<V>({ t: 'fn', does: 'noop' }) }, { weight: 1, arbitrary: hostileV(0) });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('send' as const), message: poolMessageV, options: sendOptionsV, cb: fc.option(cbV, { nil: null }) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('request' as const), message: poolMessageV, options: sendOptionsV }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('handOff' as const), fds: poolFdsV, options: fc.option(objV({ worker: maybe(intV(0, 1)) }), { nil: null }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('serve' as const),
      target: fc.option(
        fc.oneof(
          {
            weight: 3,
            arbitrary: objV({
              port: maybe(fc.constantFrom(0, 0, -1, 65536, 1.5).map((v): V => ({ t: 'num', v }))),
              host: maybe(fc.constantFrom('127.0.0.1', '::1', 'localhost', '', 'no.such.host.invalid').map((v): V => ({ t: 'str', v }))),
              backlog: maybe(intV(0, 10)),
            }),
          },
          { weight: 1, arbitrary: fc.constant('server' as const) },
          { weight: 1, arbitrary: hostileV(0) },
        ),
        { nil: null },
      ),
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom('ready', 'ref', 'unref', 'workers', 'close').map((op) => ({ op })) },
);

const args: fc.Arbitrary<Args> = fc.record({
  options: fc.oneof(
    {
      weight: 6,
      arbitrary: objV({
        script: fc.oneof(
          { weight: 8, arbitrary: fc.constant<V>({ t: 'str', v: SCRIPT }) },
          { weight: 1, arbitrary: strV },
          { weight: 1, arbitrary: hostileV(0) },
        ),
        size: maybe(intV(1, 2)),
        strategy: maybe(fc.constantFrom('round-robin', 'least-outstanding').map((v): V => ({ t: 'str', v }))),
        args: maybe(arrV(strV, 2)),
        execArgv: maybe(fc.constant<V>({ t: 'arr', items: [] })),
        env: maybe(objV({ FUZZ: strV })),
        stdio: maybe(fc.constantFrom('ignore', 'inherit', 'pipe').map((v): V => ({ t: 'str', v }))),
        respawn: maybe(boolV),
        signal: signalV,
        closeTimeout: maybe(
          fc.oneof(
            intV(0, 500),
            fc.constantFrom(-1, 2 ** 31, 0.5).map((v): V => ({ t: 'num', v })),
          ),
        ),
      }),
    },
    { weight: 1, arbitrary: hostileV(1) },
  ),
  ready: fc.boolean(),
  ops: fc.array(opArb, { maxLength: 4 }),
});

const isFn = (v: unknown): boolean => v instanceof MOther && v.what === 'function';
const isStrings = (v: unknown): boolean => {
  try {
    return model.array(v, 'list', 1000).every((x) => typeof x === 'string' && !x.includes('\0'));
  } catch {
    return false;
  }
};

function judgePool(options: unknown): ReturnType<typeof model.judge<number>> {
  return model.judge(() => {
    const o = model.objectArg(options, 'options', { nullish: false });
    const script = model.prop(o, 'script');
    if (typeof script !== 'string' || script === '' || script.includes('\0')) throw new model.Reject('script');
    const size = model.int(model.prop(o, 'size'), 'size', 1, 1024) ?? 2;
    model.socketType(model.prop(o, 'strategy'), 'strategy', ['round-robin', 'least-outstanding']);
    for (const k of ['args', 'execArgv']) {
      const list = model.prop(o, k);
      if (list !== undefined && !isStrings(list)) throw new model.Reject(`${k} is not an array of strings`);
    }
    const env = model.prop(o, 'env');
    if (env !== undefined) {
      // A TypedArray's elements are its own enumerable keys, with number values.
      if (env instanceof MView && env.ctor !== 'DataView' && env.bytes.length > 0) throw new model.Reject('env is a TypedArray with elements (numbers)');
      const e = model.objectArg(env, 'env', { nullish: false });
      for (const [k, v] of e?.props ?? []) {
        const x = model.readable(v, `env.${k}`);
        if (x !== undefined && (typeof x !== 'string' || x.includes('\0'))) throw new model.Reject(`env.${k} is not a string without NUL`);
      }
    }
    model.socketType(model.prop(o, 'stdio'), 'stdio', ['inherit', 'ignore', 'pipe']);
    model.bool(model.prop(o, 'respawn'), 'respawn');
    const t = model.prop(o, 'closeTimeout');
    if (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > 0x7fffffff)) throw new model.Reject('closeTimeout');
    model.signal(model.prop(o, 'signal'));
    return size;
  });
}

/** send()/request() options: { worker, transfer, timeout }. */
function judgeSend(options: unknown, size: number, withTimeout: boolean): boolean {
  const o = model.objectArg(options, 'options');
  model.int(model.prop(o, 'worker'), 'worker', 0, size - 1);
  const transfer = model.bool(model.prop(o, 'transfer'), 'transfer') ?? false;
  if (withTimeout) {
    const t = model.prop(o, 'timeout');
    if (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > 0x7fffffff)) throw new model.Reject('timeout');
    model.signal(model.prop(o, 'signal'));
  }
  return transfer;
}

async function settled<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown; timedOut: boolean }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ timedOut: true }>((resolve) => {
    timer = setTimeout(() => resolve({ timedOut: true }), ms);
  });
  const r = await Promise.race([
    p.then(
      (value) => ({ value, timedOut: false }),
      (error: unknown) => ({ error, timedOut: false }),
    ),
    timeout,
  ]);
  clearTimeout(timer);
  return r;
}

export const poolTarget = target<Args>({
  name: 'pool',
  weight: 5,
  args,
  async run(c, a) {
    const options = c.build(a.options, 'options');
    const m = judgePool(options.model);
    const made = c.call('createPool()', () => createPool(options.value as { script: string }));
    if (!m.valid) c.expectArgumentError('createPool()', made, m.why);
    else c.expectNoArgumentError('createPool()', made);
    if (!made.ok) return;
    const pool: WorkerPool = made.value;
    pool.on('error', (err) => c.checkError("pool 'error' event", err));
    let closed = false;
    pool.on('close', () => {
      closed = true;
    });
    c.defer(async () => {
      pool.destroy();
      const deadline = Date.now() + 3000;
      while (!closed && Date.now() < deadline) await sleep(2);
      if (!closed) c.fail("destroy() never led to 'close'");
      // The workers' exits, and their pipes, settle a moment later.
      await sleep(5);
    });
    const size = m.valid ? m.value : 1;
    if (a.ready && m.valid && model.prop(model.objectArg(options.model, 'o'), 'script') === SCRIPT) {
      const r = await settled(pool.ready(), 3000);
      if (r.error !== undefined) c.checkError('ready()', r.error);
    }
    const pending: Array<Promise<void>> = [];
    for (const [i, op] of a.ops.entries()) {
      const where = `op ${i} ${op.op}()`;
      const before = pool.workers.map((w) => w?.outstanding ?? 0).join(',');
      const nothingQueued = (): void => {
        const after = pool.workers.map((w) => w?.outstanding ?? 0).join(',');
        if (after !== before) c.fail(`${where} threw but queued something (outstanding ${before} -> ${after})`);
      };
      switch (op.op) {
        case 'send':
        case 'request': {
          const msg = c.build(op.message, `${where}.message`);
          const opts = op.options === null ? null : c.build(op.options, `${where}.options`);
          const cb = op.op === 'send' && op.cb !== null ? c.build(op.cb, `${where}.callback`) : null;
          const j = model.judge(() => {
            if (cb !== null && !isFn(cb.model) && model.readable(cb.model, 'callback') !== undefined) throw new model.Reject('callback is not a function');
            const transfer = judgeSend(opts?.model, size, op.op === 'request');
            const mm = model.message(msg.model, 'seqpacket');
            if (transfer && new Set(mm.fds).size !== mm.fds.length) throw new model.Reject('transfer with repeated fds');
            return { mm, transfer };
          });
          const ids = j.valid ? j.value.mm.fds.map(identity) : [];
          const out = c.call(where, () =>
            op.op === 'send'
              ? pool.send(msg.value as string, (opts?.value ?? undefined) as object, (cb?.value ?? undefined) as () => void)
              : pool.request(msg.value as string, (opts?.value ?? undefined) as object),
          );
          if (!j.valid) {
            if (op.op === 'request' && out.ok) {
              // A promise-returning call may refuse by rejecting: typed, and nothing queued.
              const r = await settled(out.value as Promise<UnixMessage>, 1000);
              if (r.error === undefined && j.why !== model.LENIENT) c.fail(`${where}: accepted ${j.why}`);
              else if (r.error !== undefined) c.expectArgumentError(where, { ok: false, error: r.error }, j.why);
              if (r.value !== undefined) closeAll(r.value.fds);
            } else {
              c.expectArgumentError(where, out, j.why);
            }
            nothingQueued();
            break;
          }
          c.expectNoArgumentError(where, out);
          if (!out.ok) {
            nothingQueued();
            break;
          }
          // README "Cancellation and disposal": with a signal that has already aborted, request() takes nothing (the fds stay
          // the caller's, even with transfer) and rejects with an AbortError.
          if (op.op === 'request' && abortedBefore(op.options)) {
            const r = await settled(out.value as Promise<UnixMessage>, 1000);
            const e = r.error as { name?: unknown; code?: unknown } | undefined;
            if (e?.name !== 'AbortError' || e.code !== 'ABORT_ERR')
              c.fail(`${where}: an aborted signal gave ${e === undefined ? 'no rejection' : JSON.stringify(e.code)}, not an AbortError`);
            if (r.value !== undefined) closeAll(r.value.fds);
            nothingQueued();
            break;
          }
          if (j.value.transfer) for (const fd of j.value.mm.fds) if (c.owned.has(fd)) c.owned.delete(fd); // the pool's now
          if (op.op === 'request') {
            pending.push(
              (async () => {
                const r = await settled(out.value as Promise<UnixMessage>, 2000);
                if (r.error !== undefined) {
                  c.checkError(`${where} rejection`, r.error);
                  return;
                }
                if (r.value === undefined) return; // no worker came online in time: destroy() fails it
                const got = r.value.fds.map(identity);
                closeAll(r.value.fds);
                if (!r.value.data.equals(j.value.mm.bytes))
                  c.fail(`${where}: the echo came back with ${r.value.data.length} bytes, not the ${j.value.mm.bytes.length} sent`);
                if (JSON.stringify(got) !== JSON.stringify(ids))
                  c.fail(`${where}: the echo came back with fds ${JSON.stringify(got)}, not ${JSON.stringify(ids)}`);
              })(),
            );
          }
          break;
        }
        case 'handOff': {
          const fds = c.build(op.fds, `${where}.fds`);
          const opts = op.options === null ? null : c.build(op.options, `${where}.options`);
          const j = model.judge(() => {
            const list = model.array(fds.model, 'fds', 100000).map((f, k) => model.fd(f, `fds[${k}]`));
            if (new Set(list).size !== list.length) throw new model.Reject('repeated fds');
            const o = model.objectArg(opts?.model, 'options');
            model.int(model.prop(o, 'worker'), 'worker', 0, size - 1);
            return list;
          });
          const out = c.call(where, () => pool.handOff(fds.value as number[], (opts?.value ?? undefined) as object));
          if (!j.valid) {
            c.expectArgumentError(where, out, j.why);
            if (!out.ok) nothingQueued();
            break;
          }
          c.expectNoArgumentError(where, out);
          if (out.ok) for (const fd of j.value) c.owned.delete(fd); // the pool's now
          break;
        }
        case 'serve': {
          let t: unknown;
          let tm: unknown;
          if (op.target === 'server') {
            const server = net.createServer();
            await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
            c.defer(() => void server.close());
            t = server;
            tm = 'server';
          } else if (op.target !== null) {
            const b = c.build(op.target, `${where}.target`);
            t = b.value;
            tm = b.model;
          }
          const out = c.call(where, () => (op.target === null ? pool.serve() : pool.serve(t as object)));
          if (out.ok) {
            const r = await settled(out.value as Promise<unknown>, 2000);
            if (r.error !== undefined) c.checkError(`${where} rejection`, r.error);
          }
          void tm;
          break;
        }
        case 'workers':
          c.call(where, () => pool.workers.map((w) => [w?.id, w?.pid, w?.online, w?.outstanding]));
          break;
        default:
          c.call(where, () => (pool as unknown as Record<string, () => unknown>)[op.op]!());
      }
    }
    await Promise.all(pending);
  },
});

function closeAll(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      fs.closeSync(fd);
    } catch {
      // Already closed.
    }
  }
}
