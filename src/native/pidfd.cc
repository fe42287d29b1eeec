// SO_PEERPIDFD: a new pidfd for a Unix socket's peer (Linux 6.5+). The
// receive side of pidfds (SO_PASSPIDFD, SCM_PIDFD) is in cmsg.cc and
// socket_read.cc.
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "env_state.h"
#include "functions.h"
#include "js_values.h"
#include "syscall.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace ums {

// peerPidfd(fd) -> pidfd | -errno (ENOPROTOOPT before Linux 6.5). The
// kernel makes the pidfd O_CLOEXEC (sock_getsockopt, pidfd_prepare); it is
// the library's (FdLedger) until JS hands it to the caller.
napi_value PeerPidfd(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd;
  UMS_READ(env, GetInt(env, args[0], &fd));
  int pidfd = -1;
  socklen_t len = sizeof(pidfd);
  if (RETRY_EINTR(getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len)) < 0) return Int(env, -errno);
  if (len != sizeof(pidfd) || pidfd < 0) {
    if (pidfd >= 0) CloseFd(pidfd);
    return Int(env, -EPROTO);
  }
  return NewFdResult(env, pidfd);
}

}  // namespace ums
