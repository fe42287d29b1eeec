#include "socket_handle.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "bound_file.h"
#include "cmsg.h"
#include "fd_room.h"
#include "js_call.h"
#include "js_values.h"
#include "polled_fds.h"
#include "sockaddr.h"
#include "syscall.h"

namespace ums {

namespace {

// Marks the objects SocketHandle::New made (napi_type_tag_object).
const napi_type_tag kTag = {0x9c1f5a2e4b7d4e61ULL, 0xa3d8e0f27c6b1945ULL};

// recvmmsg slots per call. Slots are max_message_ bytes each; only the bytes
// the kernel writes are touched, so a large slot costs address space, not RSS.
constexpr int kSlots = 64;
// Address space one recvmmsg call may reserve (slots x maxMessageSize).
constexpr size_t kArenaBudget = 64u << 20;
// Connections accepted per wakeup before JS sees them, unless readStart()
// says otherwise (the pool asks for workers x SCM_MAX_FD). libuv's own server
// loop accepts until EAGAIN; 512 keeps a loop turn under ~2 ms (bench/handoff:
// +15 % over 128).
constexpr int kAcceptPerWakeup = 512;
constexpr int kStatusEof = UV_EOF;

// Receive arena shared by every socket of this thread. A batch is copied out
// into one JS Buffer before the callback, so sockets never share live data.
struct Arena {
  char* data = nullptr;
  size_t cap = 0;
  ~Arena() { free(data); }  // at thread exit: each worker has its own
  bool Ensure(size_t n) {
    if (n <= cap) return true;
    size_t next = std::max(n, cap * 2);
    char* p = static_cast<char*>(realloc(data, next));
    if (p == nullptr) return false;
    data = p;
    cap = next;
    return true;
  }
};
thread_local Arena arena;
thread_local struct mmsghdr recv_hdrs[kSlots];
thread_local struct iovec recv_iovs[kSlots];
thread_local RecvControl recv_controls[kSlots];
thread_local struct sockaddr_un recv_names[kSlots];
thread_local std::vector<int> fd_scratch;
// Sender addresses of the current dgram batch: (message index, name).
thread_local std::vector<std::pair<int, std::string>> batch_names;
// Stream: the JS Buffer each message of the current batch was read into, or
// nullptr for bytes in the arena. Valid in HandleEvents' handle scope.
thread_local std::vector<napi_value> direct_bufs;
// Bytes of the current batch that are in direct_bufs, not in the arena.
thread_local size_t direct_bytes = 0;

// The receiver of a method call, checked, or a -EINVAL/nullptr result.
#define UMS_METHOD(env, info, self)                           \
  Args args(env, info);                                       \
  if (!args.ok) return nullptr;                               \
  SocketHandle* self = From(env, args.self);                  \
  if (self == nullptr) return Int(env, -EINVAL)

}  // namespace

napi_status SocketHandle::Define(napi_env env, napi_value* out) {
  const napi_property_descriptor props[] = {
      {"open", nullptr, Open, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"readStart", nullptr, ReadStart, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"readStop", nullptr, ReadStop, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"writeStart", nullptr, WriteStart, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"writeStop", nullptr, WriteStop, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"setListening", nullptr, SetListening, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"setMaxFds", nullptr, SetMaxFds, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"setTeardownUnlink", nullptr, SetTeardownUnlink, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"ref", nullptr, Ref, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"unref", nullptr, Unref, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"hasRef", nullptr, HasRef, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"close", nullptr, Close, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"fd", nullptr, nullptr, GetFd, nullptr, nullptr, napi_default, nullptr},
  };
  return napi_define_class(env, "SocketHandle", NAPI_AUTO_LENGTH, New, nullptr,
                           sizeof(props) / sizeof(props[0]), props, out);
}

napi_value SocketHandle::New(napi_env env, napi_callback_info info) {
  Args args(env, info);
  napi_value target = nullptr;
  AddonData* d = GetAddonData(env);
  if (!args.ok || d == nullptr || napi_get_new_target(env, info, &target) != napi_ok ||
      target == nullptr) {
    return nullptr;  // called without new: nothing to construct
  }
  auto* h = new SocketHandle(d);
  h->env_ = env;
  if (napi_wrap(env, args.self, h, Finalize, nullptr, &h->wrapper_) != napi_ok) {
    delete h;
    return nullptr;
  }
  // Without the tag (the env going away), every method returns -EINVAL.
  napi_type_tag_object(env, args.self, &kTag);
  return args.self;
}

SocketHandle* SocketHandle::From(napi_env env, napi_value self) {
  bool tagged = false;
  void* p = nullptr;
  if (self == nullptr || napi_check_object_type_tag(env, self, &kTag, &tagged) != napi_ok || !tagged ||
      napi_unwrap(env, self, &p) != napi_ok) {
    return nullptr;
  }
  return static_cast<SocketHandle*>(p);
}

// Runs when the object is collected (only possible once closed: an open
// handle holds a strong reference) or when the env goes away.
void SocketHandle::Finalize(napi_env env, void* data, void*) {
  auto* h = static_cast<SocketHandle*>(data);
  h->CloseNow();
  if (h->context_ != nullptr) napi_async_destroy(env, h->context_);
  h->context_ = nullptr;
  napi_delete_reference(env, h->wrapper_);
  delete h;
}

SocketHandle::~SocketHandle() { CloseNow(); }

// open(fd, type, maxMessageSize) -> 0 | -errno. Takes ownership of fd only on
// success; on failure the caller still owns it.
napi_value SocketHandle::Open(napi_env env, napi_callback_info info) {
  UMS_METHOD(env, info, self);
  int fd, type, max_message;
  UMS_READ(env, GetInt(env, args[0], &fd));
  UMS_READ(env, GetInt(env, args[1], &type));
  UMS_READ(env, GetInt(env, args[2], &max_message));
  if (self->box_ != nullptr || fd < 0 || max_message <= 0) return Int(env, -EINVAL);
  napi_async_context context = nullptr;
  napi_value name;
  napi_value recv;
  if (napi_get_reference_value(env, self->wrapper_, &recv) != napi_ok || recv == nullptr ||
      napi_create_string_utf8(env, "UnixMessageSocket", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, recv, name, &context) != napi_ok) {
    return nullptr;
  }
  PollBox* box = new PollBox();
  // uv_poll_init sets O_NONBLOCK on the open file description and fails with
  // EEXIST when another handle (ours or Node's) already polls this fd.
  const int r = uv_poll_init(self->data_->loop, &box->poll, fd);
  uint32_t refs = 0;
  // An open handle must not be collected: the poll callback needs its object.
  if (r != 0 || napi_reference_ref(env, self->wrapper_, &refs) != napi_ok) {
    if (r == 0) {
      // Initialized but unusable (the env is going away): close it unpolled.
      box->poll.data = box;
      box->owner = nullptr;
      box->ledger = self->data_->ledger;
      box->ledger->HandleClosing();
      uv_close(reinterpret_cast<uv_handle_t*>(&box->poll), OnClosed);
    } else {
      delete box;
    }
    napi_async_destroy(env, context);
    return r != 0 ? Int(env, r) : nullptr;
  }
  box->poll.data = box;
  box->owner = self;
  box->ledger = self->data_->ledger;
  self->box_ = box;
  self->context_ = context;
  self->fd_ = fd;
  self->type_ = type;
  self->max_message_ = static_cast<size_t>(max_message);
  self->data_->ledger->HandleOpened(self);
  polled_fds::Add(fd);
  self->data_->ledger->Forget(fd);  // created for JS, now this handle's
  if (!self->refed_) uv_unref(reinterpret_cast<uv_handle_t*>(&box->poll));
  return Int(env, 0);
}

int SocketHandle::UpdatePoll() {
  if (box_ == nullptr) return UV_EBADF;
  const int events = (reading_ ? UV_READABLE : 0) | (writing_ ? UV_WRITABLE : 0);
  if (events == polled_events_) return 0;
  const int r = events == 0 ? uv_poll_stop(&box_->poll) : uv_poll_start(&box_->poll, events, OnPoll);
  polled_events_ = r == 0 ? events : -1;
  return r;
}

// readStart(fdBudget): the most received fds this wakeup may add to what JS
// already buffers. No read may bring more: each read is made only if the
// most fds it can bring (max_fds_ per message) still fit, so unclaimed fds
// never pass what JS asked for. On a listening handle it is the most
// connections one wakeup accepts (0: kAcceptPerWakeup).
napi_value SocketHandle::ReadStart(napi_env env, napi_callback_info info) {
  UMS_METHOD(env, info, self);
  int budget;
  UMS_READ(env, GetInt(env, args[0], &budget));
  self->fd_budget_ = budget;
  self->reading_ = !self->eof_;
  return Int(env, self->UpdatePoll());
}

napi_value SocketHandle::ReadStop(napi_env env, napi_callback_info info) {
  UMS_METHOD(env, info, self);
  self->reading_ = false;
  return Int(env, self->box_ == nullptr ? 0 : self->UpdatePoll());
}

napi_value SocketHandle::WriteStart(napi_env env, napi_callback_info info) {
  UMS_METHOD(env, info, self);
  self->writing_ = true;
  return Int(env, self->UpdatePoll());
}

napi_value SocketHandle::WriteStop(napi_env env, napi_callback_info info) {
  UMS_METHOD(env, info, self);
  self->writing_ = false;
  return Int(env, self->box_ == nullptr ? 0 : self->UpdatePoll());
}

napi_value SocketHandle::SetListening(napi_env env, napi_callback_info info) {
  UMS_METHOD(env, info, self);
  UMS_READ(env, GetBool(env, args[0], &self->listening_));
  return Int(env, 0);
}

// setMaxFds(maxFdsPerMessage, passCredentials): how the control buffer is
// sized (ControlLength).
napi_value SocketHandle::SetMaxFds(napi_env env, napi_callback_info info) {
  UMS_METHOD(env, info, self);
  int max_fds;
  bool creds;
  UMS_READ(env, GetInt(env, args[0], &max_fds));
  UMS_READ(env, GetBool(env, args[1], &creds));
  if (max_fds < 0 || max_fds > kMaxFdsPerMessage) return Int(env, -EINVAL);
  self->max_fds_ = max_fds;
  self->pass_credentials_ = creds;
  return Int(env, 0);
}

// setTeardownUnlink(path): a server's socket file, to remove if the env is
// torn down while it listens (a terminated worker), as net.Server's is.
napi_value SocketHandle::SetTeardownUnlink(napi_env env, napi_callback_info info) {
  UMS_METHOD(env, info, self);
  bool present;
  UMS_READ(env, GetAddress(env, args[0], &self->teardown_unlink_, &present));
  if (!present) self->teardown_unlink_.clear();
  return Int(env, 0);
}

napi_value SocketHandle::Ref(napi_env env, napi_callback_info info) {
  UMS_METHOD(env, info, self);
  self->refed_ = true;
  if (self->box_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(&self->box_->poll));
  return Int(env, 0);
}

napi_value SocketHandle::Unref(napi_env env, napi_callback_info info) {
  UMS_METHOD(env, info, self);
  self->refed_ = false;
  if (self->box_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(&self->box_->poll));
  return Int(env, 0);
}

napi_value SocketHandle::HasRef(napi_env env, napi_callback_info info) {
  UMS_METHOD(env, info, self);
  return Bool(env, self->refed_);
}

napi_value SocketHandle::GetFd(napi_env env, napi_callback_info info) {
  UMS_METHOD(env, info, self);
  return Int(env, self->fd_);
}

napi_value SocketHandle::Close(napi_env env, napi_callback_info info) {
  UMS_METHOD(env, info, self);
  if (self->box_ == nullptr) return Int(env, 0);
  self->CloseNow();
  if (self->context_ != nullptr) napi_async_destroy(env, self->context_);
  self->context_ = nullptr;
  uint32_t refs;
  napi_reference_unref(env, self->wrapper_, &refs);
  return Int(env, 0);
}

void SocketHandle::TeardownClose() {
  // Checked through the socket itself (sock_diag): the path may name
  // another file by now, and that one is not ours to remove.
  if (box_ != nullptr && !teardown_unlink_.empty() && PathNamesBoundFile(fd_, teardown_unlink_)) {
    unlink(teardown_unlink_.c_str());
  }
  CloseNow();
}

void SocketHandle::CloseNow() {
  if (box_ == nullptr) return;
  PollBox* box = box_;
  box_ = nullptr;
  reading_ = writing_ = false;
  uv_poll_stop(&box->poll);
  // Safe right after uv_poll_stop (libuv poll.rst), and doing it now rather
  // than in the close callback makes the fd count exact when close() returns.
  polled_fds::Remove(fd_);
  if (close(fd_) == 0) fd_room::Closed(1);
  fd_ = -1;
  box->owner = nullptr;
  box->ledger->HandleClosed(this);
  box->ledger->HandleClosing();
  uv_close(reinterpret_cast<uv_handle_t*>(&box->poll), OnClosed);
}

void SocketHandle::OnClosed(uv_handle_t* handle) {
  PollBox* box = static_cast<PollBox*>(handle->data);
  std::shared_ptr<FdLedger> ledger = std::move(box->ledger);
  delete box;
  ledger->CloseCallbackDone();
}

void SocketHandle::OnPoll(uv_poll_t* poll, int status, int events) {
  PollBox* box = static_cast<PollBox*>(poll->data);
  if (box->owner != nullptr) box->owner->HandleEvents(status, events);
}

void SocketHandle::HandleEvents(int status, int events) {
  napi_env env = env_;
  HandleScopeC scope(env);
  if (!scope.ok()) return;
  if (status < 0) {
    polled_events_ = 0;
    // libuv reports POLLERR as UV_EBADF and stops the handle. On a Unix socket
    // that is an ordinary peer close with unread data, and queued messages
    // (SEQPACKET: after the ECONNRESET) are still readable: drain them before
    // reporting anything (docs/kernel.md, "Errors and readiness with uv_poll").
    events = (reading_ ? UV_READABLE : 0) | (writing_ ? UV_WRITABLE : 0);
  }
  if ((events & UV_READABLE) && reading_) {
    if (listening_) {
      DoAccept(env);
    } else {
      DoRead(env);
    }
  }
  if (box_ == nullptr) return;
  if ((events & UV_WRITABLE) && writing_) {
    CallJs(env, wrapper_, data_->onwritable, context_, 0, nullptr);
  }
  if (box_ == nullptr) return;
  if (status < 0) UpdatePoll();
}

// The batch's bytes for JS: one Buffer of them all (the shared slab, from
// *base; otherwise *base is -1 and the bytes start at 0), or, past kCopyChunk
// or when a stream read went straight into a Buffer of its own, one Buffer
// per message (JS trims a direct one to its length). A copy goes into memory
// malloc serves from its heap and reuses; a megabyte copy per batch is
// mmap'd, page-faulted and unmapped again each time, which cost half the
// receiver's time at 64 KiB (bench/README.md, profile).
bool SocketHandle::MessageBytes(napi_env env, int count, size_t used, napi_value* out, int64_t* base) {
  void* copy;
  *base = -1;
  const bool direct = std::any_of(direct_bufs.begin(), direct_bufs.end(), [](napi_value v) { return v != nullptr; });
  if (!direct && used <= kSlabBatch) return SlabCopy(env, used, out, base);
  if (!direct && used <= kCopyChunk) return napi_create_buffer_copy(env, used, arena.data, &copy, out) == napi_ok;
  if (napi_create_array_with_length(env, count, out) != napi_ok) return false;
  size_t offset = 0;
  for (int i = 0; i < count; i++) {
    napi_value one = i < static_cast<int>(direct_bufs.size()) ? direct_bufs[i] : nullptr;
    if (one == nullptr) {
      const size_t len = static_cast<size_t>(data_->meta[i * kMetaStride + kMetaLength]);
      if (napi_create_buffer_copy(env, len, arena.data + offset, &copy, &one) != napi_ok) return false;
      offset += len;
    }
    if (napi_set_element(env, *out, i, one) != napi_ok) return false;
  }
  return true;
}

// A Buffer of its own per batch costs four mallocs and an ArrayBuffer, about
// a fifth of a small message's user time in a ping-pong (bench/README.md);
// a slab is one per kSlabSize bytes. Offsets stay 8-byte aligned, as in
// Node's Buffer pool, so a view can be reinterpreted as wider typed arrays.
bool SocketHandle::SlabCopy(napi_env env, size_t used, napi_value* out, int64_t* base) {
  AddonData* d = data_;
  bool fresh = d->slab == nullptr || d->slab_ref == nullptr || d->slab_used + used > kSlabSize;
  if (!fresh) {
    // JS marks each slab untransferable (binding.ts), but a slab that was
    // detached anyway (ArrayBuffer.prototype.transfer) no longer owns the
    // memory we hold a pointer to: never write there again.
    void* mem;
    size_t len;
    fresh = napi_get_reference_value(env, d->slab_ref, out) != napi_ok || *out == nullptr ||
            napi_get_buffer_info(env, *out, &mem, &len) != napi_ok || mem != d->slab ||
            len != kSlabSize;
  }
  if (fresh) {
    void* mem;
    napi_ref ref;
    if (napi_create_buffer(env, kSlabSize, &mem, out) != napi_ok ||
        napi_create_reference(env, *out, 1, &ref) != napi_ok) {
      return false;
    }
    if (d->slab_ref != nullptr) napi_delete_reference(env, d->slab_ref);
    d->slab_ref = ref;
    d->slab = static_cast<char*>(mem);
    d->slab_used = 0;
  }
  if (used > 0) memcpy(d->slab + d->slab_used, arena.data, used);
  *base = static_cast<int64_t>(d->slab_used);
  d->slab_used = (d->slab_used + used + 7) & ~static_cast<size_t>(7);
  return true;
}

// Closes the fds of a batch JS will never see.
void SocketHandle::CloseReceived(int count) {
  for (int i = 0; i < count; i++) data_->ledger->Close(data_->fds[i]);
}

void SocketHandle::DoRead(napi_env env) {
  int count = 0;
  size_t used = 0;
  int fds_used = 0;
  int status = kStatusOk;
  batch_names.clear();
  direct_bufs.clear();
  direct_bytes = 0;
  // Every read may bring max_fds_ fds (SCM_RIGHTS cannot be refused
  // halfway), so a read is made only while that many still fit JS's budget
  // and the process's room, the reserve kept (fd_room.h). Under a limit too
  // low for a whole message ever to fit, half the limit is asked for when a
  // whole one does not fit now: a larger message then arrives fdsTruncated,
  // as it must. The control buffer holds exactly the fds asked for (the
  // kernel installs what it has room for and closes the rest, unix(7)), so
  // no read installs more than the room it was checked against.
  int room = INT32_MAX;
  int per_read = 1;
  if (max_fds_ > 0) {
    const fd_room::Room r = fd_room::Free(max_fds_ + kFdReserve, fds_flowing_);
    const int reserve = std::min(kFdReserve, r.limit / 8);
    per_read = std::max(1, std::min(max_fds_, r.limit / 2));
    room = r.free - reserve;
  }
  const int limit = std::min(fd_budget_, room);
  // Bounded loop: ECONNRESET is reported once, so it cannot spin.
  for (int rounds = 0; count < kMaxBatch && used < kMaxBatchBytes && rounds < 2 * kMaxBatch;
       rounds++) {
    const int ask = max_fds_ == 0 || fds_used + max_fds_ <= limit ? max_fds_ : per_read;
    if (max_fds_ > 0 && fds_used + ask > limit) {
      // Nothing read: say so, or level-triggered polling would call again
      // at once, forever. (JS never asks for a budget below max_fds_, so
      // here the room is short; a budget below it reads nothing either.)
      if (count == 0) status = kStatusNoFdRoom;
      break;
    }
    const int r = type_ == SOCK_STREAM ? ReadStream(env, ask, &count, &used, &fds_used)
                                       : ReadDatagrams(limit, ask, &count, &used, &fds_used);
    if (r == 0) break;
    if (r < 0) {
      status = r;
      break;
    }
  }
  // A datagram socket has no EOF: a reset (its connected peer is gone) is
  // final once the queue is drained.
  if (status == kStatusOk && reset_seen_ && type_ == SOCK_DGRAM) status = -ECONNRESET;
  if (count == 0 && status == kStatusOk) return;  // spurious wakeup (poll.rst)
  fds_flowing_ = fds_used > 0;
  if (status == kStatusEof && reset_seen_) status = -ECONNRESET;
  if (status < 0) {
    // Final: no more reads, so a level-triggered POLLERR/POLLHUP cannot spin.
    eof_ = true;
    reading_ = false;
    UpdatePoll();
  }
  napi_value argv[5];
  int64_t base;
  bool ok = napi_create_uint32(env, count, &argv[0]) == napi_ok &&
            MessageBytes(env, count, used, &argv[1], &base) &&
            napi_create_int32(env, status, &argv[2]) == napi_ok &&
            (base < 0 ? napi_get_undefined(env, &argv[4])
                      : napi_create_uint32(env, static_cast<uint32_t>(base), &argv[4])) == napi_ok;
  if (ok && batch_names.empty()) {
    ok = napi_get_undefined(env, &argv[3]) == napi_ok;
  } else if (ok) {
    ok = napi_create_array_with_length(env, count, &argv[3]) == napi_ok;
    for (size_t i = 0; ok && i < batch_names.size(); i++) {
      napi_value name;
      ok = napi_create_string_utf8(env, batch_names[i].second.data(), batch_names[i].second.size(),
                                   &name) == napi_ok &&
           napi_set_element(env, argv[3], batch_names[i].first, name) == napi_ok;
    }
  }
  if (!ok) {
    CloseReceived(fds_used);  // JS never saw this batch
    return;
  }
  CallJs(env, wrapper_, data_->onread, context_, 5, argv);
}

namespace {

void RecordMessage(AddonData* d, int index, size_t length, int msg_flags, int fd_count,
                   const Credentials& creds) {
  int32_t* m = d->meta + index * kMetaStride;
  m[kMetaLength] = static_cast<int32_t>(length);
  m[kMetaFlags] = ((msg_flags & MSG_TRUNC) ? kFlagTruncated : 0) |
                  ((msg_flags & MSG_CTRUNC) ? kFlagFdsTruncated : 0) |
                  (creds.present ? kFlagCredentials : 0);
  m[kMetaFdCount] = fd_count;
  m[kMetaPid] = creds.pid;
  m[kMetaUid] = creds.uid;
  m[kMetaGid] = creds.gid;
}

// A message came with MSG_CTRUNC and fewer fds than its read made room for:
// the kernel could not install them (unix(7): EMFILE, or an LSM), so the
// room was smaller than fd_room's estimate said (fds opened by others since
// the last count, or RLIMIT_NOFILE lowered at run time). Every further read
// of this batch would lose its fds the same way: the batch ends here, and
// the next one counts the room again (and waits for it, STATUS_NO_FD_ROOM).
// A message with more fds than asked for fills the buffer: nfds == ask.
bool InstallFailed(int msg_flags, int nfds, int ask) {
  if ((msg_flags & MSG_CTRUNC) == 0 || nfds >= ask) return false;
  fd_room::Stale();
  return true;
}

// Moves the fds parsed from one message into the shared fds array; until JS
// delivers them, they are the library's (FdLedger).
int StoreFds(AddonData* d, int* fds_used) {
  const int n = static_cast<int>(fd_scratch.size());
  if (n > 0) {
    memcpy(d->fds + *fds_used, fd_scratch.data(), n * sizeof(int));
    d->ledger->Own(fd_scratch.data(), n);
  }
  *fds_used += n;
  fd_scratch.clear();
  return n;
}

}  // namespace

// Room for exactly `fds` fds (and the credentials first, when they come:
// the kernel writes SCM_CREDENTIALS before SCM_RIGHTS and sizes the fds from
// what is left). The last cmsg is measured with CMSG_LEN, not CMSG_SPACE: the
// padding of an odd count would fit one more fd. With the full SCM_MAX_FD
// the whole buffer is offered: no sender can pass more.
size_t SocketHandle::ControlLength(int fds) const {
  if (fds >= kMaxFdsPerMessage) return sizeof(RecvControl::buf);
  const size_t creds = pass_credentials_ ? CMSG_SPACE(sizeof(struct ucred)) : 0;
  return creds + (fds > 0 ? CMSG_LEN(sizeof(int) * fds) : 0);
}

// A stream read that fills max_message_ is likely followed by another: that
// one goes straight into a new JS Buffer, as Node's net reads, and skips the
// copy out of the arena (stream 64 KiB, bench/README.md). A direct read that
// comes back under half full is copied to the arena after all, so a small
// message never pins a max_message_ Buffer.
int SocketHandle::ReadStream(napi_env env, int ask, int* count, size_t* used, int* fds_used) {
  const size_t arena_used = *used - direct_bytes;
  napi_value direct = nullptr;
  char* dst = nullptr;
  if (read_direct_) {
    void* data;
    if (napi_create_buffer(env, max_message_, &data, &direct) == napi_ok) {
      dst = static_cast<char*>(data);
    } else {
      direct = nullptr;
    }
  }
  if (direct == nullptr) {
    if (!arena.Ensure(arena_used + max_message_)) return -ENOMEM;
    dst = arena.data + arena_used;
  }
  struct iovec iov = {dst, max_message_};
  RecvControl& control = recv_controls[0];
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_controllen = ControlLength(ask);
  msg.msg_control = msg.msg_controllen > 0 ? control.buf : nullptr;
  const ssize_t n = RETRY_EINTR(recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT));
  if (n < 0) {
    read_direct_ = false;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    if (errno == ECONNRESET) {
      reset_seen_ = true;
      return 1;
    }
    return -errno;
  }
  Credentials creds;
  ParseControl(&msg, &fd_scratch, &creds);
  if (n == 0 && fd_scratch.empty()) return kStatusEof;
  const size_t len = static_cast<size_t>(n);
  read_direct_ = len == max_message_;
  if (direct != nullptr && len < max_message_ / 2) {
    if (!arena.Ensure(arena_used + len)) {
      // The bytes are read: hand them over in the Buffer they are in.
      direct_bytes += len;
    } else {
      memcpy(arena.data + arena_used, dst, len);
      direct = nullptr;
    }
  } else if (direct != nullptr) {
    direct_bytes += len;
  }
  direct_bufs.resize(*count + 1, nullptr);
  direct_bufs[*count] = direct;
  const int nfds = StoreFds(data_, fds_used);
  RecordMessage(data_, *count, len, msg.msg_flags, nfds, creds);
  *used += len;
  (*count)++;
  if (InstallFailed(msg.msg_flags, nfds, ask)) return 0;
  // A short read that brought no fds or credentials emptied the queue, as
  // libuv's uv__read assumes: skip the recvmsg that would only say EAGAIN
  // (one of a ping-pong hop's three socket syscalls, bench/README.md). The kernel
  // also ends a read early at an skb that carries fds or other credentials
  // (unix_stream_read_generic), so keep reading then; if the queue is not
  // empty after all, the level-triggered poll wakes us again.
  if (len < max_message_ && nfds == 0 && !creds.present) return 0;
  return 1;
}

