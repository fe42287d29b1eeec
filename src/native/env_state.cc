// AddonData's methods (env_state.h), and the env-level fd ownership calls
// the module's functions make.
#include "env_state.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>

#include "js_values.h"
#include "syscall.h"

namespace ums {

namespace {

int OpenReserveFd() { return RETRY_EINTR(open("/dev/null", O_RDONLY | O_CLOEXEC)); }

FdLedger* LedgerOf(napi_env env) {
  AddonData* d = GetAddonData(env);
  return d == nullptr ? nullptr : d->ledger().get();
}

}  // namespace

AddonData* GetAddonData(napi_env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) != napi_ok) return nullptr;
  return static_cast<AddonData*>(data);
}

AddonData* AddonData::Create(napi_env env) {
  auto* d = new AddonData();
  if (napi_get_uv_event_loop(env, &d->loop_) != napi_ok ||  // this env's loop, never uv_default_loop()
      napi_set_instance_data(env, d, Free, nullptr) != napi_ok) {
    delete d;
    return nullptr;
  }
  d->reserve_fd_ = OpenReserveFd();
  return d;
}

void AddonData::Free(napi_env env, void* data, void*) {
  auto* d = static_cast<AddonData*>(data);
  CloseFd(d->reserve_fd_);
  const SharedRefs& s = d->shared_;
  for (napi_ref r : {d->constructor_, s.onread, s.onwritable, s.onconnection, s.meta, s.fds, s.ring, d->slab_ref_}) {
    if (r != nullptr) napi_delete_reference(env, r);
  }
  delete d;
}

void AddonData::AdoptShared(const SharedRefs& refs, int32_t* meta, int32_t* fds, int32_t* ring,
                            uint32_t ring_capacity) {
  shared_ = refs;
  meta_ = meta;
  fds_ = fds;
  ring[0] = 0;
  ledger_->SetDisownRing(ring, ring_capacity);
}

// Offsets stay 8-byte aligned, as in Node's Buffer pool, so a view can be
// reinterpreted as wider typed arrays.
bool AddonData::SlabCopy(napi_env env, const char* bytes, size_t used, napi_value* out, int64_t* base) {
  bool fresh = slab_ == nullptr || slab_ref_ == nullptr || slab_used_ + used > kSlabSize;
  if (!fresh) {
    // JS marks each slab untransferable (binding.ts), but a slab that was
    // detached anyway (ArrayBuffer.prototype.transfer) no longer owns the
    // memory we hold a pointer to: never write there again.
    void* mem;
    size_t len;
    fresh = napi_get_reference_value(env, slab_ref_, out) != napi_ok || *out == nullptr ||
            napi_get_buffer_info(env, *out, &mem, &len) != napi_ok || mem != slab_ || len != kSlabSize;
  }
  if (fresh) {
    void* mem;
    napi_ref ref;
    if (napi_create_buffer(env, kSlabSize, &mem, out) != napi_ok ||
        napi_create_reference(env, *out, 1, &ref) != napi_ok) {
      return false;
    }
    if (slab_ref_ != nullptr) napi_delete_reference(env, slab_ref_);
    slab_ref_ = ref;
    slab_ = static_cast<char*>(mem);
    slab_used_ = 0;
  }
  if (used > 0) memcpy(slab_ + slab_used_, bytes, used);
  *base = static_cast<int64_t>(slab_used_);
  slab_used_ = (slab_used_ + used + 7) & ~static_cast<size_t>(7);
  return true;
}

bool AddonData::ShedPendingConnections(int listen_fd) {
  if (reserve_fd_ < 0) return false;
  CloseFd(reserve_fd_);
  int dropped;
  while ((dropped = RETRY_EINTR(accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC))) >= 0) {
    CloseFd(dropped);
  }
  reserve_fd_ = OpenReserveFd();
  return true;
}

void OwnFds(napi_env env, const int* fds, int n) {
  FdLedger* ledger = LedgerOf(env);
  if (ledger != nullptr) ledger->Own(fds, n);
}

void CloseOwnedFd(napi_env env, int fd) {
  FdLedger* ledger = LedgerOf(env);
  if (ledger != nullptr) {
    ledger->Close(fd);
  } else {
    CloseFd(fd);
  }
}

napi_value NewFdResult(napi_env env, int fd) {
  if (fd < 0) return Int(env, -errno);
  OwnFds(env, &fd, 1);
  napi_value out = Int(env, fd);
  if (out == nullptr) CloseOwnedFd(env, fd);
  return out;
}

void ForgetFd(napi_env env, int fd) {
  FdLedger* ledger = LedgerOf(env);
  if (ledger != nullptr) ledger->Forget(fd);
}

void DrainDisowned(napi_env env) {
  FdLedger* ledger = LedgerOf(env);
  if (ledger != nullptr) ledger->DrainDisowned();
}

}  // namespace ums
