// The low-level layer: sendmsg(), recvmsg(), rights(), fdsOf(),
// lowlevel.socketpair(), close(), dup() and errnoError(). sendmsg()'s result
// is checked at the peer: a call that returned sent exactly the bytes and
// the SCM_RIGHTS fds it was given (a Proxy must not drop them), and one
// that threw sent nothing. Every fd recvmsg() returns is in its ancillary.
import fc from 'fast-check';
import fs from 'node:fs';
import { errnoError, fdsOf, lowlevel, recvmsg, rights, sendmsg } from '../../../src/index';
import { addressV, anyFdV, arrV, consumableV, fdRef, hostileV, intV, maybe, numV, objV, openFdV, slotOf, viewV } from '../arbitraries';
import type { FuzzCase } from '../case';
import { MArr, MView } from '../materialize';
import * as model from '../model';
import type { FdRef, V, ZooKind } from '../recipe';
import { identity } from '../zoo';
import { target } from './target';

type RawType = 'seqpacket' | 'dgram' | 'stream';

type Args =
  | { fn: 'sendmsg'; type: RawType; fd: V; buffers: V; ancillary: V | null; flags: V | null; address: V | null }
  | { fn: 'recvmsg'; type: RawType; pre: { bytes: number; fds: ZooKind[] } | null; fd: V; options: V | null }
  | { fn: 'rights'; fds: V }
  | { fn: 'fdsOf'; ancillary: V }
  | { fn: 'socketpair'; type: V | null }
  | { fn: 'close' | 'dup'; fd: V }
  | { fn: 'errnoError'; errno: V; syscall: V; address: V | null };

const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const SCM_CREDENTIALS = 2;

const selfFdV = fc.oneof(
  { weight: 8, arbitrary: fc.constant<V>({ t: 'fd', ref: { special: 'self' } }) },
  { weight: 2, arbitrary: anyFdV },
  { weight: 1, arbitrary: hostileV(0) },
);

const fdBytesV = fc
  .record({
    fds: fc.array(
      fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom<ZooKind>('memfd', 'file', 'pipe', 'eventfd', 'unixStream').map((zoo): FdRef => ({ zoo })) },
        { weight: 1, arbitrary: fdRef },
      ),
      { maxLength: 3 },
    ),
    ctor: fc.constantFrom('Buffer', 'Buffer', 'Uint8Array', 'Int32Array'),
  })
  .map((r): V => ({ t: 'fdBytes', fds: r.fds, ctor: r.ctor as 'Buffer' }));

/** [level, type, data]: SCM_RIGHTS mostly. */
const itemV: fc.Arbitrary<V> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(slotOf(fc.constant<V>({ t: 'num', v: SOL_SOCKET })), slotOf(fc.constant<V>({ t: 'num', v: SCM_RIGHTS })), slotOf(fdBytesV))
      .map((items): V => ({ t: 'arr', items })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        maybe(fc.constantFrom(0, 1, 6).map((v): V => ({ t: 'num', v }))),
        maybe(fc.constantFrom(1, 2, 4, 99).map((v): V => ({ t: 'num', v }))),
        maybe(viewV),
      )
      .map((items): V => ({ t: 'arr', items: items.map((v) => ({ v })) })),
  },
  { weight: 1, arbitrary: arrV(hostileV(0), 4) },
  { weight: 1, arbitrary: hostileV(1) },
);

const FLAGS = [0, 0, 0, 0, 1, 2, 32, 64, 128, 256, 0x2000, 0x4000, 0x8000, 0x40000000, -1];
const flagsV = maybe(fc.constantFrom(...FLAGS).map((v): V => ({ t: 'num', v })));
const rawType = fc.constantFrom<RawType>('seqpacket', 'seqpacket', 'dgram', 'stream');

