// FdLedger: which fds one env's library holds, and closing them all when
// the env goes away.
//
// fd ownership inside one env (README "Who owns which fd"):
//  - a SocketHandle owns the fd it polls (FdLedger::HandleOpened);
//  - the ledger owns every other fd the library holds and JS has not handed
//    on: fds the addon created for JS (socket, socketpair, dup, accept),
//    received fds not yet delivered, duplicates of queued messages;
//  - a delivered fd is the user's. JS records each delivery in the disown
//    ring, a shared Int32Array, before the message is emitted: a store, not
//    a call, so it costs nothing per message and still holds when a worker
//    is terminated in the middle of a 'data' listener.
// When the env goes away (a worker terminated or exiting) JS cannot run any
// more, so the teardown hook closes the open handles and every fd the ledger
// still owns, once. The owned set is edited by these methods only.
#ifndef UMS_FD_LEDGER_H_
#define UMS_FD_LEDGER_H_

#include <node_api.h>

#include <cstdint>
#include <unordered_set>

namespace ums {

class SocketHandle;

// Outlives AddonData while poll handles are still closing at env teardown:
// each handle's PollBox keeps a shared_ptr to it until its uv_close callback.
class FdLedger {
 public:
  // The fds the addon created or received: the library's until Forget().
  void Own(int fd);
  void Own(const int* fds, int n);
  // No longer the library's to close: adopted by a handle, or closed by JS.
  void Forget(int fd);
  // Forget(fd), then close(2) it.
  void Close(int fd);
  // Applies the deliveries JS recorded in the ring. Every Own() drains it
  // first: an fd number in the ring may have been closed by its new owner and
  // handed out again, and the new fd must stay the library's.
  void DrainDisowned();
  void SetDisownRing(int32_t* ring, uint32_t capacity);

  // fd, which the ledger may hold (created for JS), is now h's: the
  // teardown closes it through h (SocketHandle::TeardownClose).
  void HandleOpened(SocketHandle* h, int fd);
  // A poll handle's uv_close(): h (nullptr for one never opened) is no
  // longer open, and the teardown waits for CloseCallbackDone().
  void HandleClosing(SocketHandle* h);
  void CloseCallbackDone();

  // The env's async cleanup hook: close every open handle and owned fd.
  void Teardown(napi_async_cleanup_hook_handle hook);

 private:
  void MaybeFinish();

  std::unordered_set<SocketHandle*> open_;
  std::unordered_set<int> owned_;
  // [0]: entries; [1 ..]: fds delivered since the last drain. Written by JS.
  int32_t* ring_ = nullptr;
  uint32_t ring_capacity_ = 0;
  napi_async_cleanup_hook_handle hook_ = nullptr;
  int closing_ = 0;  // uv_close() calls whose callback has not run yet
  bool torn_down_ = false;
};

}  // namespace ums

#endif  // UMS_FD_LEDGER_H_
