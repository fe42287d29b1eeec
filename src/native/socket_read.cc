// SocketHandle's read path: a wakeup's batch of messages, read with
// recvmsg(2) (stream) or recvmmsg(2) (seqpacket, datagram) into a per-thread
// arena, each message's record written to the shared meta array (MetaField)
// and its fds to the shared fds array, then handed to JS in one onread call
// (DoRead). Which fds a read may bring is decided here too: every read is
// checked against the process's fd room first (fd_room.h).
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "cmsg.h"
#include "fd_room.h"
#include "js_call.h"
#include "js_values.h"
#include "sockaddr.h"
#include "socket_handle.h"
#include "syscall.h"

namespace ums {

namespace {

// recvmmsg slots per call. Slots are max_message_ bytes each; only the bytes
// the kernel writes are touched, so a large slot costs address space, not RSS.
constexpr int kSlots = 64;
// Address space one recvmmsg call may reserve (slots x maxMessageSize).
constexpr size_t kArenaBudget = 64u << 20;
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
  if (!direct && used <= kSlabBatch) return data_->SlabCopy(env, arena.data, used, out, base);
  if (!direct && used <= kCopyChunk) return napi_create_buffer_copy(env, used, arena.data, &copy, out) == napi_ok;
  if (napi_create_array_with_length(env, count, out) != napi_ok) return false;
  size_t offset = 0;
  for (int i = 0; i < count; i++) {
    napi_value one = i < static_cast<int>(direct_bufs.size()) ? direct_bufs[i] : nullptr;
    if (one == nullptr) {
      const size_t len = static_cast<size_t>(data_->meta()[i * kMetaStride + kMetaLength]);
      if (napi_create_buffer_copy(env, len, arena.data + offset, &copy, &one) != napi_ok) return false;
      offset += len;
    }
    if (napi_set_element(env, *out, i, one) != napi_ok) return false;
  }
  return true;
}

// Closes the fds of a batch JS will never see.
void SocketHandle::CloseReceived(int count) {
  for (int i = 0; i < count; i++) data_->ledger()->Close(data_->fds()[i]);
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
  // A pidfd (passPidfd) counts as one more fd per read (ReadCost).
  // A framed stream in the middle of a message (frame_rest_, JS's
  // FrameAssembler) reads only that message's rest and asks for no fds. By
  // the format's sender rule no fds come before the next message's header,
  // and the kernel detaches fds only from an skb it copies from
  // (unix_stream_read_generic), so a read that stops at the rest never takes
  // the next message's fds (any that come are the peer's error, dropped with
  // MSG_CTRUNC). And it needs no fd room: the fds JS holds for the message
  // can only be freed by finishing it, so waiting for room would wait forever
  // under a low RLIMIT_NOFILE.
  size_t rest = type_ == SOCK_STREAM ? frame_rest_ : 0;
  const int max_fds = rest > 0 ? 0 : max_fds_;
  int room = INT32_MAX;
  int per_read = max_fds > 0 ? 1 : 0;
  const int cost = ReadCost(max_fds);
  if (cost > 0) {
    const fd_room::Room r = fd_room::Free(cost + kFdReserve, fds_flowing_);
    const int reserve = std::min(kFdReserve, r.limit / 8);
    if (max_fds > 0) per_read = std::max(1, std::min(max_fds, r.limit / 2));
    room = r.free - reserve;
  }
  const int limit = std::min(fd_budget_, room);
  // Bounded loop: ECONNRESET is reported once, so it cannot spin.
  for (int rounds = 0; count < kMaxBatch && used < kMaxBatchBytes && rounds < 2 * kMaxBatch; rounds++) {
    const int ask = max_fds == 0 || fds_used + cost <= limit ? max_fds : per_read;
    if (cost > 0 && fds_used + ReadCost(ask) > limit) {
      // Nothing read: say so, or level-triggered polling would call again
      // at once, forever. (JS never asks for a budget below ReadCost(max_fds_), so
      // here the room is short; a budget below it reads nothing either.)
      if (count == 0) status = kStatusNoFdRoom;
      break;
    }
    const size_t before = used;
    const int r = type_ == SOCK_STREAM ? ReadStream(env, ask, rest > 0 ? std::min(rest, max_message_) : max_message_,
                                                    &count, &used, &fds_used)
                                       : ReadDatagrams(limit, ask, &count, &used, &fds_used);
    if (rest > 0) {
      // The message is whole: JS cuts it off before the next read (readStart).
      rest -= std::min(rest, used - before);
      frame_rest_ = rest;
      if (rest == 0 && r > 0) break;
    }
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
  bool ok = napi_create_uint32(env, count, &argv[0]) == napi_ok && MessageBytes(env, count, used, &argv[1], &base) &&
            napi_create_int32(env, status, &argv[2]) == napi_ok &&
            (base < 0 ? napi_get_undefined(env, &argv[4])
                      : napi_create_uint32(env, static_cast<uint32_t>(base), &argv[4])) == napi_ok;
  if (ok && batch_names.empty()) {
    ok = napi_get_undefined(env, &argv[3]) == napi_ok;
  } else if (ok) {
    ok = napi_create_array_with_length(env, count, &argv[3]) == napi_ok;
    for (size_t i = 0; ok && i < batch_names.size(); i++) {
      napi_value name = AddressValue(env, batch_names[i].second);
      ok = name != nullptr && napi_set_element(env, argv[3], batch_names[i].first, name) == napi_ok;
    }
  }
  if (!ok) {
    CloseReceived(fds_used);  // JS never saw this batch
    return;
  }
  CallJs(env, wrapper_, data_->onread(), context_, 5, argv);
}

namespace {

void RecordMessage(AddonData* d, int index, size_t length, int msg_flags, int fd_count, const Credentials& creds,
                   bool pidfd) {
  int32_t* m = d->meta() + index * kMetaStride;
  m[kMetaLength] = static_cast<int32_t>(length);
  m[kMetaFlags] = ((msg_flags & MSG_TRUNC) ? kFlagTruncated : 0) | ((msg_flags & MSG_CTRUNC) ? kFlagFdsTruncated : 0) |
                  (creds.present ? kFlagCredentials : 0) | (pidfd ? kFlagPidfd : 0);
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
    memcpy(d->fds() + *fds_used, fd_scratch.data(), n * sizeof(int));
    d->ledger()->Own(fd_scratch.data(), n);
  }
  *fds_used += n;
  fd_scratch.clear();
  return n;
}

}  // namespace

// The kernel sizes SCM_RIGHTS from all the room left in the control buffer
// (scm_detach_fds), so the room ControlLength keeps after them for the
// SCM_PIDFD lets a few more in when a sender sends more than `ask`: they
// are closed here, before anything counts them, and the message arrives
// fdsTruncated, as it would without passPidfd. The pidfd itself did not
// fit then (put_cmsg sets MSG_CTRUNC and the kernel installs none).
bool SocketHandle::DropExtraFds(int ask) {
  if (static_cast<int>(fd_scratch.size()) <= ask) return false;
  for (size_t i = ask; i < fd_scratch.size(); i++) CloseFd(fd_scratch[i]);
  fd_scratch.resize(ask);
  return true;
}

// Room for exactly `fds` fds (and the credentials first, when they come:
// the kernel writes SCM_CREDENTIALS before SCM_RIGHTS and sizes the fds from
// what is left). The last cmsg is measured with CMSG_LEN, not CMSG_SPACE: the
// padding of an odd count would fit one more fd. With the full SCM_MAX_FD
// the whole buffer is offered: no sender can pass more. With passPidfd the
// SCM_PIDFD comes last (scm_recv_unix): the fds get their CMSG_SPACE and
// the pidfd its CMSG_LEN (DropExtraFds).
size_t SocketHandle::ControlLength(int fds) const {
  if (fds >= kMaxFdsPerMessage) return sizeof(RecvControl::buf);
  const size_t creds = pass_credentials_ ? CMSG_SPACE(sizeof(struct ucred)) : 0;
  if (pass_pidfd_) return creds + (fds > 0 ? CMSG_SPACE(sizeof(int) * fds) : 0) + CMSG_LEN(sizeof(int));
  return creds + (fds > 0 ? CMSG_LEN(sizeof(int) * fds) : 0);
}

// A stream read that fills max_message_ is likely followed by another: that
// one goes straight into a new JS Buffer, as Node's net reads, and skips the
// copy out of the arena (stream 64 KiB, bench/README.md). A direct read that
// comes back under half full is copied to the arena after all, so a small
// message never pins a max_message_ Buffer.
int SocketHandle::ReadStream(napi_env env, int ask, size_t size, int* count, size_t* used, int* fds_used) {
  const size_t arena_used = *used - direct_bytes;
  napi_value direct = nullptr;
  char* dst = nullptr;
  if (read_direct_) {
    void* data;
    if (napi_create_buffer(env, size, &data, &direct) == napi_ok) {
      dst = static_cast<char*>(data);
    } else {
      direct = nullptr;
    }
  }
  if (direct == nullptr) {
    if (!arena.Ensure(arena_used + size)) return -ENOMEM;
    dst = arena.data + arena_used;
  }
  struct iovec iov = {dst, size};
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
  int pidfd = -1;
  ParseControl(&msg, &fd_scratch, &creds, pass_pidfd_ ? &pidfd : nullptr);
  const bool dropped = DropExtraFds(ask);
  const int rights = static_cast<int>(fd_scratch.size());
  if (pidfd >= 0) fd_scratch.push_back(pidfd);
  if (n == 0 && fd_scratch.empty()) return kStatusEof;
  const size_t len = static_cast<size_t>(n);
  read_direct_ = len == max_message_;
  if (direct != nullptr && len < size / 2) {
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
  RecordMessage(data_, *count, len, msg.msg_flags | (dropped ? MSG_CTRUNC : 0), nfds, creds, pidfd >= 0);
  *used += len;
  (*count)++;
  if (InstallFailed(msg.msg_flags, rights, ask)) return 0;
  // A short read that brought no fds or credentials emptied the queue, as
  // libuv's uv__read assumes: skip the recvmsg that would only say EAGAIN
  // (one of a ping-pong hop's three socket syscalls, bench/README.md). The kernel
  // also ends a read early at an skb that carries fds or other credentials
  // (unix_stream_read_generic), so keep reading then; if the queue is not
  // empty after all, the level-triggered poll wakes us again.
  if (len < size && nfds == 0 && !creds.present) return 0;
  return 1;
}

// limit: the fds this wakeup may still add (DoRead); each slot asks for
// `ask` of them.
int SocketHandle::InstallBound(int ask) const {
  if (!pass_pidfd_ || ask >= kMaxFdsPerMessage) return ReadCost(ask);
  // Credentials' room counted as fds too: an upper bound either way.
  const int room = static_cast<int>((ControlLength(ask) - CMSG_LEN(0)) / sizeof(int));
  return std::max(ReadCost(ask), std::min(room, kMaxFdsPerMessage));
}

int SocketHandle::ReadDatagrams(int limit, int ask, int* count, size_t* used, int* fds_used) {
  // Every slot's fds are installed before any extra one is closed, so the
  // slots are counted at InstallBound; one slot whenever ReadCost fits (DoRead
  // checked), as its extras come after the fds it keeps.
  int fd_slots = ReadCost(ask) == 0 ? kSlots : (limit - *fds_used) / ReadCost(ask);
  if (fd_slots > 0 && ReadCost(ask) > 0) fd_slots = std::max(1, (limit - *fds_used) / InstallBound(ask));
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
    int pidfd = -1;
    ParseControl(&h, &fd_scratch, &creds, pass_pidfd_ ? &pidfd : nullptr);
    const bool dropped = DropExtraFds(ask);
    const int rights = static_cast<int>(fd_scratch.size());
    if (pidfd >= 0) fd_scratch.push_back(pidfd);
    const int nfds = StoreFds(data_, fds_used);
    char* from = arena.data + base + i * max_message_;
    if (from != arena.data + *used) memmove(arena.data + *used, from, len);
    RecordMessage(data_, *count, len, h.msg_flags | (dropped ? MSG_CTRUNC : 0), nfds, creds, pidfd >= 0);
    std::string name;
    if (named && DecodeAddress(recv_names[i], h.msg_namelen, &name)) {
      batch_names.emplace_back(*count, std::move(name));
    }
    *used += len;
    (*count)++;
    if (InstallFailed(h.msg_flags, rights, ask)) short_room = true;
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

}  // namespace ums
