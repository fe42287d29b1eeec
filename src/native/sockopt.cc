// getsockopt(2)/setsockopt(2) for options of any shape, as bytes (the
// integer ones are fd_calls.cc's GetSockOpt/SetSockOpt): SO_PEERGROUPS,
// SO_PEERSEC, structs. What they read is JS's own validated views.
#include <sys/socket.h>

#include "functions.h"
#include "js_values.h"
#include "syscall.h"

namespace ums {

// getsockoptBytes(fd, level, name, out view, len Int32Array[1]) -> 0 | -errno.
// len[0] is the option length the kernel reported, also on -ERANGE, where
// SO_PEERGROUPS and SO_PEERSEC say how many bytes they need (sock.c
// sk_getsockopt; security_socket_getpeersec_stream).
napi_value GetSockOptBytes(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd, level, name;
  struct iovec out, len_out;
  UMS_READ(env, GetInt(env, args[0], &fd));
  UMS_READ(env, GetInt(env, args[1], &level));
  UMS_READ(env, GetInt(env, args[2], &name));
  UMS_READ(env, ViewBytes(env, args[3], &out));
  UMS_READ(env, ViewBytes(env, args[4], &len_out));
  if (len_out.iov_len < sizeof(int32_t)) return Int(env, -EINVAL);
  socklen_t len = static_cast<socklen_t>(out.iov_len);
  const int r = RETRY_EINTR(getsockopt(fd, level, name, out.iov_base, &len));
  const int err = r < 0 ? -errno : 0;
  *static_cast<int32_t*>(len_out.iov_base) = static_cast<int32_t>(len);
  return Int(env, err);
}

// setsockoptBytes(fd, level, name, value view) -> 0 | -errno.
napi_value SetSockOptBytes(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd, level, name;
  struct iovec value;
  UMS_READ(env, GetInt(env, args[0], &fd));
  UMS_READ(env, GetInt(env, args[1], &level));
  UMS_READ(env, GetInt(env, args[2], &name));
  UMS_READ(env, ViewBytes(env, args[3], &value));
  return Int(env,
             NegErrno(RETRY_EINTR(setsockopt(fd, level, name, value.iov_base, static_cast<socklen_t>(value.iov_len)))));
}

}  // namespace ums
