// Module entry: per-env setup and teardown, constants, and the fd-level
// syscalls. Every function returns a result or -errno and never throws for a
// system error; the TypeScript layer turns -errno into Node-shaped errors.
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <string>
#include <vector>

#include "cmsg.h"
#include "env_state.h"
#include "inet.h"
#include "js_values.h"
#include "napi.h"
#include "socket_handle.h"
#include "sockaddr.h"
#include "syscall.h"

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif

namespace ums {
namespace {

// Every send is non-blocking and never raises SIGPIPE (checklist item 11).
constexpr int kSendFlags = MSG_NOSIGNAL | MSG_DONTWAIT;
// sendmmsg batch size per call; the JS side loops.
constexpr int kSendBatch = 64;

Napi::Number Int(Napi::Env env, long v) { return Napi::Number::New(env, static_cast<double>(v)); }

Napi::Value Address(Napi::Env env, int r, const sockaddr_un& addr, socklen_t len) {
  if (r < 0) return Int(env, -errno);
  std::string name;
  if (!DecodeAddress(addr, len, &name)) return env.Null();
  return Napi::String::New(env, name);
}

bool ArgAddress(const Napi::CallbackInfo& info, size_t i, sockaddr_un* addr, socklen_t* len,
                int* err) {
  std::string name;
  bool present;
  if (!GetAddress(info.Env(), info[i], &name, &present)) return false;
  *err = EncodeAddress(present ? name : std::string(), addr, len);
  return true;
}

bool ArgInt32Array(const Napi::CallbackInfo& info, size_t i, size_t min, Napi::Int32Array* out) {
  const bool ok = info.Length() > i && info[i].IsTypedArray() &&
                  info[i].As<Napi::TypedArray>().TypedArrayType() == napi_int32_array &&
                  info[i].As<Napi::TypedArray>().ElementLength() >= min;
  if (!Require(info.Env(), ok, "expected an Int32Array out-argument")) return false;
  *out = info[i].As<Napi::Int32Array>();
  return true;
}

// setup({ meta, fds, onread, onwritable, onconnection }) -> { meta, fds }.
// The first call per env wins; later ones (a second copy of binding.ts, as
// with jest module registries or src/ and dist/ loaded together) get the
// arrays already in use, so every copy reads the same batch records.
Napi::Value Setup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AddonData* d = env.GetInstanceData<AddonData>();
  if (d->meta == nullptr) {
    if (!Require(env, info.Length() > 0 && info[0].IsObject(), "setup expects an object")) {
      return env.Undefined();
    }
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::Value meta = o.Get("meta"), fds = o.Get("fds");
    Napi::Value onread = o.Get("onread"), onwritable = o.Get("onwritable"),
                onconnection = o.Get("onconnection");
    const bool ok = meta.IsTypedArray() && fds.IsTypedArray() &&
                    meta.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array &&
                    fds.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array &&
                    meta.As<Napi::TypedArray>().ElementLength() >= kMaxBatch * kMetaStride &&
                    fds.As<Napi::TypedArray>().ElementLength() >= kMaxBatch * kMaxFdsPerMessage &&
                    onread.IsFunction() && onwritable.IsFunction() && onconnection.IsFunction();
    if (!Require(env, ok, "setup: bad arguments")) return env.Undefined();
    d->meta_ref = Napi::Persistent(meta.As<Napi::Int32Array>());
    d->fds_ref = Napi::Persistent(fds.As<Napi::Int32Array>());
    d->meta = meta.As<Napi::Int32Array>().Data();
    d->fds = fds.As<Napi::Int32Array>().Data();
    d->onread = Napi::Persistent(onread.As<Napi::Function>());
    d->onwritable = Napi::Persistent(onwritable.As<Napi::Function>());
    d->onconnection = Napi::Persistent(onconnection.As<Napi::Function>());
  }
  Napi::Object shared = Napi::Object::New(env);
  shared.Set("meta", d->meta_ref.Value());
  shared.Set("fds", d->fds_ref.Value());
  return shared;
}

Napi::Value Socket(const Napi::CallbackInfo& info) {
  int type;
  if (!ArgInt(info, 0, &type)) return info.Env().Undefined();
  return Int(info.Env(), NegErrno(RETRY_EINTR(socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0))));
}

