// The fds this process's SocketHandles poll, across every env (the main
// thread and each worker share one fd table).
//
// libuv aborts the process when a polled fd is closed before the loop has
// registered it with epoll, and a polled fd closed later (while its file
// stays open elsewhere) keeps reporting events (docs/kernel.md, "Errors and
// readiness with uv_poll"). A polled fd is its handle's alone, so every
// close(2) the addon makes on JS's behalf (close, closeAll) refuses one with
// EBUSY: whatever the caller believes, that fd is not theirs to close.
#ifndef UMS_POLLED_FDS_H_
#define UMS_POLLED_FDS_H_

namespace ums {
namespace polled_fds {

void Add(int fd);
void Remove(int fd);
bool Contains(int fd);

}  // namespace polled_fds
}  // namespace ums

#endif  // UMS_POLLED_FDS_H_
