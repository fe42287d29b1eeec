#include "socket_handle.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cmsg.h"
#include "sockaddr.h"
#include "js_call.h"
#include "js_values.h"
#include "syscall.h"

namespace ums {

namespace {

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

}  // namespace

void Teardown::CloseOwnedFds() {
  for (int fd : owned_fds) CloseFd(fd);
  owned_fds.clear();
}

void Teardown::MaybeFinish() {
  if (started && closing == 0 && hook != nullptr) {
    napi_async_cleanup_hook_handle h = hook;
    hook = nullptr;
    napi_remove_async_cleanup_hook(h);
  }
}

Napi::Function SocketHandle::Init(Napi::Env env) {
  return DefineClass(env, "SocketHandle",
                     {
                         InstanceMethod<&SocketHandle::Open>("open"),
                         InstanceMethod<&SocketHandle::ReadStart>("readStart"),
                         InstanceMethod<&SocketHandle::ReadStop>("readStop"),
                         InstanceMethod<&SocketHandle::WriteStart>("writeStart"),
                         InstanceMethod<&SocketHandle::WriteStop>("writeStop"),
                         InstanceMethod<&SocketHandle::SetListening>("setListening"),
                         InstanceMethod<&SocketHandle::Ref>("ref"),
                         InstanceMethod<&SocketHandle::Unref>("unref"),
                         InstanceMethod<&SocketHandle::HasRef>("hasRef"),
                         InstanceMethod<&SocketHandle::Close>("close"),
                         InstanceAccessor<&SocketHandle::GetFd>("fd"),
                     });
}

SocketHandle::SocketHandle(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<SocketHandle>(info) {
  data_ = info.Env().GetInstanceData<AddonData>();
}

SocketHandle::~SocketHandle() {
  CloseNow();
  // Only reached from GC or env teardown, where calling napi_async_destroy is
  // not allowed; Close() has already released the context otherwise.
  (void)context_.release();
}

// open(fd, type, maxMessageSize) -> 0 | -errno. Takes ownership of fd only on
// success; on failure the caller still owns it.
Napi::Value SocketHandle::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd, type, max_message;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &type) || !ArgInt(info, 2, &max_message)) {
    return env.Undefined();
  }
  if (box_ != nullptr || fd < 0 || max_message <= 0) return Napi::Number::New(env, -EINVAL);
  PollBox* box = new PollBox();
  // uv_poll_init sets O_NONBLOCK on the open file description and fails with
  // EEXIST when another handle (ours or Node's) already polls this fd.
  int r = uv_poll_init(data_->loop, &box->poll, fd);
  if (r != 0) {
    delete box;
    return Napi::Number::New(env, r);
  }
  box->poll.data = box;
  box->owner = this;
  box->teardown = data_->teardown;
  box_ = box;
  fd_ = fd;
  type_ = type;
  max_message_ = static_cast<size_t>(max_message);
  data_->teardown->open.insert(this);
  data_->teardown->owned_fds.erase(fd);  // an accepted fd, now owned by this handle
  context_ = std::make_unique<Napi::AsyncContext>(env, "UnixMessageSocket", Value());
  // An open handle must not be collected: the poll callback needs its object.
  Napi::ObjectWrap<SocketHandle>::Ref();
  return Napi::Number::New(env, 0);
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
// already buffers. Reads stop before a message could exceed it, so unclaimed
// fds never pass max(budget, SCM_MAX_FD) (kernel-semantics.md §6.4).
// On a listening handle it is the most connections one wakeup accepts
// (0: kAcceptPerWakeup).
Napi::Value SocketHandle::ReadStart(const Napi::CallbackInfo& info) {
  fd_budget_ = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value()
                                                        : kMaxBatch * kMaxFdsPerMessage;
  reading_ = !eof_;
  return Napi::Number::New(info.Env(), UpdatePoll());
}

Napi::Value SocketHandle::ReadStop(const Napi::CallbackInfo& info) {
  reading_ = false;
  return Napi::Number::New(info.Env(), box_ == nullptr ? 0 : UpdatePoll());
}

Napi::Value SocketHandle::WriteStart(const Napi::CallbackInfo& info) {
  writing_ = true;
  return Napi::Number::New(info.Env(), UpdatePoll());
}

Napi::Value SocketHandle::WriteStop(const Napi::CallbackInfo& info) {
  writing_ = false;
  return Napi::Number::New(info.Env(), box_ == nullptr ? 0 : UpdatePoll());
}

Napi::Value SocketHandle::SetListening(const Napi::CallbackInfo& info) {
  listening_ = info.Length() > 0 && info[0].ToBoolean().Value();
  return info.Env().Undefined();
}

Napi::Value SocketHandle::Ref(const Napi::CallbackInfo& info) {
  refed_ = true;
  if (box_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(&box_->poll));
  return info.Env().Undefined();
}

