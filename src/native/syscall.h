// EINTR-safe wrappers. Every syscall the addon makes goes through RETRY_EINTR
// except close(2): on Linux the fd is released even when close() reports
// EINTR, so retrying could close an fd another thread just received
// (see close(2) NOTES, and node-unix-dgram's Close() comment).
#ifndef UMS_SYSCALL_H_
#define UMS_SYSCALL_H_

#include <errno.h>
#include <unistd.h>

#define RETRY_EINTR(expr)                     \
  ({                                          \
    __typeof__(expr) ums_r_;                  \
    do {                                      \
      ums_r_ = (expr);                        \
    } while (ums_r_ == -1 && errno == EINTR); \
    ums_r_;                                   \
  })

namespace ums {

// Returns -errno for a failed call, or the result.
inline int NegErrno(long r) { return r < 0 ? -errno : static_cast<int>(r); }

inline void CloseFd(int fd) {
  if (fd >= 0) close(fd);
}

}  // namespace ums

#endif  // UMS_SYSCALL_H_
