// The pool's wire format on each primary<->worker SEQPACKET channel. SEQPACKET
// keeps message boundaries, so one frame is one message: an 8-byte header,
// then the payload, with the frame's fds riding along (SCM_RIGHTS).
//
//   byte 0     kind
//   bytes 1-3  zero
//   bytes 4-7  u32 LE: request id (REQUEST, REPLY, REPLY_ERROR) or a count (DONE)

export enum Kind {
  /** Fire-and-forget {data, fds}, either direction. */
  Message = 1,
  /** primary -> worker; answered by Reply or ReplyError with the same id. */
  Request = 2,
  Reply = 3,
  /** The payload is the worker's error message (UTF-8). */
  ReplyError = 4,
  /** primary -> worker: every fd is an accepted connection (TCP or Unix stream). */
  Connections = 5,
  /** worker -> primary: this many messages/connections are finished. */
  Done = 6,
  /** worker -> primary: the worker has taken its channel. */
  Ready = 7,
}

export const HEADER_BYTES = 8;

export function header(kind: Kind, value = 0): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h.writeUInt32LE(kind, 0);
  h.writeUInt32LE(value >>> 0, 4);
  return h;
}

export interface Frame {
  kind: number;
  value: number;
  payload: Buffer;
}

/** null for a frame too short to carry a header (a peer not speaking the protocol). */
export function parse(data: Buffer): Frame | null {
  if (data.length < HEADER_BYTES) return null;
  return { kind: data[0]!, value: data.readUInt32LE(4), payload: data.subarray(HEADER_BYTES) };
}

/** The env vars that tell a worker process where its channel is. */
export const ENV_FD = 'UNIX_MESSAGE_SOCKET_POOL_FD';
export const ENV_ID = 'UNIX_MESSAGE_SOCKET_POOL_WORKER';
