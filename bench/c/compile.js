'use strict';
// Compiles the C reference programs (bench/c/*.c) into bench/build
// (gitignored) with the system compiler, when their sources changed. Shared
// by bench/run.js and bench/handoff/run.js.
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const BUILD = path.join(__dirname, '..', 'build');

/** Returns the compiler's version line; throws if a program does not compile. */
function compileC(programs) {
  fs.mkdirSync(BUILD, { recursive: true });
  const cc = process.env.CC || 'cc';
  const header = path.join(__dirname, 'common.h');
  for (const prog of programs) {
    const src = path.join(__dirname, `${prog}.c`);
    const bin = path.join(BUILD, prog);
    const stale = !fs.existsSync(bin) || [src, header].some((f) => fs.statSync(f).mtimeMs > fs.statSync(bin).mtimeMs);
    if (!stale) continue;
    const r = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-o', bin, src], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${cc} failed to compile ${src}`);
  }
  try {
    return execFileSync(cc, ['--version'], { encoding: 'utf8' }).split('\n')[0];
  } catch {
    return '';
  }
}

module.exports = { BUILD, compileC };
