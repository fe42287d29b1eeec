// JS address strings to struct sockaddr_un and back (sockaddr.h): a path,
// an abstract name ('\0...'), or none (autobind).
#include "sockaddr.h"

#include <stddef.h>
#include <string.h>

namespace ums {

int EncodeAddress(const std::string& name, sockaddr_un* addr, socklen_t* len) {
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (name.empty()) {
    *len = sizeof(sa_family_t);
    return 0;
  }
  const bool abstract = name[0] == '\0';
  // Pathnames need room for their terminating NUL; abstract names do not.
  const size_t room = sizeof(addr->sun_path) - (abstract ? 0 : 1);
  if (name.size() > room) return -ENAMETOOLONG;
  if (!abstract && memchr(name.data(), '\0', name.size()) != nullptr) {
    return -EINVAL;
  }
  memcpy(addr->sun_path, name.data(), name.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (abstract ? 0 : 1));
  return 0;
}

bool DecodeAddress(const sockaddr_un& addr, socklen_t len, std::string* out) {
  const socklen_t base = offsetof(sockaddr_un, sun_path);
  if (len <= base || addr.sun_family != AF_UNIX) return false;
  size_t n = len - base;
  if (n > sizeof(addr.sun_path)) n = sizeof(addr.sun_path);
  if (addr.sun_path[0] == '\0') {
    out->assign(addr.sun_path, n);
  } else {
    out->assign(addr.sun_path, strnlen(addr.sun_path, n));
  }
  return true;
}

}  // namespace ums
