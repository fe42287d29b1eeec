// A fuzz child process: runs a batch of cases (JSON on stdin) one after
// the other and prints a JSON line as each starts and ends, so that the
// parent can name the case a crash happened in. Around each case it checks
// what no single target can: the fd count is back at its baseline, the zoo's
// fds still name their files, and no exception or rejection escaped.
import fs from 'node:fs';
import { isTrap } from './materialize';
import { FuzzCase, fdCount, openFdList, sleep, tick } from './case';
import { SETUP_FAILED, type ChildInput, type ChildLine } from './protocol';
import { targets } from './targets/index';
import { Zoo } from './zoo';

function say(line: ChildLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

let current: FuzzCase | null = null;
const orphans: string[] = [];

function escaped(kind: string, err: unknown): void {
  // An exception of the fuzzer's own callbacks is the caller's, thrown where
  // Node throws a callback's exception; anything else escaped the library.
  if (isTrap(err) && err.where.endsWith(' called')) return;
  const text = `${kind}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
  if (current !== null) current.fail(text);
  else orphans.push(text);
}

process.on('uncaughtException', (err) => escaped('uncaught exception', err));
process.on('unhandledRejection', (err) => escaped('unhandled rejection', err));

// An fd the environment left open and not close-on-exec (a shell keeps 255,
// some runners 251) reaches this process too. A recipe's raw fd number can
// name it, and an ownership-taking call (closeFds, transfer) then closes it
// as told, which the fd-count check would blame on the library. Node's own
// fds are all low numbers.
function closeInheritedStrays(): void {
  for (const name of fs.readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (fd >= 200) {
      try {
        fs.closeSync(fd);
      } catch {
        // the directory's own fd, gone already
      }
    }
  }
}

async function main(): Promise<void> {
  closeInheritedStrays();
  const input = JSON.parse(await readStdin()) as ChildInput;
  // stdin is an AF_UNIX socket (spawn's pipes are socketpairs) that a recipe
  // can name as fd 0 and give away (fromFd(0)); read it is no longer needed:
  // /dev/null takes its number.
  fs.closeSync(0);
  fs.openSync('/dev/null', 'r');
  const byName = new Map(targets.map((t) => [t.name, t]));
  const zoo = new Zoo();
  zoo.open();
  say({ ready: true });
  for (const { index, recipe } of input.cases) {
    say({ start: index });
    const started = Date.now();
    const baseline = fdCount();
    const zooBefore = zoo.snapshot();
    const c = new FuzzCase(zoo, recipe.target);
    current = c;
    for (const o of orphans.splice(0)) c.fail(`after the previous case: ${o}`);
    const t = byName.get(recipe.target);
    try {
      if (t === undefined) throw new Error(`no target ${recipe.target}`);
      await t.run(c, recipe.args);
    } catch (err) {
      c.fail(`the case threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    await c.finish();
    await tick();
    await tick();
    let now = fdCount();
    for (let i = 0; i < 100 && now !== baseline; i++) {
      await sleep(i < 10 ? 1 : 10);
      now = fdCount();
    }
    if (now !== baseline) c.fail(`fd count ${baseline} before, ${now} after cleanup: ${openFdList()}`);
    for (const [kind, id] of zoo.snapshot()) {
      if (id !== zooBefore.get(kind)) c.fail(`the zoo's ${kind} fd changed under the case (${String(zooBefore.get(kind))} -> ${String(id)})`);
    }
    current = null;
    say({ done: index, violations: c.violations, ms: Date.now() - started });
  }
  zoo.close();
  say({ end: true });
  // Let stdout drain before exiting; anything left open is the library's leak, not ours.
  process.stdout.end(() => process.exit(0));
}

main().catch((err: unknown) => {
  // The harness itself failed (the zoo could not be made...): not a finding.
  process.stderr.write(`fuzz child setup failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(SETUP_FAILED);
});
