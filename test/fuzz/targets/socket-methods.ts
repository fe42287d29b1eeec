// UnixMessageSocket's methods on a live connection: write() with every
// message shape, callback form and encoding, end(), cork()/uncork(),
// setOption(), getOption(), bind(), address(), peerCredentials(),
// ref()/unref(), pause()/resume(), read(), destroy() and the getters. The
// peer checks that exactly the successful writes arrived, with their fds.
import fc from 'fast-check';
import { createSocket, socketPair, type UnixMessageSocket } from '../../../src/index';
import { addressV, boolV, dataV, fdsV, hostileV, intV, maybe, numV, objV, primitiveV } from '../arbitraries';
import type { FuzzCase } from '../case';
import { MOther, MView } from '../materialize';
import * as model from '../model';
import type { V } from '../recipe';
import { identity } from '../zoo';
import { checkMessages, checkStream, PeerLog, settle, target, type Sent } from './target';

type Kind = 'seqpacket' | 'stream' | 'dgram' | 'unconnected' | 'framed' | 'framedCustom';

type Op =
  | { op: 'write'; msg: V; form: 'cb' | 'enc' | 'none' | 'args'; enc: V; cb: V }
  | { op: 'end'; msg: V | null; withCb: boolean }
  | { op: 'cork' | 'uncork' | 'address' | 'peerCredentials' | 'ref' | 'unref' | 'pause' | 'resume' | 'props' }
  | { op: 'setOption'; level: V; name: V; value: V }
  | { op: 'getOption'; level: V; name: V }
  | { op: 'bind'; address: V | null }
  | { op: 'read'; size: V }
  | { op: 'destroy'; err: V | null };

interface Args {
  kind: Kind;
  ops: Op[];
}

const SOL_SOCKET = 1;
const optionName = fc.constantFrom(16, 83, 7, 8, 3, 17, 9, 13, 76, 0, 999).map((v): V => ({ t: 'num', v }));
const optionLevel = fc.constantFrom(1, 1, 1, 0, 6, 263).map((v): V => ({ t: 'num', v }));

/** A view whose first byte is its length: one whole frame of the framedCustom pair. */
const frameV = fc
  .record({ n: fc.integer({ min: 1, max: 12 }), ctor: fc.constantFrom('Buffer' as const, 'Uint8Array' as const) })
  .map(({ n, ctor }): V => ({ t: 'view', ctor, n, pad: 0, fill: n, backing: 'plain' }));

/**
 * README "Framed stream sockets": a write to a custom framing must be one
 * whole frame (headerSize bytes at least, frameLength's length exactly),
 * else ERR_INVALID_ARG_VALUE before anything is queued.
 */
function frameOf(m: model.MessageModel, kind: Kind): model.MessageModel {
  if (kind !== 'framedCustom') return m;
  if (m.bytes.length < 1) throw new model.Reject('a write shorter than headerSize');
  if (m.bytes[0] !== m.bytes.length) throw new model.Reject('a write that is not the length frameLength says');
  return m;
}

/** A message as write() takes it: an object { data, fds, address, lend }, a view, a string, or junk. */
export const messageV = fc.oneof(
  { weight: 2, arbitrary: objV({ data: frameV, fds: fdsV, lend: maybe(boolV) }) },
  { weight: 1, arbitrary: frameV },
  { weight: 8, arbitrary: objV({ data: dataV, fds: fdsV, address: addressV, lend: maybe(boolV) }) },
  { weight: 2, arbitrary: dataV },
  { weight: 1, arbitrary: hostileV(1) },
);