// socketpair(type, out[2]) -> 0 | -errno
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  int type;
  Napi::Int32Array out;
  if (!ArgInt(info, 0, &type) || !ArgInt32Array(info, 1, 2, &out)) return info.Env().Undefined();
  int sv[2];
  if (RETRY_EINTR(socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)) < 0) {
    return Int(info.Env(), -errno);
  }
  out[0] = sv[0];
  out[1] = sv[1];
  return Int(info.Env(), 0);
}

// dup(fd, owned): F_DUPFD_CLOEXEC. With owned = true the copy is recorded as
// the library's (Teardown::owned_fds) until close() or disown().
Napi::Value Dup(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgInt(info, 0, &fd)) return info.Env().Undefined();
  const int r = NegErrno(RETRY_EINTR(fcntl(fd, F_DUPFD_CLOEXEC, 0)));
  if (r >= 0 && info.Length() > 1 && info[1].ToBoolean().Value()) {
    info.Env().GetInstanceData<AddonData>()->teardown->owned_fds.insert(r);
  }
  return Int(info.Env(), r);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgInt(info, 0, &fd)) return info.Env().Undefined();
  info.Env().GetInstanceData<AddonData>()->teardown->owned_fds.erase(fd);
  return Int(info.Env(), NegErrno(close(fd)));
}

// closeAll(fds): close() for a list, in one call. The pool's primary closes
// its copies of every connection it hands off (bench/README.md, hand-off
// profile: one N-API call per fd cost as much as the close itself).
Napi::Value CloseAll(const Napi::CallbackInfo& info) {
  std::vector<int> fds;
  if (!GetFds(info.Env(), info[0], &fds)) return info.Env().Undefined();
  auto& owned = info.Env().GetInstanceData<AddonData>()->teardown->owned_fds;
  for (int fd : fds) {
    owned.erase(fd);
    close(fd);
  }
  return info.Env().Undefined();
}

// disown(fds): these fds now belong to the consumer (a delivered message).
Napi::Value Disown(const Napi::CallbackInfo& info) {
  std::vector<int> fds;
  if (!GetFds(info.Env(), info[0], &fds)) return info.Env().Undefined();
  auto& owned = info.Env().GetInstanceData<AddonData>()->teardown->owned_fds;
  for (int fd : fds) owned.erase(fd);
  return info.Env().Undefined();
}

Napi::Value Bind(const Napi::CallbackInfo& info) {
  int fd, err;
  sockaddr_un addr;
  socklen_t len;
  if (!ArgInt(info, 0, &fd) || !ArgAddress(info, 1, &addr, &len, &err)) {
    return info.Env().Undefined();
  }
  if (err < 0) return Int(info.Env(), err);
  return Int(info.Env(), NegErrno(RETRY_EINTR(bind(fd, reinterpret_cast<sockaddr*>(&addr), len))));
}

Napi::Value Connect(const Napi::CallbackInfo& info) {
  int fd, err;
  sockaddr_un addr;
  socklen_t len;
  if (!ArgInt(info, 0, &fd) || !ArgAddress(info, 1, &addr, &len, &err)) {
    return info.Env().Undefined();
  }
  if (err < 0) return Int(info.Env(), err);
  // Not retried on EINTR: a second connect() would report EALREADY/EISCONN
  // for a connection already in progress, so EINTR is handled like
  // EINPROGRESS by the caller (wait for writable, then read SO_ERROR).
  return Int(info.Env(), NegErrno(connect(fd, reinterpret_cast<sockaddr*>(&addr), len)));
}

Napi::Value Listen(const Napi::CallbackInfo& info) {
  int fd, backlog;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &backlog)) return info.Env().Undefined();
  return Int(info.Env(), NegErrno(RETRY_EINTR(listen(fd, backlog))));
}

Napi::Value Accept(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgInt(info, 0, &fd)) return info.Env().Undefined();
  return Int(info.Env(),
             NegErrno(RETRY_EINTR(accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC))));
}

Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  int fd, how;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &how)) return info.Env().Undefined();
  return Int(info.Env(), NegErrno(RETRY_EINTR(shutdown(fd, how))));
}

