// A pool worker's channel to its primary as observables: one per event, so
// that an event nobody subscribes to keeps the channel's rule (no listener:
// its fds are closed) instead of being dropped by a filter with its fds.
import type * as net from 'node:net';
import { Observable } from 'rxjs';
import { types } from 'node:util';
import { connectToPrimary, PrimaryChannel, type PrimaryChannelEvents, type Reply } from '../pool/worker';
import { describe, invalidArgType, invalidArgValue } from '../stream/errors';
import type { UnixMessage } from '../stream/types';

export interface PrimaryRequest {
  message: UnixMessage;
  reply: Reply;
}

interface PrimaryValues {
  message: UnixMessage;
  request: PrimaryRequest;
  connection: net.Socket;
  handoff: number[];
}

export type PrimaryEvent = keyof PrimaryValues;

/**
 * The worker's `event`s from the primary: 'message' (a UnixMessage, fds
 * yours), 'request' ({ message, reply }), 'connection' (a net.Socket) or
 * 'handoff' (raw connection fds). Completes on 'disconnect' (the pool
 * closed); errors on the channel's 'error'. Unsubscribing removes the
 * listener and leaves the channel open, since the process has only one.
 */
export function fromPrimary<E extends PrimaryEvent>(event: E, channel?: PrimaryChannel): Observable<PrimaryValues[E]> {
  if (event !== 'message' && event !== 'request' && event !== 'connection' && event !== 'handoff') {
    throw invalidArgValue(`The "event" argument must be 'message', 'request', 'connection' or 'handoff'. Received ${describe(event)}`);
  }
  if (channel !== undefined && (types.isProxy(channel) || !(channel instanceof PrimaryChannel))) {
    throw invalidArgType(`The "channel" argument must be the PrimaryChannel of connectToPrimary(). Received ${describe(channel)}`);
  }
  return fromChannel(event, channel ?? connectToPrimary());
}

function fromChannel<E extends PrimaryEvent>(event: E, channel: PrimaryChannel): Observable<PrimaryValues[E]> {
  return new Observable<PrimaryValues[E]>((subscriber) => {
    const onEvent = (...args: PrimaryChannelEvents[E]): void => {
      if (event === 'request') {
        const [message, reply] = args as PrimaryChannelEvents['request'];
        subscriber.next({ message, reply } as PrimaryValues[E]);
      } else {
        subscriber.next(args[0] as PrimaryValues[E]);
      }
    };
    const onDisconnect = (): void => subscriber.complete();
    const onError = (err: Error): void => subscriber.error(err);
    const listener = onEvent as (...args: unknown[]) => void;
    channel.on(event as 'message', listener);
    channel.once('disconnect', onDisconnect);
    channel.once('error', onError);
    if (channel.socket.destroyed) subscriber.complete();
    return () => {
      channel.off(event as 'message', listener);
      channel.off('disconnect', onDisconnect);
      channel.off('error', onError);
    };
  });
}
