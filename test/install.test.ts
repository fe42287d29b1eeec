// The package as a user gets it: `npm pack`, then `npm install` of the tarball
// into an empty project whose PATH holds only node, npm and sh (no compiler,
// make or python), once as usual and once with --ignore-scripts. In both, the
// main entry, /rx, /pool and /systemd load by CJS require() and ESM import, from the
// prebuilt addon, and an fd goes through a socket pair. publint and
// @arethetypeswrong/cli check the same tarball.
//
// Needs the prebuilds (`npm run prebuild`); without them it skips and says
// why, except under CI, where their absence is a failure.
import test from 'ava';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  devDependencies: Record<string, string>;
};
const binary = (arch: string): string => path.join('prebuilds', `linux-${arch}`, `${pkg.name}.glibc.node`);

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}
function run(cmd: string, args: string[], options: SpawnSyncOptions = {}): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, ...options });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) + (r.error ? String(r.error) : '') };
}

// prepack's own check: a current prebuild for each architecture.
const present = run(process.execPath, [path.join(root, 'scripts', 'prebuild', 'check-present.js')]);
const skipReason = present.status === 0 ? '' : present.stderr.trim();
if (skipReason && process.env.CI) throw new Error(`CI must run \`npm run prebuild\` before the tests:\n${skipReason}`);
const maybe = skipReason ? test.serial.skip : test.serial;
if (skipReason) console.log(`install.test.ts skipped: ${skipReason}`);

// A PATH with node, npm and sh only (in `bin`); the environment of a user's
// shell, not of the npm script running these tests (no npm_* variables).
let work = '';
let bin = '';
function which(cmd: string): string {
  const r = run('sh', ['-c', 'command -v "$0"', cmd]);
  if (r.status !== 0) throw new Error(`${cmd} is not on PATH`);
  return fs.realpathSync(r.stdout.trim());
}
const env: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) && !['INIT_CWD', 'PREBUILDS_ONLY', 'NODE_OPTIONS'].includes(key)),
);