// getsockopt(fd, level, name, out[1]) -> 0 | -errno, for integer options.
Napi::Value GetSockOpt(const Napi::CallbackInfo& info) {
  int fd, level, name;
  Napi::Int32Array out;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &level) || !ArgInt(info, 2, &name) ||
      !ArgInt32Array(info, 3, 1, &out)) {
    return info.Env().Undefined();
  }
  int value = 0;
  socklen_t len = sizeof(value);
  if (RETRY_EINTR(getsockopt(fd, level, name, &value, &len)) < 0) return Int(info.Env(), -errno);
  out[0] = value;
  return Int(info.Env(), 0);
}

Napi::Value SetSockOpt(const Napi::CallbackInfo& info) {
  int fd, level, name, value;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &level) || !ArgInt(info, 2, &name) ||
      !ArgInt(info, 3, &value)) {
    return info.Env().Undefined();
  }
  return Int(info.Env(), NegErrno(RETRY_EINTR(setsockopt(fd, level, name, &value, sizeof(value)))));
}

Napi::Value GetSockName(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgInt(info, 0, &fd)) return info.Env().Undefined();
  sockaddr_un addr;
  socklen_t len = sizeof(addr);
  const int r = RETRY_EINTR(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len));
  return Address(info.Env(), r, addr, len);
}

Napi::Value GetPeerName(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgInt(info, 0, &fd)) return info.Env().Undefined();
  sockaddr_un addr;
  socklen_t len = sizeof(addr);
  const int r = RETRY_EINTR(getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len));
  return Address(info.Env(), r, addr, len);
}

// peercred(fd, out[3] = pid, uid, gid) -> 0 | -errno
Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  int fd;
  Napi::Int32Array out;
  if (!ArgInt(info, 0, &fd) || !ArgInt32Array(info, 1, 3, &out)) return info.Env().Undefined();
  struct ucred uc;
  socklen_t len = sizeof(uc);
  if (RETRY_EINTR(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len)) < 0) return Int(info.Env(), -errno);
  out[0] = uc.pid;
  out[1] = static_cast<int32_t>(uc.uid);
  out[2] = static_cast<int32_t>(uc.gid);
  return Int(info.Env(), 0);
}

// Fills one msghdr for the fast send paths. iov and control must outlive it.
bool PrepareMessage(Napi::Env env, Napi::Value data, Napi::Value fds_value,
                    Napi::Value address, std::vector<struct iovec>* iov, SendControl* control,
                    sockaddr_un* name, struct msghdr* msg, int* err) {
  // Reused: a vector of its own cost a malloc and a free per message with fds.
  // BuildRights copies the fds out before the next message is prepared.
  thread_local std::vector<int> fds;
  fds.clear();
  std::string addr;
  bool has_addr;
  if (!GatherBytes(env, data, iov) || !GetFds(env, fds_value, &fds) ||
      !GetAddress(env, address, &addr, &has_addr)) {
    return false;
  }
  *err = 0;
  if (iov->size() > IOV_MAX) *err = -EMSGSIZE;
  if (fds.size() > static_cast<size_t>(kMaxFdsPerMessage)) *err = -EINVAL;
  memset(msg, 0, sizeof(*msg));
  if (has_addr) {
    socklen_t len;
    const int r = EncodeAddress(addr, name, &len);
    if (r < 0) *err = r;
    msg->msg_name = name;
    msg->msg_namelen = len;
  }
  if (*err != 0) return true;
  msg->msg_iov = iov->data();
  msg->msg_iovlen = iov->size();
  const size_t clen = BuildRights(fds.data(), static_cast<int>(fds.size()), control);
  msg->msg_control = clen > 0 ? control->buf : nullptr;
  msg->msg_controllen = clen;
  return true;
}

// send(fd, data, fds, address, flags) -> bytes | -errno. data is one byte view
// or an array of them (gathered into one sendmsg).
Napi::Value Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd, flags;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 4, &flags)) return env.Undefined();
  thread_local std::vector<struct iovec> iov;
  thread_local SendControl control;
  iov.clear();
  sockaddr_un name;
  struct msghdr msg;
  int err;
  if (!PrepareMessage(env, info[1], info[2], info[3], &iov, &control, &name, &msg, &err)) {
    return env.Undefined();
  }
  if (err < 0) return Int(env, err);
  return Int(env, NegErrno(RETRY_EINTR(sendmsg(fd, &msg, flags | kSendFlags))));
}