// limit: the fds this wakeup may still add (DoRead); each slot asks for
// `ask` of them.
int SocketHandle::ReadDatagrams(int limit, int ask, int* count, size_t* used, int* fds_used) {
  const int fd_slots = max_fds_ == 0 ? kSlots : (limit - *fds_used) / ask;
  const int size_slots = static_cast<int>(std::max<size_t>(1, kArenaBudget / max_message_));
  const int slots = std::min({kSlots, kMaxBatch - *count, fd_slots, size_slots});
  if (slots <= 0) return 0;
  const size_t base = *used;
  if (!arena.Ensure(base + slots * max_message_)) return -ENOMEM;
  const bool named = type_ == SOCK_DGRAM;
  const size_t control_len = ControlLength(ask);
  for (int i = 0; i < slots; i++) {
    recv_iovs[i] = {arena.data + base + i * max_message_, max_message_};
    struct msghdr& h = recv_hdrs[i].msg_hdr;
    memset(&h, 0, sizeof(h));
    h.msg_iov = &recv_iovs[i];
    h.msg_iovlen = 1;
    h.msg_control = control_len > 0 ? recv_controls[i].buf : nullptr;
    h.msg_controllen = control_len;
    if (named) {
      h.msg_name = &recv_names[i];
      h.msg_namelen = sizeof(recv_names[i]);
    }
  }
  const int n = RETRY_EINTR(recvmmsg(fd_, recv_hdrs, slots, MSG_CMSG_CLOEXEC | MSG_DONTWAIT, nullptr));
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    if (errno == ECONNRESET) {
      reset_seen_ = true;
      return 1;
    }
    return -errno;
  }
  bool short_room = false;
  for (int i = 0; i < n; i++) {
    struct msghdr& h = recv_hdrs[i].msg_hdr;
    const size_t len = recv_hdrs[i].msg_len;
    if (type_ == SOCK_SEQPACKET && len == 0 && h.msg_controllen == 0) {
      // A zero-length message and EOF both read as 0. After EOF every read
      // returns 0, so a later non-empty slot proves this one was a message;
      // otherwise ask the kernel (SeqpacketEof).
      bool later = false;
      for (int j = i + 1; j < n && !later; j++) {
        later = recv_hdrs[j].msg_len > 0 || recv_hdrs[j].msg_hdr.msg_controllen > 0;
      }
      if (!later && SeqpacketEof()) {
        // Slots after this one read 0 too: EOF. Nothing in them to close.
        return kStatusEof;
      }
    }
    Credentials creds;
    ParseControl(&h, &fd_scratch, &creds);
    const int nfds = StoreFds(data_, fds_used);
    char* from = arena.data + base + i * max_message_;
    if (from != arena.data + *used) memmove(arena.data + *used, from, len);
    RecordMessage(data_, *count, len, h.msg_flags, nfds, creds);
    std::string name;
    if (named && DecodeAddress(recv_names[i], h.msg_namelen, &name)) {
      batch_names.emplace_back(*count, std::move(name));
    }
    *used += len;
    (*count)++;
    if (InstallFailed(h.msg_flags, nfds, ask)) short_room = true;
  }
  return n < slots || short_room ? 0 : 1;
}

