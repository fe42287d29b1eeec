// The pool's wire format on each primary<->worker SEQPACKET channel. SEQPACKET
// keeps message boundaries, so one frame is one message: an 8-byte header,
// then the payload, with the frame's fds riding along (SCM_RIGHTS).
//
//   byte 0     kind
//   bytes 1-3  zero
//   bytes 4-7  u32 LE: request id (REQUEST, REPLY, REPLY_ERROR) or a count
//              (DONE; CONNECTIONS: the fds sent, so dropped ones are counted)
import { closeFds } from '../stream/fds';
import type { UnixMessage } from '../stream/types';

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

/**
 * The frame in a received message, and the message with the header cut off.
 * A message too short to carry a header (a peer not speaking the protocol)
 * gives null, and its fds are closed.
 */
export function readFrame(m: UnixMessage): { kind: number; value: number; message: UnixMessage } | null {
  if (m.data.length < HEADER_BYTES) {
    closeFds(m.fds);
    return null;
  }
  return { kind: m.data[0]!, value: m.data.readUInt32LE(4), message: { ...m, data: m.data.subarray(HEADER_BYTES) } };
}

/** The env vars that tell a worker process where its channel is. */
export const ENV_FD = 'UNIX_MESSAGE_SOCKET_POOL_FD';
export const ENV_ID = 'UNIX_MESSAGE_SOCKET_POOL_WORKER';
