// SocketHandle's accept path: a listening handle's wakeup accepts a batch of
// connections with accept4(2), within the process's fd room (fd_room.h), and
// hands their fds to JS in one onconnection call (DoAccept). The fds are the
// env's (FdLedger) until a SocketHandle adopts them or JS closes them.
#include <sys/socket.h>

#include <algorithm>
#include <vector>

#include "fd_room.h"
#include "js_call.h"
#include "socket_handle.h"
#include "syscall.h"

namespace ums {

namespace {

// Connections accepted per wakeup before JS sees them, unless readStart()
// says otherwise (the pool asks for workers x SCM_MAX_FD). libuv's own server
// loop accepts until EAGAIN; 512 keeps a loop turn under ~2 ms (bench/handoff:
// +15 % over 128).
constexpr int kAcceptPerWakeup = 512;

}  // namespace

void SocketHandle::DoAccept(napi_env env) {
  thread_local std::vector<int> accepted;
  accepted.clear();
  int status = kStatusOk;
  // Each connection takes an fd: accept no more than the process's room,
  // the reserve kept, so that a crowd of clients cannot push it into EMFILE
  // (the rest wait in the backlog; JS looks again on a timer).
  const fd_room::Room room = fd_room::Free(kFdReserve + 1);
  const int free = room.free - std::min(kFdReserve, room.limit / 8);
  const int limit = std::min(fd_budget_ > 0 ? fd_budget_ : kAcceptPerWakeup, free);
  if (limit <= 0) status = kStatusNoFdRoom;
  for (int i = 0; i < limit; i++) {
    const int c = RETRY_EINTR(accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (c >= 0) {
      accepted.push_back(c);
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == ECONNABORTED || errno == EPROTO) continue;
    status = -errno;
    // Level-triggered polling would spin on a connection we cannot accept.
    if (errno == EMFILE || errno == ENFILE) data_->ShedPendingConnections(fd_);
    break;
  }
  if (accepted.empty() && status == kStatusOk) return;
  // Owned until a SocketHandle adopts them (Open) or JS closes them.
  data_->ledger()->Own(accepted.data(), static_cast<int>(accepted.size()));
  napi_value argv[2];
  bool ok = napi_create_int32(env, status, &argv[0]) == napi_ok &&
            napi_create_array_with_length(env, accepted.size(), &argv[1]) == napi_ok;
  for (size_t i = 0; ok && i < accepted.size(); i++) {
    napi_value fd;
    ok = napi_create_int32(env, accepted[i], &fd) == napi_ok &&
         napi_set_element(env, argv[1], static_cast<uint32_t>(i), fd) == napi_ok;
  }
  if (!ok) {
    for (int fd : accepted) data_->ledger()->Close(fd);
    accepted.clear();
    return;
  }
  accepted.clear();
  CallJs(env, wrapper_, data_->onconnection(), context_, 2, argv);
}

}  // namespace ums