Napi::Value SocketHandle::Unref(const Napi::CallbackInfo& info) {
  refed_ = false;
  if (box_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(&box_->poll));
  return info.Env().Undefined();
}

Napi::Value SocketHandle::HasRef(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), refed_);
}

Napi::Value SocketHandle::GetFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fd_);
}

Napi::Value SocketHandle::Close(const Napi::CallbackInfo& info) {
  const bool was_open = box_ != nullptr;
  CloseNow();
  if (was_open) {
    context_.reset();
    Napi::ObjectWrap<SocketHandle>::Unref();
  }
  return info.Env().Undefined();
}

void SocketHandle::CloseNow() {
  if (box_ == nullptr) return;
  PollBox* box = box_;
  box_ = nullptr;
  reading_ = writing_ = false;
  uv_poll_stop(&box->poll);
  // Safe right after uv_poll_stop (libuv poll.rst), and doing it now rather
  // than in the close callback makes the fd count exact when close() returns.
  CloseFd(fd_);
  fd_ = -1;
  box->owner = nullptr;
  box->teardown->open.erase(this);
  box->teardown->closing++;
  uv_close(reinterpret_cast<uv_handle_t*>(&box->poll), OnClosed);
}

void SocketHandle::OnClosed(uv_handle_t* handle) {
  PollBox* box = static_cast<PollBox*>(handle->data);
  std::shared_ptr<Teardown> teardown = std::move(box->teardown);
  delete box;
  teardown->closing--;
  teardown->MaybeFinish();
}

void SocketHandle::OnPoll(uv_poll_t* poll, int status, int events) {
  PollBox* box = static_cast<PollBox*>(poll->data);
  if (box->owner != nullptr) box->owner->HandleEvents(status, events);
}

void SocketHandle::HandleEvents(int status, int events) {
  napi_env env = Env();
  HandleScopeC scope(env);
  if (!scope.ok()) return;
  if (status < 0) {
    polled_events_ = 0;
    // libuv reports POLLERR as UV_EBADF and stops the handle. On a Unix socket
    // that is an ordinary peer close with unread data, and queued messages
    // (SEQPACKET: after the ECONNRESET) are still readable: drain them before
    // reporting anything (kernel-semantics.md §2, checklist item 14).
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
    CallJs(env, *this, data_->onwritable, *context_, 0, nullptr);
  }
  if (box_ == nullptr) return;
  if (status < 0) UpdatePoll();
}

void SocketHandle::OwnFds(const int* fds, int count) {
  for (int i = 0; i < count; i++) data_->teardown->owned_fds.insert(fds[i]);
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
  bool fresh = d->slab == nullptr || d->slab_used + used > kSlabSize;
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
    if (napi_create_buffer(env, kSlabSize, &mem, out) != napi_ok) return false;
    napi_ref ref;
    if (napi_create_reference(env, *out, 1, &ref) != napi_ok) return false;
    d->slab_ref.Reset();
    d->slab_ref = Napi::Reference<Napi::Buffer<char>>(env, ref);
    d->slab = static_cast<char*>(mem);
    d->slab_used = 0;
  }
  memcpy(d->slab + d->slab_used, arena.data, used);
  *base = static_cast<int64_t>(d->slab_used);
  d->slab_used = (d->slab_used + used + 7) & ~static_cast<size_t>(7);
  return true;
}

void SocketHandle::DoRead(napi_env env) {
  int count = 0;
  size_t used = 0;
  int fds_used = 0;
  int status = kStatusOk;
  batch_names.clear();
  direct_bufs.clear();
  direct_bytes = 0;
  // Bounded loop: ECONNRESET is reported once, so it cannot spin.
  for (int rounds = 0; count < kMaxBatch && used < kMaxBatchBytes && rounds < 2 * kMaxBatch;
       rounds++) {
    // One more message may bring SCM_MAX_FD fds; only the first read of a
    // wakeup may go past the budget (which then bounds the overshoot).
    if (count > 0 && fds_used + kMaxFdsPerMessage > fd_budget_) break;
    const int r = type_ == SOCK_STREAM ? ReadStream(env, &count, &used, &fds_used)
                                       : ReadDatagrams(&count, &used, &fds_used);
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
  if (status == kStatusEof && reset_seen_) status = -ECONNRESET;
  if (status != kStatusOk) {
    // Final: no more reads, so a level-triggered POLLERR/POLLHUP cannot spin.
    eof_ = true;
    reading_ = false;
    UpdatePoll();
  }
  // Until JS takes them, the received fds are the library's (see Teardown).
  OwnFds(data_->fds, fds_used);
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
    // JS never saw this batch.
    for (int i = 0; i < fds_used; i++) {
      data_->teardown->owned_fds.erase(data_->fds[i]);
      CloseFd(data_->fds[i]);
    }
    return;
  }
  CallJs(env, *this, data_->onread, *context_, 5, argv);
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

// Copies the fds parsed from one message into the shared fds array.
int StoreFds(AddonData* d, int* fds_used) {
  const int n = static_cast<int>(fd_scratch.size());
  memcpy(d->fds + *fds_used, fd_scratch.data(), n * sizeof(int));
  *fds_used += n;
  fd_scratch.clear();
  return n;
}

}  // namespace

