// Module entry: the env's state and its teardown hook, and the table of the
// module's exports (functions.h). Written against Node-API's C interface:
// every call is checked and none can abort the process (js_values.h says why).
#include <memory>

#include "env_state.h"
#include "functions.h"
#include "socket_handle.h"

namespace ums {
namespace {

void OnEnvTeardown(napi_async_cleanup_hook_handle hook, void* arg) {
  auto* holder = static_cast<std::shared_ptr<FdLedger>*>(arg);
  std::shared_ptr<FdLedger> ledger = *holder;
  delete holder;
  ledger->Teardown(hook);
}

napi_value Init(napi_env env, napi_value exports) {
  AddonData* d = AddonData::Create(env);
  if (d == nullptr) return nullptr;
  // An async hook, so that the worker's loop is not closed while our poll
  // handles' uv_close callbacks are still pending.
  auto* holder = new std::shared_ptr<FdLedger>(d->ledger());
  if (napi_add_async_cleanup_hook(env, OnEnvTeardown, holder, nullptr) != napi_ok) {
    delete holder;
    return nullptr;
  }
  napi_value handle_class, constants;
  napi_ref constructor;
  if (SocketHandle::Define(env, &handle_class) != napi_ok ||
      napi_create_reference(env, handle_class, 1, &constructor) != napi_ok) {
    return nullptr;
  }
  d->SetConstructor(constructor);
  if (!Constants(env, &constants)) return nullptr;
  napi_value watcher_class;
  if (DefineWatcher(env, &watcher_class) != napi_ok) return nullptr;
#define UMS_FUNCTION(name, fn) \
  { name, nullptr, fn, nullptr, nullptr, nullptr, napi_enumerable, nullptr }
  const napi_property_descriptor props[] = {
      {"SocketHandle", nullptr, nullptr, nullptr, nullptr, handle_class, napi_enumerable, nullptr},
      {"constants", nullptr, nullptr, nullptr, nullptr, constants, napi_enumerable, nullptr},
      UMS_FUNCTION("setup", Setup),
      UMS_FUNCTION("socket", Socket),
      UMS_FUNCTION("socketpair", SocketPair),
      UMS_FUNCTION("dup", Dup),
      UMS_FUNCTION("dupAll", DupAll),
      UMS_FUNCTION("setCloexec", SetCloexec),
      UMS_FUNCTION("fdLimit", FdLimit),
      UMS_FUNCTION("close", Close),
      UMS_FUNCTION("closeAll", CloseAll),
      UMS_FUNCTION("disown", Disown),
      UMS_FUNCTION("isPolled", IsPolled),
      UMS_FUNCTION("bind", Bind),
      UMS_FUNCTION("connect", Connect),
      UMS_FUNCTION("listen", Listen),
      UMS_FUNCTION("shutdown", Shutdown),
      UMS_FUNCTION("getsockopt", GetSockOpt),
      UMS_FUNCTION("setsockopt", SetSockOpt),
      UMS_FUNCTION("getsockname", GetSockName),
      UMS_FUNCTION("getpeername", GetPeerName),
      UMS_FUNCTION("peercred", PeerCred),
      UMS_FUNCTION("peerPidfd", PeerPidfd),
      UMS_FUNCTION("boundFile", BoundFile),
      UMS_FUNCTION("fileAtPath", FileAtPath),
      UMS_FUNCTION("send", Send),
      UMS_FUNCTION("sendBatch", SendBatch),
      UMS_FUNCTION("sendmsg", SendMsg),
      UMS_FUNCTION("recvmsg", RecvMsg),
      UMS_FUNCTION("recvmsgInto", RecvMsgInto),
      UMS_FUNCTION("getsockoptBytes", GetSockOptBytes),
      UMS_FUNCTION("setsockoptBytes", SetSockOptBytes),
      UMS_FUNCTION("listenInet", ListenInet),
      UMS_FUNCTION("inetPort", InetPort),
      UMS_FUNCTION("socketOf", SocketOf),
      UMS_FUNCTION("bindTo", BindTo),
      UMS_FUNCTION("connectTo", ConnectTo),
      UMS_FUNCTION("acceptFrom", AcceptFrom),
      UMS_FUNCTION("nameOf", NameOf),
      {"Watcher", nullptr, nullptr, nullptr, nullptr, watcher_class, napi_enumerable, nullptr},
  };
#undef UMS_FUNCTION
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return nullptr;
  return exports;
}

}  // namespace
}  // namespace ums

NAPI_MODULE_INIT() { return ums::Init(env, exports); }
