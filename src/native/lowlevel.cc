// The general sendmsg(2)/recvmsg(2) of the low-level API (src/lowlevel.ts),
// shaped like Twisted's twisted.python.sendmsg: any control messages out,
// every control message back as [level, type, data].
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <memory>
#include <string>
#include <vector>

#include "cmsg.h"
#include "env_state.h"
#include "functions.h"
#include "inet_addr.h"
#include "js_values.h"
#include "sockaddr.h"
#include "syscall.h"

namespace ums {

namespace {

constexpr int kSendFlags = MSG_NOSIGNAL | MSG_DONTWAIT;

// Appends one [level, type, data] item (JS's own validated array) as a cmsg.
Read AppendControl(napi_env env, napi_value item, std::vector<struct cmsghdr>* control, size_t* used) {
  napi_value v[3];
  int level, type;
  struct iovec payload;
  for (uint32_t i = 0; i < 3; i++) {
    const Read r = Classify(napi_get_element(env, item, i, &v[i]));
    if (r != Read::kOk) return r;
  }
  Read r = GetInt(env, v[0], &level);
  if (r == Read::kOk) r = GetInt(env, v[1], &type);
  if (r == Read::kOk) r = ViewBytes(env, v[2], &payload);
  if (r != Read::kOk) return r;
  const size_t at = *used;
  *used += CMSG_SPACE(payload.iov_len);
  // Zeroed, and aligned for cmsghdr as CMSG_NXTHDR expects.
  control->resize((*used + sizeof(struct cmsghdr) - 1) / sizeof(struct cmsghdr));
  auto* c = reinterpret_cast<struct cmsghdr*>(reinterpret_cast<char*>(control->data()) + at);
  c->cmsg_level = level;
  c->cmsg_type = type;
  c->cmsg_len = CMSG_LEN(payload.iov_len);
  if (payload.iov_len > 0) memcpy(CMSG_DATA(c), payload.iov_base, payload.iov_len);
  return Read::kOk;
}

}  // namespace

// sendmsg(fd, buffers, ancillary [[level, type, data]...] | null, flags,
// address | null) -> bytes | -errno.
napi_value SendMsg(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  ArrayCall call;
  if (call.Nested()) return Int(env, -EINVAL);
  int fd, flags;
  UMS_READ(env, GetInt(env, args[0], &fd));
  UMS_READ(env, GetInt(env, args[3], &flags));
  // The buffers' bytes are taken last, once every value that may run JS
  // (the ancillary items' elements) has been read (js_values.h).
  std::vector<napi_value> views;
  UMS_READ(env, GatherViews(env, args[1], &views));
  if (views.size() > IOV_MAX) return Int(env, -EMSGSIZE);
  std::vector<struct cmsghdr> control;
  size_t control_len = 0;
  if (!IsNothing(env, args[2])) {
    bool is_array = false;
    uint32_t n = 0;
    if (napi_is_array(env, args[2], &is_array) != napi_ok) return nullptr;
    if (!is_array) return Int(env, -EINVAL);
    UMS_READ(env, Classify(napi_get_array_length(env, args[2], &n)));
    for (uint32_t i = 0; i < n; i++) {
      napi_value item;
      UMS_READ(env, Classify(napi_get_element(env, args[2], i, &item)));
      UMS_READ(env, AppendControl(env, item, &control, &control_len));
    }
  }
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  // A Unix address string, or an inet [family, host, port] (inet_addr.h).
  sockaddr_storage name;
  if (!IsNothing(env, args[4])) {
    socklen_t len = 0;
    int err;
    UMS_READ(env, GetSockAddr(env, args[4], &name, &len, &err));
    if (err < 0) return Int(env, err);
    msg.msg_name = &name;
    msg.msg_namelen = len;
  }
  std::vector<struct iovec> iov;
  UMS_READ(env, ViewsBytes(env, views.data(), views.size(), &iov));
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  msg.msg_control = control_len > 0 ? control.data() : nullptr;
  msg.msg_controllen = control_len;
  return Int(env, NegErrno(RETRY_EINTR(sendmsg(fd, &msg, flags | kSendFlags))));
}

namespace {

// One recvmsg(2) of the low-level API, and what it brought. msg points into
// this struct: it is filled and used in place, never copied.
struct Received {
  struct msghdr msg;
  sockaddr_storage name;  // any family (inet_addr.h)
  std::vector<struct cmsghdr> control;
  // The SCM_RIGHTS and SCM_PIDFD fds that arrived: the library's (FdLedger)
  // until JS hands the result over; ReceivedResult() closes them if the
  // result cannot be made.
  std::vector<int> fds;
  ssize_t n = 0;
};

// recvmsg(2) into iov, with room for CMSG_SPACE(cmsg_size) bytes of control
// messages, non-blocking, received fds close-on-exec. 0 | -errno.
int Receive(napi_env env, int fd, struct iovec* iov, size_t iovcnt, int cmsg_size, int flags, Received* r) {
  // Aligned for cmsghdr: CMSG_FIRSTHDR/CMSG_NXTHDR assume it.
  r->control.resize((CMSG_SPACE(cmsg_size) + sizeof(struct cmsghdr) - 1) / sizeof(struct cmsghdr));
  memset(&r->name, 0, sizeof(r->name));
  memset(&r->msg, 0, sizeof(r->msg));
  r->msg.msg_name = &r->name;
  r->msg.msg_namelen = sizeof(r->name);
  r->msg.msg_iov = iov;
  r->msg.msg_iovlen = iovcnt;
  r->msg.msg_control = cmsg_size > 0 ? r->control.data() : nullptr;
  r->msg.msg_controllen = cmsg_size > 0 ? CMSG_SPACE(cmsg_size) : 0;
  r->n = RETRY_EINTR(recvmsg(fd, &r->msg, flags | MSG_CMSG_CLOEXEC | MSG_DONTWAIT));
  if (r->n < 0) return -errno;
  if (r->msg.msg_controllen > 0) {
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&r->msg); c != nullptr; c = CMSG_NXTHDR(&r->msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || (c->cmsg_type != SCM_RIGHTS && c->cmsg_type != SCM_PIDFD)) continue;
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int one;
        memcpy(&one, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (one >= 0) r->fds.push_back(one);  // an SCM_PIDFD may be -errno (not installed)
      }
    }
  }
  OwnFds(env, r->fds.data(), static_cast<int>(r->fds.size()));
  return 0;
}

