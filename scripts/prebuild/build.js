#!/usr/bin/env node
'use strict';
// `npm run prebuild [-- x64 arm64]`: builds the prebuilt addons that the npm
// tarball ships, so that installing the package needs no compiler:
//
//   prebuilds/linux-x64/unix-message-socket.glibc.node
//   prebuilds/linux-arm64/unix-message-socket.glibc.node   (cross-compiled)
//
// One N-API build per architecture serves every Node version (prebuildify
// --napi). node-gyp-build loads them; the `glibc` tag keeps them from being
// picked on musl (Alpine), which then builds from source.
//
// Built to load on older distributions than this one: libstdc++ and libgcc
// are linked statically (a GCC 12 libstdc++.so would demand GLIBCXX_3.4.29),
// and glibc-compat.c stands in for the few glibc symbols newer than 2.28 that
// those static archives use. The result is checked with objdump -T: the build
// fails if a binary needs a glibc newer than GLIBC_BASELINE or any shared
// libstdc++/libgcc. 2.28 is what Node 20's own Linux binaries need, so a lower
// baseline would gain no user.
//
// Each architecture is built in a staging copy of exactly the files the
// tarball ships (npm pack's list), so the sources a user would build from are
// the ones proven to build, and the developer's own build/ is left alone.
// The cross compiler is installed with apt-get when it is missing (as root).
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { inspect, compareVersions } = require('./symbols');

const GLIBC_BASELINE = '2.28';
const root = path.join(__dirname, '..', '..');
const pkg = require(path.join(root, 'package.json'));

// What each architecture needs: GNU triple, Debian's cross compiler package,
// the ELF machine readelf reports, and the dynamic loader it may link.
const ARCHES = {
  x64: { triple: 'x86_64-linux-gnu', apt: 'g++-x86-64-linux-gnu', machine: 'Advanced Micro Devices X86-64', loader: 'ld-linux-x86-64.so.2' },
  arm64: { triple: 'aarch64-linux-gnu', apt: 'g++-aarch64-linux-gnu', machine: 'AArch64', loader: 'ld-linux-aarch64.so.1' },
};
// Libraries a prebuild may link dynamically: glibc's own.
const ALLOWED_NEEDED = ['libc.so.6', 'libm.so.6', 'libdl.so.2', 'libpthread.so.0', 'librt.so.1'];

function fail(message) {
  console.error(`prebuild: ${message}`);
  process.exit(1);
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...options });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
}

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v "$0"`, cmd], { stdio: 'ignore' }).status === 0;
}

/** The compiler, strip and objdump for one architecture, installing them if we can. */
function toolchain(arch) {
  const { triple, apt } = ARCHES[arch];
  if (arch === os.arch()) return { cc: 'gcc', cxx: 'g++', strip: 'strip', objdump: 'objdump' };
  const tools = { cc: `${triple}-gcc`, cxx: `${triple}-g++`, strip: `${triple}-strip`, objdump: `${triple}-objdump` };
  if (!onPath(tools.cxx)) {
    if (process.getuid?.() !== 0 || !onPath('apt-get')) {
      fail(`${tools.cxx} is missing: install ${apt} (Debian/Ubuntu), or run this as root where apt-get can`);
    }
    console.log(`prebuild: installing ${apt} with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    run('apt-get', ['update', '-qq'], { env });
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', apt], { env });
  }
  return tools;
}

/** node-gyp: the one npm runs scripts with, else a local one. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.env.npm_execpath ?? ''), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] }));
  } catch {}
  const found = candidates.find((file) => file && fs.existsSync(file));
  if (!found) fail('node-gyp not found: run this as `npm run prebuild`');
  return found;
}

/** The files `npm pack` would ship, minus the prebuilds and dist/ (the addon needs neither). */
function shippedSources() {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  return JSON.parse(out)[0]
    .files.map((f) => f.path)
    .filter((file) => !file.startsWith('prebuilds/') && !file.startsWith('dist/'));
}

function stage(arch, files) {
  // Inside node_modules so that binding.gyp's require()s (node-addon-api)
  // resolve from the project's own dependencies.
  const dir = path.join(root, 'node_modules', '.cache', 'prebuild', arch);
  fs.rmSync(dir, { recursive: true, force: true });
  for (const file of files) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.copyFileSync(path.join(root, file), path.join(dir, file));
  }
  return dir;
}

