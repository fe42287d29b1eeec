// Conversion between a name's bytes (from a JS string or Uint8Array) and
// struct sockaddr_un.
// A leading '\0' names the abstract namespace, and the name is length-exact:
// no trailing NUL is added, because "\0name" and "\0name\0" are different
// sockets (unix(7) "abstract"; docs/kernel.md, "Addresses").
#ifndef UMS_SOCKADDR_H_
#define UMS_SOCKADDR_H_

#include <sys/socket.h>
#include <sys/un.h>

#include <string>

namespace ums {

// Fills addr from name. An empty name means autobind (addrlen covers only
// sun_family). Returns 0, or -ENAMETOOLONG when the name does not fit.
int EncodeAddress(const std::string& name, sockaddr_un* addr, socklen_t* len);

// Returns false for an unnamed socket (nothing to report).
bool DecodeAddress(const sockaddr_un& addr, socklen_t len, std::string* out);

}  // namespace ums

#endif  // UMS_SOCKADDR_H_
