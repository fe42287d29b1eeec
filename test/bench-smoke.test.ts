// A smoke run of the benchmark harness (bench/run.js --quick) on two
// workloads: it runs, it reports, the numbers are positive. No timing is
// asserted: benchmarks are never timed tests (issue 5).
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

interface Result {
  value?: number;
  na?: string;
  error?: string;
  sentFds?: number;
  receivedFds?: number;
}
interface Report {
  machine: { node: string; cpu: string };
  results: Array<{ w: { id: string; kind: string }; results: Record<string, Result> }>;
}

test('bench/run.js --quick measures ours and C on seqpacket 64 B and a ping-pong', (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ums-bench-smoke-'));
  try {
    const r = spawnSync(
      process.execPath,
      [path.join('bench', 'run.js'), '--quick', '--soak=0', '--no-install', '--impl=c-naive,ums', `--out=${out}`, '^(seqpacket-64B-1fd|ping-seqpacket-64B)$'],
      { cwd: process.cwd(), encoding: 'utf8', timeout: 50_000 },
    );
    t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'latest.json'), 'utf8')) as Report;
    t.is(report.machine.node, process.version);
    t.deepEqual(
      report.results.map((x) => x.w.id),
      ['seqpacket-64B-1fd', 'ping-seqpacket-64B'],
    );
    for (const x of report.results) {
      for (const key of ['c-naive', 'ums']) {
        const res = x.results[key];
        t.truthy(res, `${x.w.id} ${key} missing`);
        t.true((res?.value ?? 0) > 0, `${x.w.id} ${key}: ${JSON.stringify(res)}`);
      }
    }
    const fds = report.results[0]!.results.ums!;
    t.true((fds.receivedFds ?? 0) > 0);
    t.is(fds.receivedFds, fds.sentFds, 'every fd sent was received');
    const md = fs.readFileSync(path.join(out, 'latest.md'), 'utf8');
    t.regex(md, /seqpacket-64B-1fd/);
    t.regex(fs.readFileSync(path.join(out, 'ratios.svg'), 'utf8'), /^<svg /);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('bench/handoff/run.js --quick measures the pool, cluster and the C reference, and every rate is positive', (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ums-handoff-smoke-'));
  try {
    const r = spawnSync(process.execPath, [path.join('bench', 'handoff', 'run.js'), '--quick', '--connections=200', '--http-ms=300', `--out=${out}`], {
      cwd: process.cwd(),
      encoding: 'utf8',
      timeout: 60_000,
    });
    t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'handoff.json'), 'utf8')) as {
      handoff: Record<'c' | 'fds' | 'socket' | 'cluster', number>;
      http: Record<'pool' | 'cluster', { rps: number; failed: number }>;
    };
    for (const key of ['c', 'fds', 'socket', 'cluster'] as const) {
      t.true(report.handoff[key] > 0, `hand-off rate of ${key}: ${report.handoff[key]}`);
    }
    t.true(report.http.pool.rps > 0);
    t.true(report.http.cluster.rps > 0);
    t.regex(fs.readFileSync(path.join(out, 'handoff.md'), 'utf8'), /C reference/);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