function build(arch, files) {
  const tools = toolchain(arch);
  const staging = stage(arch, files);
  const compat = path.join(staging, 'glibc-compat.o');
  run(tools.cc, ['-O2', '-fPIC', '-Wall', '-Wextra', '-Werror', '-c', path.join(__dirname, 'glibc-compat.c'), '-o', compat]);

  const env = {
    ...process.env,
    CC: tools.cc,
    CXX: tools.cxx,
    // --exclude-libs keeps this copy of libstdc++ to ourselves: none of its
    // symbols is exported to interpose on the one Node itself uses.
    // --gc-sections drops the parts of it nothing calls (x64: 352 -> 283 KiB).
    LDFLAGS: [process.env.LDFLAGS, '-static-libstdc++ -static-libgcc -Wl,--exclude-libs,ALL -Wl,--gc-sections', compat].filter(Boolean).join(' '),
    PREBUILD_STRIP_BIN: tools.strip,
    PREBUILD_NODE_GYP: nodeGyp(),
  };
  // Compile against this Node's headers when it has them (distribution and
  // nodesource packages do): node-gyp would otherwise download them.
  const prefix = process.config.variables.node_prefix;
  if (!env.npm_config_nodedir && prefix && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
    env.npm_config_nodedir = prefix;
  }
  const out = path.join(root, 'prebuilds', `linux-${arch}`);
  fs.rmSync(out, { recursive: true, force: true });
  run(
    process.execPath,
    [
      require.resolve('prebuildify/bin.js', { paths: [root] }),
      '--napi',
      '--strip',
      '--tag-libc',
      `--arch=${arch}`,
      `--target=node@${process.versions.node}`,
      `--out=${root}`,
      staging,
    ],
    { env },
  );

  const binaries = fs.readdirSync(out).filter((f) => f.endsWith('.node'));
  if (binaries.length !== 1) fail(`expected one .node file in ${out}, found ${binaries.join(', ') || 'none'}`);
  return check(arch, path.join(out, binaries[0]), tools);
}

/** Fails unless the binary is for `arch` and loads on glibc GLIBC_BASELINE without a shared libstdc++. */
function check(arch, file, tools) {
  const info = inspect(file, { objdump: onPath(tools.objdump) ? tools.objdump : 'objdump' });
  const problems = [];
  if (info.machine !== ARCHES[arch].machine) problems.push(`machine is ${info.machine}, not ${ARCHES[arch].machine}`);
  const extra = info.needed.filter((lib) => !ALLOWED_NEEDED.includes(lib) && lib !== ARCHES[arch].loader);
  if (extra.length) problems.push(`links ${extra.join(', ')} dynamically`);
  for (const prefix of ['GLIBCXX', 'CXXABI', 'GCC']) {
    if (info.needs[prefix]) problems.push(`needs ${prefix}_${info.newest[prefix]} (libstdc++/libgcc should be static)`);
  }
  for (const [version, symbols] of Object.entries(info.needs.GLIBC ?? {})) {
    if (compareVersions(version, GLIBC_BASELINE) > 0) problems.push(`needs GLIBC_${version} for ${symbols.join(', ')}`);
  }
  if (problems.length) fail(`${path.relative(root, file)}:\n  ${problems.join('\n  ')}`);
  return { arch, file: path.relative(root, file), size: fs.statSync(file).size, glibc: info.newest.GLIBC, needed: info.needed };
}

const wanted = process.argv.slice(2);
for (const arch of wanted) if (!ARCHES[arch]) fail(`unknown architecture ${arch} (known: ${Object.keys(ARCHES).join(', ')})`);
if (os.platform() !== 'linux' || os.arch() !== 'x64') fail('builds on linux-x64 hosts (it cross-compiles arm64 from there)');
if (pkg.name !== 'unix-message-socket') fail('run from the unix-message-socket checkout');

const files = shippedSources();
const results = (wanted.length ? wanted : Object.keys(ARCHES)).map((arch) => build(arch, files));
console.log('\nprebuild: built and checked (objdump -T):');
for (const r of results) {
  console.log(`  ${r.file}  ${(r.size / 1024).toFixed(0)} KiB  needs glibc >= ${r.glibc}, no libstdc++/libgcc_s (links ${r.needed.join(', ')})`);
}
