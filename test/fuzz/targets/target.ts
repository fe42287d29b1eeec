// What every fuzz target shares: its shape (an arbitrary of arguments and a
// runner), the peer that records what arrived, and the delivery check: what
// the peer got is exactly what the calls that succeeded sent, fds included,
// and nothing of a call that threw or failed.
import type { Arbitrary } from 'fast-check';
import fs from 'node:fs';
import type { UnixMessage, UnixMessageSocket } from '../../../src/index';
import { sleep, tick, type FuzzCase } from '../case';
import type { V } from '../recipe';
import { identity } from '../zoo';

export interface Target<A = unknown> {
  name: string;
  /** Relative share of the cases. */
  weight: number;
  args: Arbitrary<A>;
  run(c: FuzzCase, args: A): Promise<void>;
}

export function target<A>(t: Target<A>): Target {
  return t;
}

/** A message a call sent, or tried to. */
export interface Sent {
  label: string;
  bytes: Buffer;
  /** Identity (zoo.ts) of each fd, as the fds were when the call was made. */
  ids: Array<string | null>;
  /** ok: its callback said so; failed: it reported an error; unknown: nobody said. */
  status: 'pending' | 'ok' | 'failed' | 'unknown';
  /**
   * Lent (`lend: true`) with an fd that was already closed: the caller broke
   * the lending contract (keep every lent fd open until the callback), so the
   * number may name another file by the time it is sent. Its fds are not
   * compared.
   */
  brokenLend?: boolean;
}

export interface Received {
  data: Buffer;
  ids: Array<string | null>;
}

/** Records what a peer socket receives, closing each received fd once its identity is taken. */
export class PeerLog {
  readonly messages: Received[] = [];
  ended = false;

  constructor(c: FuzzCase, socket: UnixMessageSocket) {
    socket.on('data', (m: UnixMessage) => {
      this.messages.push({ data: Buffer.from(m.data), ids: m.fds.map((fd) => identity(fd)) });
      for (const fd of m.fds) fs.closeSync(fd);
    });
    socket.on('end', () => {
      this.ended = true;
    });
    socket.on('close', () => {
      this.ended = true;
    });
    socket.on('error', (err) => c.checkError('peer error event', err));
  }

  /** Waits until `done()` or `ms` pass; says whether done() came true. */
  async until(done: () => boolean, ms = 1000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (Date.now() > deadline) return false;
      await tick();
      if (!done()) await sleep(1);
    }
    return true;
  }
}

/** Waits for every call's outcome (callbacks), failing the case on one that never comes. */
export async function settle(c: FuzzCase, sent: readonly Sent[], ms = 1500): Promise<void> {
  const deadline = Date.now() + ms;
  while (sent.some((s) => s.status === 'pending')) {
    if (Date.now() > deadline) {
      // A callback of the fuzzer's that threw can take later callbacks of the
      // same batch with it (Writable's afterWrite loop): Node's behaviour.
      if (c.userThrew()) return;
      for (const s of sent) if (s.status === 'pending') c.fail(`${s.label}: its callback was never called`);
      return;
    }
    await sleep(1);
  }
}

const same = (a: ReadonlyArray<string | null>, b: ReadonlyArray<string | null>): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const fdsMatch = (s: Sent, r: Received): boolean => (s.brokenLend === true ? s.ids.length === r.ids.length : same(s.ids, r.ids));

/**
 * Message types: the peer got, in order, a subsequence of the sent messages
 * that has every 'ok' one and no 'failed' one, each with exactly its fds.
 */
export function checkMessages(c: FuzzCase, sent: readonly Sent[], received: readonly Received[]): void {
  if (matches(sent, received, 0, 0)) return;
  // No assignment fits: report the first mismatch a greedy walk finds.
  let next = 0;
  for (const r of received) {
    let k = next;
    while (k < sent.length && !(sent[k]!.status !== 'failed' && sent[k]!.bytes.equals(r.data))) k++;
    if (k === sent.length) {
      const failed = sent.find((s) => s.status === 'failed' && s.bytes.equals(r.data));
      c.fail(
        failed !== undefined
          ? `${failed.label} reported an error, yet the peer received it`
          : `the peer received ${r.data.length} bytes with ${r.ids.length} fds that no successful call sent`,
      );
      continue;
    }
    for (let j = next; j < k; j++) {
      if (sent[j]!.status === 'ok') c.fail(`${sent[j]!.label} reported success but never arrived`);
    }
    if (!fdsMatch(sent[k]!, r)) {
      c.fail(`${sent[k]!.label} arrived with fds ${JSON.stringify(r.ids)}; it sent ${JSON.stringify(sent[k]!.ids)}`);
    }
    next = k + 1;
  }
  for (let j = next; j < sent.length; j++) {
    if (sent[j]!.status === 'ok') c.fail(`${sent[j]!.label} reported success but never arrived`);
  }
}

/** Whether received[i..] is a subsequence of sent[j..] with every 'ok' one and no 'failed' one. */
function matches(sent: readonly Sent[], received: readonly Received[], i: number, j: number): boolean {
  if (i === received.length) return sent.slice(j).every((s) => s.status !== 'ok');
  if (j === sent.length) return false;
  const s = sent[j]!;
  const r = received[i]!;
  if (s.status !== 'failed' && s.bytes.equals(r.data) && fdsMatch(s, r) && matches(sent, received, i + 1, j + 1)) return true;
  return s.status !== 'ok' && matches(sent, received, i, j + 1);
}

/** Stream: the bytes of the successful sends, in order, and their fds (as a multiset: boundaries are gone). */
export function checkStream(c: FuzzCase, sent: readonly Sent[], received: readonly Received[]): void {
  const got = Buffer.concat(received.map((r) => r.data));
  const gotIds = received
    .flatMap((r) => r.ids)
    .map(String)
    .sort();
  if (sent.some((s) => s.status === 'unknown')) {
    const most = sent.filter((s) => s.status !== 'failed').reduce((n, s) => n + s.ids.length, 0);
    if (gotIds.length > most) c.fail(`the stream peer received ${gotIds.length} fds; at most ${most} were sent`);
    return;
  }
  const ok = sent.filter((s) => s.status === 'ok');
  const want = Buffer.concat(ok.map((s) => s.bytes));
  if (!got.equals(want))
    c.fail(`the stream peer received ${got.length} bytes; the successful writes sent ${want.length} (${ok.map((s) => s.label).join(', ')})`);
  const wantIds = ok
    .flatMap((s) => s.ids)
    .map(String)
    .sort();
  if (ok.some((s) => s.brokenLend === true)) {
    if (gotIds.length !== wantIds.length) c.fail(`the stream peer received ${gotIds.length} fds; the successful writes sent ${wantIds.length}`);
    return;
  }
  if (!same(gotIds, wantIds)) c.fail(`the stream peer received fds ${JSON.stringify(gotIds)}; the successful writes sent ${JSON.stringify(wantIds)}`);
}

/**
 * Whether an options recipe carries a signal that has aborted before the
 * call: as a plain property, or as a getter's first answer (options are read
 * once, so that is the value the library sees). An opaque wrapper (a revoked
 * or throwing Proxy) makes the call throw first.
 */
export function abortedBefore(options: V | null): boolean {
  if (options === null || options.t !== 'obj') return false;
  const slot = options.props.find(([k]) => k === 'signal')?.[1];
  if (slot === undefined) return false;
  const first = 'v' in slot ? slot.v : 'get' in slot ? slot.get[0] : undefined;
  return first !== undefined && first.t === 'signal' && first.how === 'aborted';
}
