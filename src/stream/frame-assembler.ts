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
import { apply, type Framing } from './frame-format';
import { heldCount, heldFds } from './incoming';
import type { Credentials, UnixMessage } from './types';

// The first buffer of a message that spans reads; it doubles as bytes arrive.
const FIRST_BODY = 64 * 1024;
// Never handed out: a message gets an array of its own.
const NO_FDS: number[] = [];

/** A read being cut into messages: where it stopped, and whether its fds are still its own. */
interface Cut {
  readonly read: UnixMessage;
  off: number;
  /** Its fds (and pidfd) wait for the last message that begins in it. */
  own: boolean;
  /** The message in progress has taken what it needed from it. */
  started: boolean;
  /** A header begins in it. */
  begun: boolean;
}

export class FrameAssembler {
  readonly #f: Framing;
  // Bytes stripped from the front of a message: the builtin header.
  readonly #strip: number;
  readonly #deliver: (message: UnixMessage) => void;
  readonly #broken: (err: Error) => void;
  readonly #more: () => boolean;
  #closed = false;
  // Reads (or their rest) waiting for the consumer to want more, in order,
  // and the fds they still hold.
  #backlog: Cut[] = [];
  #backlogFds = 0;
  #draining = false;
  // The message in progress: its header bytes so far (header phase) or its
  // buffer, which grows to its length as bytes arrive (body phase).
  #head: Buffer | null = null;
  #headFilled = 0;
  #body: Buffer | null = null;
  #bodyFilled = 0;
  #bodyLength = 0;
  // What the read in which its header began brought.
  #fds: number[] = NO_FDS;
  #pidfd: number | undefined;
  #fdsTruncated = false;
  #credentials: Credentials | undefined;

  /**
   * deliver: hands a whole message on (it owns the message's fds from then).
   * broken: the peer broke the format; the assembler has closed what it held
   * and takes no more reads (it closes their fds). more: the consumer still
   * wants messages (false once Readable's push() has said enough).
   */
  constructor(framing: Framing, deliver: (message: UnixMessage) => void, broken: (err: Error) => void, more: () => boolean) {
    this.#f = framing;
    this.#strip = framing.builtin ? framing.headerSize : 0;
    this.#deliver = deliver;
    this.#broken = broken;
    this.#more = more;
  }

  /** fds (pidfds included) held for the message in progress and in the backlog. */
  get heldFds(): number {
    return this.#fds.length + (this.#pidfd === undefined ? 0 : 1) + this.#backlogFds;
  }

  /** Some bytes of a message have arrived, not all: EOF now truncates it. */
  get partial(): boolean {
    return this.#head !== null || this.#body !== null;
  }

