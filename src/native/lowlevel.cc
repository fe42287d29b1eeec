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
  sockaddr_un name;
  std::string addr;
  bool has_addr;
  UMS_READ(env, GetAddress(env, args[4], &addr, &has_addr));
  if (has_addr) {
    socklen_t len;
    const int r = EncodeAddress(addr, &name, &len);
    if (r < 0) return Int(env, r);
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

// recvmsg(fd, maxSize, cmsgSize, flags) -> { data, ancillary, flags, address?,
// fds } | -errno. `fds` lists the SCM_RIGHTS and SCM_PIDFD fds that arrived: they are the
// library's (FdLedger) until JS hands the result over, and closed here if
// the result cannot be made.
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
  // Aligned for cmsghdr: CMSG_FIRSTHDR/CMSG_NXTHDR assume it.
  std::vector<struct cmsghdr> control((CMSG_SPACE(cmsg_size) + sizeof(struct cmsghdr) - 1) / sizeof(struct cmsghdr));
  struct iovec iov = {data.get(), static_cast<size_t>(max_size)};
  sockaddr_un name;
  memset(&name, 0, sizeof(name));
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_name = &name;
  msg.msg_namelen = sizeof(name);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cmsg_size > 0 ? control.data() : nullptr;
  msg.msg_controllen = cmsg_size > 0 ? CMSG_SPACE(cmsg_size) : 0;
  const ssize_t n = RETRY_EINTR(recvmsg(fd, &msg, flags | MSG_CMSG_CLOEXEC | MSG_DONTWAIT));
  if (n < 0) return Int(env, -errno);
  // The fds that arrived, owned until JS takes the result.
  std::vector<int> fds;
  if (msg.msg_controllen > 0) {
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || (c->cmsg_type != SCM_RIGHTS && c->cmsg_type != SCM_PIDFD)) continue;
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int one;
        memcpy(&one, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (one >= 0) fds.push_back(one);  // an SCM_PIDFD may be -errno (not installed)
      }
    }
  }
  OwnFds(env, fds.data(), static_cast<int>(fds.size()));
  // With MSG_TRUNC passed in, n is the real length, which may exceed maxSize.
  const size_t got = std::min(static_cast<size_t>(n), static_cast<size_t>(max_size));
  napi_value result, buffer, anc, fd_list;
  void* copy;
  bool ok = napi_create_object(env, &result) == napi_ok &&
            napi_create_buffer_copy(env, got, data.get(), &copy, &buffer) == napi_ok &&
            SetNamed(env, result, "data", buffer) && napi_create_array(env, &anc) == napi_ok &&
            napi_create_array_with_length(env, fds.size(), &fd_list) == napi_ok;
  for (size_t i = 0; ok && i < fds.size(); i++) ok = SetElement(env, fd_list, i, Int(env, fds[i]));
  uint32_t k = 0;
  if (ok && msg.msg_controllen > 0) {
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); ok && c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      napi_value item, payload;
      ok = napi_create_array_with_length(env, 3, &item) == napi_ok &&
           SetElement(env, item, 0, Int(env, c->cmsg_level)) && SetElement(env, item, 1, Int(env, c->cmsg_type)) &&
           napi_create_buffer_copy(env, c->cmsg_len - CMSG_LEN(0), CMSG_DATA(c), &copy, &payload) == napi_ok &&
           SetElement(env, item, 2, payload) && SetElement(env, anc, k++, item);
    }
  }
  ok = ok && SetNamed(env, result, "ancillary", anc) && SetNamed(env, result, "flags", Int(env, msg.msg_flags)) &&
       SetNamed(env, result, "fds", fd_list);
  std::string addr;
  if (ok && DecodeAddress(name, msg.msg_namelen, &addr)) {
    napi_value s;
    ok = napi_create_string_utf8(env, addr.data(), addr.size(), &s) == napi_ok && SetNamed(env, result, "address", s);
  }
  if (!ok) {
    for (int one : fds) CloseOwnedFd(env, one);
    return nullptr;
  }
  return result;
}

}  // namespace ums