// sendBatch(fd, datas[], fds[] | null, addresses[] | null, start, end) -> count | -errno.
// One sendmmsg for messages [start, end), at most kSendBatch of them. A short
// count means message start+count failed; its error comes from the next call
// (sendmmsg(2): "An error is returned only if no datagrams could be sent").
Napi::Value SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd, start, end;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 4, &start) || !ArgInt(info, 5, &end)) {
    return env.Undefined();
  }
  if (!Require(env, info[1].IsArray(), "sendBatch expects an array of data")) return env.Undefined();
  Napi::Array datas = info[1].As<Napi::Array>();
  const bool has_fds = info[2].IsArray();
  Napi::Array fdss = has_fds ? info[2].As<Napi::Array>() : Napi::Array();
  const bool has_addresses = info[3].IsArray();
  Napi::Array addresses = has_addresses ? info[3].As<Napi::Array>() : Napi::Array();
  const int count = std::min(end - start, kSendBatch);
  if (count <= 0 || static_cast<uint32_t>(start + count) > datas.Length()) return Int(env, -EINVAL);
  thread_local std::vector<struct iovec> iovs[kSendBatch];
  thread_local SendControl controls[kSendBatch];
  thread_local sockaddr_un names[kSendBatch];
  thread_local struct mmsghdr hdrs[kSendBatch];
  int prepared = 0;
  for (int i = 0; i < count; i++) {
    iovs[i].clear();
    int err;
    const uint32_t k = static_cast<uint32_t>(start + i);
    if (!PrepareMessage(env, datas.Get(k), has_fds ? fdss.Get(k) : Napi::Value(),
                        has_addresses ? addresses.Get(k) : Napi::Value(), &iovs[i], &controls[i],
                        &names[i], &hdrs[i].msg_hdr, &err)) {
      return env.Undefined();
    }
    if (err < 0) {
      // Send what precedes the bad message; it fails on its own next call.
      if (i == 0) return Int(env, err);
      break;
    }
    hdrs[i].msg_len = 0;
    prepared++;
  }
  return Int(env, NegErrno(RETRY_EINTR(sendmmsg(fd, hdrs, prepared, kSendFlags))));
}

// sendmsg(fd, buffers[], ancillary[[level, type, data]], flags, address)
// -> bytes | -errno. The general form for the low-level API.
Napi::Value SendMsg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd, flags;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 3, &flags)) return env.Undefined();
  std::vector<struct iovec> iov;
  if (!GatherBytes(env, info[1], &iov)) return env.Undefined();
  if (iov.size() > IOV_MAX) return Int(env, -EMSGSIZE);
  std::vector<char> control;
  if (info[2].IsArray()) {
    Napi::Array anc = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < anc.Length(); i++) {
      Napi::Value item = anc.Get(i);
      if (!Require(env, item.IsArray() && item.As<Napi::Array>().Length() == 3,
                   "ancillary items are [level, type, data]")) {
        return env.Undefined();
      }
      Napi::Array t = item.As<Napi::Array>();
      std::vector<struct iovec> payload;
      if (!Require(env, t.Get(0u).IsNumber() && t.Get(1u).IsNumber(),
                   "ancillary level and type must be numbers") ||
          !AppendBytes(env, t.Get(2u), &payload)) {
        return env.Undefined();
      }
      const size_t at = control.size();
      control.resize(at + CMSG_SPACE(payload[0].iov_len), 0);
      struct cmsghdr* c = reinterpret_cast<struct cmsghdr*>(control.data() + at);
      c->cmsg_level = t.Get(0u).As<Napi::Number>().Int32Value();
      c->cmsg_type = t.Get(1u).As<Napi::Number>().Int32Value();
      c->cmsg_len = CMSG_LEN(payload[0].iov_len);
      if (payload[0].iov_len > 0) memcpy(CMSG_DATA(c), payload[0].iov_base, payload[0].iov_len);
    }
  }
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  sockaddr_un name;
  std::string addr;
  bool has_addr;
  if (!GetAddress(env, info[4], &addr, &has_addr)) return env.Undefined();
  if (has_addr) {
    socklen_t len;
    const int r = EncodeAddress(addr, &name, &len);
    if (r < 0) return Int(env, r);
    msg.msg_name = &name;
    msg.msg_namelen = len;
  }
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  msg.msg_control = control.empty() ? nullptr : control.data();
  msg.msg_controllen = control.size();
  return Int(env, NegErrno(RETRY_EINTR(sendmsg(fd, &msg, flags | kSendFlags))));
}

