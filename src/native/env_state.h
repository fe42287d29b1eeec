// Per-environment state. The addon can be loaded by the main thread and by any
// number of worker threads at once, so nothing here is global: each env gets
// its own AddonData (napi_set_instance_data) and its own FdLedger
// (fd_ledger.h, which says who owns which fd).
//
// AddonData holds what setup() shares with JS (the batch record and fd
// arrays, the disown ring, the receivers), the slab small read batches are
// copied into, and the reserve fd of the EMFILE-on-accept trick. Its fields
// are private: every change goes through a method here.
#ifndef UMS_ENV_STATE_H_
#define UMS_ENV_STATE_H_

#include <node_api.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "fd_ledger.h"

namespace ums {

// The shared slab for small batches, and the largest batch copied into it:
// Node's Buffer.poolSize and its allocUnsafe() limit (poolSize >>> 1).
constexpr size_t kSlabSize = 8 << 10;
constexpr size_t kSlabBatch = kSlabSize / 2;

// What setup() takes from JS, as references (AddonData::AdoptShared).
struct SharedRefs {
  napi_ref meta = nullptr;
  napi_ref fds = nullptr;
  napi_ref ring = nullptr;
  napi_ref onread = nullptr;
  napi_ref onwritable = nullptr;
  napi_ref onconnection = nullptr;
};

class AddonData {
 public:
  // Made by the module's Init: `env`'s loop, never uv_default_loop(), and
  // the reserve fd opened.
  static AddonData* Create(napi_env env);
  // The instance-data finalizer: deletes every reference and closes the
  // reserve fd (the ledger's fds are the teardown hook's, FdLedger::Teardown).
  static void Free(napi_env env, void* data, void* hint);

  uv_loop_t* loop() const { return loop_; }
  const std::shared_ptr<FdLedger>& ledger() const { return ledger_; }
  napi_ref onread() const { return shared_.onread; }
  napi_ref onwritable() const { return shared_.onwritable; }
  napi_ref onconnection() const { return shared_.onconnection; }
  const SharedRefs& shared() const { return shared_; }
  // The batch records (MetaField) and fds JS reads synchronously inside
  // onread; nullptr until setup().
  int32_t* meta() const { return meta_; }
  int32_t* fds() const { return fds_; }
  bool has_shared() const { return meta_ != nullptr; }

  // setup()'s first call: takes the references, and the ring's memory for
  // the ledger (emptied first).
  void AdoptShared(const SharedRefs& refs, int32_t* meta, int32_t* fds, int32_t* ring, uint32_t ring_capacity);
  // Keeps the SocketHandle class alive for the env's life.
  void SetConstructor(napi_ref constructor) { constructor_ = constructor; }

  // Copies `used` bytes into the shared slab (a new one when they do not
  // fit): *out is the slab Buffer and *base their offset in it. A Buffer of
  // its own per batch costs four mallocs and an ArrayBuffer, about a fifth
  // of a small message's user time in a ping-pong (bench/README.md); a slab
  // is one per kSlabSize bytes. JS keeps a full slab alive only through the
  // message views it still holds.
  bool SlabCopy(napi_env env, const char* bytes, size_t used, napi_value* out, int64_t* base);

  // accept4(2) failed with EMFILE/ENFILE on listen_fd. Level-triggered
  // polling would spin on a connection we cannot accept: free the reserve
  // fd, accept and drop what is pending, take it back (libuv
  // uv__emfile_trick). False when there is no reserve fd to free.
  bool ShedPendingConnections(int listen_fd);

 private:
  AddonData() = default;

  uv_loop_t* loop_ = nullptr;
  std::shared_ptr<FdLedger> ledger_ = std::make_shared<FdLedger>();
  napi_ref constructor_ = nullptr;
  // JS receivers and shared arrays, installed once by setup(); the
  // receivers are called with the handle as `this`.
  SharedRefs shared_;
  int32_t* meta_ = nullptr;
  int32_t* fds_ = nullptr;
  int reserve_fd_ = -1;
  napi_ref slab_ref_ = nullptr;
  char* slab_ = nullptr;
  size_t slab_used_ = 0;
};

AddonData* GetAddonData(napi_env env);

// The env's fd ownership for the module's functions, which may run while
// the env is going away (no AddonData then: nothing is recorded).
// fds the addon just created or received: the library's (FdLedger::Own).
void OwnFds(napi_env env, const int* fds, int n);
// close(2) of an fd the library may own, which stops being its.
void CloseOwnedFd(napi_env env, int fd);
// fd is no longer the library's (JS closes it, or hands it on).
void ForgetFd(napi_env env, int fd);
// Applies the deliveries JS recorded in the disown ring.
void DrainDisowned(napi_env env);
// The result of a call that made fd for JS (-errno when fd < 0): the
// library's until adopted or handed on, and closed at once if the result
// cannot be made (JS will never see it).
napi_value NewFdResult(napi_env env, int fd);

}  // namespace ums

#endif  // UMS_ENV_STATE_H_
