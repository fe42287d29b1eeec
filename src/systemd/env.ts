// The environment systemd hands a service (systemd.exec(5), sd-daemon(3)):
// each variable read once and parsed as libsystemd's sd-daemon.c parses it,
// so that a value libsystemd refuses is refused here too, with a typed error
// that names the variable, instead of being half-trusted. Nothing here owns
// an fd.
import { coded, describe, type CodedError } from '../stream/errors';

/** A systemd environment variable holds a value sd-daemon(3) refuses as well (it returns -EINVAL). */
export const systemdEnvError = (name: string, value: string, why: string): CodedError =>
  coded(Error, 'ERR_SYSTEMD_ENV', `The environment variable ${name} ${why}. Received ${describe(value)}`);

/** One variable, read once; undefined when unset. */
export function readEnv(name: string): string | undefined {
  const value = process.env[name];
  return typeof value === 'string' ? value : undefined;
}

export function unsetEnv(names: readonly string[]): void {
  for (const name of names) delete process.env[name];
}

// Digits only: systemd's safe_atou*() also take a leading '+' or spaces
// (strtoul), which no service manager writes; refusing them costs nothing
// and keeps "3 " from meaning 3.
const DECIMAL = /^(0|[1-9][0-9]*)$/;

/**
 * An unsigned decimal up to max, as a bigint (WATCHDOG_USEC is 64-bit);
 * throws ERR_SYSTEMD_ENV otherwise.
 */
export function parseUnsigned(name: string, value: string, max: bigint): bigint {
  if (!DECIMAL.test(value)) throw systemdEnvError(name, value, 'must be an unsigned decimal integer');
  const n = BigInt(value);
  if (n > max) throw systemdEnvError(name, value, `must be at most ${max}`);
  return n;
}

/** A pid as parse_pid() takes it: 1 to 2^31-1 (pid_t). */
export function parsePid(name: string, value: string): number {
  const pid = Number(parseUnsigned(name, value, 0x7fffffffn));
  if (pid === 0) throw systemdEnvError(name, value, 'must be a process id (at least 1)');
  return pid;
}
