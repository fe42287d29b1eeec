// The text of a notification (sd_notify(3)): newline-separated VAR=value
// assignments, from a string passed as it is or from an object of fields.
// Every user value is read once and checked before anything is sent. Owns
// no fd.
import { describe, invalidArgType, invalidArgValue } from '../stream/errors';
import { isArray } from '../stream/validate';

/** A field's value: strings as they are, numbers and bigints in decimal, booleans as 1 and 0; undefined leaves the field out. */
export type StateValue = string | number | bigint | boolean | undefined;
/** `{ READY: 1, STATUS: 'up' }` is sent as "READY=1\nSTATUS=up". Any field passes through. */
export type StateFields = Readonly<Record<string, StateValue>>;
export type NotifyState = string | StateFields;

// Variable names as systemd's env_name_is_valid(): no '=', no control
// characters; an empty name is refused too.
function validKey(key: string): boolean {
  if (key === '') return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c === 0x3d || c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

function valueText(key: string, value: unknown): string | undefined {
  let text: string;
  switch (typeof value) {
    case 'undefined':
      return undefined;
    case 'string':
      text = value;
      break;
    case 'number':
      if (!Number.isFinite(value)) throw invalidArgValue(`The "state.${key}" field must be a finite number. Received ${describe(value)}`);
      text = String(value);
      break;
    case 'bigint':
      text = value.toString();
      break;
    case 'boolean':
      text = value ? '1' : '0';
      break;
    default:
      throw invalidArgType(`The "state.${key}" field must be a string, number, bigint or boolean. Received ${describe(value)}`);
  }
  // A newline would start a field of the sender's choosing (STATUS from a
  // request turning into MAINPID=...), and the manager drops a message
  // with a NUL in it.
  if (/[\n\0]/.test(text)) throw invalidArgValue(`The "state.${key}" field must not contain a newline or a NUL byte. Received ${describe(text)}`);
  return text;
}

/** The fields of an object, read once (own enumerable string keys, each value once), as "K=V" lines. */
function fieldLines(state: object): string[] {
  const lines: string[] = [];
  for (const key of Object.keys(state)) {
    if (!validKey(key)) throw invalidArgValue(`The "state" field names must be non-empty, without '=' or control characters. Received ${describe(key)}`);
    const text = valueText(key, (state as Record<string, unknown>)[key]);
    if (text !== undefined) lines.push(`${key}=${text}`);
  }
  return lines;
}

/**
 * The lines of a notification. A string is split only to see which fields
 * it sets; it is sent as it is (a trailing newline, as systemd-notify
 * writes, included).
 */
export function stateLines(state: unknown): { text: string; lines: string[] } {
  if (typeof state === 'string') return { text: state, lines: state.split('\n') };
  if (typeof state !== 'object' || state === null || isArray(state, 'state')) {
    throw invalidArgType(`The "state" argument must be a string or an object of fields. Received ${describe(state)}`);
  }
  const lines = fieldLines(state);
  if (lines.length === 0) throw invalidArgValue('The "state" argument has no field to send');
  return { text: lines.join('\n'), lines };
}

/**
 * RELOADING=1 with MONOTONIC_USEC added when the caller did not set it:
 * Type=notify-reload services must send both (systemd.service(5)), and
 * the manager compares MONOTONIC_USEC with the time it asked for the
 * reload. process.hrtime is uv_hrtime(), clock_gettime(CLOCK_MONOTONIC) on
 * Linux, the clock systemd's now(CLOCK_MONOTONIC) reads.
 */
export function withMonotonicUsec(state: { text: string; lines: string[] }): string {
  const { text, lines } = state;
  if (!lines.includes('RELOADING=1') || lines.some((l) => l.startsWith('MONOTONIC_USEC='))) return text;
  const usec = process.hrtime.bigint() / 1000n;
  const separator = text === '' || text.endsWith('\n') ? '' : '\n';
  return `${text}${separator}MONOTONIC_USEC=${usec}`;
}
