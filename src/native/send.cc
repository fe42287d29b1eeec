// The send paths of the socket layer: send() for one message, sendBatch()
// for a sendmmsg(2) of many, as module functions that take the fd as their
// first argument and as SocketHandle methods on the handle's own fd (one
// implementation, send.h). What they read is a snapshot the TypeScript
// layer made and validated (socket.ts): its own arrays of byte views and fd
// numbers, so reading them runs no user code.
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cmsg.h"
#include "functions.h"
#include "js_values.h"
#include "send.h"
#include "sockaddr.h"
#include "syscall.h"

namespace ums {

namespace {

// Every send is non-blocking and never raises SIGPIPE.
constexpr int kSendFlags = MSG_NOSIGNAL | MSG_DONTWAIT;
// sendmmsg batch size per call; the JS side loops.
constexpr int kSendBatch = 64;

// One message's values, read first: reading them may run JS (a getter on a
// value that did not come from our TypeScript layer), which may detach a
// view read before it. So no view's bytes are taken until every value of
// the call has been read (js_values.h, GatherViews).
struct MessageValues {
  std::vector<napi_value> views;
  std::vector<int> fds;
  std::string address;
  bool has_address = false;
};

Read ReadMessage(napi_env env, napi_value data, napi_value fds_value, napi_value address, MessageValues* out) {
  out->views.clear();
  out->fds.clear();
  Read r = GatherViews(env, data, &out->views);
  if (r == Read::kOk) r = GetFds(env, fds_value, &out->fds);
  if (r == Read::kOk) r = GetAddress(env, address, &out->address, &out->has_address);
  return r;
}

// Fills one msghdr from values ReadMessage read; runs no JS. iov, control
// and name must outlive it. *err is 0, or the -errno the message fails with
// before any syscall.
Read PrepareMessage(napi_env env, const MessageValues& values, std::vector<struct iovec>* iov, SendControl* control,
                    sockaddr_un* name, struct msghdr* msg, int* err) {
  const Read r = ViewsBytes(env, values.views.data(), values.views.size(), iov);
  if (r != Read::kOk) return r;
  *err = 0;
  if (iov->size() > IOV_MAX) *err = -EMSGSIZE;
  if (values.fds.size() > static_cast<size_t>(kMaxFdsPerMessage)) *err = -EINVAL;
  memset(msg, 0, sizeof(*msg));
  if (values.has_address) {
    socklen_t len;
    const int e = EncodeAddress(values.address, name, &len);
    if (e < 0) *err = e;
    msg->msg_name = name;
    msg->msg_namelen = len;
  }
  if (*err != 0) return Read::kOk;
  msg->msg_iov = iov->data();
  msg->msg_iovlen = iov->size();
  const size_t clen = BuildRights(values.fds.data(), static_cast<int>(values.fds.size()), control);
  msg->msg_control = clen > 0 ? control->buf : nullptr;
  msg->msg_controllen = clen;
  return Read::kOk;
}

}  // namespace

napi_value SendMessage(napi_env env, const napi_value* argv, const int* fd) {
  ArrayCall call;
  if (call.Nested()) return Int(env, -EINVAL);
  int flags;
  UMS_READ(env, GetInt(env, argv[3], &flags));
  // Reused: vectors of their own cost a malloc and a free per message with fds.
  thread_local MessageValues values;
  thread_local std::vector<struct iovec> iov;
  thread_local SendControl control;
  iov.clear();
  sockaddr_un name;
  struct msghdr msg;
  int err;
  UMS_READ(env, ReadMessage(env, argv[0], argv[1], argv[2], &values));
  UMS_READ(env, PrepareMessage(env, values, &iov, &control, &name, &msg, &err));
  if (err < 0) return Int(env, err);
  return Int(env, NegErrno(RETRY_EINTR(sendmsg(*fd, &msg, flags | kSendFlags))));
}

// A short count means message start+count failed; its error comes from the
// next call (sendmmsg(2): "An error is returned only if no datagrams could
// be sent").
napi_value SendMessages(napi_env env, const napi_value* argv, const int* fd) {
  ArrayCall call;
  if (call.Nested()) return Int(env, -EINVAL);
  int start, end;
  UMS_READ(env, GetInt(env, argv[3], &start));
  UMS_READ(env, GetInt(env, argv[4], &end));
  bool is_array = false;
  uint32_t length = 0;
  if (napi_is_array(env, argv[0], &is_array) != napi_ok) return nullptr;
  if (!is_array) return Int(env, -EINVAL);
  UMS_READ(env, Classify(napi_get_array_length(env, argv[0], &length)));
  const bool has_fds = !IsNothing(env, argv[1]);
  const bool has_addresses = !IsNothing(env, argv[2]);
  // In 64 bits: end - start of two int32s can overflow an int.
  const int64_t wanted = static_cast<int64_t>(end) - start;
  const int count = static_cast<int>(std::min<int64_t>(wanted, kSendBatch));
  if (start < 0 || count <= 0 || static_cast<int64_t>(start) + count > length) return Int(env, -EINVAL);
  thread_local MessageValues values[kSendBatch];
  thread_local std::vector<struct iovec> iovs[kSendBatch];
  thread_local SendControl controls[kSendBatch];
  thread_local sockaddr_un names[kSendBatch];
  thread_local struct mmsghdr hdrs[kSendBatch];
  // Every value of every message first (ReadMessage), then the bytes.
  for (int i = 0; i < count; i++) {
    const uint32_t k = static_cast<uint32_t>(start + i);
    napi_value data, fds = nullptr, address = nullptr;
    UMS_READ(env, Classify(napi_get_element(env, argv[0], k, &data)));
    if (has_fds) UMS_READ(env, Classify(napi_get_element(env, argv[1], k, &fds)));
    if (has_addresses) UMS_READ(env, Classify(napi_get_element(env, argv[2], k, &address)));
    UMS_READ(env, ReadMessage(env, data, fds, address, &values[i]));
  }
  int prepared = 0;
  for (int i = 0; i < count; i++) {
    iovs[i].clear();
    int err;
    UMS_READ(env, PrepareMessage(env, values[i], &iovs[i], &controls[i], &names[i], &hdrs[i].msg_hdr, &err));
    if (err < 0) {
      // Send what precedes the bad message; it fails on its own next call.
      if (i == 0) return Int(env, err);
      break;
    }
    hdrs[i].msg_len = 0;
    prepared++;
  }
  return Int(env, NegErrno(RETRY_EINTR(sendmmsg(*fd, hdrs, prepared, kSendFlags))));
}

// send(fd, data, fds, address, flags) -> bytes | -errno.
napi_value Send(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd;
  UMS_READ(env, GetInt(env, args[0], &fd));
  return SendMessage(env, &args.argv[1], &fd);
}

// sendBatch(fd, datas[], fds[] | undefined, addresses[] | undefined, start, end)
// -> count | -errno.
napi_value SendBatch(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd;
  UMS_READ(env, GetInt(env, args[0], &fd));
  return SendMessages(env, &args.argv[1], &fd);
}

}  // namespace ums
