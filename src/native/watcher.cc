// Watcher: readiness of a raw fd for the low-level API's watch()
// (src/lowlevel/watch.ts), a uv_poll_t on the env's loop as SocketHandle's
// (socket_handle.cc), with the same close and teardown discipline.
//
// It polls a duplicate of the caller's fd of its own (F_DUPFD_CLOEXEC) and
// never the caller's fd: libuv aborts when epoll_ctl(2) meets an fd that was
// closed under it, and the caller may close theirs at any time. The
// duplicate is closed by close(), by the finalizer, or by the env teardown
// (a cleanup hook per open watcher, run before the module's own hook, which
// then waits for this uv_close like a SocketHandle's).
#include <fcntl.h>
#include <node_api.h>
#include <unistd.h>
#include <uv.h>

#include <memory>
#include <utility>

#include "env_state.h"
#include "fd_room.h"
#include "functions.h"
#include "js_call.h"
#include "js_values.h"
#include "syscall.h"

namespace ums {
namespace {

const napi_type_tag kWatcherTag = {0x51e0c8a7d2b94f03ULL, 0x8e6a1d4c3b2f7a95ULL};

class Watcher;

// Outlives the Watcher until the uv_close callback, as PollBox does.
struct WatchBox {
  uv_poll_t poll;
  std::shared_ptr<FdLedger> ledger;
  Watcher* owner;
};

class Watcher {
 public:
  static napi_value New(napi_env env, napi_callback_info info);
  static napi_value Open(napi_env env, napi_callback_info info);
  static napi_value Start(napi_env env, napi_callback_info info);
  static napi_value Stop(napi_env env, napi_callback_info info);
  static napi_value Close(napi_env env, napi_callback_info info);
  static napi_value Ref(napi_env env, napi_callback_info info);
  static napi_value Unref(napi_env env, napi_callback_info info);

 private:
  static void Finalize(napi_env env, void* data, void* hint);
  static Watcher* From(napi_env env, napi_value self);
  static void OnPoll(uv_poll_t* poll, int status, int events);
  static void OnClosed(uv_handle_t* handle);
  static void OnTeardown(void* arg);
  // Stops polling, closes the duplicate, uv_close()s the handle; idempotent
  // and safe without JS.
  void CloseNow();
  // close()'s JS side: the strong reference, the callback and the context.
  void Release(napi_env env);

