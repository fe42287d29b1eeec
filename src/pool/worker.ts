// The worker side of a pool: the process's channel to its primary.
//
// fd ownership: fds of a 'message' or 'request' belong to the listener; a
// handed-off connection belongs to the net.Socket made for it. With no
// listener for an event, its fds are closed here, never leaked.
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { native } from '../native/binding';
import { coded, describe } from '../stream/errors';
import { closeFds } from '../stream/fds';
import { UnixMessageSocket } from '../stream/socket';
import type { SocketOptions } from '../stream/socket-options';
import type { OutgoingMessage, UnixMessage, WriteCallback } from '../stream/types';
import { normalizeMessage } from '../stream/validate';
import { ENV_FD, ENV_ID, Kind, header, readFrame } from './protocol';

export type Reply = (message: OutgoingMessage | Error) => void;

export interface PrimaryChannelEvents {
  message: [message: UnixMessage];
  request: [message: UnixMessage, reply: Reply];
  connection: [socket: net.Socket];
  /**
   * Handed-off connections as raw fds, for a worker that makes its own
   * net.Socket (or hands them on). With a listener here, 'connection' is
   * not emitted, and the connections count as finished on receipt.
   */
  handoff: [fds: number[]];
  /** The primary closed the channel (pool close(), or the primary died). */
  disconnect: [];
  error: [err: Error];
}

/**
 * A worker's link to the primary. `socket` is the raw SEQPACKET channel, for
 * inspection (fd, ref/unref); writing to it directly bypasses the framing.
 */
export class PrimaryChannel extends EventEmitter<PrimaryChannelEvents> {
  /** The worker's slot in the pool (0..size-1); a respawned worker keeps it. */
  readonly id: number;
  readonly socket: UnixMessageSocket;
  #done = 0;
  #doneScheduled = false;

  /** @internal Use connectToPrimary(). */
  constructor(socket: UnixMessageSocket, id: number) {
    super();
    this.id = id;
    this.socket = socket;
    socket.on('data', (m: UnixMessage) => this.#onFrame(m));
    socket.on('close', () => this.emit('disconnect'));
    socket.on('error', (err) => {
      // The primary going away mid-write is a disconnect, not a worker bug.
      if ((err as NodeJS.ErrnoException).code !== 'EPIPE' && (err as NodeJS.ErrnoException).code !== 'ECONNRESET') {
        this.#emitError(err);
      }
    });
    socket.write({ data: header(Kind.Ready) });
  }

  /** A fire-and-forget message to the primary ('message' on the pool). */
  send(message: OutgoingMessage | Buffer | string, callback?: WriteCallback): boolean {
    return this.#write(Kind.Message, 0, message, callback);
  }

  /** Ends the channel. The primary stops dispatching to this worker. */
  close(): void {
    this.socket.end();
  }

  ref(): this {
    this.socket.ref();
    return this;
  }

  unref(): this {
    this.socket.unref();
    return this;
  }

  #write(kind: Kind, value: number, message: OutgoingMessage | Buffer | string, callback?: WriteCallback): boolean {
    const msg = normalizeMessage(message, 'seqpacket');
    const parts = Array.isArray(msg.data) ? msg.data : [msg.data];
    return this.socket.write({ data: [header(kind, value), ...parts], fds: msg.fds }, callback);
  }

  #onFrame(m: UnixMessage): void {
    const frame = readFrame(m);
    if (frame === null) return;
    const { message } = frame;
    switch (frame.kind) {
      case Kind.Message:
        if (!this.emit('message', message)) closeFds(message.fds);
        this.#finished(1);
        return;
      case Kind.Request:
        this.#onRequest(frame.value, message);
        return;
      case Kind.Connections:
        // Sent with its fd count: those the kernel could not install here
        // (EMFILE, MSG_CTRUNC) are gone, and finished as far as the pool goes.
        if (frame.value > message.fds.length) this.#finished(frame.value - message.fds.length);
        this.#onConnections(message.fds);
        return;
      default:
        closeFds(m.fds);
    }
  }

  #onRequest(id: number, message: UnixMessage): void {
    let replied = false;
    const reply: Reply = (answer) => {
      if (replied || this.socket.destroyed) return;
      replied = true;
      if (answer instanceof Error) {
        // Read once, and never through a toString() of the caller's.
        const message: unknown = answer.message;
        this.#write(Kind.ReplyError, id, { data: typeof message === 'string' ? message : describe(message) });
      } else {
        this.#write(Kind.Reply, id, answer);
      }
    };
    if (this.listenerCount('request') === 0) {
      closeFds(message.fds);
      reply(new Error('the worker has no "request" listener'));
      return;
    }
    this.emit('request', message, reply);
  }

  #onConnections(fds: number[]): void {
    if (this.listenerCount('handoff') > 0) {
      this.#finished(fds.length);
      this.emit('handoff', fds);
      return;
    }
    const listening = this.listenerCount('connection') > 0;
    for (let i = 0; i < fds.length; i++) {
      const fd = fds[i]!;
      if (!listening) {
        native.close(fd);
        continue;
      }
      let socket: net.Socket;
      try {
        socket = new net.Socket({ fd, readable: true, writable: true });
      } catch (err) {
        native.close(fd);
        this.#finished(1);
        this.#emitError(err as Error);
        continue;
      }
      socket.once('close', () => this.#finished(1));
      try {
        this.emit('connection', socket);
      } catch (err) {
        // As UnixMessageServer: the rest of the batch still gets served.
        process.nextTick(() => {
          throw err;
        });
      }
    }
    if (!listening) this.#finished(fds.length);
  }

  // Completions go back in one DONE frame per turn of the loop, so that
  // least-outstanding dispatch costs the primary one message per batch.
  // Not unref()'d: an unref'd immediate does not stop the loop from blocking
  // in epoll, so the frame could wait for an unrelated wakeup.
  #finished(n: number): void {
    this.#done += n;
    if (this.#doneScheduled) return;
    this.#doneScheduled = true;
    setImmediate(() => {
      this.#doneScheduled = false;
      const count = this.#done;
      this.#done = 0;
      if (count > 0 && !this.socket.destroyed && this.socket.writable) {
        this.socket.write({ data: header(Kind.Done, count) });
      }
    });
  }

  #emitError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else process.emitWarning(err);
  }
}

let channel: PrimaryChannel | null = null;

/** True when this process was started by a WorkerPool. */
export function isPoolWorker(): boolean {
  return channel !== null || process.env[ENV_FD] !== undefined;
}

/**
 * The channel to the primary. Call it once at start-up, before spawning
 * children of your own (it makes the inherited fd close-on-exec, so that
 * grandchildren cannot keep the channel open after this worker dies).
 * Later calls return the same channel.
 */
export function connectToPrimary(options: SocketOptions = {}): PrimaryChannel {
  if (channel !== null) return channel;
  const fdText = process.env[ENV_FD];
  const fd = fdText === undefined ? NaN : Number(fdText);
  if (!Number.isInteger(fd) || fd < 0) {
    throw coded(Error, 'ERR_POOL_NOT_A_WORKER', `connectToPrimary(): this process was not started by a WorkerPool (no ${ENV_FD} in its environment)`);
  }
  // fromFd() works on a close-on-exec duplicate and closes the inherited fd,
  // which is not close-on-exec (spawn's stdio dup2 cleared the flag).
  const socket = UnixMessageSocket.fromFd(fd, options);
  delete process.env[ENV_FD];
  channel = new PrimaryChannel(socket, Number(process.env[ENV_ID] ?? 0));
  return channel;
}
