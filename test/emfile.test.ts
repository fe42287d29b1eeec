// EMFILE at the receiver (kernel-semantics.md §1.4, §5 fault case 2): recvmsg
// still returns the data, installs the fds that fit, closes the rest and sets
// MSG_CTRUNC. The receiver is a child process under `ulimit -n 64`
// (test/fixtures/emfile-child.js) that reports each step as a JSON line.
import test from 'ava';
import fs from 'node:fs';
import { lowlevel, UnixMessageSocket, type SocketType } from '../src/index';
import { assertFdsBack, assertProbeClosed, closeAll, fdCount, fileWithContent, probe, settled, stepChild } from './helpers';

interface ChildReport {
  step: 'filled' | 'truncated' | 'freed' | 'message' | 'end' | 'error';
  fillers?: number;
  data?: string;
  truncated?: boolean;
  fdsTruncated?: boolean;
  nfds?: number;
  fds?: string[];
  message?: string;
}

for (const type of ['seqpacket', 'stream'] as const satisfies readonly SocketType[]) {
  test(`${type}: a receiver at EMFILE gets the data with fdsTruncated, the fds that did not fit are closed, and later messages arrive intact`, async (t) => {
    const base = fdCount();
    const [mine, theirs] = lowlevel.socketpair(type);
    const socket = UnixMessageSocket.fromFd(mine);
    const { next, exited } = stepChild<ChildReport>(t, 'sh', ['-c', 'ulimit -n 64 && exec "$0" test/fixtures/emfile-child.js', process.execPath], theirs);

    const filled = await next();
    t.is(filled.step, 'filled');
    t.true((filled.fillers ?? 0) > 0, 'the child filled its fd table');

    const probes = [probe(), probe(), probe(), probe()];
    socket.write({ data: 'four fds', fds: probes.map((p) => p.fd) });
    for (const p of probes) fs.closeSync(p.fd);

    const truncated = await next();
    t.is(truncated.step, 'truncated');
    t.is(truncated.data, 'four fds', 'the data is intact');
    t.false(truncated.truncated);
    t.true(truncated.fdsTruncated, 'the message is flagged fdsTruncated');
    t.true((truncated.nfds ?? Infinity) <= 1, `at most one fd installed (got ${String(truncated.nfds)})`);

    t.is((await next()).step, 'freed');
    // The child closed what it got; the kernel closed the rest.
    for (const p of probes) await assertProbeClosed(t, p);

    const later = probe();
    const files = [fileWithContent('emfile-a'), fileWithContent('emfile-b'), fileWithContent('emfile-c')];
    socket.write({ data: 'after-1', fds: [...files, later.fd] });
    closeAll([...files, later.fd]);
    const m1 = await next();
    t.like(m1, { step: 'message', data: 'after-1', truncated: false, fdsTruncated: false });
    t.deepEqual(m1.fds, ['emfile-a', 'emfile-b', 'emfile-c', 'socket']);

    const last = fileWithContent('emfile-d');
    socket.write({ data: 'after-2', fds: [last] });
    fs.closeSync(last);
    const m2 = await next();
    t.like(m2, { step: 'message', data: 'after-2', truncated: false, fdsTruncated: false });
    t.deepEqual(m2.fds, ['emfile-d']);

    socket.end();
    t.is((await next()).step, 'end');
    const [code, signal] = await exited;
    t.is(code, 0);
    t.is(signal, null);
    socket.destroy();
    if (!socket.closed) await settled(socket);
    await assertProbeClosed(t, later);
    await assertFdsBack(t, base);
  });
}
