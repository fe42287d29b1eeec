// FdLedger's methods (fd_ledger.h): the owned set, the disown ring, and the
// env teardown that closes what is left.
#include "fd_ledger.h"

#include <vector>

#include "fd_room.h"
#include "socket_handle.h"
#include "syscall.h"

namespace ums {

void FdLedger::Own(int fd) {
  DrainDisowned();
  owned_.insert(fd);
  fd_room::Opened(1);
}

void FdLedger::Own(const int* fds, int n) {
  if (n <= 0) return;
  DrainDisowned();
  for (int i = 0; i < n; i++) owned_.insert(fds[i]);
  fd_room::Opened(n);
}

void FdLedger::Forget(int fd) { owned_.erase(fd); }

void FdLedger::Close(int fd) {
  owned_.erase(fd);
  if (fd >= 0 && close(fd) == 0) fd_room::Closed(1);
}

void FdLedger::HandleOpened(SocketHandle* h, int fd) {
  open_.insert(h);
  owned_.erase(fd);
}

void FdLedger::HandleClosing(SocketHandle* h) {
  if (h != nullptr) open_.erase(h);
  closing_++;
}

void FdLedger::SetDisownRing(int32_t* ring, uint32_t capacity) {
  ring_ = ring;
  ring_capacity_ = capacity;
}

void FdLedger::DrainDisowned() {
  if (ring_ == nullptr) return;
  uint32_t n = static_cast<uint32_t>(ring_[0]);
  if (n > ring_capacity_) n = ring_capacity_;
  for (uint32_t i = 1; i <= n; i++) owned_.erase(ring_[i]);
  ring_[0] = 0;
}

void FdLedger::CloseCallbackDone() {
  closing_--;
  MaybeFinish();
}

void FdLedger::Teardown(napi_async_cleanup_hook_handle hook) {
  hook_ = hook;
  torn_down_ = true;
  // A copy: CloseNow() removes each handle from open_.
  std::vector<SocketHandle*> open(open_.begin(), open_.end());
  for (SocketHandle* h : open) h->TeardownClose();
  // JS can no longer run: what it delivered is in the ring, the rest is ours.
  DrainDisowned();
  ring_ = nullptr;
  for (int fd : owned_) CloseFd(fd);
  fd_room::Closed(static_cast<int>(owned_.size()));
  owned_.clear();
  MaybeFinish();
}

void FdLedger::MaybeFinish() {
  if (torn_down_ && closing_ == 0 && hook_ != nullptr) {
    napi_async_cleanup_hook_handle h = hook_;
    hook_ = nullptr;
    napi_remove_async_cleanup_hook(h);
  }
}

}  // namespace ums
