// TCP listening sockets for the worker pool's connection hand-off (issue 4):
// the primary accepts with the same SocketHandle accept loop as Unix servers,
// so no net.Socket is built per connection just to reach its fd.
#ifndef UMS_INET_H_
#define UMS_INET_H_

#include "napi.h"

namespace ums {

// listenInet(host, port, backlog) -> fd | -errno. host is an IPv4 or IPv6
// literal (the TypeScript layer resolves names first); port 0 picks a free one.
Napi::Value ListenInet(const Napi::CallbackInfo& info);

// inetPort(fd) -> the bound port | -errno.
Napi::Value InetPort(const Napi::CallbackInfo& info);

}  // namespace ums

#endif  // UMS_INET_H_
