// watchdog(): keeps the service manager's watchdog (WatchdogSec=,
// sd_watchdog_enabled(3)) fed with WATCHDOG=1 at half of WATCHDOG_USEC, as
// systemd.service(5) recommends, from an unref'd timer: it never keeps the
// process alive on its own. Owns no fd; each ping is a notify() (a socket of
// its own, closed before it settles).
import { debug } from '../debug';
import { describe, invalidArgType } from '../stream/errors';
import { snapshotOptions } from '../stream/validate';
import { parsePid, parseUnsigned, readEnv, systemdEnvError } from './env';
import { notify } from './notify';

export interface WatchdogOptions {
  /**
   * Called (on a later tick) with the error of a ping that failed, e.g.
   * ENOENT once the manager's socket is gone. Without it the error is only
   * traced (NODE_DEBUG=ums): a missed ping is the manager's to judge, and
   * must not take the service down by itself. Pinging goes on either way.
   */
  onError?: (err: Error) => void;
}

/** Stops the pings; idempotent. */
export type StopWatchdog = () => void;

// setInterval() takes at most 2^31-1 ms (TimeoutOverflowWarning, then 1 ms).
const MAX_DELAY_MS = 0x7fffffff;
const UINT64_MAX = 0xffffffffffffffffn;

/**
 * WATCHDOG_USEC when this process should ping: set, and WATCHDOG_PID unset or
 * ours; null otherwise. Values sd_watchdog_enabled() refuses (not a number,
 * 0 or UINT64_MAX for WATCHDOG_USEC, a bad pid) throw ERR_SYSTEMD_ENV.
 */
export function watchdogUsec(): bigint | null {
  const usecText = readEnv('WATCHDOG_USEC');
  const pidText = readEnv('WATCHDOG_PID');
  if (usecText === undefined) return null;
  const usec = parseUnsigned('WATCHDOG_USEC', usecText, UINT64_MAX);
  if (usec === 0n || usec === UINT64_MAX) throw systemdEnvError('WATCHDOG_USEC', usecText, 'must be a time in microseconds, neither 0 nor infinity');
  if (pidText !== undefined && parsePid('WATCHDOG_PID', pidText) !== process.pid) return null;
  return usec;
}

/**
 * Starts pinging WATCHDOG=1 (at once, then every WATCHDOG_USEC / 2) when the
 * manager asked this process for it, and returns the function that stops.
 * Without a watchdog for this process the returned function does nothing.
 * A ping still in flight when the next is due is not doubled.
 */
export function watchdog(options: WatchdogOptions = {}): StopWatchdog {
  const o = snapshotOptions(options, ['onError']);
  if (o.onError !== undefined && typeof o.onError !== 'function') {
    throw invalidArgType(`The "options.onError" option must be of type function. Received ${describe(o.onError)}`);
  }
  const onError = o.onError as ((err: Error) => void) | undefined;
  const usec = watchdogUsec();
  if (usec === null) return () => {};
  const delay = Math.max(1, Math.min(MAX_DELAY_MS, Number(usec / 2000n)));
  let inFlight = false;
  let stopped = false;
  const ping = (): void => {
    if (inFlight || stopped) return;
    inFlight = true;
    notify('WATCHDOG=1').then(
      () => {
        inFlight = false;
      },
      (err: Error) => {
        inFlight = false;
        if (stopped) return;
        if (debug.enabled) debug('watchdog ping failed: %s', err.message);
        // On its own tick: a listener that throws is an uncaught exception,
        // not a rejection nobody handles.
        if (onError) process.nextTick(onError, err);
      },
    );
  };
  const timer = setInterval(ping, delay).unref();
  ping();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
