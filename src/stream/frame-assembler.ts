// The receive side of a framed stream socket: turns the socket's reads
// (each one recvmsg(2): bytes, fds, flags, credentials, pidfd) into one
// message per message sent, by the receiver rule of README.md, "Framed
// stream sockets": the fds of a read belong to the last message whose header
// begins in that read; fds in a read in which no header begins break the
// format. docs/kernel.md, "Framed stream sockets", says why the rule holds.
//
// fd ownership: feed() takes a read's fds (and pidfd). It hands them to the
// message they belong to when that message is delivered (deliver(), the
// Reader's, from where the Reader owns them), and holds them meanwhile for
// an incomplete message (heldFds, counted against maxPendingFds by the
// Reader). It closes: the fds of a read that no message takes (a pidfd of a
// read in which no header begins), every fd of a broken message and of the
// read that broke it (a protocol error), and those it holds at close().
import { closeFds } from './fds';
import { describe, frameError } from './errors';
import type { Framing } from './frame-format';
import { heldFds } from './incoming';
import type { Credentials, UnixMessage } from './types';

const NO_FDS: number[] = [];

export class FrameAssembler {
  readonly #f: Framing;
  // Bytes stripped from the front of a message: the builtin header.
  readonly #strip: number;
  readonly #deliver: (message: UnixMessage) => void;
  readonly #broken: (err: Error) => void;
  #closed = false;
  // The message in progress: its header bytes so far (header phase) or its
  // buffer, allocated once its length is known (body phase).
  #head: Buffer | null = null;
  #headFilled = 0;
  #body: Buffer | null = null;
  #bodyFilled = 0;
  // What the read in which its header began brought.
  #fds: number[] = NO_FDS;
  #pidfd: number | undefined;
  #fdsTruncated = false;
  #credentials: Credentials | undefined;

  /**
   * deliver: hands a whole message on (it owns the message's fds from then).
   * broken: the peer broke the format; the assembler has closed what it held
   * and takes no more reads (it closes their fds).
   */
  constructor(framing: Framing, deliver: (message: UnixMessage) => void, broken: (err: Error) => void) {
    this.#f = framing;
    this.#strip = framing.builtin ? framing.headerSize : 0;
    this.#deliver = deliver;
    this.#broken = broken;
  }

  /** fds (pidfd included) held for the message in progress. */
  get heldFds(): number {
    return this.#fds.length + (this.#pidfd === undefined ? 0 : 1);
  }

  /** Some bytes of a message have arrived, not all: EOF now truncates it. */
  get partial(): boolean {
    return this.#head !== null || this.#body !== null;
  }

  /** No more reads (protocol error, or close()). */
  get closed(): boolean {
    return this.#closed;
  }

  /** One read, in order. Delivers every message it completes. */
  feed(read: UnixMessage): void {
    const fds = heldFds(read);
    if (this.#closed) {
      closeFds(fds);
      return;
    }
    // The read's fds, until a message takes them.
    let own = fds.length > 0;
    const data = read.data;
    const n = data.length;
    try {
      let off = this.partial ? this.#continue(data, 0) : 0;
      const begins = off < n;
      while (off >= 0 && off < n && !this.#closed) {
        const left = n - off;
        if (left < this.#f.headerSize) {
          // A header cut by the read's end: its message begins here.
          this.#begin(read);
          own = false;
          this.#head = Buffer.allocUnsafe(this.#f.headerSize);
          data.copy(this.#head, 0, off, n);
          this.#headFilled = left;
          break;
        }
        const total = this.#frameLength(data, off);
        if (total < 0) break;
        if (total > left) {
          this.#begin(read);
          own = false;
          this.#body = Buffer.allocUnsafe(total - this.#strip);
          this.#bodyFilled = data.copy(this.#body, 0, off + this.#strip, n);
          break;
        }
        // A whole message in this read; the last one to begin here takes its fds.
        const last = total === left;
        const m: UnixMessage = {
          data: data.subarray(off + this.#strip, off + total),
          fds: last ? read.fds : [],
          truncated: false,
          fdsTruncated: last && read.fdsTruncated,
        };
        if (read.credentials !== undefined) m.credentials = read.credentials;
        if (last && read.pidfd !== undefined) m.pidfd = read.pidfd;
        if (last) own = false;
        off += total;
        this.#deliver(m);
      }
      if (!begins && !this.#closed && (read.fds.length > 0 || read.fdsTruncated)) {
        this.#fail(
          frameError(
            'ERR_FRAME_STRAY_FDS',
            `A framed stream read brought ${read.fds.length} fds and no message header: the peer sent fds elsewhere than with a message's first byte`,
          ),
        );
      }
    } finally {
      // Left over: a pidfd of a read in which no header began, the fds of a
      // broken read, or those of a message a throwing 'data' listener kept
      // from its turn. A throw leaves the stream at an unknown point: the
      // Reader destroys the socket, and close() below drops the rest.
      if (own) closeFds(fds);
    }
  }

  /** Reading stopped at EOF: a message cut short is a protocol error. */
  eof(): boolean {
    if (this.#closed || !this.partial) return false;
    const had = this.#body !== null ? this.#bodyFilled + this.#strip : this.#headFilled;
    this.#fail(frameError('ERR_FRAME_TRUNCATED', `The peer of a framed stream ended it inside a message (after ${had} bytes of it)`));
    return true;
  }

  /** The socket is destroyed: closes the fds held for the message in progress. */
  close(): void {
    this.#closed = true;
    const fds = this.#pidfd === undefined ? this.#fds : [...this.#fds, this.#pidfd];
    this.#reset();
    closeFds(fds);
  }

  #begin(read: UnixMessage): void {
    this.#fds = read.fds;
    this.#pidfd = read.pidfd;
    this.#fdsTruncated = read.fdsTruncated;
    this.#credentials = read.credentials;
  }

  #reset(): void {
    this.#head = null;
    this.#body = null;
    this.#headFilled = 0;
    this.#bodyFilled = 0;
    this.#fds = NO_FDS;
    this.#pidfd = undefined;
    this.#fdsTruncated = false;
    this.#credentials = undefined;
  }

