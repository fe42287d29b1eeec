#!/usr/bin/env node
'use strict';
// `npm run test:asan`: the whole ava suite on the addon built with
// AddressSanitizer (and LeakSanitizer) and UBSan, failing on any report.
//
//   npm run test:asan                        the whole suite (but install.test.ts)
//   npm run test:asan -- test/fds.test.ts    some files (ava's arguments)
//
// This file owns the run: the sanitized build, the environment every process
// of the suite inherits, and the verdict. docs/asan.md says how to read a
// report and why each suppression in scripts/asan/ is there.
//
// The build goes to node_modules/.cache/asan/build/Release, never to
// build/Release: the normal suite and users keep the normal addon. The test
// processes find it through node-gyp-build's own override,
// UNIX_MESSAGE_SOCKET_PREBUILD (node-gyp-build reads <NAME>_PREBUILD, NAME
// being package.json's name, and looks for build/Release there first): no hook
// of ours in src/native/binding.ts, and nothing a production process could
// trigger that node-gyp-build does not already offer. Everything travels in
// the environment, so children spawned by tests (fixtures, pool workers, `node
// -e` drivers) run the sanitized addon under the sanitizers too;
// scripts/asan/record-addon.js (preloaded through NODE_OPTIONS) records which
// addon each Node process had mapped, and the run fails if any had the normal
// one.
//
// Node itself is not instrumented: libasan is LD_PRELOADed (it must be the
// first library loaded), so its malloc and interceptors serve the whole
// process. Every process writes its reports to <log dir>/asan.<pid> or
// ubsan.<pid> (log_path); LeakSanitizer also lists the suppressions that
// matched (print_suppressions). The run fails on any report that is not a
// suppressed leak, on a sanitizer message it does not recognise, and on a
// failing suite.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const here = path.join(__dirname, 'asan');
const buildDir = path.join(root, 'node_modules', '.cache', 'asan');
const ADDON = 'unix_message_socket.node';
const started = Date.now();

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...options });
  if (r.error) throw r.error;
  return r.status ?? 128 + (os.constants.signals[r.signal] ?? 0);
}

function must(cmd, args, options) {
  const status = run(cmd, args, options);
  if (status !== 0) {
    console.error(`test:asan: \`${cmd} ${args.join(' ')}\` failed (${status})`);
    process.exit(1);
  }
}

/** A runtime library of g++'s, or null when g++ does not ship it. */
function gccLibrary(name) {
  const r = spawnSync('g++', [`-print-file-name=${name}`], { encoding: 'utf8' });
  const file = r.status === 0 ? r.stdout.trim() : '';
  // g++ echoes a bare name back when it has no such file.
  return path.isAbsolute(file) && fs.existsSync(file) ? fs.realpathSync(file) : null;
}

// 1. The sanitized addon. binding.gyp is copied (its source paths are
// relative) and src/ is linked, so the build always compiles the worktree's
// sources. node-gyp appends CFLAGS/CXXFLAGS/LDFLAGS from the environment after
// binding.gyp's own flags, so -O1 wins over the Release -O3. UBSan is
// recoverable on purpose: every report is logged, the run goes on to collect
// the others, and any report fails the run below (-fno-sanitize-recover would
// stop each process at its first report, as a crash, hiding the rest).
const libasan = gccLibrary('libasan.so');
if (libasan === null || gccLibrary('libubsan.a') === null) {
  console.error('test:asan: g++ lacks libasan.so or libubsan.a (Debian: apt-get install libgcc-12-dev, for g++ 12)');
  process.exit(1);
}
must('npm', ['run', 'build:ts']);
fs.mkdirSync(buildDir, { recursive: true });
fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(buildDir, 'binding.gyp'));
const srcLink = path.join(buildDir, 'src');
try {
  fs.unlinkSync(srcLink); // the link of the last run; unlink never follows it
} catch (err) {
  if (err.code !== 'ENOENT') throw err;
}
fs.symlinkSync(path.relative(buildDir, path.join(root, 'src')), srcLink);
const sanitize = '-fsanitize=address,undefined -fno-omit-frame-pointer -g -O1';
// UBSan's runtime is linked into the addon, its symbols hidden: a shared
// libubsan would call __sanitizer_set_report_path through the PLT, reach
// libasan's copy (preloaded, so first in symbol lookup), and keep writing its
// own reports to stderr, which tests capture (a fixture's stderr) and the
// run would never see.
const link = '-fsanitize=address,undefined -static-libubsan -Wl,--exclude-libs,libubsan.a';
must('npm', ['run', 'build:native', '--', `--directory=${buildDir}`, '--jobs=max'], {
  env: { ...process.env, CFLAGS: sanitize, CXXFLAGS: sanitize, LDFLAGS: link },
});
const sanitizedAddon = path.join(buildDir, 'build', 'Release', ADDON);
if (!fs.existsSync(sanitizedAddon)) {
  console.error(`test:asan: the build left no ${sanitizedAddon}`);
  process.exit(1);
}
const sanitizedReal = fs.realpathSync(sanitizedAddon);

// The C reference programs that test/bench-smoke.test.ts runs, compiled now
// and without the sanitizers (bench/c/compile.js keeps them until their
// sources change): the toolchain is not under test, and with libasan
// preloaded gcc, cc1, as and ld each report leaks at exit, some from a plugin
// already unloaded (an "<unknown module>" frame that no suppression can name).
const { compileC } = require(path.join(root, 'bench', 'c', 'compile.js'));
compileC(
  fs
    .readdirSync(path.join(root, 'bench', 'c'))
    .filter((f) => f.endsWith('.c'))
    .map((f) => f.slice(0, -2)),
);