// recvmsg(fd, maxSize, cmsgSize, flags) -> { data, ancillary, flags, address }
// | -errno. Received fds are close-on-exec and belong to the caller.
Napi::Value RecvMsg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd, max_size, cmsg_size, flags;
  if (!ArgInt(info, 0, &fd) || !ArgInt(info, 1, &max_size) || !ArgInt(info, 2, &cmsg_size) ||
      !ArgInt(info, 3, &flags)) {
    return env.Undefined();
  }
  if (max_size < 0 || cmsg_size < 0) return Int(env, -EINVAL);
  std::vector<char> data(max_size > 0 ? max_size : 1);
  // Aligned for cmsghdr: CMSG_FIRSTHDR/CMSG_NXTHDR assume it.
  std::vector<struct cmsghdr> control((CMSG_SPACE(cmsg_size) + sizeof(struct cmsghdr) - 1) /
                                      sizeof(struct cmsghdr));
  struct iovec iov = {data.data(), static_cast<size_t>(max_size)};
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
  const ssize_t n =
      RETRY_EINTR(recvmsg(fd, &msg, flags | MSG_CMSG_CLOEXEC | MSG_DONTWAIT));
  if (n < 0) return Int(env, -errno);
  Napi::Object result = Napi::Object::New(env);
  // With MSG_TRUNC passed in, n is the real length, which may exceed maxSize.
  const size_t got = std::min(static_cast<size_t>(n), static_cast<size_t>(max_size));
  result.Set("data", Napi::Buffer<char>::Copy(env, data.data(), got));
  Napi::Array anc = Napi::Array::New(env);
  uint32_t k = 0;
  if (msg.msg_controllen > 0) {
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      Napi::Array item = Napi::Array::New(env, 3);
      item.Set(0u, Int(env, c->cmsg_level));
      item.Set(1u, Int(env, c->cmsg_type));
      item.Set(2u, Napi::Buffer<char>::Copy(env, reinterpret_cast<char*>(CMSG_DATA(c)),
                                            c->cmsg_len - CMSG_LEN(0)));
      anc.Set(k++, item);
    }
  }
  result.Set("ancillary", anc);
  result.Set("flags", Int(env, msg.msg_flags));
  std::string addr;
  if (DecodeAddress(name, msg.msg_namelen, &addr)) result.Set("address", Napi::String::New(env, addr));
  return result;
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
#define UMS_CONSTANT(name) c.Set(#name, Int(env, name))
  UMS_CONSTANT(AF_UNIX);
  UMS_CONSTANT(SOCK_STREAM);
  UMS_CONSTANT(SOCK_DGRAM);
  UMS_CONSTANT(SOCK_SEQPACKET);
  UMS_CONSTANT(SOL_SOCKET);
  UMS_CONSTANT(SCM_RIGHTS);
  UMS_CONSTANT(SCM_CREDENTIALS);
  UMS_CONSTANT(SCM_PIDFD);
  UMS_CONSTANT(SO_TYPE);
  UMS_CONSTANT(SO_DOMAIN);
  UMS_CONSTANT(SO_ERROR);
  UMS_CONSTANT(SO_ACCEPTCONN);
  UMS_CONSTANT(SO_PASSCRED);
  UMS_CONSTANT(SO_PASSPIDFD);
  UMS_CONSTANT(SO_PASSRIGHTS);
  UMS_CONSTANT(SO_PEERCRED);
  UMS_CONSTANT(SO_SNDBUF);
  UMS_CONSTANT(SO_RCVBUF);
  UMS_CONSTANT(SO_SNDBUFFORCE);
  UMS_CONSTANT(SO_RCVBUFFORCE);
  UMS_CONSTANT(MSG_PEEK);
  UMS_CONSTANT(MSG_TRUNC);
  UMS_CONSTANT(MSG_CTRUNC);
  UMS_CONSTANT(MSG_DONTWAIT);
  UMS_CONSTANT(MSG_NOSIGNAL);
  UMS_CONSTANT(MSG_CMSG_CLOEXEC);
  UMS_CONSTANT(MSG_EOR);
  UMS_CONSTANT(MSG_OOB);
  UMS_CONSTANT(MSG_WAITALL);
  UMS_CONSTANT(SHUT_RD);
  UMS_CONSTANT(SHUT_WR);
  UMS_CONSTANT(SHUT_RDWR);
  UMS_CONSTANT(IOV_MAX);
  // Errnos that neither libuv nor os.constants.errno name.
  UMS_CONSTANT(ETOOMANYREFS);
