// A message between write() and the kernel (QueuedMessage): its data, the
// dups it owns, and how much of it is left after a partial stream write.
import { constants, type Gather } from '../native/binding';
import { invalidState } from './errors';
import type { NativeAddress } from './address-codec';
import { closeFds } from './fds';
import { dataLength } from './validate';
import { byteLengthOf, bytesAfter } from './views';

/**
 * A message between write() and the kernel. It owns `dups` until they are
 * sent, unless they are `lent` (OutgoingMessage.lend): then their owner
 * keeps them open until the write callback and closes them itself.
 */
export class QueuedMessage {
  dups: number[] | null;
  error: Error | null = null;
  data: Gather;
  byteLength: number;
  readonly address: NativeAddress | null;
  readonly lent: boolean;
  /** Wholly in the kernel. A later error of the same flush is not this message's. */
  sent = false;
  /** `error` ends the socket, not only this message (SendQueue.sendNow). */
  fatal = false;
  /**
   * Part of it is in the kernel (a partial stream write): the stream holds
   * its first bytes (a framed message's header among them), so it can only
   * be finished; a failure of its rest ends the socket.
   */
  begun = false;

  constructor(data: Gather, byteLength: number, address: NativeAddress | null, dups: number[] | null, lent: boolean) {
    this.data = data;
    this.byteLength = byteLength;
    this.address = address;
    this.dups = dups !== null && dups.length > 0 ? dups : null;
    this.lent = lent;
  }

  /** Closes the dups (unless lent); returns how many of ours were closed. */
  releaseDups(): number {
    const dups = this.dups;
    if (dups === null) return 0;
    this.dups = null;
    if (this.lent) return 0;
    closeFds(dups);
    return dups.length;
  }

  /**
   * The views no longer hold what they held when write() returned: a buffer
   * was detached or resized meanwhile. Such a message fails with its own
   * error; it is never sent short or empty.
   */
  changed(): boolean {
    return dataLength(this.data) !== this.byteLength;
  }

  /** Drops the first n bytes after a partial stream write. */
  advance(n: number): void {
    const parts: readonly ArrayBufferView[] = Array.isArray(this.data) ? this.data : [this.data as ArrayBufferView];
    const rest: ArrayBufferView[] = [];
    let skip = n;
    for (const part of parts) {
      const length = byteLengthOf(part);
      if (skip >= length) {
        skip -= length;
      } else {
        rest.push(skip > 0 ? bytesAfter(part, skip) : part);
        skip = 0;
      }
    }
    this.data = rest;
    this.byteLength -= n;
    if (n > 0) this.begun = true;
  }
}

export const changedError = (): Error => invalidState('the data of a write was detached or resized after write() returned; nothing of it was sent');
/** changedError() of a message that had begun: it ends the socket. */
export const cutError = (): Error =>
  invalidState('the data of a write was detached or resized after part of it was sent; the stream cannot go on without the rest, so the socket is destroyed');

/** Sent, or failed with its own error, before it reached a flush. */
export function isDone(q: QueuedMessage): boolean {
  return q.sent || q.error !== null;
}

/** Appends m's buffers to parts; false if they no longer hold m.byteLength bytes. */
export function appendParts(parts: ArrayBufferView[], m: QueuedMessage): boolean {
  const from = parts.length;
  let n = 0;
  if (Array.isArray(m.data)) {
    for (const part of m.data as readonly ArrayBufferView[]) {
      parts.push(part);
      n += byteLengthOf(part);
    }
  } else {
    parts.push(m.data as ArrayBufferView);
    n = byteLengthOf(m.data as ArrayBufferView);
  }
  if (n === m.byteLength && parts.length <= constants.IOV_MAX) return true;
  parts.length = from;
  return false;
}