bool SocketHandle::SeqpacketEof() {
  struct pollfd p = {fd_, POLLRDHUP, 0};
  if (RETRY_EINTR(poll(&p, 1, 0)) < 0) return true;
  if ((p.revents & (POLLRDHUP | POLLHUP)) == 0) return false;
  // The peer has shut down. A peek without a control buffer installs no fds
  // and tells whether anything is still queued behind the 0 we read.
  // Zero-length, fd-less messages sent right before the peer's shutdown are
  // indistinguishable from EOF; the README documents this.
  char c;
  struct iovec iov = {&c, 1};
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  const ssize_t n = RETRY_EINTR(recvmsg(fd_, &msg, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC));
  if (n > 0 || (n == 0 && (msg.msg_flags & MSG_CTRUNC))) return false;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
  return true;
}

void SocketHandle::DoAccept(napi_env env) {
  std::vector<int>& accepted = fd_scratch;
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
    if ((errno == EMFILE || errno == ENFILE) && data_->reserve_fd >= 0) {
      // Level-triggered polling would spin on a connection we cannot accept.
      // Free the reserve fd, accept and drop what is pending, take it back
      // (libuv uv__emfile_trick).
      CloseFd(data_->reserve_fd);
      int dropped;
      while ((dropped = RETRY_EINTR(accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC))) >= 0) {
        CloseFd(dropped);
      }
      data_->reserve_fd = RETRY_EINTR(open("/dev/null", O_RDONLY | O_CLOEXEC));
    }
    break;
  }
  if (accepted.empty() && status == kStatusOk) return;
  // Owned until a SocketHandle adopts them (Open) or JS closes them.
  data_->ledger->Own(accepted.data(), static_cast<int>(accepted.size()));
  napi_value argv[2];
  bool ok = napi_create_int32(env, status, &argv[0]) == napi_ok &&
            napi_create_array_with_length(env, accepted.size(), &argv[1]) == napi_ok;
  for (size_t i = 0; ok && i < accepted.size(); i++) {
    napi_value fd;
    ok = napi_create_int32(env, accepted[i], &fd) == napi_ok &&
         napi_set_element(env, argv[1], static_cast<uint32_t>(i), fd) == napi_ok;
  }
  if (!ok) {
    for (int fd : accepted) data_->ledger->Close(fd);
    accepted.clear();
    return;
  }
  accepted.clear();
  CallJs(env, wrapper_, data_->onconnection, context_, 2, argv);
}

}  // namespace ums
