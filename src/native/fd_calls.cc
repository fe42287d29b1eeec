// fd-level syscalls: socket, socketpair, dup, close, bind, connect, listen,
// shutdown, socket options and names. Every fd created here is recorded in
// the env's FdLedger until a SocketHandle adopts it or JS hands it on.
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <string>
#include <vector>

#include "env_state.h"
#include "functions.h"
#include "js_values.h"
#include "polled_fds.h"
#include "sockaddr.h"
#include "syscall.h"

namespace ums {

namespace {

napi_value Address(napi_env env, int r, const sockaddr_un& addr, socklen_t len) {
  if (r < 0) return Int(env, -errno);
  std::string name;
  if (!DecodeAddress(addr, len, &name)) return Null(env);
  return AddressValue(env, name);
}

Read ArgAddress(napi_env env, napi_value value, sockaddr_un* addr, socklen_t* len, int* err) {
  std::string name;
  bool present;
  const Read r = GetAddress(env, value, &name, &present);
  if (r == Read::kOk) *err = EncodeAddress(present ? name : std::string(), addr, len);
  return r;
}

Read ArgInt32Array(napi_env env, napi_value value, size_t min, int32_t** out) {
  napi_typedarray_type type;
  size_t count;
  void* data;
  napi_value ab;
  size_t offset;
  if (value == nullptr) return Read::kBad;
  const Read r = Classify(napi_get_typedarray_info(env, value, &type, &count, &data, &ab, &offset));
  if (r != Read::kOk) return r;
  if (type != napi_int32_array || count < min) return Read::kBad;
  *out = static_cast<int32_t*>(data);
  return Read::kOk;
}

// bind(2) with the socket file created with exactly `mode`. The kernel gives
// the new file the socket inode's mode minus the umask (af_unix.c
// unix_bind_bsd), so fchmod(2) on the unbound socket sets the mode the file
// is born with: there is no moment with a looser one, and nothing is done
// by path afterwards, where the file could have been swapped. The umask is
// process-wide and other threads create files meanwhile, so it is cleared
// only in a thread of our own that has its own fs attributes
// (unshare(CLONE_FS)). If that is refused, the process umask applies: the
// file is then stricter than asked, never looser.
struct BindJob {
  int fd;
  const sockaddr_un* addr;
  socklen_t len;
  int result;
};

void* BindWithoutUmask(void* arg) {
  auto* job = static_cast<BindJob*>(arg);
  if (unshare(CLONE_FS) == 0) umask(0);
  job->result = NegErrno(RETRY_EINTR(bind(job->fd, reinterpret_cast<const sockaddr*>(job->addr), job->len)));
  return nullptr;
}

int BindWithMode(int fd, const sockaddr_un& addr, socklen_t len, int mode) {
  // fchmod(2) of anything but a socket would change a real file's mode (an
  // fd of /dev/null, say): refuse before touching it.
  struct statx st;
  if (RETRY_EINTR(statx(fd, "", AT_EMPTY_PATH, STATX_TYPE, &st)) < 0) return -errno;
  if (!S_ISSOCK(st.stx_mode)) return -ENOTSOCK;
  if (RETRY_EINTR(fchmod(fd, static_cast<mode_t>(mode))) < 0) return -errno;
  BindJob job = {fd, &addr, len, 0};
  pthread_t thread;
  const int r = pthread_create(&thread, nullptr, BindWithoutUmask, &job);
  if (r != 0) return -r;
  pthread_join(thread, nullptr);
  return job.result;
}

}  // namespace

napi_value Socket(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int type;
  UMS_READ(env, GetInt(env, args[0], &type));
  return NewFdResult(env, RETRY_EINTR(socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)));
}

// socketpair(type, out[2]) -> 0 | -errno
napi_value SocketPair(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int type;
  int32_t* out;
  UMS_READ(env, GetInt(env, args[0], &type));
  UMS_READ(env, ArgInt32Array(env, args[1], 2, &out));
  int sv[2];
  if (RETRY_EINTR(socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)) < 0) {
    return Int(env, -errno);
  }
  OwnFds(env, sv, 2);
  out[0] = sv[0];
  out[1] = sv[1];
  return Int(env, 0);
}

