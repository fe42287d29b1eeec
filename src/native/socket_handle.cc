// SocketHandle's life as a JS object and as a libuv poll handle: the class
// and its methods (napi_define_class), open/close of the fd it owns, the
// poll set it asks libuv for, and the env teardown's close. What a wakeup
// does is elsewhere: socket_read.cc reads, socket_accept.cc accepts.
#include "socket_handle.h"

#include <unistd.h>

#include <memory>
#include <utility>

#include "bound_file.h"
#include "cmsg.h"
#include "fd_room.h"
#include "js_call.h"
#include "js_values.h"
#include "polled_fds.h"
#include "send.h"
#include "syscall.h"

namespace ums {

namespace {

// Marks the objects SocketHandle::New made (napi_type_tag_object).
const napi_type_tag kTag = {0x9c1f5a2e4b7d4e61ULL, 0xa3d8e0f27c6b1945ULL};

// The receiver of a method call, checked, or a -EINVAL/nullptr result.
#define UMS_METHOD(env, info, self)          \
  Args args(env, info);                      \
  if (!args.ok) return nullptr;              \
  SocketHandle* self = From(env, args.self); \
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
      {"send", nullptr, Send, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"sendBatch", nullptr, SendBatch, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"fd", nullptr, nullptr, GetFd, nullptr, nullptr, napi_default, nullptr},
  };
  return napi_define_class(env, "SocketHandle", NAPI_AUTO_LENGTH, New, nullptr, sizeof(props) / sizeof(props[0]), props,
                           out);
}

napi_value SocketHandle::New(napi_env env, napi_callback_info info) {
  Args args(env, info);
  napi_value target = nullptr;
  AddonData* d = GetAddonData(env);
  if (!args.ok || d == nullptr || napi_get_new_target(env, info, &target) != napi_ok || target == nullptr) {
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
  const int r = uv_poll_init(self->data_->loop(), &box->poll, fd);
  uint32_t refs = 0;
  // An open handle must not be collected: the poll callback needs its object.
  if (r != 0 || napi_reference_ref(env, self->wrapper_, &refs) != napi_ok) {
    if (r == 0) {
      // Initialized but unusable (the env is going away): close it unpolled.
      box->poll.data = box;
      box->owner = nullptr;
      box->ledger = self->data_->ledger();
      box->ledger->HandleClosing(nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&box->poll), OnClosed);
    } else {
      delete box;
    }
    napi_async_destroy(env, context);
    return r != 0 ? Int(env, r) : nullptr;
  }
  box->poll.data = box;
  box->owner = self;
  box->ledger = self->data_->ledger();
  self->box_ = box;
  self->context_ = context;
  self->fd_ = fd;
  self->type_ = type;
  self->max_message_ = static_cast<size_t>(max_message);
  self->data_->ledger()->HandleOpened(self, fd);  // created for JS, now this handle's
  polled_fds::Add(fd);
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

// readStart(fdBudget, frameRest = 0): the most received fds this wakeup may
// add to what JS already buffers. No read may bring more: each read is made
// only if the most fds it can bring (max_fds_ per message) still fit, so
// unclaimed fds never pass what JS asked for. On a listening handle it is
// the most connections one wakeup accepts (0: kAcceptPerWakeup).
// frameRest (framed stream): the bytes left of the message in progress
// (DoRead).
napi_value SocketHandle::ReadStart(napi_env env, napi_callback_info info) {
  UMS_METHOD(env, info, self);
  int budget;
  int rest = 0;
  UMS_READ(env, GetInt(env, args[0], &budget));
  if (args.argc > 1) UMS_READ(env, GetInt(env, args[1], &rest));
  self->fd_budget_ = budget;
  self->frame_rest_ = rest > 0 ? static_cast<size_t>(rest) : 0;
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

// setMaxFds(maxFdsPerMessage, passCredentials, passPidfd): how the control
// buffer is sized (ControlLength), and whether SCM_PIDFD fds are kept.
napi_value SocketHandle::SetMaxFds(napi_env env, napi_callback_info info) {
  UMS_METHOD(env, info, self);
  int max_fds;
  bool creds;
  UMS_READ(env, GetInt(env, args[0], &max_fds));
  UMS_READ(env, GetBool(env, args[1], &creds));
  bool pidfd;
  UMS_READ(env, GetBool(env, args[2], &pidfd));
  if (max_fds < 0 || max_fds > kMaxFdsPerMessage) return Int(env, -EINVAL);
  self->max_fds_ = max_fds;
  self->pass_credentials_ = creds;
  self->pass_pidfd_ = pidfd;
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

// send(data, fds, address, flags) and sendBatch(datas, fds, addresses, start,
// end): the module's send()/sendBatch() on the fd this handle owns, with
// the same results (send.h); -EBADF once the handle is closed.
napi_value SocketHandle::Send(napi_env env, napi_callback_info info) {
  UMS_METHOD(env, info, self);
  return SendMessage(env, args.argv, &self->fd_);
}

napi_value SocketHandle::SendBatch(napi_env env, napi_callback_info info) {
  UMS_METHOD(env, info, self);
  return SendMessages(env, args.argv, &self->fd_);
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
    RETRY_EINTR(unlink(teardown_unlink_.c_str()));
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
  box->ledger->HandleClosing(this);
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
    CallJs(env, wrapper_, data_->onwritable(), context_, 0, nullptr);
  }
  if (box_ == nullptr) return;
  if (status < 0) UpdatePoll();
}

}  // namespace ums
