// Per-environment state. The addon can be loaded by the main thread and by any
// number of worker threads at once, so nothing here is global: each env gets
// its own instance data (node-addon-api doc/object_wrap.md "SetInstanceData").
#ifndef UMS_ENV_STATE_H_
#define UMS_ENV_STATE_H_

#include <memory>
#include <unordered_set>

#include "napi.h"
#include "uv.h"

namespace ums {

class SocketHandle;

// Outlives AddonData when poll handles are still closing at env teardown:
// each PollBox keeps a shared_ptr to it until its uv_close callback has run.
struct Teardown {
  std::unordered_set<SocketHandle*> open;
  // fds the library holds only in JS: dups of queued messages, received fds
  // not yet delivered, accepted fds not yet adopted. JS cannot run while a
  // worker is terminated, so the teardown hook closes whatever is left here.
  std::unordered_set<int> owned_fds;
  napi_async_cleanup_hook_handle hook = nullptr;
  int closing = 0;  // uv_close() calls whose callback has not run yet
  bool started = false;

  void MaybeFinish();
  void CloseOwnedFds();
};

struct AddonData {
  uv_loop_t* loop = nullptr;
  std::shared_ptr<Teardown> teardown = std::make_shared<Teardown>();
  Napi::FunctionReference constructor;
  // JS receivers, installed once by setup(): called with the handle as `this`.
  Napi::FunctionReference onread;
  Napi::FunctionReference onwritable;
  Napi::FunctionReference onconnection;
  // Shared out-arrays the JS side reads synchronously inside onread.
  Napi::Reference<Napi::Int32Array> meta_ref;
  Napi::Reference<Napi::Int32Array> fds_ref;
  int32_t* meta = nullptr;
  int32_t* fds = nullptr;
  // Reserve fd for the EMFILE-on-accept trick (libuv uv__emfile_trick).
  int reserve_fd = -1;
  // A small read batch is copied into this shared Buffer, not into a new one,
  // as Buffer.allocUnsafe() carves small Buffers out of Buffer.poolSize
  // (SocketHandle::MessageBytes). JS keeps a full slab alive only through
  // the message views it still holds.
  Napi::Reference<Napi::Buffer<char>> slab_ref;
  char* slab = nullptr;
  size_t slab_used = 0;
};

}  // namespace ums

#endif  // UMS_ENV_STATE_H_