// { [key]: value, ancillary, flags, fds, address? } for what Receive() got;
// value nullptr means it could not be made. On any failure the fds that
// arrived are closed and the result is nullptr.
napi_value ReceivedResult(napi_env env, Received* r, const char* key, napi_value value) {
  napi_value result, anc, fd_list;
  void* copy;
  bool ok = value != nullptr && napi_create_object(env, &result) == napi_ok && SetNamed(env, result, key, value) &&
            napi_create_array(env, &anc) == napi_ok &&
            napi_create_array_with_length(env, r->fds.size(), &fd_list) == napi_ok;
  for (size_t i = 0; ok && i < r->fds.size(); i++) ok = SetElement(env, fd_list, i, Int(env, r->fds[i]));
  uint32_t k = 0;
  if (ok && r->msg.msg_controllen > 0) {
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&r->msg); ok && c != nullptr; c = CMSG_NXTHDR(&r->msg, c)) {
      napi_value item, payload;
      ok = napi_create_array_with_length(env, 3, &item) == napi_ok &&
           SetElement(env, item, 0, Int(env, c->cmsg_level)) && SetElement(env, item, 1, Int(env, c->cmsg_type)) &&
           napi_create_buffer_copy(env, c->cmsg_len - CMSG_LEN(0), CMSG_DATA(c), &copy, &payload) == napi_ok &&
           SetElement(env, item, 2, payload) && SetElement(env, anc, k++, item);
    }
  }
  ok = ok && SetNamed(env, result, "ancillary", anc) && SetNamed(env, result, "flags", Int(env, r->msg.msg_flags)) &&
       SetNamed(env, result, "fds", fd_list);
  if (ok && r->msg.msg_namelen > 0) {
    napi_value from = SockAddrValue(env, r->name, r->msg.msg_namelen);
    napi_valuetype kind = napi_null;
    ok = from != nullptr && napi_typeof(env, from, &kind) == napi_ok;
    if (ok && kind != napi_null) ok = SetNamed(env, result, "address", from);
  }
  if (!ok) {
    for (int one : r->fds) CloseOwnedFd(env, one);
    return nullptr;
  }
  return result;
}

}  // namespace