// 2. The suite, with every process under the sanitizers.
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'unix-message-socket-asan-'));
// Children that drop privileges (setpriv) still write their reports here.
fs.chmodSync(logDir, 0o1777);
const asanOptions = [
  `log_path=${logDir}/asan`,
  'detect_leaks=1',
  // Fake stack frames for our instrumented functions only: a pointer to a
  // local that outlives its call is reported instead of read.
  'detect_stack_use_after_return=1',
];
const lsanOptions = [`suppressions=${path.join(here, 'lsan.supp')}`, 'print_suppressions=1'];
const ubsanOptions = [`log_path=${logDir}/ubsan`, 'print_stacktrace=1', 'report_error_type=1', 'halt_on_error=0'];
const preload = process.env.LD_PRELOAD ? `${libasan}:${process.env.LD_PRELOAD}` : libasan;
const env = {
  ...process.env,
  UNIX_MESSAGE_SOCKET_PREBUILD: buildDir,
  UNIX_MESSAGE_SOCKET_ASAN_LOG: logDir,
  LD_PRELOAD: preload,
  ASAN_OPTIONS: asanOptions.join(':'),
  LSAN_OPTIONS: lsanOptions.join(':'),
  UBSAN_OPTIONS: ubsanOptions.join(':'),
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${JSON.stringify(path.join(here, 'record-addon.js'))}`.trim(),
};
console.log(`test:asan: addon ${path.relative(root, sanitizedAddon)}, LD_PRELOAD=${preload}, reports in ${logDir}`);
const suiteStarted = Date.now();
// Without arguments: every test file but the consumer-install test, which
// packs the tarball (rebuilding dist/ under the suite's feet) and runs npm
// and tsc: packaging, which a sanitized addon does not change.
const files =
  process.argv.length > 2
    ? process.argv.slice(2)
    : fs
        .readdirSync(path.join(root, 'test'))
        .filter((f) => f.endsWith('.test.ts') && f !== 'install.test.ts')
        .map((f) => path.join('test', f));
const avaStatus = run(process.execPath, [path.join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs'), '--serial', ...files], { env });
const suiteSeconds = Math.round((Date.now() - suiteStarted) / 1000);

// 3. The verdict.
const problems = [];
const processes = [];
const reports = [];
const suppressed = new Map();
for (const name of fs.readdirSync(logDir).sort()) {
  const file = path.join(logDir, name);
  const text = fs.readFileSync(file, 'utf8');
  if (name.startsWith('process.')) {
    processes.push(JSON.parse(text));
    continue;
  }
  // LeakSanitizer's list of matched suppressions: "  <count> <bytes> <pattern>".
  const rest = text.replace(/-+\nSuppressions used:\n\s*count\s+bytes\s+template\n((?:\s*\d+\s+\d+\s+\S.*\n)*)-+\n?/g, (_, lines) => {
    for (const line of lines.trim().split('\n')) {
      const [, count, bytes, pattern] = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line);
      const s = suppressed.get(pattern) ?? { count: 0, bytes: 0, processes: 0 };
      s.count += Number(count);
      s.bytes += Number(bytes);
      s.processes += 1;
      suppressed.set(pattern, s);
    }
    return '';
  });
  if (rest.trim() !== '') reports.push({ name, text: rest.trim(), ours: rest.includes(ADDON) || rest.includes('src/native/') });
}

const withAddon = processes.filter((p) => p.addons.length > 0);
const unsanitized = withAddon.filter((p) => p.addons.some((a) => a !== sanitizedReal));
for (const p of unsanitized) problems.push(`process ${p.pid} (${p.argv.slice(1).join(' ')}) loaded ${p.addons.join(', ')}`);
if (withAddon.length === 0) problems.push('no process loaded the sanitized addon');
for (const r of reports) {
  console.log(`\n===== ${r.name}${r.ours ? ' (mentions our code)' : ''} =====\n${r.text}`);
  problems.push(`${r.name}: ${r.text.split('\n').find((l) => /ERROR|runtime error|WARNING/.test(l)) ?? r.text.split('\n')[0]}`);
}
if (avaStatus !== 0) problems.push(`the suite failed (ava exited with ${avaStatus})`);

console.log('\ntest:asan summary');
console.log(`  suite: ${suiteSeconds} s; whole run: ${Math.round((Date.now() - started) / 1000)} s`);
console.log(`  Node processes that exited normally: ${processes.length}; loaded the addon: ${withAddon.length}, all sanitized: ${unsanitized.length === 0}`);
const logged = new Set(
  fs
    .readdirSync(logDir)
    .filter((n) => /^(asan|ubsan)\.\d+$/.test(n))
    .map((n) => n.split('.')[1]),
);
const recorded = new Set(processes.map((p) => String(p.pid)));
console.log(`  processes with sanitizer output: ${logged.size} (${[...logged].filter((pid) => !recorded.has(pid)).length} not Node, or killed)`);
console.log(`  reports: ${reports.length} (${reports.filter((r) => r.ours).length} mention our code)`);
console.log(`  suppressed leaks (scripts/asan/lsan.supp):${suppressed.size === 0 ? ' none' : ''}`);
for (const [pattern, s] of [...suppressed].sort((a, b) => b[1].count - a[1].count)) {
  console.log(`    ${String(s.count).padStart(6)} leaks, ${String(s.bytes).padStart(9)} bytes, in ${String(s.processes).padStart(4)} processes: ${pattern}`);
}
if (problems.length > 0) {
  console.log(`\ntest:asan FAILED (logs kept in ${logDir}):`);
  for (const p of problems) console.log(`  - ${p}`);
  process.exit(1);
}
fs.rmSync(logDir, { recursive: true, force: true });
console.log('\ntest:asan passed: zero reports');
