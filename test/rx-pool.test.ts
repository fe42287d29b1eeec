// fromPrimary(): a pool worker's requests and connections as observables.
import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createPool, type PrimaryChannel } from '../src/pool';
import { fromPrimary } from '../src/rx/index';
import { assertProbeClosed, closeAll, leakFree, probe, waitFor } from './helpers';

test(
  'a worker built on fromPrimary() answers requests, serves connections, and completes on close()',
  leakFree(async (t) => {
    const marker = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ums-rx-pool-')), 'done-');
    const pool = createPool({
      script: path.join(__dirname, 'fixtures', 'pool-rx-worker.js'),
      size: 2,
      execArgv: [],
      env: { ...process.env, RX_WORKER_DONE_FILE: marker },
    });
    await pool.ready();
    const pids = pool.workers.map((w) => w!.pid!);
    const p = probe();
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => pool.request({ data: `r${i}`, fds: i === 0 ? [p.fd] : [] })));
    closeAll([p.fd]);
    t.deepEqual(
      replies.map((r) => r.data.toString()),
      Array.from({ length: 10 }, (_, i) => `rx:r${i}`),
    );
    await assertProbeClosed(t, p);
    const { port } = await pool.serve({ port: 0 });
    const lines = await Promise.all(
      Array.from(
        { length: 10 },
        () =>
          new Promise<string>((resolve, reject) => {
            let got = '';
            net
              .connect(port, '127.0.0.1')
              .setEncoding('utf8')
              .on('data', (d: string) => (got += d))
              .on('end', () => resolve(got))
              .on('error', reject);
          }),
      ),
    );
    t.true(lines.every((l) => l === 'rx connection\n'));
    // A net.Socket's 'close' runs in the loop's close phase; the idle worker
    // must still send its DONE frame then, not at some unrelated wakeup.
    // The bound is the point: 2 s, not the generous default.
    await waitFor(() => pool.workers.every((w) => w!.outstanding === 0), 2000);
    t.deepEqual(
      pool.workers.map((w) => w!.outstanding),
      [0, 0],
      'every closed connection reported within 2 s',
    );
    await pool.close();
    for (const pid of pids) t.is(fs.readFileSync(marker + pid, 'utf8'), 'completed', `worker ${pid}: both observables completed on disconnect`);
    fs.rmSync(path.dirname(marker), { recursive: true });
  }),
);

test("fromPrimary() refuses an event or a channel that is not one with ERR_* codes, before it looks for the pool's channel", (t) => {
  const codeOf = (call: () => unknown): unknown => (t.throws(call) as Error & { code?: string }).code;
  t.is(
    codeOf(() => fromPrimary('nope' as 'message')),
    'ERR_INVALID_ARG_VALUE',
  );
  t.is(
    codeOf(() => fromPrimary(Symbol('e') as unknown as 'message')),
    'ERR_INVALID_ARG_VALUE',
  );
  t.is(
    codeOf(() => fromPrimary('message', {} as PrimaryChannel)),
    'ERR_INVALID_ARG_TYPE',
  );
  // Outside a pool worker, the default channel does not exist.
  t.is(
    codeOf(() => fromPrimary('message')),
    'ERR_POOL_NOT_A_WORKER',
  );
});
