// The process's fd room estimate (fd_room.h): the exact count of open fds,
// taken now and then, and the addon's own opens and closes in between.
#include "fd_room.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <mutex>

#include "syscall.h"

namespace ums {
namespace fd_room {
namespace {

// An exact count at least this often, and, while the room looks short, at
// most this often (a paused socket retries on a timer; each retry would
// otherwise count again).
constexpr long kRecountMs = 50;
constexpr long kBusyRecountMs = 1;
constexpr long kShortRecountMs = 2;

// Guards the exact count. in_use alone changes on every dup and close, so it
// is an atomic that they update without the lock.
std::mutex mutex;
long counted_at_ms = LONG_MIN / 2;
long limit = 0;
std::atomic<long> in_use{0};

long NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// The open fds. Linux 6.2 and later report their number as the st_size of
// /proc/self/fd, which costs one stat and no fd (so it works at EMFILE too);
// earlier kernels report 0 there, and the directory is read instead, with
// one fd of our own (not counted). -1 when neither works: at EMFILE that is
// the answer too (no room).
long CountOpen() {
  // statx rather than stat: its glibc symbol is 2.28's, which the prebuilt
  // addon keeps as its baseline (stat's own became stat64@GLIBC_2.33).
  struct statx stx;
  if (RETRY_EINTR(statx(AT_FDCWD, "/proc/self/fd", 0, STATX_SIZE, &stx)) == 0 && stx.stx_size > 0) {
    return static_cast<long>(stx.stx_size);
  }
  const int dir = RETRY_EINTR(open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir < 0) return -1;
  alignas(8) char buf[16384];
  long n = 0;
  for (;;) {
    const long got = RETRY_EINTR(syscall(SYS_getdents64, dir, buf, sizeof(buf)));
    if (got <= 0) break;
    for (long off = 0; off < got;) {
      // struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
      unsigned short reclen;
      __builtin_memcpy(&reclen, buf + off + 16, sizeof(reclen));
      const char* name = buf + off + 19;
      if (name[0] != '.') n++;
      off += reclen;
    }
  }
  CloseFd(dir);
  return n - 1;  // the directory's own fd
}

void Recount(long now) {
  struct rlimit rl;
  limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < static_cast<rlim_t>(INT_MAX)
              ? static_cast<long>(rl.rlim_cur)
              : INT_MAX;
  const long open_now = CountOpen();
  in_use.store(open_now < 0 ? limit : open_now, std::memory_order_relaxed);
  counted_at_ms = now;
}

}  // namespace

Room Free(int need, bool busy) {
  std::lock_guard<std::mutex> lock(mutex);
  const long now = NowMs();
  const long age = now - counted_at_ms;
  if (age >= (busy ? kBusyRecountMs : kRecountMs) ||
      (limit - in_use.load(std::memory_order_relaxed) < need && age >= kShortRecountMs)) {
    Recount(now);
  }
  const long free = limit - in_use.load(std::memory_order_relaxed);
  return {free <= 0        ? 0
          : free > INT_MAX ? INT_MAX
                           : static_cast<int>(free),
          limit > INT_MAX ? INT_MAX : static_cast<int>(limit)};
}

void Opened(int n) { in_use.fetch_add(n, std::memory_order_relaxed); }

void Stale() {
  std::lock_guard<std::mutex> lock(mutex);
  counted_at_ms = LONG_MIN / 2;
}

// May go below the truth (a close of an fd counted before it was opened);
// Free() treats any count as an estimate.
void Closed(int n) { in_use.fetch_sub(n, std::memory_order_relaxed); }

}  // namespace fd_room
}  // namespace ums
