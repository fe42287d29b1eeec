// Interop with CPython's socket.send_fds / socket.recv_fds (Python 3.9+): the
// wire format is plain SCM_RIGHTS, so either side can be the other program.
// Fixtures: test/fixtures/py_recv_fds.py, test/fixtures/py_send_fds.py.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { lowlevel, UnixMessageSocket, type SocketType, type UnixMessage } from '../src/index';
import { assertProbeClosed, closeAll, contentOf, fileWithContent, leakFree, probe, readable, settled } from './helpers';

const FIXTURES = path.join(__dirname, 'fixtures');
const TYPES = ['seqpacket', 'stream'] as const satisfies readonly SocketType[];

/** Reads messages (paused mode) until `bytes` bytes and `nfds` fds have arrived. */
async function readUntil(socket: UnixMessageSocket, bytes: number, nfds: number): Promise<UnixMessage[]> {
  const out: UnixMessage[] = [];
  let total = 0;
  let fds = 0;
  while (total < bytes || fds < nfds) {
    const m = socket.read();
    if (m === null) {
      if (socket.readableEnded || socket.destroyed) break;
      await readable(socket);
      continue;
    }
    out.push(m);
    total += m.data.length;
    fds += m.fds.length;
  }
  return out;
}

interface Child {
  process: ChildProcess;
  stdout: Readable;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/** Runs a Python fixture with `theirs` as its fd 3, and closes our copy of `theirs`. */
function python(t: { teardown(fn: () => void): void }, script: string, args: string[], theirs: number): Child {
  const child = spawn('python3', [path.join(FIXTURES, script), ...args], {
    stdio: ['ignore', 'pipe', 'inherit', theirs],
  });
  lowlevel.close(theirs);
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  });
  const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  if (child.stdout === null) throw new Error('no stdout pipe');
  return { process: child, stdout: child.stdout, exited };
}

interface PythonReceived {
  data: string;
  fds: string[];
  ctrunc: boolean;
}

for (const type of TYPES) {
  test(
    `${type}: a Python child receives data and 2 fds sent by a UnixMessageSocket and reads the files through them`,
    leakFree(async (t) => {
      const [mine, theirs] = lowlevel.socketpair(type);
      const socket = UnixMessageSocket.fromFd(mine);
      const child = python(t, 'py_recv_fds.py', ['9:2', '5:1'], theirs);
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
      });

      const files = [fileWithContent('alpha from node'), fileWithContent('beta from node')];
      socket.write({ data: 'two files', fds: files });
      closeAll(files);
      const p = probe();
      socket.write({ data: 'probe', fds: [p.fd] });
      fs.closeSync(p.fd);

      const [code] = await child.exited;
      t.is(code, 0, 'python exited cleanly');
      const received = JSON.parse(stdout) as PythonReceived[];
      t.deepEqual(received, [
        { data: 'two files', fds: ['alpha from node', 'beta from node'], ctrunc: false },
        { data: 'probe', fds: ['socket'], ctrunc: false },
      ]);
      socket.destroy();
      if (!socket.closed) await settled(socket);
      // Python closed the fds it got: no copy survives anywhere.
      await assertProbeClosed(t, p);
    }),
  );

  test(
    `${type}: data and fds sent by Python's socket.send_fds arrive at a UnixMessageSocket`,
    leakFree(async (t) => {
      const [mine, theirs] = lowlevel.socketpair(type);
      const socket = UnixMessageSocket.fromFd(mine);
      const child = python(t, 'py_send_fds.py', [], theirs);
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      const report = async (): Promise<{ step: string; result?: string }> => {
        const r = await lines.next();
        if (r.done === true) throw new Error('python exited early');
        return JSON.parse(r.value) as { step: string; result?: string };
      };

      const messages = await readUntil(socket, 'from python'.length + 'probe'.length, 3);
      let files: number[];
      let peer: number[];
      if (type === 'stream') {
        // fds come with the read holding their write's first byte, and one read
        // never carries the fds of two writes.
        const withFds = messages.filter((m) => m.fds.length > 0);
        t.deepEqual(
          withFds.map((m) => m.fds.length),
          [2, 1],
        );
        t.is(Buffer.concat(messages.map((m) => m.data)).toString(), 'from pythonprobe');
        files = withFds[0]!.fds;
        peer = withFds[1]!.fds;
      } else {
        t.is(messages.length, 2);
        t.deepEqual(
          messages.map((m) => m.data.toString()),
          ['from python', 'probe'],
        );
        files = messages[0]!.fds;
        peer = messages[1]!.fds;
      }
      t.false(messages.some((m) => m.fdsTruncated || m.truncated));
      t.deepEqual(files.map(contentOf), ['py-one', 'py-two']);
      t.is(peer.length, 1);
      t.true(fs.fstatSync(peer[0]!).isSocket());
      t.is((await report()).step, 'sent');
      closeAll(files);
      closeAll(peer);
      t.deepEqual(await report(), { step: 'probe', result: 'eof' }, 'python sees EOF once we close the fd it sent');
      const [code] = await child.exited;
      t.is(code, 0, 'python exited cleanly');
      socket.destroy();
      if (!socket.closed) await settled(socket);
    }),
  );
}
