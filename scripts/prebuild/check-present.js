#!/usr/bin/env node
'use strict';
// `prepack` (npm pack, npm publish): refuses to pack a tarball without a
// current prebuilt addon for every architecture we promise, because such a
// tarball installs only where a compiler is, and fails at the first require()
// under --ignore-scripts. "Current" means built after the last change to the
// native sources (binding.gyp, src/native/).
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
// e_machine in the ELF header (offset 18, little-endian).
const ARCHES = { x64: 62, arm64: 183 };

function nativeSources(dir = path.join(root, 'src', 'native')) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return nativeSources(file);
    return entry.name.endsWith('.ts') ? [] : [file];
  });
}

const newest = [path.join(root, 'binding.gyp'), ...nativeSources()]
  .map((file) => ({ file, mtime: fs.statSync(file).mtimeMs }))
  .reduce((a, b) => (b.mtime > a.mtime ? b : a));

const problems = [];
for (const [arch, machine] of Object.entries(ARCHES)) {
  const dir = path.join(root, 'prebuilds', `linux-${arch}`);
  const binaries = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.node')) : [];
  if (binaries.length !== 1) {
    problems.push(`prebuilds/linux-${arch}/ has ${binaries.length ? binaries.join(', ') : 'no .node file'}`);
    continue;
  }
  const file = path.join(dir, binaries[0]);
  const header = fs.readFileSync(file).subarray(0, 20);
  if (header.toString('latin1', 0, 4) !== '\x7fELF' || header.readUInt16LE(18) !== machine) {
    problems.push(`${path.relative(root, file)} is not a linux-${arch} ELF file`);
  } else if (fs.statSync(file).mtimeMs < newest.mtime) {
    problems.push(`${path.relative(root, file)} is older than ${path.relative(root, newest.file)}`);
  }
}

if (problems.length) {
  console.error(
    `prepack: the tarball would ship without current prebuilt addons:\n  ${problems.join('\n  ')}\n` +
      'Run `npm run prebuild` first (it builds linux-x64 and linux-arm64, installing the arm64 cross compiler\n' +
      'with apt-get when it is missing).',
  );
  process.exit(1);
}
