// Interop with CPython's socket.sendmsg (several buffers) and
// socket.recvmsg_into, and SO_PEERGROUPS of a Python peer: recvmsgInto(),
// the gathering sendmsg() and peerGroups() against another program's
// sendmsg(2)/recvmsg(2). Fixture: test/fixtures/py_msg_into.py.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { constants, fdsOf, lowlevel, recvmsgInto, rights, sendmsg, UnixMessageSocket } from '../src/index';
import { assertProbeClosed, closeAll, contentOf, fileWithContent, inodeOf, leakFree, probe, settled } from './helpers';

interface PyStep {
  step: string;
  bytes?: number;
  data?: string;
  files?: string[];
  buffers?: string[];
  contents?: string[];
  flags?: number;
  groups?: number[];
}

/** Runs the fixture in `mode` with `theirs` as its fd 3 (our copy closed); next() is its next JSON line. */
function python(t: ExecutionContext, mode: string, theirs: number): { next: () => Promise<PyStep>; exited: Promise<unknown[]> } {
  const child = spawn('python3', [path.join(__dirname, 'fixtures', 'py_msg_into.py'), mode], { stdio: ['ignore', 'pipe', 'inherit', theirs] });
  lowlevel.close(theirs);
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  });
  const exited = once(child, 'close');
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    exited,
    next: async () => {
      const r = await lines.next();
      if (r.done === true) throw new Error('python exited early');
      return JSON.parse(r.value) as PyStep;
    },
  };
}

test(
  "Python's socket.sendmsg with 4 buffers and 2 fds arrives byte for byte in recvmsgInto()'s buffers, the fds naming Python's files",
  leakFree(async (t) => {
    const [mine, theirs] = lowlevel.socketpair('seqpacket');
    const py = python(t, 'send', theirs);
    const sent = await py.next();
    t.is(sent.step, 'sent');
    const want = Buffer.from(sent.data!, 'hex');
    t.is(sent.bytes, want.length);

    // Scattered across three views of different kinds, one with an offset,
    // with sentinel bytes around it that must stay untouched.
    const head = Buffer.alloc(4);
    const backing = new Uint8Array(20).fill(0xee);
    const middle = new Uint16Array(backing.buffer, 2, 4); // 8 bytes at offset 2
    const tail = new DataView(new ArrayBuffer(400));
    const r = recvmsgInto(mine, [head, middle, tail]);
    t.is(r.bytes, want.length);
    t.is(r.flags & (constants.MSG_TRUNC | constants.MSG_CTRUNC), 0);
    const got = Buffer.concat([head, Buffer.from(middle.buffer, middle.byteOffset, middle.byteLength), Buffer.from(tail.buffer)]).subarray(0, r.bytes);
    t.true(got.equals(want), 'the bytes are those Python sent, in order');
    t.deepEqual([...backing.subarray(0, 2), ...backing.subarray(10)], new Array<number>(12).fill(0xee), 'nothing written outside the view');

    const fds = fdsOf(r.ancillary);
    t.deepEqual(fds.map(inodeOf), sent.files, "the fds name Python's files (dev:ino)");
    t.deepEqual(fds.map(contentOf), ['first file', 'second file']);
    closeAll(fds);
    t.deepEqual((await py.exited).slice(0, 1), [0]);
    lowlevel.close(mine);
  }),
);

test(
  "our gathering sendmsg() with 3 buffers and 2 fds fills Python's recvmsg_into buffers byte for byte, the fds naming our files",
  leakFree(async (t) => {
    const [mine, theirs] = lowlevel.socketpair('seqpacket');
    const py = python(t, 'recv', theirs);
    const files = [fileWithContent('node one'), fileWithContent('node two')];
    const p = probe();
    const parts = [Buffer.from('gath'), new Uint8Array([0, 1, 2, 255]), new Float64Array([Math.PI])];
    const want = Buffer.concat(parts.map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength)));
    t.is(sendmsg(mine, parts, [rights([...files, p.fd])]), want.length);
    const identities = [...files, p.fd].map(inodeOf);
    closeAll([...files, p.fd]);

    const got = await py.next();
    t.is(got.step, 'received');
    t.is(got.bytes, want.length);
    t.is(got.flags, 0);
    // Python's buffers are 5, 3 and 300 bytes: the message spans all three.
    const filled = Buffer.concat(got.buffers!.map((h) => Buffer.from(h, 'hex'))).subarray(0, got.bytes);
    t.true(filled.equals(want));
    t.is(got.buffers![0], want.subarray(0, 5).toString('hex'));
    t.is(got.buffers![1], want.subarray(5, 8).toString('hex'));
    t.deepEqual(got.files, identities, 'Python received our files (dev:ino)');
    t.deepEqual(got.contents, ['node one', 'node two'], 'Python read our files through them');
    t.deepEqual((await py.exited).slice(0, 1), [0]);
    await assertProbeClosed(t, p);
    lowlevel.close(mine);
  }),
);

test(
  'peerGroups() is SO_PEERGROUPS: the supplementary groups of the Python process that made the socketpair',
  leakFree(async (t) => {
    const [mine, theirs] = lowlevel.socketpair('seqpacket');
    const py = python(t, 'groups', theirs);
    const report = await py.next();
    t.is(report.step, 'groups');
    // Sent before the report was printed: it is queued.
    const m = recvmsgInto(mine, [Buffer.alloc(16)]);
    t.is(m.bytes, 4);
    const [pairEnd] = fdsOf(m.ancillary);
    const socket = UnixMessageSocket.fromFd(pairEnd!);
    const groups = socket.peerGroups();
    t.deepEqual(
      [...groups].sort((a, b) => a - b),
      [...report.groups!].sort((a, b) => a - b),
    );
    if (process.getuid?.() === 0)
      t.deepEqual(
        groups,
        Array.from({ length: 70 }, (_, i) => 4242 + i),
        'the 70 groups the child set (root only): more than the first read has room for',
      );
    const raw = lowlevel.getsockopt(socket.fd, constants.SOL_SOCKET, constants.SO_PEERGROUPS, 4 * groups.length);
    t.deepEqual([...new Uint32Array(raw.buffer, raw.byteOffset, groups.length)], groups, 'the same gid_t array through getsockopt(fd, level, name, length)');
    socket.destroy();
    await settled(socket);
    t.deepEqual((await py.exited).slice(0, 1), [0]);
    lowlevel.close(mine);
  }),
);
