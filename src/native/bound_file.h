// Which inode a socket file is, as the kernel identifies it (bound_file.cc).
#ifndef UMS_BOUND_FILE_H_
#define UMS_BOUND_FILE_H_

#include <string>

namespace ums {

// Whether `path` still names the file the socket `fd` is bound to. False
// whenever that cannot be known (no sock_diag, no statx mount id): callers
// leave the file then rather than risk removing someone else's.
bool PathNamesBoundFile(int fd, const std::string& path);

}  // namespace ums

#endif  // UMS_BOUND_FILE_H_