  /** Bytes still to come of the message in progress (its header first), or 0: what the next read may take. */
  get rest(): number {
    if (this.#head !== null) return this.#head.length - this.#headFilled;
    return this.#body !== null ? this.#bodyLength - this.#bodyFilled : 0;
  }

  /** No more reads (protocol error, or close()). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * One read, in order. Delivers the messages it completes while the
   * consumer wants more (more()); the rest of the read waits in the backlog
   * for drain(), with its fds.
   */
  feed(read: UnixMessage): void {
    if (this.#closed) {
      closeFds(heldFds(read));
      return;
    }
    const cut: Cut = { read, off: 0, own: heldCount(read) > 0, started: false, begun: false };
    if (this.#backlog.length > 0) {
      this.#backlog.push(cut);
      this.#backlogFds += heldCount(read);
    } else if (!this.#run(cut)) {
      this.#backlog.push(cut);
      if (cut.own) this.#backlogFds += heldCount(read);
    }
  }

  /** Reads wait in the backlog: the Reader reads no more until drain() has emptied it. */
  get backlogged(): boolean {
    return this.#backlog.length > 0;
  }

  /** The consumer wants more: delivers from the backlog until it says enough. */
  drain(): void {
    // A delivery may call back here (push() asking for more through _read).
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (this.#backlog.length > 0 && !this.#closed) {
        const cut = this.#backlog[0]!;
        const had = cut.own ? heldCount(cut.read) : 0;
        let done = false;
        try {
          done = this.#run(cut);
        } catch (err) {
          // A 'data' listener threw: the stream is at an unknown point.
          this.close();
          throw err;
        } finally {
          if (!this.#closed) this.#backlogFds -= had - (cut.own ? heldCount(cut.read) : 0);
        }
        if (!done) return;
        this.#backlog.shift();
      }
    } finally {
      this.#draining = false;
    }
  }

  // Cuts cut.read into messages from cut.off. Returns false when it stopped
  // because the consumer wants no more (cut then says where it stopped),
  // true when the read is done with.
  #run(cut: Cut): boolean {
    const read = cut.read;
    const data = read.data;
    const n = data.length;
    let done = true;
    try {
      if (!cut.started) {
        cut.started = true;
        if (this.partial) {
          cut.off = this.#continue(data, 0);
          if (cut.off < 0) return true;
          if (!this.#closed && !this.#more() && cut.off < n) {
            done = false;
            return false;
          }
        }
      }
      while (cut.off < n && !this.#closed) {
        cut.begun = true;
        const off = cut.off;
        const left = n - off;
        if (left < this.#f.headerSize) {
          // A header cut by the read's end: its message begins here.
          this.#begin(read);
          cut.own = false;
          this.#head = Buffer.allocUnsafe(this.#f.headerSize);
          data.copy(this.#head, 0, off, n);
          this.#headFilled = left;
          cut.off = n;
          break;
        }
        const total = this.#frameLength(data, off);
        if (total < 0) return true;
        if (total > left) {
          this.#begin(read);
          cut.own = false;
          this.#startBody(total - this.#strip);
          this.#append(data, off + this.#strip, n);
          cut.off = n;
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
        if (last) cut.own = false;
        cut.off = off + total;
        this.#deliver(m);
        // A listener may have destroyed the socket (close() ran): the read is
        // then done with, its fds closed below, never kept in a backlog close() has emptied.
        if (cut.off < n && !this.#closed && !this.#more()) {
          done = false;
          return false;
        }
      }
      if (!cut.begun && !this.#closed && (read.fds.length > 0 || read.fdsTruncated)) {
        this.#fail(
          frameError(
            'ERR_FRAME_STRAY_FDS',
            `A framed stream read brought ${read.fds.length > 0 ? `${read.fds.length} fds` : 'fds (dropped)'} and no message header: the peer sent fds elsewhere than with a message's first byte`,
          ),
        );
      }
      return true;
    } finally {
      // Done with the read: what no message took is closed. That is a pidfd
      // of a read in which no header began, the fds of a broken read, or
      // those of a message a throwing 'data' listener kept from its turn (a
      // throw leaves the stream at an unknown point: the Reader destroys the
      // socket, and close() drops the rest).
      if (done && cut.own) {
        cut.own = false;
        closeFds(heldFds(read));
      }
    }
  }

  /** Reading stopped at EOF: a message cut short is a protocol error. */
  eof(): boolean {
    if (this.#closed || !this.partial) return false;
    const had = this.#body !== null ? this.#bodyFilled + this.#strip : this.#headFilled;
    this.#fail(frameError('ERR_FRAME_TRUNCATED', `The peer of a framed stream ended it inside a message (after ${had} bytes of it)`));
    return true;
  }

  /** The socket is destroyed (or the stream broken): closes the fds held for the message in progress and in the backlog. */
  close(): void {
    this.#closed = true;
    const fds = this.#pidfd === undefined ? this.#fds : [...this.#fds, this.#pidfd];
    this.#reset();
    closeFds(fds);
    const backlog = this.#backlog;
    this.#backlog = [];
    this.#backlogFds = 0;
    for (const cut of backlog) {
      if (!cut.own) continue;
      cut.own = false;
      closeFds(heldFds(cut.read));
    }
  }

  #begin(read: UnixMessage): void {
    this.#fds = read.fds;
    this.#pidfd = read.pidfd;
    this.#fdsTruncated = read.fdsTruncated;
    this.#credentials = read.credentials;
  }

  // The buffer of a message of `length` bytes (header stripped) grows with
  // what arrives, doubling up to that length: a header announcing a large
  // message reserves nothing its peer has not sent.
  #startBody(length: number): void {
    this.#bodyLength = length;
    this.#bodyFilled = 0;
    this.#body = Buffer.allocUnsafe(Math.min(length, FIRST_BODY));
  }

  #append(src: Buffer, from: number, to: number): void {
    const n = to - from;
    let body = this.#body!;
    if (this.#bodyFilled + n > body.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.#bodyLength, Math.max(this.#bodyFilled + n, body.length * 2)));
      body.copy(grown, 0, 0, this.#bodyFilled);
      this.#body = body = grown;
    }
    src.copy(body, this.#bodyFilled, from, to);
    this.#bodyFilled += n;
  }

  #reset(): void {
    this.#head = null;
    this.#body = null;
    this.#bodyLength = 0;
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
      this.#startBody(total - this.#strip);
      if (this.#strip === 0) this.#append(head, 0, head.length);
    }
    const take = Math.min(this.#bodyLength - this.#bodyFilled, data.length - at);
    this.#append(data, at, at + take);
    at += take;
    if (this.#bodyFilled < this.#bodyLength) return at;
    const m: UnixMessage = { data: this.#body!, fds: this.#fds === NO_FDS ? [] : this.#fds, truncated: false, fdsTruncated: this.#fdsTruncated };
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
      total = apply(f.frameLength, undefined, [header]);
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
