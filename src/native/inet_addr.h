// Socket addresses of any family between JS and struct sockaddr_storage: a
// Unix address is a name's bytes as js_values.h reads (GetAddress: a string or
// a Uint8Array) and makes them (AddressValue: an ASCII string or a Buffer),
// an inet one the array [family (AF_INET or AF_INET6), host literal, port]
// that src/lowlevel/inet.ts makes from and turns into dgram's rinfo shape.
#ifndef UMS_INET_ADDR_H_
#define UMS_INET_ADDR_H_

#include <node_api.h>
#include <sys/socket.h>

#include "js_values.h"

namespace ums {

// Reads a string or Uint8Array (Unix) or [family, host, port] (inet) into
// addr. *err is 0, or -errno for a value that reads but names no address
// (-EINVAL for a host that is not a literal of its family, -ENAMETOOLONG as
// sockaddr.h).
Read GetSockAddr(napi_env env, napi_value value, sockaddr_storage* addr, socklen_t* len, int* err);

// AddressValue() for a named Unix socket, [family, host, port] for AF_INET and
// AF_INET6, null for anything else (an unnamed socket); nullptr if the value
// could not be made.
napi_value SockAddrValue(napi_env env, const sockaddr_storage& addr, socklen_t len);

}  // namespace ums

#endif  // UMS_INET_ADDR_H_