const encodingV = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('utf8', 'buffer', 'hex', 'latin1', 'nope', '').map((v): V => ({ t: 'str', v })) },
  { weight: 1, arbitrary: fc.constant<V>({ t: 'fn', does: 'noop' }) },
  { weight: 1, arbitrary: primitiveV },
  { weight: 1, arbitrary: hostileV(0) },
);
const callbackV = fc.oneof(
  { weight: 4, arbitrary: fc.constant<V>({ t: 'fn', does: 'noop' }) },
  { weight: 1, arbitrary: fc.constant<V>({ t: 'fn', does: 'throw' }) },
  { weight: 2, arbitrary: hostileV(0) },
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      op: fc.constant('write' as const),
      msg: messageV,
      form: fc.constantFrom('cb', 'cb', 'cb', 'enc', 'none', 'args'),
      enc: encodingV,
      cb: callbackV,
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('end' as const), msg: fc.option(messageV, { nil: null }), withCb: fc.boolean() }) },
  { weight: 2, arbitrary: fc.constantFrom('cork', 'uncork', 'address', 'peerCredentials', 'ref', 'unref', 'pause', 'resume', 'props').map((op) => ({ op })) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('setOption' as const),
      level: maybe(optionLevel),
      name: maybe(optionName),
      value: maybe(fc.oneof(intV(0, 1), intV(0, 100000)), 1),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('getOption' as const), level: maybe(optionLevel), name: maybe(optionName) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('bind' as const), address: fc.option(addressV, { nil: null }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('read' as const), size: fc.oneof(fc.constant<V>({ t: 'undefined' }), numV, hostileV(0)) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('destroy' as const),
      err: fc.option(fc.oneof(fc.constant<V>({ t: 'misc', what: 'error' }), primitiveV), { nil: null }),
    }),
  },
);

const isInt32 = (v: unknown): boolean => model.isInt(v, -0x80000000, 0x7fffffff);

function encodingOk(v: unknown): boolean {
  const x = model.readable(v, 'encoding');
  if (x instanceof MOther && x.what === 'function') return true;
  if (!x) return true; // Writable: any falsy encoding means the default
  return typeof x === 'string' && (x === 'buffer' || Buffer.isEncoding(x));
}

async function open(c: FuzzCase, kind: Kind): Promise<{ a: UnixMessageSocket; b: UnixMessageSocket; peerName: string | null }> {
  if (kind === 'unconnected') {
    const peerName = c.name('@peer');
    const b = createSocket({ type: 'dgram', bind: peerName });
    const a = createSocket({ type: 'dgram' });
    return { a, b, peerName };
  }
  // framed: a stream pair with our format (README "Framed stream sockets"): one message per write.
  // framedCustom: a one-byte header that is the frame's whole length (see frameOf).
  const [a, b] =
    kind === 'framed'
      ? socketPair('stream', { framed: true })
      : kind === 'framedCustom'
        ? socketPair('stream', { framed: { headerSize: 1, frameLength: (h: Buffer) => h[0]! } })
        : socketPair(kind);
  return { a, b, peerName: null };
}

