// Per-environment state. The addon can be loaded by the main thread and by any
// number of worker threads at once, so nothing here is global: each env gets
// its own AddonData (napi_set_instance_data) and its own FdLedger.
//
// fd ownership inside one env (README "Who owns which fd"):
//  - a SocketHandle owns the fd it polls (FdLedger::open);
//  - the ledger owns every other fd the library holds and JS has not handed
//    on: fds the addon created for JS (socket, socketpair, dup, accept),
//    received fds not yet delivered, duplicates of queued messages;
//  - a delivered fd is the user's. JS records each delivery in the disown
//    ring, a shared Int32Array, before the message is emitted: a store, not
//    a call, so it costs nothing per message and still holds when a worker
//    is terminated in the middle of a 'data' listener.
// When the env goes away (a worker terminated or exiting) JS cannot run any
// more, so the teardown hook closes the open handles and every fd the ledger
// still owns, once.
#ifndef UMS_ENV_STATE_H_
#define UMS_ENV_STATE_H_

#include <node_api.h>
#include <uv.h>

#include <cstdint>
#include <memory>
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

  void HandleOpened(SocketHandle* h) { open_.insert(h); }
  void HandleClosing() { closing_++; }
  void HandleClosed(SocketHandle* h) { open_.erase(h); }
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

struct AddonData {
  napi_env env = nullptr;
  uv_loop_t* loop = nullptr;
  std::shared_ptr<FdLedger> ledger = std::make_shared<FdLedger>();
  napi_ref constructor = nullptr;
  // JS receivers, installed once by setup(): called with the handle as `this`.
  napi_ref onread = nullptr;
  napi_ref onwritable = nullptr;
  napi_ref onconnection = nullptr;
  // Shared arrays: the batch records and fds JS reads synchronously inside
  // onread, and the disown ring (FdLedger).
  napi_ref meta_ref = nullptr;
  napi_ref fds_ref = nullptr;
  napi_ref ring_ref = nullptr;
  int32_t* meta = nullptr;
  int32_t* fds = nullptr;
  // Reserve fd for the EMFILE-on-accept trick (libuv uv__emfile_trick).
  int reserve_fd = -1;
  // A small read batch is copied into this shared Buffer, not into a new one,
  // as Buffer.allocUnsafe() carves small Buffers out of Buffer.poolSize
  // (SocketHandle::MessageBytes). JS keeps a full slab alive only through
  // the message views it still holds.
  napi_ref slab_ref = nullptr;
  char* slab = nullptr;
  size_t slab_used = 0;
};

AddonData* GetAddonData(napi_env env);

}  // namespace ums

#endif  // UMS_ENV_STATE_H_