#undef UMS_CONSTANT
  c.Set("SCM_MAX_FD", Int(env, kMaxFdsPerMessage));
  c.Set("BATCH_MESSAGES", Int(env, kMaxBatch));
  c.Set("META_STRIDE", Int(env, kMetaStride));
  return c;
}

void FreeAddonData(Napi::Env, AddonData* data) {
  CloseFd(data->reserve_fd);
  delete data;
}

void OnEnvTeardown(napi_async_cleanup_hook_handle hook, void* arg) {
  auto* holder = static_cast<std::shared_ptr<Teardown>*>(arg);
  std::shared_ptr<Teardown> t = *holder;
  delete holder;
  t->hook = hook;
  t->started = true;
  // Copy: CloseNow erases from the set.
  std::vector<SocketHandle*> open(t->open.begin(), t->open.end());
  for (SocketHandle* h : open) h->CloseNow();
  t->CloseOwnedFds();
  t->MaybeFinish();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  AddonData* d = new AddonData();
  napi_get_uv_event_loop(env, &d->loop);  // this env's loop, never uv_default_loop()
  d->reserve_fd = RETRY_EINTR(open("/dev/null", O_RDONLY | O_CLOEXEC));
  env.SetInstanceData<AddonData, FreeAddonData>(d);
  // An async hook, so that the worker's loop is not closed while our poll
  // handles' uv_close callbacks are still pending.
  napi_add_async_cleanup_hook(env, OnEnvTeardown, new std::shared_ptr<Teardown>(d->teardown),
                              nullptr);

  exports.Set("SocketHandle", SocketHandle::Init(env));
  exports.Set("constants", Constants(env));
#define UMS_FUNCTION(name, fn) exports.Set(name, Napi::Function::New(env, fn, name))
  UMS_FUNCTION("setup", Setup);
  UMS_FUNCTION("socket", Socket);
  UMS_FUNCTION("socketpair", SocketPair);
  UMS_FUNCTION("dup", Dup);
  UMS_FUNCTION("close", Close);
  UMS_FUNCTION("closeAll", CloseAll);
  UMS_FUNCTION("disown", Disown);
  UMS_FUNCTION("bind", Bind);
  UMS_FUNCTION("connect", Connect);
  UMS_FUNCTION("listen", Listen);
  UMS_FUNCTION("accept", Accept);
  UMS_FUNCTION("shutdown", Shutdown);
  UMS_FUNCTION("getsockopt", GetSockOpt);
  UMS_FUNCTION("setsockopt", SetSockOpt);
  UMS_FUNCTION("getsockname", GetSockName);
  UMS_FUNCTION("getpeername", GetPeerName);
  UMS_FUNCTION("peercred", PeerCred);
  UMS_FUNCTION("send", Send);
  UMS_FUNCTION("sendBatch", SendBatch);
  UMS_FUNCTION("sendmsg", SendMsg);
  UMS_FUNCTION("recvmsg", RecvMsg);
  UMS_FUNCTION("listenInet", ListenInet);
  UMS_FUNCTION("inetPort", InetPort);
#undef UMS_FUNCTION
  return exports;
}

}  // namespace
}  // namespace ums

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return ums::Init(env, exports); }

NODE_API_MODULE(unix_message_socket, InitModule)