  // The message in progress takes what it still needs from data (from off):
  // returns the offset after it, or -1 once broken.
  #continue(data: Buffer, off: number): number {
    let at = off;
    const head = this.#head;
    if (head !== null) {
      const got = data.copy(head, this.#headFilled, at, at + head.length - this.#headFilled);
      this.#headFilled += got;
      at += got;
      if (this.#headFilled < head.length) return at;
      const total = this.#frameLength(head, 0);
      if (total < 0) return -1;
      this.#head = null;
      this.#body = Buffer.allocUnsafe(total - this.#strip);
      this.#bodyFilled = this.#strip === 0 ? head.copy(this.#body, 0) : 0;
    }
    const body = this.#body!;
    const got = data.copy(body, this.#bodyFilled, at, at + body.length - this.#bodyFilled);
    this.#bodyFilled += got;
    at += got;
    if (this.#bodyFilled < body.length) return at;
    const m: UnixMessage = { data: body, fds: this.#fds, truncated: false, fdsTruncated: this.#fdsTruncated };
    if (this.#credentials !== undefined) m.credentials = this.#credentials;
    if (this.#pidfd !== undefined) m.pidfd = this.#pidfd;
    // From here the message (and its fds) is deliver()'s.
    this.#reset();
    this.#deliver(m);
    return at;
  }

  // The length on the wire of the message whose header is at h[off..], or
  // -1 after a protocol error.
  #frameLength(h: Buffer, off: number): number {
    const f = this.#f;
    const max = f.maxMessageSize;
    if (f.frameLength === null) {
      const n = h.readUInt32BE(off);
      if (n <= max) return n + this.#strip;
      return this.#fail(frameError('ERR_FRAME_TOO_LARGE', `A framed message announces ${n} bytes; maxMessageSize is ${max}`));
    }
    // A copy: the caller's function never sees (or keeps) our buffers.
    const header = Buffer.allocUnsafe(f.headerSize);
    h.copy(header, 0, off, off + f.headerSize);
    let total: unknown;
    try {
      total = f.frameLength.call(undefined, header);
    } catch (err) {
      return this.#fail(frameError('ERR_FRAME_LENGTH', 'framed.frameLength threw on a received header', err));
    }
    // It may have destroyed the socket.
    if (this.#closed) return -1;
    if (typeof total !== 'number' || !Number.isInteger(total) || total < f.headerSize) {
      return this.#fail(
        frameError(
          'ERR_FRAME_LENGTH',
          `framed.frameLength returned ${describe(total)} for a received header; it must be an integer of at least headerSize (${f.headerSize})`,
        ),
      );
    }
    if (total > max) return this.#fail(frameError('ERR_FRAME_TOO_LARGE', `A framed message announces ${total} bytes; maxMessageSize is ${max}`));
    return total;
  }

  #fail(err: Error): -1 {
    this.close();
    this.#broken(err);
    return -1;
  }
}
