// The shapes users write and receive: socket types, messages in and out,
// credentials, write callbacks. Types only: no code.
export type SocketType = 'stream' | 'seqpacket' | 'dgram';

export interface Credentials {
  pid: number;
  uid: number;
  gid: number;
}

/** A received message. Its `fds` belong to whoever the message is delivered to. */
export interface UnixMessage {
  data: Buffer;
  fds: number[];
  /** MSG_TRUNC: the datagram was larger than `maxMessageSize`; the rest was discarded. */
  truncated: boolean;
  /**
   * MSG_CTRUNC: some fds of this message could not be installed (EMFILE, an
   * LSM denial) and were closed by the kernel. `fds` holds the ones that did
   * arrive.
   */
  fdsTruncated: boolean;
  /**
   * dgram: the sender's address, when it has one: a lossless string, or a
   * Buffer with `addressEncoding: 'buffer'`.
   */
  address?: string | Buffer;
  /** With `passCredentials`: the sender's SCM_CREDENTIALS. */
  credentials?: Credentials;
  /**
   * With `passPidfd`: a pidfd (SCM_PIDFD) for the sending process. Like
   * `fds`, it belongs to whoever the message is delivered to.
   */
  pidfd?: number;
}

/** A message's bytes: a string (UTF-8), a Buffer, any TypedArray or DataView, or an array of views (gathered). */
export type MessageData = string | ArrayBufferView | ReadonlyArray<ArrayBufferView>;

/** What write() and end() take: a message, or its bytes alone (no fds). */
export type MessageInput = OutgoingMessage | MessageData;

export interface OutgoingMessage {
  data?: MessageData;
  fds?: readonly number[];
  /** dgram only: the destination of an unconnected send (a string, or raw sun_path bytes). */
  address?: string | Uint8Array;
  /**
   * Lend the fds instead of having them duplicated: the socket sends these
   * fd numbers as they are, and you keep every one of them open (and
   * pointing at the same file) until this write's callback has been called.
   * Saves a dup(2) and a close(2) per fd, for a sender that passes the same
   * long-lived fds again and again. Default false: write() duplicates the
   * fds, so you may close yours as soon as it returns.
   */
  lend?: boolean;
}

export type WriteCallback = (error?: Error | null) => void;
