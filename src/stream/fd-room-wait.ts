// The wait of a socket or listener whose process has too few free fds.
//
// The addon reads (or accepts) only while the process can install every fd
// that may come (src/native/fd_room.h); otherwise it reports
// STATUS_NO_FD_ROOM and reads nothing. No poll event says when fds are freed
// (by us, by the user, by anyone), so the owner stops polling, which would
// spin (poll is level-triggered), and looks again on a timer, backing off as
// libuv does for EMFILE on accept.
const FIRST_MS = 1;
const MAX_MS = 100;

export class FdRoomWait {
  #timer: NodeJS.Timeout | null = null;
  #delay = FIRST_MS;
  #refed = true;

  /** True between wait() and the retry (or cancel()). */
  get waiting(): boolean {
    return this.#timer !== null;
  }

  /** Calls retry() after the current delay, then doubles the delay (once per wait). */
  wait(retry: () => void): void {
    if (this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      retry();
    }, this.#delay);
    if (!this.#refed) this.#timer.unref();
    this.#delay = Math.min(this.#delay * 2, MAX_MS);
  }

  /** Something was read: the next wait starts short again. */
  progressed(): void {
    this.#delay = FIRST_MS;
  }

  cancel(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  ref(): void {
    this.#refed = true;
    this.#timer?.ref();
  }

  unref(): void {
    this.#refed = false;
    this.#timer?.unref();
  }
}