test.before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ums-install-'));
  bin = path.join(work, 'bin');
  env.PATH = bin;
});
test.after.always(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

let tarball = '';

maybe('npm pack makes a tarball holding both prebuilds, the types, the native sources and no source maps', (t) => {
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  fs.symlinkSync(which('npm'), path.join(bin, 'npm'));
  fs.symlinkSync(which('sh'), path.join(bin, 'sh'));
  for (const tool of ['cc', 'gcc', 'g++', 'c++', 'make', 'python3', 'python']) {
    t.not(run('sh', ['-c', 'command -v "$0"', tool], { env }).status, 0, `${tool} must not be on the consumer's PATH`);
  }

  // The real `npm pack`: prepack (the prebuild check) and prepare (dist/) run.
  const packed = run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root });
  t.is(packed.status, 0, packed.stderr);
  tarball = path.join(work, `${pkg.name}-${pkg.version}.tgz`);
  const listing = run('tar', ['tzf', tarball]);
  const files = listing.stdout
    .trim()
    .split('\n')
    .map((f) => f.replace(/^package\//, ''));
  for (const file of [
    binary('x64'),
    binary('arm64'),
    'dist/index.js',
    'dist/index.d.ts',
    'dist/rx/index.d.ts',
    'dist/pool/index.d.ts',
    'dist/systemd/index.d.ts',
    'binding.gyp',
    'LICENSE',
    'README.md',
    'CHANGELOG.md',
  ]) {
    t.true(files.includes(file), `${file} is in the tarball`);
  }
  t.true(
    files.some((f) => /^src\/native\/.*\.cc$/.test(f)),
    'the native sources are in the tarball (the source-build fallback)',
  );
  t.deepEqual(
    files.filter((f) => f.endsWith('.map') || (f.endsWith('.ts') && !f.endsWith('.d.ts'))),
    [],
    'no source maps and no TypeScript sources',
  );
  t.log(`${path.basename(tarball)}: ${(fs.statSync(tarball).size / 1024).toFixed(0)} KiB, ${files.length} files`);
});

// Loads every entry point, sends an fd with the main entry, receives it with
// /rx, and reports which addon file was loaded.
const probe = (imports: string): string => `${imports}
const self = fileURLToPath(import.meta.url);
const pkgDir = dirname(createRequire(import.meta.url).resolve('unix-message-socket/package.json'));
const addon = createRequire(pkgDir + '/').resolve('node-gyp-build');
const [a, b] = socketPair();
const fd = fs.openSync(self, 'r');
a.write({ data: 'ping', fds: [fd] });
fs.closeSync(fd);
const m = await firstValueFrom(fromSocket(b));
const same = fs.readFileSync(m.fds[0], 'utf8') === fs.readFileSync(self, 'utf8');
fs.closeSync(m.fds[0]);
a.destroy();
console.log(JSON.stringify({
  data: m.data.toString(), fds: m.fds.length, same,
  addon: relative(pkgDir, createRequire(pkgDir + '/')(addon).resolve(pkgDir)),
  pool: [typeof createPool, typeof connectToPrimary, isPoolWorker()],
  systemd: [typeof notify, listenFds().length],
}));
`;
const ESM = probe(`import fs from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstValueFrom } from 'rxjs';
import { socketPair } from 'unix-message-socket';
import { fromSocket } from 'unix-message-socket/rx';
import { createPool, connectToPrimary, isPoolWorker } from 'unix-message-socket/pool';
import { listenFds, notify } from 'unix-message-socket/systemd';`);
// The same through require(), in a CommonJS file (top-level await needs an
// async function there).
const CJS = `const fs = require('node:fs');
const { createRequire } = require('node:module');
const { dirname, relative } = require('node:path');
const { pathToFileURL, fileURLToPath } = require('node:url');
const { firstValueFrom } = require('rxjs');
const { socketPair } = require('unix-message-socket');
const { fromSocket } = require('unix-message-socket/rx');
const { createPool, connectToPrimary, isPoolWorker } = require('unix-message-socket/pool');
const { listenFds, notify } = require('unix-message-socket/systemd');
const main = async (meta) => {
${ESM.slice(ESM.indexOf('const self'))}};
main({ url: pathToFileURL(__filename).href });
`.replace(/import\.meta\.url/g, 'meta.url');

for (const mode of ['scripts', 'ignore-scripts'] as const) {
  maybe(
    `installed ${mode === 'scripts' ? 'as usual' : 'with --ignore-scripts'} where there is no compiler: CJS and ESM load every entry point from the prebuild and pass an fd`,
    (t) => {
      t.truthy(tarball, 'the tarball was packed');
      const project = path.join(work, mode);
      fs.mkdirSync(project);
      fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
      const flags = ['--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts'];
      if (mode === 'ignore-scripts') flags.push('--ignore-scripts');
      const installed = run('npm', ['install', tarball, `rxjs@${pkg.devDependencies.rxjs}`, ...flags], { cwd: project, env });
      t.is(installed.status, 0, installed.stdout + installed.stderr);
      // npm prints "> unix-message-socket@0.1.0 install" when it runs the
      // install script (node-gyp-build: it finds the prebuild loadable and
      // builds nothing).
      t.is(installed.stdout.includes(`${pkg.name}@${pkg.version} install`), mode === 'scripts', installed.stdout);
      const installedDir = path.join(project, 'node_modules', pkg.name);
      t.false(fs.existsSync(path.join(installedDir, 'build')), 'nothing was compiled');

      fs.writeFileSync(path.join(project, 'probe.cjs'), CJS);
      fs.writeFileSync(path.join(project, 'probe.mjs'), ESM);
      for (const file of ['probe.cjs', 'probe.mjs']) {
        const r = run('node', [file], { cwd: project, env, timeout: 20_000 });
        t.is(r.status, 0, `${file}: ${r.stderr}`);
        t.deepEqual(
          JSON.parse(r.stdout || '{}'),
          {
            data: 'ping',
            fds: 1,
            same: true,
            addon: binary(os.arch()),
            pool: ['function', 'function', false],
            systemd: ['function', 0],
          },
          file,
        );
      }
    },
  );
}

maybe('publint finds nothing to report in the tarball', (t) => {
  t.truthy(tarball, 'the tarball was packed');
  const r = run(process.execPath, [path.join(root, 'node_modules', 'publint', 'src', 'cli.js'), 'run', tarball, '--strict']);
  t.is(r.status, 0, r.stdout + r.stderr);
  // Suggestions do not change the exit status; they count here too.
  t.regex(r.stdout, /All good!/, r.stdout);
});

maybe('@arethetypeswrong/cli finds no problem in the tarball under any resolution, node10 included', (t) => {
  t.truthy(tarball, 'the tarball was packed');
  // node10 (moduleResolution "node") ignores the exports map: the /rx,
  // /pool and /systemd types resolve there through typesVersions.
  const r = run(process.execPath, [path.join(root, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js'), tarball, '--format', 'json']);
  t.is(r.status, 0, r.stdout + r.stderr);
  const { analysis } = JSON.parse(r.stdout) as { analysis: { problems: Array<Record<string, string>> } };
  t.deepEqual(analysis.problems, []);
});
