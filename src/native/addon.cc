// Module entry: per-env setup and teardown, the constants, and the table of
// functions (functions.h). Written against Node-API's C interface: every call
// is checked and none can abort the process (js_values.h says why).
#include <fcntl.h>
#include <limits.h>
#include <sys/socket.h>

#include <memory>

#include "cmsg.h"
#include "env_state.h"
#include "functions.h"
#include "js_values.h"
#include "shared_layout.h"
#include "socket_handle.h"
#include "syscall.h"

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif

namespace ums {
namespace {

// A reference to a value of the setup object, and, for an Int32Array of at
// least `min` elements, its data.
bool TakeArray(napi_env env, napi_value object, const char* key, size_t min, napi_ref* ref, int32_t** data) {
  napi_value v;
  napi_typedarray_type type;
  size_t count;
  void* p;
  napi_value ab;
  size_t offset;
  if (napi_get_named_property(env, object, key, &v) != napi_ok ||
      napi_get_typedarray_info(env, v, &type, &count, &p, &ab, &offset) != napi_ok ||
      type != napi_int32_array || count < min || napi_create_reference(env, v, 1, ref) != napi_ok) {
    return false;
  }
  *data = static_cast<int32_t*>(p);
  return true;
}

bool TakeFunction(napi_env env, napi_value object, const char* key, napi_ref* ref) {
  napi_value v;
  napi_valuetype t;
  return napi_get_named_property(env, object, key, &v) == napi_ok && napi_typeof(env, v, &t) == napi_ok &&
         t == napi_function && napi_create_reference(env, v, 1, ref) == napi_ok;
}

napi_value RefValue(napi_env env, napi_ref ref) {
  napi_value v;
  return ref != nullptr && napi_get_reference_value(env, ref, &v) == napi_ok ? v : nullptr;
}

// setup({ meta, fds, ring, onread, onwritable, onconnection }) -> { meta,
// fds, ring } | -EINVAL. The first call per env wins; later ones (a second
// copy of binding.ts, as with jest module registries or src/ and dist/
// loaded together) get the arrays already in use, so every copy reads the
// same batch records and writes the same ring.
napi_value Setup(napi_env env, napi_callback_info info) {
  Args args(env, info);
  AddonData* d = GetAddonData(env);
  if (!args.ok || d == nullptr) return nullptr;
  if (!d->has_shared()) {
    int32_t *meta, *fds, *ring;
    SharedRefs refs;
    const bool ok = TakeArray(env, args[0], "meta", kMaxBatch * kMetaStride, &refs.meta, &meta) &&
                    TakeArray(env, args[0], "fds", kMaxBatch * kMaxFdsPerMessage, &refs.fds, &fds) &&
                    TakeArray(env, args[0], "ring", kDisownRing + 1, &refs.ring, &ring) &&
                    TakeFunction(env, args[0], "onread", &refs.onread) &&
                    TakeFunction(env, args[0], "onwritable", &refs.onwritable) &&
                    TakeFunction(env, args[0], "onconnection", &refs.onconnection);
    if (!ok) {
      for (napi_ref r : {refs.meta, refs.fds, refs.ring, refs.onread, refs.onwritable, refs.onconnection}) {
        if (r != nullptr) napi_delete_reference(env, r);
      }
      return Int(env, -EINVAL);
    }
    d->AdoptShared(refs, meta, fds, ring, kDisownRing);
  }
  const SharedRefs& refs = d->shared();
  napi_value shared;
  if (napi_create_object(env, &shared) != napi_ok || !SetNamed(env, shared, "meta", RefValue(env, refs.meta)) ||
      !SetNamed(env, shared, "fds", RefValue(env, refs.fds)) ||
      !SetNamed(env, shared, "ring", RefValue(env, refs.ring))) {
    return nullptr;
  }
  return shared;
}

bool Constants(napi_env env, napi_value* out) {
  if (napi_create_object(env, out) != napi_ok) return false;
  bool ok = true;
  const auto set = [&](const char* name, int64_t v) { ok = ok && SetNamed(env, *out, name, Int(env, v)); };
#define UMS_CONSTANT(name) set(#name, name)
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
  set("SCM_MAX_FD", kMaxFdsPerMessage);
  // The shape of what the addon shares with binding.ts.
  set("BATCH_MESSAGES", kMaxBatch);
  set("META_STRIDE", kMetaStride);
  set("META_LENGTH", kMetaLength);
  set("META_FLAGS", kMetaFlags);
  set("META_FD_COUNT", kMetaFdCount);
  set("META_PID", kMetaPid);
  set("META_UID", kMetaUid);
  set("META_GID", kMetaGid);
  set("FLAG_TRUNCATED", kFlagTruncated);
  set("FLAG_FDS_TRUNCATED", kFlagFdsTruncated);
  set("FLAG_CREDENTIALS", kFlagCredentials);
  set("STATUS_NO_FD_ROOM", kStatusNoFdRoom);
  set("FD_RESERVE", kFdReserve);
  set("DISOWN_RING", kDisownRing);
  return ok;
}

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
#define UMS_FUNCTION(name, fn) {name, nullptr, fn, nullptr, nullptr, nullptr, napi_enumerable, nullptr}
  const napi_property_descriptor props[] = {
      {"SocketHandle", nullptr, nullptr, nullptr, nullptr, handle_class, napi_enumerable, nullptr},
      {"constants", nullptr, nullptr, nullptr, nullptr, constants, napi_enumerable, nullptr},
      UMS_FUNCTION("setup", Setup),
      UMS_FUNCTION("socket", Socket),
      UMS_FUNCTION("socketpair", SocketPair),
      UMS_FUNCTION("dup", Dup),
      UMS_FUNCTION("dupAll", DupAll),
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
      UMS_FUNCTION("boundFile", BoundFile),
      UMS_FUNCTION("fileAtPath", FileAtPath),
      UMS_FUNCTION("send", Send),
      UMS_FUNCTION("sendBatch", SendBatch),
      UMS_FUNCTION("sendmsg", SendMsg),
      UMS_FUNCTION("recvmsg", RecvMsg),
      UMS_FUNCTION("listenInet", ListenInet),
      UMS_FUNCTION("inetPort", InetPort),
  };
#undef UMS_FUNCTION
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return nullptr;
  return exports;
}

}  // namespace
}  // namespace ums

NAPI_MODULE_INIT() { return ums::Init(env, exports); }