  AddonData* data_ = nullptr;
  napi_env env_ = nullptr;
  napi_ref wrapper_ = nullptr;
  napi_ref callback_ = nullptr;
  napi_async_context context_ = nullptr;
  WatchBox* box_ = nullptr;
  int fd_ = -1;  // the duplicate
  bool refed_ = true;
  bool hooked_ = false;
};

#define UMS_WATCHER(env, info, self)    \
  Args args(env, info);                 \
  if (!args.ok) return nullptr;         \
  Watcher* self = From(env, args.self); \
  if (self == nullptr) return Int(env, -EINVAL)

napi_value Watcher::New(napi_env env, napi_callback_info info) {
  Args args(env, info);
  napi_value target = nullptr;
  AddonData* d = GetAddonData(env);
  if (!args.ok || d == nullptr || napi_get_new_target(env, info, &target) != napi_ok || target == nullptr) {
    return nullptr;
  }
  auto* w = new Watcher();
  w->data_ = d;
  w->env_ = env;
  if (napi_wrap(env, args.self, w, Finalize, nullptr, &w->wrapper_) != napi_ok) {
    delete w;
    return nullptr;
  }
  napi_type_tag_object(env, args.self, &kWatcherTag);
  return args.self;
}

Watcher* Watcher::From(napi_env env, napi_value self) {
  bool tagged = false;
  void* p = nullptr;
  if (self == nullptr || napi_check_object_type_tag(env, self, &kWatcherTag, &tagged) != napi_ok || !tagged ||
      napi_unwrap(env, self, &p) != napi_ok) {
    return nullptr;
  }
  return static_cast<Watcher*>(p);
}

void Watcher::Finalize(napi_env env, void* data, void*) {
  auto* w = static_cast<Watcher*>(data);
  w->CloseNow();
  if (w->hooked_) napi_remove_env_cleanup_hook(env, OnTeardown, w);
  w->hooked_ = false;
  if (w->context_ != nullptr) napi_async_destroy(env, w->context_);
  if (w->callback_ != nullptr) napi_delete_reference(env, w->callback_);
  napi_delete_reference(env, w->wrapper_);
  delete w;
}

// open(fd, callback) -> 0 | -errno: polls a duplicate of fd (not started).
// uv_poll_init sets O_NONBLOCK on the open file description, which the
// caller's fd shares.
napi_value Watcher::Open(napi_env env, napi_callback_info info) {
  UMS_WATCHER(env, info, self);
  int fd;
  UMS_READ(env, GetInt(env, args[0], &fd));
  napi_valuetype kind;
  if (self->box_ != nullptr || fd < 0 || napi_typeof(env, args[1], &kind) != napi_ok || kind != napi_function) {
    return Int(env, -EINVAL);
  }
  napi_value name;
  napi_async_context context = nullptr;
  napi_ref callback = nullptr;
  if (napi_create_string_utf8(env, "UnixMessageSocketWatcher", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, args.self, name, &context) != napi_ok) {
    return nullptr;
  }
  if (napi_create_reference(env, args[1], 1, &callback) != napi_ok) {
    napi_async_destroy(env, context);
    return nullptr;
  }
  const int copy = RETRY_EINTR(fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (copy < 0) {
    const int err = errno;
    napi_async_destroy(env, context);
    napi_delete_reference(env, callback);
    return Int(env, -err);
  }
  fd_room::Opened(1);
  auto* box = new WatchBox();
  const int r = uv_poll_init(self->data_->loop(), &box->poll, copy);
  uint32_t refs = 0;
  if (r != 0 || napi_add_env_cleanup_hook(env, OnTeardown, self) != napi_ok) {
    if (r == 0) {
      box->poll.data = box;
      box->owner = nullptr;
      box->ledger = self->data_->ledger();
      box->ledger->HandleClosing(nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&box->poll), OnClosed);
    } else {
      delete box;
    }
    if (close(copy) == 0) fd_room::Closed(1);
    napi_async_destroy(env, context);
    napi_delete_reference(env, callback);
    return r != 0 ? Int(env, r) : nullptr;
  }
  // An open watcher is not collected: its poll callback needs the object.
  napi_reference_ref(env, self->wrapper_, &refs);
  box->poll.data = box;
  box->owner = self;
  box->ledger = self->data_->ledger();
  self->box_ = box;
  self->fd_ = copy;
  self->hooked_ = true;
  self->context_ = context;
  self->callback_ = callback;
  if (!self->refed_) uv_unref(reinterpret_cast<uv_handle_t*>(&box->poll));
  return Int(env, 0);
}

// start(events) -> 0 | -errno: UV_READABLE | UV_WRITABLE (0 stops).
napi_value Watcher::Start(napi_env env, napi_callback_info info) {
  UMS_WATCHER(env, info, self);
  int events;
  UMS_READ(env, GetInt(env, args[0], &events));
  if (self->box_ == nullptr) return Int(env, -EBADF);
  if ((events & ~(UV_READABLE | UV_WRITABLE)) != 0) return Int(env, -EINVAL);
  if (events == 0) return Int(env, uv_poll_stop(&self->box_->poll));
  return Int(env, uv_poll_start(&self->box_->poll, events, OnPoll));
}

napi_value Watcher::Stop(napi_env env, napi_callback_info info) {
  UMS_WATCHER(env, info, self);
  return Int(env, self->box_ == nullptr ? 0 : uv_poll_stop(&self->box_->poll));
}

napi_value Watcher::Close(napi_env env, napi_callback_info info) {
  UMS_WATCHER(env, info, self);
  if (self->box_ == nullptr) return Int(env, 0);
  self->CloseNow();
  if (self->hooked_) napi_remove_env_cleanup_hook(env, OnTeardown, self);
  self->hooked_ = false;
  self->Release(env);
  return Int(env, 0);
}

napi_value Watcher::Ref(napi_env env, napi_callback_info info) {
  UMS_WATCHER(env, info, self);
  self->refed_ = true;
  if (self->box_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(&self->box_->poll));
  return Int(env, 0);
}

napi_value Watcher::Unref(napi_env env, napi_callback_info info) {
  UMS_WATCHER(env, info, self);
  self->refed_ = false;
  if (self->box_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(&self->box_->poll));
  return Int(env, 0);
}

void Watcher::Release(napi_env env) {
  if (context_ != nullptr) napi_async_destroy(env, context_);
  context_ = nullptr;
  if (callback_ != nullptr) napi_delete_reference(env, callback_);
  callback_ = nullptr;
  uint32_t refs;
  napi_reference_unref(env, wrapper_, &refs);
}

void Watcher::CloseNow() {
  if (box_ == nullptr) return;
  WatchBox* box = box_;
  box_ = nullptr;
  uv_poll_stop(&box->poll);
  // Safe right after uv_poll_stop (libuv poll.rst), as SocketHandle::CloseNow.
  if (close(fd_) == 0) fd_room::Closed(1);
  fd_ = -1;
  box->owner = nullptr;
  box->ledger->HandleClosing(nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&box->poll), OnClosed);
}

// The env is going away: JS cannot run, so only the native side closes.
void Watcher::OnTeardown(void* arg) {
  auto* w = static_cast<Watcher*>(arg);
  w->hooked_ = false;
  w->CloseNow();
}

void Watcher::OnClosed(uv_handle_t* handle) {
  auto* box = static_cast<WatchBox*>(handle->data);
  std::shared_ptr<FdLedger> ledger = std::move(box->ledger);
  delete box;
  ledger->CloseCallbackDone();
}

// callback(status, events): status 0 or a negative errno (libuv stops the
// handle on an error, uv__poll_io).
void Watcher::OnPoll(uv_poll_t* poll, int status, int events) {
  auto* box = static_cast<WatchBox*>(poll->data);
  Watcher* w = box->owner;
  if (w == nullptr) return;
  napi_env env = w->env_;
  HandleScopeC scope(env);
  if (!scope.ok()) return;
  napi_value argv[2] = {Int(env, status), Int(env, events)};
  if (argv[0] == nullptr || argv[1] == nullptr) return;
  CallJs(env, w->wrapper_, w->callback_, w->context_, 2, argv);
}

}  // namespace

napi_status DefineWatcher(napi_env env, napi_value* out) {
  const napi_property_descriptor props[] = {
      {"open", nullptr, Watcher::Open, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"start", nullptr, Watcher::Start, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"stop", nullptr, Watcher::Stop, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"close", nullptr, Watcher::Close, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"ref", nullptr, Watcher::Ref, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"unref", nullptr, Watcher::Unref, nullptr, nullptr, nullptr, napi_default_method, nullptr},
  };
  return napi_define_class(env, "Watcher", NAPI_AUTO_LENGTH, Watcher::New, nullptr, sizeof(props) / sizeof(props[0]),
                           props, out);
}

}  // namespace ums
