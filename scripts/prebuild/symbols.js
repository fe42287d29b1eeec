'use strict';
// Measures what a built .node file needs from the system: the libraries it
// links (readelf -d) and the symbol versions it asks them for (objdump -T:
// GLIBC_x, GLIBCXX_x, CXXABI_x, GCC_x). The prebuild script uses it to state,
// and enforce, the oldest glibc a prebuilt binary loads on.
const { execFileSync } = require('node:child_process');

/** Compares dotted versions numerically: '2.2.5' < '2.10'. */
function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * objdump: the cross binutils' own when there is one (the host's objdump may
 * not know the target's machine), else the host's.
 */
function inspect(file, { objdump = 'objdump' } = {}) {
  const dynamic = execFileSync(objdump, ['-T', file], { encoding: 'utf8' });
  const needed = [...execFileSync('readelf', ['-d', '-W', file], { encoding: 'utf8' }).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const machine = /Machine:\s+(.+)/.exec(execFileSync('readelf', ['-h', '-W', file], { encoding: 'utf8' }))?.[1].trim();
  // One line per dynamic symbol; the undefined ones (*UND*) are the needs:
  // "0000000000000000      DF *UND*  0000000000000000 (GLIBC_2.28) fcntl64"
  const needs = {}; // prefix -> { version -> [symbols] }
  for (const m of dynamic.matchAll(/\*UND\*\s+\S+\s+\(?(GLIBC|GLIBCXX|CXXABI|GCC)_([0-9.]+)\)?\s+(\S+)/g)) {
    const [, prefix, version, symbol] = m;
    ((needs[prefix] ??= {})[version] ??= []).push(symbol);
  }
  const newest = {};
  for (const [prefix, versions] of Object.entries(needs)) {
    newest[prefix] = Object.keys(versions).sort(compareVersions).pop();
  }
  return { file, machine, needed, needs, newest };
}

module.exports = { inspect, compareVersions };
