#include "inet.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <string>

#include "js_values.h"
#include "syscall.h"

namespace ums {
namespace {

bool EncodeInet(const std::string& host, int port, sockaddr_storage* addr, socklen_t* len) {
  memset(addr, 0, sizeof(*addr));
  auto* v4 = reinterpret_cast<sockaddr_in*>(addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(*v4);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(addr);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(*v6);
    return true;
  }
  return false;
}

}  // namespace

Napi::Value ListenInet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string host;
  bool present = false;
  int port, backlog;
  if (!GetAddress(env, info[0], &host, &present) || !ArgInt(info, 1, &port) ||
      !ArgInt(info, 2, &backlog)) {
    return env.Undefined();
  }
  sockaddr_storage addr;
  socklen_t len;
  if (!present || port < 0 || port > 65535 || !EncodeInet(host, port, &addr, &len)) {
    return Napi::Number::New(env, -EINVAL);
  }
  const int fd = RETRY_EINTR(socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd < 0) return Napi::Number::New(env, -errno);
  // As net.Server does: a restarted primary can rebind while old
  // connections sit in TIME_WAIT.
  const int one = 1;
  int r = RETRY_EINTR(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
  if (r == 0) r = RETRY_EINTR(bind(fd, reinterpret_cast<sockaddr*>(&addr), len));
  if (r == 0) r = RETRY_EINTR(listen(fd, backlog));
  if (r < 0) {
    const int err = errno;
    CloseFd(fd);
    return Napi::Number::New(env, -err);
  }
  return Napi::Number::New(env, fd);
}

Napi::Value InetPort(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgInt(info, 0, &fd)) return info.Env().Undefined();
  sockaddr_storage addr;
  socklen_t len = sizeof(addr);
  if (RETRY_EINTR(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len)) < 0) {
    return Napi::Number::New(info.Env(), -errno);
  }
  int port = -EAFNOSUPPORT;
  if (addr.ss_family == AF_INET) port = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6) port = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return Napi::Number::New(info.Env(), port);
}

}  // namespace ums