export const socketMethods = target<Args>({
  name: 'socket.methods',
  weight: 30,
  args: fc.record({
    kind: fc.constantFrom('seqpacket', 'seqpacket', 'stream', 'dgram', 'unconnected', 'framed', 'framedCustom'),
    ops: fc.array(opArb, { minLength: 1, maxLength: 5 }),
  }),
  async run(c, { kind, ops }) {
    const { a, b, peerName } = await open(c, kind);
    c.defer(async () => {
      a.destroy();
      b.destroy();
      await Promise.all([a, b].map((s) => (s.closed ? Promise.resolve() : new Promise((r) => s.once('close', r)))));
    });
    c.self = a.fd;
    c.peer = b.fd;
    const type = kind === 'unconnected' ? 'dgram' : kind === 'framed' || kind === 'framedCustom' ? 'stream' : kind;
    const framed = kind === 'framed' || kind === 'framedCustom';
    const userErrors = new Set<unknown>();
    a.on('error', (err) => {
      if (!userErrors.has(err)) c.checkError('socket error event', err);
    });
    const peer = new PeerLog(c, b);
    const sent: Sent[] = [];
    let endStatus: Sent | null = null;

    ops.forEach((op, i) => {
      const where = `op ${i} ${op.op}()`;
      const before = { length: a.writableLength, fds: a.queuedFds };
      const nothingQueued = (): void => {
        if (a.writableLength !== before.length || a.queuedFds !== before.fds) {
          c.fail(`${where} threw but queued something (writableLength ${before.length} -> ${a.writableLength}, queuedFds ${before.fds} -> ${a.queuedFds})`);
        }
      };
      switch (op.op) {
        case 'write': {
          const msg = c.build(op.msg, `${where}.message`);
          const m = model.judge(() => frameOf(model.message(msg.model, type, kind === 'framed'), kind));
          const enc = op.form === 'args' ? c.build(op.enc, `${where}.encoding`) : null;
          const cb = op.form === 'args' ? c.build(op.cb, `${where}.callback`) : null;
          const argsOk = model.judge(() => {
            if (enc !== null && !encodingOk(enc.model)) throw new model.Reject('encoding is not an encoding');
            const callback = enc !== null && enc.model instanceof MOther && enc.model.what === 'function' ? enc.model : cb?.model;
            if (cb !== null) model.callback(callback, 'callback');
          });
          const s: Sent = {
            label: `${where}`,
            bytes: m.valid ? m.value.bytes : Buffer.alloc(0),
            ids: m.valid ? m.value.fds.map(identity) : [],
            status: 'pending',
          };
          s.brokenLend = m.valid && m.value.lend && s.ids.includes(null);
          // Unconnected: a message to another name than the peer's (the
          // socket's own, once bound) goes there, not to the peer.
          const elsewhere = peerName !== null && m.valid && m.value.address !== peerName;
          const record = (err?: Error | null): void => {
            if (err && !userErrors.has(err)) c.checkError(`${where} callback`, err);
            s.status = err ? 'failed' : elsewhere ? 'unknown' : 'ok';
          };
          const out = c.call(where, () => {
            switch (op.form) {
              case 'cb':
                return a.write(msg.value as never, record);
              case 'enc':
                return a.write(msg.value as never, 'utf8', record);
              case 'none':
                return a.write(msg.value as never);
              case 'args':
                return a.write(msg.value as never, enc!.value as BufferEncoding, cb!.value as () => void);
            }
          });
          if (!m.valid || !argsOk.valid) {
            c.expectArgumentError(where, out, !m.valid ? m.why : argsOk.valid ? '' : argsOk.why);
            if (!out.ok) nothingQueued();
            if (out.ok) {
              s.status = op.form === 'cb' || op.form === 'enc' ? s.status : 'unknown';
              sent.push(s);
            }
            return;
          }
          c.expectNoArgumentError(where, out);
          if (!out.ok) {
            nothingQueued();
            return;
          }
          if (op.form === 'none' || op.form === 'args') s.status = 'unknown';
          sent.push(s);
          return;
        }
        case 'end': {
          const msg = op.msg === null ? null : c.build(op.msg, `${where}.message`);
          // end(undefined), end(null) and end(callback) end with no last message.
          const noMessage = msg === null || msg.model === undefined || msg.model === null || (msg.model instanceof MOther && msg.model.what === 'function');
          const m = noMessage ? null : model.judge(() => frameOf(model.message(msg.model, type, kind === 'framed'), kind));
          const s: Sent = {
            label: where,
            bytes: m?.valid === true ? m.value.bytes : Buffer.alloc(0),
            ids: m?.valid === true ? m.value.fds.map(identity) : [],
            status: 'unknown',
          };
          endStatus = s;
          const done = (err?: Error | null): void => {
            if (err && !userErrors.has(err)) c.checkError(`${where} callback`, err);
          };
          const out = c.call(where, () =>
            msg === null ? (op.withCb ? a.end(done) : a.end()) : op.withCb ? a.end(msg.value as never, done) : a.end(msg.value as never),
          );
          if (m !== null && !m.valid) {
            c.expectArgumentError(where, out, m.why);
            if (!out.ok) nothingQueued();
          } else {
            c.expectNoArgumentError(where, out);
            if (out.ok && msg !== null) sent.push(s);
          }
          return;
        }
        case 'setOption':
        case 'getOption': {
          const level = c.build(op.level, `${where}.level`);
          const name = c.build(op.name, `${where}.name`);
          const value = op.op === 'setOption' ? c.build(op.value, `${where}.value`) : null;
          // setOption's value: a 32-bit integer or the option's bytes (any view).
          const valid = isInt32(level.model) && isInt32(name.model) && (value === null || isInt32(value.model) || value.model instanceof MView);
          const out = c.call(where, () =>
            op.op === 'setOption'
              ? a.setOption(level.value as number, name.value as number, value!.value as number)
              : a.getOption(level.value as number, name.value as number),
          );
          if (!valid) c.expectArgumentError(where, out, 'a level, name or value that is not a 32-bit integer');
          else c.expectNoArgumentError(where, out);
          if (out.ok && op.op === 'setOption' && level.model === SOL_SOCKET && (name.model === 7 || name.model === 8)) {
            // A tiny buffer is the caller's choice; keep the sentinel able to pass.
            a.setOption(SOL_SOCKET, name.model, 65536);
          }
          return;
        }
        case 'bind': {
          const address = op.address === null ? null : c.build(op.address, `${where}.address`);
          const valid = address === null || address.model === undefined ? { valid: true } : model.judge(() => model.address(address.model, 'address'));
          const out = c.call(where, () => (address === null ? a.bind() : a.bind(address.value as string)));
          if (!valid.valid) c.expectArgumentError(where, out, 'an invalid address');
          else c.expectNoArgumentError(where, out);
          return;
        }
        case 'read': {
          const size = c.build(op.size, `${where}.size`);
          const out = c.call(where, () => a.read(size.value as number));
          // Readable.read() has its own range (at most 1 GiB); a size that is not a number must be refused.
          if (size.model !== undefined && typeof size.model !== 'number') c.expectArgumentError(where, out, 'a size that is not a number');
          return;
        }
        case 'destroy': {
          const err = op.err === null ? null : c.build(op.err, `${where}.error`);
          if (err !== null) userErrors.add(err.value);
          c.call(where, () => (err === null ? a.destroy() : a.destroy(err.value as Error)));
          return;
        }
        case 'props':
          c.call(`${where} getters`, () => [
            a.fd,
            a.connecting,
            a.remoteAddress,
            a.pendingFds,
            a.queuedFds,
            a.waitingForFdRoom,
            a.writableNeedDrain,
            a.writableCorked,
            a.type,
          ]);
          return;
        default:
          c.call(where, () => (a as unknown as Record<string, () => unknown>)[op.op]!());
      }
    });

    // Let corked writes go, then wait for every callback.
    while (a.writableCorked > 0) a.uncork();
    await settle(c, sent);
    if (endStatus !== null) (endStatus as Sent).status = 'unknown';
    // A sentinel marks the end of what was sent, on a socket still writable.
    const text = Buffer.from(`SENTINEL-${process.pid}`);
    // On the framedCustom pair the sentinel is a frame too: its first byte its length.
    const mark = kind === 'framedCustom' ? Buffer.concat([Buffer.from([text.length + 1]), text]) : text;
    let received = peer.messages;
    if (!a.destroyed && a.writable && !a.writableEnded) {
      let markStatus: Error | null | undefined;
      a.write(peerName === null ? mark : { data: mark, address: peerName }, (err) => {
        markStatus = err;
      });
      const arrived = (): boolean =>
        type === 'stream' && !framed
          ? Buffer.concat(peer.messages.map((m) => m.data))
              .subarray(-mark.length)
              .equals(mark)
          : peer.messages.some((m) => m.data.equals(mark));
      const ok = await peer.until(() => arrived() || markStatus != null || a.destroyed);
      if (!ok && !c.userThrew()) c.fail('the sentinel written after the case never arrived');
      if (!arrived()) return; // the socket failed meanwhile: its error was checked
      if (type === 'stream' && !framed) {
        const all = Buffer.concat(peer.messages.map((m) => m.data));
        received = [{ data: all.subarray(0, all.length - mark.length), ids: peer.messages.flatMap((m) => m.ids) }];
      } else {
        received = peer.messages.slice(
          0,
          peer.messages.findIndex((m) => m.data.equals(mark)),
        );
      }
    } else if (type !== 'dgram') {
      await peer.until(() => peer.ended, 1000);
      // README "seqpacket EOF": empty fd-less messages right before the
      // shutdown may read as the EOF.
      if (type === 'seqpacket') for (const s of sent) if (s.bytes.length === 0 && s.ids.length === 0) s.status = 'unknown';
    } else {
      await peer.until(() => false, 20);
    }
    if (process.env.FUZZ_DEBUG !== undefined) {
      process.stderr.write(`sent: ${JSON.stringify(sent.map((x) => [x.label, x.bytes.length, x.ids, x.status]))}\n`);
      process.stderr.write(`received: ${JSON.stringify(received.map((x) => [x.data.length, x.ids]))}\n`);
    }
    // A framed stream keeps message boundaries: checked as messages.
    if (type === 'stream' && !framed) checkStream(c, sent, received);
    else checkMessages(c, sent, received);
  },
});