// A stream read that fills max_message_ is likely followed by another: that
// one goes straight into a new JS Buffer, as Node's net reads, and skips the
// copy out of the arena (stream 64 KiB, bench/README.md). A direct read that
// comes back under half full is copied to the arena after all, so a small
// message never pins a max_message_ Buffer.
int SocketHandle::ReadStream(napi_env env, int* count, size_t* used, int* fds_used) {
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
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof(control.buf);
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
  // A short read that brought no fds or credentials emptied the queue, as
  // libuv's uv__read assumes: skip the recvmsg that would only say EAGAIN
  // (one of a ping-pong hop's three socket syscalls, bench/README.md). The kernel
  // also ends a read early at an skb that carries fds or other credentials
  // (unix_stream_read_generic), so keep reading then; if the queue is not
  // empty after all, the level-triggered poll wakes us again.
  if (len < max_message_ && nfds == 0 && !creds.present) return 0;
  return 1;
}

int SocketHandle::ReadDatagrams(int* count, size_t* used, int* fds_used) {
  const int fd_slots = std::max(1, (fd_budget_ - *fds_used) / kMaxFdsPerMessage);
  const int size_slots = static_cast<int>(std::max<size_t>(1, kArenaBudget / max_message_));
  const int slots = std::min({kSlots, kMaxBatch - *count, fd_slots, size_slots});
  const size_t base = *used;
  if (!arena.Ensure(base + slots * max_message_)) return -ENOMEM;
  const bool named = type_ == SOCK_DGRAM;
  for (int i = 0; i < slots; i++) {
    recv_iovs[i] = {arena.data + base + i * max_message_, max_message_};
    struct msghdr& h = recv_hdrs[i].msg_hdr;
    memset(&h, 0, sizeof(h));
    h.msg_iov = &recv_iovs[i];
    h.msg_iovlen = 1;
    h.msg_control = recv_controls[i].buf;
    h.msg_controllen = sizeof(recv_controls[i].buf);
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
  for (int i = 0; i < n; i++) {
    struct msghdr& h = recv_hdrs[i].msg_hdr;
    const size_t len = recv_hdrs[i].msg_len;
    if (type_ == SOCK_SEQPACKET && len == 0 && h.msg_controllen == 0) {
      // A zero-length message and EOF both read as 0 (E8b). After EOF every
      // read returns 0, so a later non-empty slot proves this one was a
      // message; otherwise ask the kernel (SeqpacketEof).
      bool later = false;
      for (int j = i + 1; j < n && !later; j++) {
        later = recv_hdrs[j].msg_len > 0 || recv_hdrs[j].msg_hdr.msg_controllen > 0;
      }
      if (!later && SeqpacketEof()) return kStatusEof;
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
  }
  return n < slots ? 0 : 1;
}

bool SocketHandle::SeqpacketEof() {
  struct pollfd p = {fd_, POLLRDHUP, 0};
  if (RETRY_EINTR(poll(&p, 1, 0)) < 0) return true;
  if ((p.revents & (POLLRDHUP | POLLHUP)) == 0) return false;
  // The peer has shut down. A peek without a control buffer installs no fds
  // (E32) and tells whether anything is still queued behind the 0 we read.
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
  const int limit = fd_budget_ > 0 ? fd_budget_ : kAcceptPerWakeup;
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
  OwnFds(accepted.data(), static_cast<int>(accepted.size()));
  napi_value argv[2];
  bool ok = napi_create_int32(env, status, &argv[0]) == napi_ok &&
            napi_create_array_with_length(env, accepted.size(), &argv[1]) == napi_ok;
  for (size_t i = 0; ok && i < accepted.size(); i++) {
    napi_value fd;
    ok = napi_create_int32(env, accepted[i], &fd) == napi_ok &&
         napi_set_element(env, argv[1], static_cast<uint32_t>(i), fd) == napi_ok;
  }
  if (!ok) {
    for (int fd : accepted) {
      data_->teardown->owned_fds.erase(fd);
      CloseFd(fd);
    }
    accepted.clear();
    return;
  }
  accepted.clear();
  CallJs(env, *this, data_->onconnection, *context_, 2, argv);
}

}  // namespace ums