// dup(fd) -> fd | -errno: F_DUPFD_CLOEXEC. The copy is the library's until
// JS closes it or hands it on (FdLedger).
napi_value Dup(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd;
  UMS_READ(env, GetInt(env, args[0], &fd));
  return NewFdResult(env, RETRY_EINTR(fcntl(fd, F_DUPFD_CLOEXEC, 0)));
}

// setCloexec(fd) -> 0 | -errno: sets FD_CLOEXEC on an fd the process
// inherited (socket activation's LISTEN_FDS), keeping its number, as
// sd_listen_fds(3) does with fd_cloexec(). F_GETFD/F_SETFD change only this
// fd's flag, not the open file description; the fd stays its owner's.
napi_value SetCloexec(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd;
  UMS_READ(env, GetInt(env, args[0], &fd));
  const int flags = RETRY_EINTR(fcntl(fd, F_GETFD));
  if (flags < 0) return Int(env, -errno);
  if ((flags & FD_CLOEXEC) != 0) return Int(env, 0);
  if (RETRY_EINTR(fcntl(fd, F_SETFD, flags | FD_CLOEXEC)) < 0) return Int(env, -errno);
  return Int(env, 0);
}

// dupAll(fds, out) -> count | -errno: F_DUPFD_CLOEXEC of each fd, into out.
// Every fd is checked before the first is duplicated: otherwise the
// duplicate of an earlier fd could take the number of a later one that was
// closed, and that number would then send the wrong file instead of failing
// with EBADF. On an error nothing is left open and out[0] is the index of
// the fd that failed.
napi_value DupAll(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  thread_local std::vector<int> fds;
  fds.clear();
  int32_t* out;
  UMS_READ(env, GetFds(env, args[0], &fds));
  UMS_READ(env, ArgInt32Array(env, args[1], fds.empty() ? 1 : fds.size(), &out));
  for (size_t i = 0; i < fds.size(); i++) {
    if (RETRY_EINTR(fcntl(fds[i], F_GETFD)) < 0) {
      out[0] = static_cast<int32_t>(i);
      return Int(env, -errno);
    }
  }
  for (size_t i = 0; i < fds.size(); i++) {
    const int d = RETRY_EINTR(fcntl(fds[i], F_DUPFD_CLOEXEC, 0));
    if (d < 0) {
      const int err = errno;
      for (size_t k = 0; k < i; k++) CloseOwnedFd(env, out[k]);
      out[0] = static_cast<int32_t>(i);
      return Int(env, -err);
    }
    OwnFds(env, &d, 1);
    out[i] = d;
  }
  return Int(env, static_cast<int64_t>(fds.size()));
}

// fdLimit() -> the soft RLIMIT_NOFILE (INT_MAX when unlimited or larger).
napi_value FdLimit(napi_env env, napi_callback_info) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return Int(env, -errno);
  return Int(env, rl.rlim_cur >= static_cast<rlim_t>(INT_MAX) ? INT_MAX : static_cast<int64_t>(rl.rlim_cur));
}

// close(2), not retried on EINTR (syscall.h); the fd stops being the
// library's. -EBUSY for an fd a SocketHandle polls (polled_fds.h).
napi_value Close(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd;
  UMS_READ(env, GetInt(env, args[0], &fd));
  if (polled_fds::Contains(fd)) return Int(env, -EBUSY);
  ForgetFd(env, fd);
  return Int(env, NegErrno(close(fd)));
}

// closeAll(fds): close() for a list, in one call, skipping polled fds. The pool's primary closes
// its copies of every connection it hands off (bench/README.md, hand-off
// profile: one N-API call per fd cost as much as the close itself).
napi_value CloseAll(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  ArrayCall call;
  if (call.Nested()) return Int(env, -EINVAL);
  thread_local std::vector<int> fds;
  fds.clear();
  UMS_READ(env, GetFds(env, args[0], &fds));
  for (int fd : fds) {
    if (polled_fds::Contains(fd)) continue;  // a handle's, never ours to close here
    CloseOwnedFd(env, fd);
  }
  return Int(env, 0);
}

// isPolled(fd) -> whether a SocketHandle of this process polls fd.
napi_value IsPolled(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd;
  UMS_READ(env, GetInt(env, args[0], &fd));
  return Bool(env, polled_fds::Contains(fd));
}

// disown(): applies the deliveries JS recorded in the disown ring (called
// when the ring is full; otherwise the next Own() does it).
napi_value Disown(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  DrainDisowned(env);
  return Int(env, 0);
}

