// The systemd entry: notify(state, { fds }) with hostile states (strings,
// objects of fields with bad names or values, junk) and fds, then one of
// barrier({ timeout }), listenFds({ unsetEnvironment }) or
// watchdog({ onError }) with hostile options; NOTIFY_SOCKET names a
// receiver the case binds, or is unset (LISTEN_* and WATCHDOG_* are unset in
// the child). Bad arguments throw ERR_* before anything is sent; the
// caller's fds are never closed; what the receiver gets is the state's text
// with exactly those fds.
import fc from 'fast-check';
import fs from 'node:fs';
import { createSocket, type UnixMessage } from '../../../src/index';
import { barrier, listenFds, notify, watchdog } from '../../../src/systemd/index';
import { anyFdV, boolV, fdsV, hostileV, intV, maybe, numV, objV, primitiveV, strV } from '../arbitraries';
import { sleep, type FuzzCase } from '../case';
import { MObj, MOther } from '../materialize';
import * as model from '../model';
import type { V } from '../recipe';
import { identity } from '../zoo';
import { target } from './target';

interface Args {
  state: V;
  options: V | null;
  receiver: boolean;
  then: { fn: 'barrier' | 'listenFds' | 'watchdog'; options: V | null } | null;
}

// Field names: valid ones, and ones systemd's env_name_is_valid() refuses ('=', control characters, empty).
const KEYS = ['READY', 'STATUS', 'FDSTORE', 'RELOADING', 'x', 'A=B', '', 'NEW\nLINE', 'TAB\t', 'DEL\x7f'];
const fieldValueV: fc.Arbitrary<V> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('1', 'up', 'a\nMAINPID=1', 'nul\0', '').map((v): V => ({ t: 'str', v })) },
  { weight: 2, arbitrary: numV },
  { weight: 1, arbitrary: boolV },
  { weight: 1, arbitrary: fc.constantFrom('0', '-1', '9007199254740993').map((v): V => ({ t: 'bigint', v })) },
  { weight: 1, arbitrary: primitiveV },
);
// Plain objects only: a Proxy or an odd prototype changes which keys Object.keys() sees, beyond the model's reach.
const fieldsV: fc.Arbitrary<V> = fc
  .array(fc.tuple(fc.constantFrom(...KEYS), fieldValueV), { maxLength: 3 })
  .map((pairs): V => ({ t: 'obj', props: [...new Map(pairs)].map(([k, v]) => [k, { v }]), proto: 'object', wrap: 'none' }));

const args: fc.Arbitrary<Args> = fc.record({
  state: fc.oneof({ weight: 3, arbitrary: fieldsV }, { weight: 2, arbitrary: strV }, { weight: 1, arbitrary: primitiveV }),
  options: fc.option(
    fc.oneof(
      { weight: 5, arbitrary: objV({ fds: fc.oneof({ weight: 4, arbitrary: fdsV }, { weight: 1, arbitrary: anyFdV }) }) },
      { weight: 1, arbitrary: hostileV(0) },
    ),
    { nil: null },
  ),
  receiver: fc.boolean(),
  then: fc.option(
    fc.oneof(
      fc.record({
        fn: fc.constant('barrier' as const),
        options: fc.option(fc.oneof({ weight: 5, arbitrary: objV({ timeout: maybe(intV(0, 50)) }) }, { weight: 1, arbitrary: hostileV(0) }), { nil: null }),
      }),
      fc.record({
        fn: fc.constant('listenFds' as const),
        options: fc.option(fc.oneof({ weight: 5, arbitrary: objV({ unsetEnvironment: maybe(boolV) }) }, { weight: 1, arbitrary: hostileV(0) }), { nil: null }),
      }),
      fc.record({
        fn: fc.constant('watchdog' as const),
        options: fc.option(
          fc.oneof(
            { weight: 5, arbitrary: objV({ onError: maybe(fc.constantFrom<V>({ t: 'fn', does: 'noop' }, { t: 'fn', does: 'throw' })) }) },
            { weight: 1, arbitrary: hostileV(0) },
          ),
          { nil: null },
        ),
      }),
    ),
    { nil: null },
  ),
});

/** What notify() must send, by the README ("systemd") and sd_notify(3); throws Reject when it must throw. */
function judgeState(v: unknown): string {
  const s = model.readable(v, 'state');
  if (typeof s === 'string') return s;
  if (!(s instanceof MObj)) throw new model.Reject('state is not a string or an object');
  const lines: string[] = [];
  for (const [key, raw] of s.props) {
    if (key === '' || [...key].some((ch) => ch === '=' || ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f))
      throw new model.Reject(`field name ${JSON.stringify(key)}`);
    const value = model.readable(raw, key);
    let text: string;
    if (value === undefined) continue;
    if (typeof value === 'string') text = value;
    else if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new model.Reject('a field that is not a finite number');
      text = String(value);
    } else if (typeof value === 'bigint') text = value.toString();
    else if (typeof value === 'boolean') text = value ? '1' : '0';
    else throw new model.Reject('a field of another type');
    if (/[\n\0]/.test(text)) throw new model.Reject('a field with a newline or NUL');
    lines.push(`${key}=${text}`);
  }
  if (lines.length === 0) throw new model.Reject('no field to send');
  return lines.join('\n');
}