const args: fc.Arbitrary<Args> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      fn: fc.constant('sendmsg' as const),
      type: rawType,
      fd: selfFdV,
      buffers: fc.oneof({ weight: 3, arbitrary: viewV }, { weight: 3, arbitrary: arrV(maybe(viewV), 4) }, { weight: 1, arbitrary: hostileV(1) }),
      ancillary: fc.option(fc.oneof({ weight: 5, arbitrary: arrV(itemV, 3) }, { weight: 1, arbitrary: hostileV(1) }), { nil: null }),
      flags: fc.option(flagsV, { nil: null }),
      address: fc.option(fc.oneof({ weight: 1, arbitrary: fc.constant<V>({ t: 'undefined' }) }, { weight: 1, arbitrary: addressV }), { freq: 4, nil: null }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      fn: fc.constant('recvmsg' as const),
      type: rawType,
      pre: fc.option(
        fc.record({
          bytes: fc.integer({ min: 0, max: 40 }),
          fds: fc.array(fc.constantFrom<ZooKind>('memfd', 'file', 'pipe', 'unixStream', 'inflight'), { maxLength: 3 }),
        }),
        { freq: 5, nil: null },
      ),
      fd: selfFdV,
      options: fc.option(
        fc.oneof(
          {
            weight: 5,
            arbitrary: objV({
              maxSize: maybe(
                fc.oneof(
                  intV(0, 64),
                  fc.constantFrom(1 << 30, (1 << 30) + 1, 1 << 20).map((v): V => ({ t: 'num', v })),
                ),
              ),
              cmsgSize: maybe(
                fc.oneof(
                  intV(0, 64),
                  fc.constantFrom(0, 4096, 1 << 20, (1 << 20) + 1).map((v): V => ({ t: 'num', v })),
                ),
              ),
              flags: flagsV,
            }),
          },
          { weight: 1, arbitrary: hostileV(1) },
        ),
        { nil: null },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      fn: fc.constant('rights' as const),
      fds: fc.oneof({ weight: 4, arbitrary: arrV(fc.oneof(openFdV, numV), 4) }, { weight: 1, arbitrary: hostileV(1) }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      fn: fc.constant('fdsOf' as const),
      ancillary: fc.oneof({ weight: 4, arbitrary: arrV(itemV, 3) }, { weight: 1, arbitrary: hostileV(1) }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      fn: fc.constant('socketpair' as const),
      type: fc.option(
        fc.oneof(
          fc.constantFrom('seqpacket', 'stream', 'dgram').map((v): V => ({ t: 'str', v })),
          hostileV(0),
        ),
        { nil: null },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      fn: fc.constantFrom('close' as const, 'dup' as const),
      fd: fc.oneof(
        { weight: 4, arbitrary: anyFdV.filter((v) => v.t !== 'fd' || !('special' in v.ref) || (v.ref.special !== 'self' && v.ref.special !== 'peer')) },
        { weight: 1, arbitrary: consumableV() },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      fn: fc.constant('errnoError' as const),
      errno: fc.oneof(intV(-140, 0), numV, hostileV(0)),
      syscall: fc.oneof(fc.constant<V>({ t: 'str', v: 'read' }), hostileV(0)),
      address: fc.option(fc.oneof(addressV, hostileV(0)), { nil: null }),
    }),
  },
);

/** The fds of the SCM_RIGHTS items of an ancillary model, as the kernel reads them. */
function rightsOf(items: unknown[]): number[] {
  const out: number[] = [];
  for (const item of items) {
    const [level, type, data] = item as [unknown, unknown, MView];
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      for (let k = 0; k + 4 <= data.bytes.length; k += 4) out.push(data.bytes.readInt32LE(k));
    }
  }
  return out;
}

function ancillaryModel(v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  return model.array(v, 'ancillary', 0xffff).map((item, i) => {
    const parts = model.array(item, `ancillary[${i}]`, 0xffff);
    if (parts.length !== 3) throw new model.Reject(`ancillary[${i}] is not [level, type, data]`);
    const [level, type, data] = parts;
    if (!model.isInt(level, -0x80000000, 0x7fffffff) || !model.isInt(type, -0x80000000, 0x7fffffff)) throw new model.Reject('level or type is not an int32');
    if (!(data instanceof MView)) throw new model.Reject('data is not a view');
    return parts;
  });
}

function pair(c: FuzzCase, type: RawType): [number, number] {
  const [x, y] = lowlevel.socketpair(type);
  c.defer(() => {
    lowlevel.close(x);
    lowlevel.close(y);
  });
  c.self = x;
  c.peer = y;
  return [x, y];
}

/** Everything queued at fd, its fds closed once their identity is taken. */
function drain(fd: number): Array<{ data: Buffer; ids: Array<string | null> }> {
  const out: Array<{ data: Buffer; ids: Array<string | null> }> = [];
  for (;;) {
    let r;
    try {
      r = recvmsg(fd, { maxSize: 65536, cmsgSize: 4096 });
    } catch {
      return out;
    }
    const fds = fdsOf(r.ancillary);
    out.push({ data: r.data, ids: fds.map(identity) });
    for (const f of fds) fs.closeSync(f);
    if (r.data.length === 0 && fds.length === 0) return out;
  }
}

export const lowlevelTarget = target<Args>({
  name: 'lowlevel',
  weight: 20,
  args,
  async run(c, a) {
    switch (a.fn) {
      case 'sendmsg': {
        const [, peer] = pair(c, a.type);
        const fd = c.build(a.fd, 'fd');
        const buffers = c.build(a.buffers, 'buffers');
        const ancillary = a.ancillary === null ? null : c.build(a.ancillary, 'ancillary');
        const flags = a.flags === null ? null : c.build(a.flags, 'flags');
        const address = a.address === null ? null : c.build(a.address, 'address');
        const m = model.judge(() => {
          model.fd(fd.model, 'fd');
          const b =
            model.readable(buffers.model, 'buffers') instanceof MArr
              ? model.bytes(buffers.model, 'buffers', model.IOV_MAX)
              : model.bytes(buffers.model, 'buffers');
          const items = ancillaryModel(ancillary?.model);
          const f = flags?.model;
          if (f !== undefined && !model.isInt(f, -0x80000000, 0x7fffffff)) throw new model.Reject('flags is not an int32');
          if (address !== null && address.model !== undefined) model.address(address.model, 'address');
          return { bytes: b, fds: rightsOf(items) };
        });
        const list: unknown[] = [fd.value, buffers.value, ancillary?.value, flags?.value, address?.value];
        while (list.length > 2 && list[list.length - 1] === undefined && [ancillary, flags, address][list.length - 3] === null) list.pop();
        const ids = m.valid ? m.value.fds.map(identity) : [];
        const out = c.call('sendmsg()', () => (sendmsg as (...x: unknown[]) => number)(...list));
        if (!m.valid) c.expectArgumentError('sendmsg()', out, m.why);
        else c.expectNoArgumentError('sendmsg()', out);
        if (fd.value !== c.self) return;
        const got = drain(peer);
        if (!out.ok) {
          if (got.length > 0 && !(got.length === 1 && got[0]!.data.length === 0 && got[0]!.ids.length === 0 && a.type !== 'stream')) {
            c.fail(`sendmsg() threw, yet the peer received ${got.length} messages`);
          }
          return;
        }
        if (!m.valid) return;
        const n = out.value;
        // MSG_OOB on a stream socket: the last byte goes out of band (unix(7), Linux 5.15+).
        const oob = a.type === 'stream' && flags !== null && typeof flags.model === 'number' && (flags.model & 1) !== 0 ? 1 : 0;
        const want = m.value.bytes.subarray(0, n - oob);
        const data = Buffer.concat(got.map((g) => g.data));
        if (!data.equals(want)) c.fail(`sendmsg() returned ${n}; the peer received ${data.length} bytes, not the ${want.length} sent`);
        const gotIds = got.flatMap((g) => g.ids);
        // On a stream socket the kernel drops fds sent with no byte (unix(7)).
        const wantIds = a.type === 'stream' && n === 0 ? [] : ids;
        if (JSON.stringify(gotIds) !== JSON.stringify(wantIds))
          c.fail(`sendmsg() returned ${n}; the peer received fds ${JSON.stringify(gotIds)}, not ${JSON.stringify(wantIds)}`);
        return;
      }
      case 'recvmsg': {
        const [self, peer] = pair(c, a.type);
        let sent: { data: Buffer; ids: Array<string | null> } | null = null;
        if (a.pre !== null) {
          const data = Buffer.alloc(a.pre.bytes, 0x61);
          const fds = a.pre.fds.map((zoo) => c.fd({ zoo }));
          try {
            sendmsg(peer, [a.type === 'stream' && a.pre.bytes === 0 ? Buffer.from('a') : data], fds.length > 0 ? [rights(fds)] : []);
            sent = { data: a.type === 'stream' && a.pre.bytes === 0 ? Buffer.from('a') : data, ids: fds.map(identity) };
          } catch (err) {
            c.fail(`the peer could not send: ${(err as Error).message}`);
          }
        }
        const fd = c.build(a.fd, 'fd');
        const options = a.options === null ? null : c.build(a.options, 'options');
        const m = model.judge(() => {
          model.fd(fd.model, 'fd');
          const o = options === null ? null : model.objectArg(options.model, 'options');
          const maxSize = model.int(model.prop(o, 'maxSize'), 'maxSize', 0, 1 << 30) ?? 8192;
          const cmsgSize = model.int(model.prop(o, 'cmsgSize'), 'cmsgSize', 0, 1 << 20) ?? 4096;
          const flags = model.int(model.prop(o, 'flags'), 'flags', -0x80000000, 0x7fffffff) ?? 0;
          if ((flags & 2) !== 0 && cmsgSize > 0) throw new model.Reject('MSG_PEEK with a control buffer');
          return { maxSize, cmsgSize, flags };
        });
        const out = c.call('recvmsg()', () => (options === null ? recvmsg(fd.value as number) : recvmsg(fd.value as number, options.value as object)));
        if (!m.valid) c.expectArgumentError('recvmsg()', out, m.why);
        else c.expectNoArgumentError('recvmsg()', out);
        if (!out.ok) return;
        // The fds are the caller's now: close them (a leak shows in the fd count).
        let fds: number[] = [];
        try {
          fds = fdsOf(out.value.ancillary);
        } catch (err) {
          c.fail(`fdsOf() refused recvmsg()'s own ancillary: ${(err as Error).message}`);
        }
        const ids = fds.map(identity);
        for (const f of fds) fs.closeSync(f);
        for (const [level, type, data] of out.value.ancillary) {
          if (level === SOL_SOCKET && type !== SCM_RIGHTS && type !== SCM_CREDENTIALS)
            c.fail(`recvmsg() returned a control message of type ${type} that fdsOf() does not look at (${data.length} bytes)`);
        }
        if (fd.value === self && sent !== null && m.valid) {
          const truncated = (out.value.flags & 8) !== 0;
          if (!truncated && (m.value.flags & 0x2000) === 0 && JSON.stringify(ids) !== JSON.stringify(sent.ids) && (m.value.flags & 2) === 0) {
            c.fail(`recvmsg() returned fds ${JSON.stringify(ids)}; ${JSON.stringify(sent.ids)} were sent`);
          }
        }
        return;
      }
      case 'rights': {
        const fds = c.build(a.fds, 'fds');
        const m = model.judge(() => model.fds(fds.model));
        const out = c.call('rights()', () => rights(fds.value as number[]));
        if (!m.valid) c.expectArgumentError('rights()', out, m.why);
        else c.expectNoArgumentError('rights()', out);
        if (out.ok && m.valid) {
          const [level, type, data] = out.value;
          const got = Array.from({ length: data.length / 4 }, (_, i) => data.readInt32LE(i * 4));
          if (level !== SOL_SOCKET || type !== SCM_RIGHTS || JSON.stringify(got) !== JSON.stringify(m.value))
            c.fail(`rights() made [${level}, ${type}, ${JSON.stringify(got)}] of ${JSON.stringify(m.value)}`);
        }
        return;
      }
      case 'fdsOf': {
        const anc = c.build(a.ancillary, 'ancillary');
        const m = model.judge(() =>
          model
            .array(anc.model, 'ancillary', 0xffff)
            .map((item, i) => {
              const parts = model.array(item, `ancillary[${i}]`, 0xffff);
              const [level, type, data] = parts;
              // Every item's level and type are int32s, carrying fds or not.
              if (!model.isInt(level, -(2 ** 31), 2 ** 31 - 1)) throw new model.Reject(`ancillary[${i}][0] is not an int32`);
              if (!model.isInt(type, -(2 ** 31), 2 ** 31 - 1)) throw new model.Reject(`ancillary[${i}][1] is not an int32`);
              if (!(data instanceof MView) || data.ctor !== 'Buffer') throw new model.Reject(`ancillary[${i}][2] is not a Buffer`);
              if (level !== SOL_SOCKET || type !== SCM_RIGHTS) return [];
              return Array.from({ length: Math.floor(data.bytes.length / 4) }, (_, k) => data.bytes.readInt32LE(k * 4));
            })
            .flat(),
        );
        const out = c.call('fdsOf()', () => fdsOf(anc.value as []));
        if (!m.valid) c.expectArgumentError('fdsOf()', out, m.why);
        else c.expectNoArgumentError('fdsOf()', out);
        if (out.ok && m.valid && JSON.stringify(out.value) !== JSON.stringify(m.value))
          c.fail(`fdsOf() gave ${JSON.stringify(out.value)}, not ${JSON.stringify(m.value)}`);
        return;
      }
      case 'socketpair': {
        const type = a.type === null ? null : c.build(a.type, 'type');
        const m = model.judge(() => model.socketType(type?.model, 'type', ['seqpacket', 'stream', 'dgram'], true));
        const out = c.call('socketpair()', () => (type === null ? lowlevel.socketpair() : lowlevel.socketpair(type.value as 'stream')));
        if (!m.valid) c.expectArgumentError('socketpair()', out, m.why);
        else c.expectNoArgumentError('socketpair()', out);
        if (out.ok) for (const f of out.value) lowlevel.close(f);
        return;
      }
      case 'close':
      case 'dup': {
        const fd = c.build(a.fd, 'fd');
        const m = model.judge(() => model.fd(fd.model, 'fd'));
        const out = c.call(`${a.fn}()`, () => (a.fn === 'close' ? lowlevel.close(fd.value as number) : lowlevel.dup(fd.value as number)));
        if (!m.valid) c.expectArgumentError(`${a.fn}()`, out, m.why);
        else c.expectNoArgumentError(`${a.fn}()`, out);
        if (out.ok && a.fn === 'dup') {
          const copy = out.value as number;
          if (identity(copy) !== identity(fd.value as number)) c.fail(`dup(${String(fd.value)}) returned fd ${copy}, which is another file`);
          lowlevel.close(copy);
        }
        if (out.ok && a.fn === 'close' && identity(fd.value as number) !== null) c.fail(`close(${String(fd.value)}) returned but the fd is still open`);
        return;
      }
      case 'errnoError': {
        const errno = c.build(a.errno, 'errno');
        const syscall = c.build(a.syscall, 'syscall');
        const address = a.address === null ? null : c.build(a.address, 'address');
        const m = model.judge(() => {
          if (typeof errno.model !== 'number' || !Number.isInteger(errno.model)) throw new model.Reject('errno is not an integer');
          if (typeof syscall.model !== 'string') throw new model.Reject('syscall is not a string');
          // A string or the raw bytes of a name (errnoError's signature: string | Uint8Array, a Buffer included).
          const raw = address?.model;
          const bytes = raw instanceof MView && (raw.ctor === 'Uint8Array' || raw.ctor === 'Buffer');
          if (address !== null && raw !== undefined && typeof raw !== 'string' && !bytes) throw new model.Reject('address is not a string or a Uint8Array');
        });
        const out = c.call('errnoError()', () =>
          address === null
            ? errnoError(errno.value as number, syscall.value as string)
            : errnoError(errno.value as number, syscall.value as string, address.value as string),
        );
        if (!m.valid) c.expectArgumentError('errnoError()', out, m.why);
        else c.expectNoArgumentError('errnoError()', out);
        if (out.ok) c.checkError('the error errnoError() made', out.value);
      }
    }
  },
});