// bind(fd, address, mode) -> 0 | -errno. address null: autobind. mode < 0:
// the file gets the umask's mode, as bind(2) does.
napi_value Bind(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd, err, mode = -1;
  sockaddr_un addr;
  socklen_t len;
  UMS_READ(env, GetInt(env, args[0], &fd));
  UMS_READ(env, ArgAddress(env, args[1], &addr, &len, &err));
  if (!IsNothing(env, args[2])) UMS_READ(env, GetInt(env, args[2], &mode));
  if (err < 0) return Int(env, err);
  if (mode > 07777) return Int(env, -EINVAL);
  if (mode >= 0) return Int(env, BindWithMode(fd, addr, len, mode));
  return Int(env, NegErrno(RETRY_EINTR(bind(fd, reinterpret_cast<sockaddr*>(&addr), len))));
}

napi_value Connect(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd, err;
  sockaddr_un addr;
  socklen_t len;
  UMS_READ(env, GetInt(env, args[0], &fd));
  UMS_READ(env, ArgAddress(env, args[1], &addr, &len, &err));
  if (err < 0) return Int(env, err);
  // Not retried on EINTR: a second connect() would report EALREADY/EISCONN
  // for a connection already in progress, so EINTR is handled like
  // EINPROGRESS by the caller (wait for writable, then read SO_ERROR).
  return Int(env, NegErrno(connect(fd, reinterpret_cast<sockaddr*>(&addr), len)));
}

napi_value Listen(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd, backlog;
  UMS_READ(env, GetInt(env, args[0], &fd));
  UMS_READ(env, GetInt(env, args[1], &backlog));
  return Int(env, NegErrno(RETRY_EINTR(listen(fd, backlog))));
}

napi_value Shutdown(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd, how;
  UMS_READ(env, GetInt(env, args[0], &fd));
  UMS_READ(env, GetInt(env, args[1], &how));
  return Int(env, NegErrno(RETRY_EINTR(shutdown(fd, how))));
}

// getsockopt(fd, level, name, out[1]) -> 0 | -errno, for integer options.
napi_value GetSockOpt(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd, level, name;
  int32_t* out;
  UMS_READ(env, GetInt(env, args[0], &fd));
  UMS_READ(env, GetInt(env, args[1], &level));
  UMS_READ(env, GetInt(env, args[2], &name));
  UMS_READ(env, ArgInt32Array(env, args[3], 1, &out));
  int value = 0;
  socklen_t len = sizeof(value);
  if (RETRY_EINTR(getsockopt(fd, level, name, &value, &len)) < 0) return Int(env, -errno);
  out[0] = value;
  return Int(env, 0);
}

napi_value SetSockOpt(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd, level, name, value;
  UMS_READ(env, GetInt(env, args[0], &fd));
  UMS_READ(env, GetInt(env, args[1], &level));
  UMS_READ(env, GetInt(env, args[2], &name));
  UMS_READ(env, GetInt(env, args[3], &value));
  return Int(env, NegErrno(RETRY_EINTR(setsockopt(fd, level, name, &value, sizeof(value)))));
}

napi_value GetSockName(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd;
  UMS_READ(env, GetInt(env, args[0], &fd));
  sockaddr_un addr;
  socklen_t len = sizeof(addr);
  const int r = RETRY_EINTR(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len));
  return Address(env, r, addr, len);
}

napi_value GetPeerName(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd;
  UMS_READ(env, GetInt(env, args[0], &fd));
  sockaddr_un addr;
  socklen_t len = sizeof(addr);
  const int r = RETRY_EINTR(getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len));
  return Address(env, r, addr, len);
}

// peercred(fd, out[3] = pid, uid, gid) -> 0 | -errno
napi_value PeerCred(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd;
  int32_t* out;
  UMS_READ(env, GetInt(env, args[0], &fd));
  UMS_READ(env, ArgInt32Array(env, args[1], 3, &out));
  struct ucred uc;
  socklen_t len = sizeof(uc);
  if (RETRY_EINTR(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len)) < 0) return Int(env, -errno);
  out[0] = uc.pid;
  out[1] = static_cast<int32_t>(uc.uid);
  out[2] = static_cast<int32_t>(uc.gid);
  return Int(env, 0);
}

}  // namespace ums