export const systemdTarget = target<Args>({
  name: 'systemd',
  weight: 4,
  args,
  async run(c, a) {
    const saved = process.env.NOTIFY_SOCKET;
    c.defer(() => {
      if (saved === undefined) delete process.env.NOTIFY_SOCKET;
      else process.env.NOTIFY_SOCKET = saved;
    });
    // Each message's fds are identified and closed at once: barrier() waits for the manager to close its fd.
    const got: Array<{ data: Buffer; ids: Array<string | null> }> = [];
    if (a.receiver) {
      const name = c.name('@peer');
      const rx = createSocket({ type: 'dgram', bind: name });
      rx.on('data', (m: UnixMessage) => {
        got.push({ data: Buffer.from(m.data), ids: m.fds.map((fd) => identity(fd)) });
        for (const fd of m.fds) fs.closeSync(fd);
      });
      rx.on('error', (err) => c.checkError('receiver error event', err));
      c.defer(async () => {
        rx.destroy();
        if (!rx.closed) await new Promise((r) => rx.once('close', r));
      });
      process.env.NOTIFY_SOCKET = `@${name.slice(1)}`;
    } else {
      delete process.env.NOTIFY_SOCKET;
    }
    const state = c.build(a.state, 'state');
    const options = a.options === null ? null : c.build(a.options, 'options');
    const m = model.judge(() => {
      const text = judgeState(state.model);
      const o = model.objectArg(options?.model, 'options');
      const raw = model.prop(o, 'fds');
      return { text, fds: raw === undefined || raw === null ? [] : model.fds(raw, 'options.fds') };
    });
    const before = new Map([...c.owned.keys()].map((fd) => [fd, identity(fd)]));
    const out = c.call('notify()', () => (options === null ? notify(state.value as string) : notify(state.value as string, options.value as object)));
    if (!m.valid) c.expectArgumentError('notify()', out, m.why);
    else c.expectNoArgumentError('notify()', out);
    let sentOk: boolean | null = null;
    if (out.ok) {
      try {
        sentOk = await (out.value as Promise<boolean>);
        if (!a.receiver && sentOk) c.fail('notify() resolved true with NOTIFY_SOCKET unset');
      } catch (err) {
        c.checkError('notify() rejection', err);
      }
    }
    // The caller's fds are the caller's: sent or refused, never closed.
    for (const [fd, id] of before) if (identity(fd) !== id) c.fail(`notify() closed or replaced the caller's fd ${fd}`);
    if (a.receiver && sentOk === true && m.valid) {
      const deadline = Date.now() + 1000;
      while (got.length === 0 && Date.now() < deadline) await sleep(1);
      const msg = got[0];
      if (msg === undefined) c.fail('notify() resolved true but nothing arrived');
      else {
        // The text's UTF-8 bytes (a lone surrogate is U+FFFD); RELOADING=1 gets MONOTONIC_USEC appended (README "systemd").
        const want = Buffer.from(m.value.text, 'utf8');
        if (!msg.data.subarray(0, want.length).equals(want)) c.fail(`notify() sent ${msg.data.length} bytes that do not begin with the state's ${want.length}`);
        const ids = msg.ids;
        const wantIds = m.value.fds.map((fd) => identity(fd));
        if (JSON.stringify(ids) !== JSON.stringify(wantIds)) c.fail(`notify() sent fds ${JSON.stringify(ids)}, not ${JSON.stringify(wantIds)}`);
      }
    }
    if ((!m.valid && m.why !== model.LENIENT) || sentOk !== true) {
      await sleep(2);
      if (got.length > 0 && !(m.valid && sentOk === null)) c.fail('a notify() that threw or was refused sent a message');
    }
    if (a.then !== null) await then(c, a.then, a.receiver);
  },
});

/** barrier(), listenFds() or watchdog() with hostile options: ERR_* as their documented options say, else what their environment implies. */
async function then(c: FuzzCase, t: NonNullable<Args['then']>, receiver: boolean): Promise<void> {
  // The fuzzer is never socket-activated nor watched: whatever the environment held is not this case's.
  for (const k of ['LISTEN_PID', 'LISTEN_PIDFDID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete process.env[k];
  const options = t.options === null ? null : c.build(t.options, `${t.fn} options`);
  const where = `${t.fn}()`;
  const m = model.judge(() => {
    const o = model.objectArg(options?.model, 'options');
    if (t.fn === 'barrier') model.int(model.prop(o, 'timeout'), 'timeout', 0, 0x7fffffff);
    if (t.fn === 'listenFds') model.bool(model.prop(o, 'unsetEnvironment'), 'unsetEnvironment');
    if (t.fn === 'watchdog') {
      const f = model.prop(o, 'onError');
      if (f !== undefined && !(f instanceof MOther && f.what === 'function')) throw new model.Reject('onError is not a function');
    }
  });
  const call = (): unknown => {
    const fn = t.fn === 'barrier' ? barrier : t.fn === 'listenFds' ? listenFds : watchdog;
    return options === null ? fn() : (fn as (o: unknown) => unknown)(options.value);
  };
  const out = c.call(where, call);
  if (!m.valid) c.expectArgumentError(where, out, m.why);
  else c.expectNoArgumentError(where, out);
  if (!out.ok) return;
  if (t.fn === 'barrier') {
    try {
      const r = await (out.value as Promise<boolean>);
      if (r !== receiver) c.fail(`barrier() resolved ${r} with NOTIFY_SOCKET ${receiver ? 'naming a receiver that closes its fd' : 'unset'}`);
    } catch (err) {
      c.checkError('barrier() rejection', err);
    }
  } else if (t.fn === 'listenFds') {
    // Not socket-activated: no fds (sd_listen_fds returns 0).
    if (!Array.isArray(out.value) || out.value.length !== 0) c.fail('listenFds() without LISTEN_PID returned fds');
  } else {
    // No WATCHDOG_USEC: a function that stops nothing.
    if (typeof out.value !== 'function') c.fail('watchdog() did not return a function');
    else (out.value as () => void)();
  }
}