// recvmsg(fd, maxSize, cmsgSize, flags) -> { data, ancillary, flags, address?,
// fds } | -errno. `fds` lists the SCM_RIGHTS fds that arrived (Received).
napi_value RecvMsg(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd, max_size, cmsg_size, flags;
  UMS_READ(env, GetInt(env, args[0], &fd));
  UMS_READ(env, GetInt(env, args[1], &max_size));
  UMS_READ(env, GetInt(env, args[2], &cmsg_size));
  UMS_READ(env, GetInt(env, args[3], &flags));
  if (max_size < 0 || cmsg_size < 0 || cmsg_size > (1 << 20)) return Int(env, -EINVAL);
  // Not zero-filled: the kernel writes what arrives and only that is copied
  // out, so a large maxSize costs address space, not a page per KiB.
  std::unique_ptr<char, decltype(&free)> data(static_cast<char*>(malloc(max_size > 0 ? max_size : 1)), free);
  if (data == nullptr) return Int(env, -ENOMEM);
  struct iovec iov = {data.get(), static_cast<size_t>(max_size)};
  Received r;
  const int err = Receive(env, fd, &iov, 1, cmsg_size, flags, &r);
  if (err < 0) return Int(env, err);
  // With MSG_TRUNC passed in, n is the real length, which may exceed maxSize.
  const size_t got = std::min(static_cast<size_t>(r.n), static_cast<size_t>(max_size));
  napi_value buffer;
  void* copy;
  if (napi_create_buffer_copy(env, got, data.get(), &copy, &buffer) != napi_ok) buffer = nullptr;
  return ReceivedResult(env, &r, "data", buffer);
}

// recvmsgInto(fd, views, cmsgSize, flags) -> { bytes, ancillary, flags,
// address?, fds } | -errno: one recvmsg(2) with an iovec per view of JS's own
// array, filled in order. bytes is recvmsg's return (with MSG_TRUNC passed
// in, the real length, which may exceed the views).
napi_value RecvMsgInto(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  ArrayCall call;
  if (call.Nested()) return Int(env, -EINVAL);
  int fd, cmsg_size, flags;
  UMS_READ(env, GetInt(env, args[0], &fd));
  UMS_READ(env, GetInt(env, args[2], &cmsg_size));
  UMS_READ(env, GetInt(env, args[3], &flags));
  if (cmsg_size < 0 || cmsg_size > (1 << 20)) return Int(env, -EINVAL);
  // The views' bytes are taken last, after every read that may run JS
  // (js_values.h), and the syscall follows with no JS in between.
  std::vector<napi_value> views;
  UMS_READ(env, GatherViews(env, args[1], &views));
  if (views.size() > IOV_MAX) return Int(env, -EMSGSIZE);
  std::vector<struct iovec> iov;
  UMS_READ(env, ViewsBytes(env, views.data(), views.size(), &iov));
  Received r;
  const int err = Receive(env, fd, iov.data(), iov.size(), cmsg_size, flags, &r);
  if (err < 0) return Int(env, err);
  return ReceivedResult(env, &r, "bytes", Int(env, r.n));
}

}  // namespace ums
