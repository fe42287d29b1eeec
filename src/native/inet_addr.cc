// JS addresses of any family to struct sockaddr_storage and back
// (inet_addr.h): inet_pton(3) and inet_ntop(3) for AF_INET and AF_INET6,
// sockaddr.h for AF_UNIX.
#include "inet_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include <string>

#include "sockaddr.h"

namespace ums {

Read GetSockAddr(napi_env env, napi_value value, sockaddr_storage* addr, socklen_t* len, int* err) {
  memset(addr, 0, sizeof(*addr));
  *err = 0;
  bool is_array = false;
  if (value == nullptr) return Read::kBad;
  Read r = Classify(napi_is_array(env, value, &is_array));
  if (r != Read::kOk) return r;
  std::string host;
  bool present = false;
  if (!is_array) {
    r = GetAddress(env, value, &host, &present);
    if (r != Read::kOk) return r;
    if (!present) return Read::kBad;
    *err = EncodeAddress(host, reinterpret_cast<sockaddr_un*>(addr), len);
    return Read::kOk;
  }
  napi_value v[3];
  for (uint32_t i = 0; i < 3; i++) {
    r = Classify(napi_get_element(env, value, i, &v[i]));
    if (r != Read::kOk) return r;
  }
  int family, port;
  r = GetInt(env, v[0], &family);
  if (r == Read::kOk) r = GetAddress(env, v[1], &host, &present);
  if (r == Read::kOk) r = GetInt(env, v[2], &port);
  if (r != Read::kOk) return r;
  if (!present || port < 0 || port > 65535) {
    *err = -EINVAL;
    return Read::kOk;
  }
  if (family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(addr);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(*v4);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) != 1) *err = -EINVAL;
  } else if (family == AF_INET6) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(addr);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(*v6);
    if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) != 1) *err = -EINVAL;
  } else {
    *err = -EAFNOSUPPORT;
  }
  return Read::kOk;
}

napi_value SockAddrValue(napi_env env, const sockaddr_storage& addr, socklen_t len) {
  char text[INET6_ADDRSTRLEN];
  int port;
  const void* where;
  if (addr.ss_family == AF_INET && len >= sizeof(sockaddr_in)) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&addr);
    where = &v4->sin_addr;
    port = ntohs(v4->sin_port);
  } else if (addr.ss_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    where = &v6->sin6_addr;
    port = ntohs(v6->sin6_port);
  } else {
    std::string name;
    if (!DecodeAddress(reinterpret_cast<const sockaddr_un&>(addr), len, &name)) return Null(env);
    return AddressValue(env, name);
  }
  if (inet_ntop(addr.ss_family, where, text, sizeof(text)) == nullptr) return Null(env);
  napi_value out, host;
  if (napi_create_array_with_length(env, 3, &out) != napi_ok ||
      napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &host) != napi_ok ||
      !SetElement(env, out, 0, Int(env, addr.ss_family)) || !SetElement(env, out, 1, host) ||
      !SetElement(env, out, 2, Int(env, port))) {
    return nullptr;
  }
  return out;
}

}  // namespace ums
