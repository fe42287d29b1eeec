// The BSD socket calls of the low-level API for any family (src/lowlevel/
// inet.ts): socket(2), bind(2), connect(2), accept4(2), getsockname(2) and
// getpeername(2), with addresses as inet_addr.h reads and makes them. Every
// fd made here is close-on-exec, non-blocking, and the library's
// (FdLedger) until JS hands it to the caller.
#include <sys/socket.h>

#include "env_state.h"
#include "functions.h"
#include "inet_addr.h"
#include "js_values.h"
#include "syscall.h"

namespace ums {

// socketOf(domain, type) -> fd | -errno.
napi_value SocketOf(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int domain, type;
  UMS_READ(env, GetInt(env, args[0], &domain));
  UMS_READ(env, GetInt(env, args[1], &type));
  return NewFdResult(env, RETRY_EINTR(socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)));
}

namespace {

// The shared shape of bindTo and connectTo: read (fd, address), then call.
template <typename Call>
napi_value WithAddress(napi_env env, napi_callback_info info, Call call) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd, err;
  sockaddr_storage addr;
  socklen_t len = 0;
  UMS_READ(env, GetInt(env, args[0], &fd));
  UMS_READ(env, GetSockAddr(env, args[1], &addr, &len, &err));
  if (err < 0) return Int(env, err);
  return Int(env, NegErrno(call(fd, reinterpret_cast<sockaddr*>(&addr), len)));
}

}  // namespace

// bindTo(fd, address) -> 0 | -errno.
napi_value BindTo(napi_env env, napi_callback_info info) {
  return WithAddress(env, info, [](int fd, sockaddr* addr, socklen_t len) { return RETRY_EINTR(bind(fd, addr, len)); });
}

// connectTo(fd, address) -> 0 | -errno. Not retried on EINTR (fd_calls.cc
// Connect says why): the caller treats it as EINPROGRESS.
napi_value ConnectTo(napi_env env, napi_callback_info info) {
  return WithAddress(env, info, [](int fd, sockaddr* addr, socklen_t len) { return connect(fd, addr, len); });
}

// acceptFrom(fd) -> [fd, address] | -errno: accept4(2) with SOCK_CLOEXEC and
// SOCK_NONBLOCK. The new fd is the library's until JS hands it on, and
// closed here if the result cannot be made.
napi_value AcceptFrom(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd;
  UMS_READ(env, GetInt(env, args[0], &fd));
  sockaddr_storage addr;
  socklen_t len = sizeof(addr);
  const int conn = RETRY_EINTR(accept4(fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (conn < 0) return Int(env, -errno);
  OwnFds(env, &conn, 1);
  napi_value out, peer = SockAddrValue(env, addr, len);
  if (peer == nullptr || napi_create_array_with_length(env, 2, &out) != napi_ok ||
      !SetElement(env, out, 0, Int(env, conn)) || !SetElement(env, out, 1, peer)) {
    CloseOwnedFd(env, conn);
    return nullptr;
  }
  return out;
}

// nameOf(fd, peer) -> address | null | -errno: getsockname(2), or
// getpeername(2) when peer is true.
napi_value NameOf(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd;
  bool peer;
  UMS_READ(env, GetInt(env, args[0], &fd));
  UMS_READ(env, GetBool(env, args[1], &peer));
  sockaddr_storage addr;
  socklen_t len = sizeof(addr);
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  const int r = peer ? RETRY_EINTR(getpeername(fd, sa, &len)) : RETRY_EINTR(getsockname(fd, sa, &len));
  if (r < 0) return Int(env, -errno);
  return SockAddrValue(env, addr, len);
}

}  // namespace ums
