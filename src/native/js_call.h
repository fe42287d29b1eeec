// Calling JS from a libuv callback, with every step checked.
//
// While a worker is being terminated JS cannot run and every call that could
// run it fails; the poll callbacks then give up quietly (js_values.h).
#ifndef UMS_JS_CALL_H_
#define UMS_JS_CALL_H_

#include <node_api.h>

namespace ums {

// napi_make_callback(recv, fn, argv). An exception thrown by the callback is
// reported as an uncaught exception, as Node does for its own handles
// (otherwise Node-API would keep it pending and it would be lost).
// Returns false if the call could not run or threw.
inline bool CallJs(napi_env env, napi_ref recv_ref, napi_ref fn_ref, napi_async_context context, size_t argc,
                   const napi_value* argv) {
  napi_value recv, fn, result;
  if (napi_get_reference_value(env, recv_ref, &recv) != napi_ok || recv == nullptr ||
      napi_get_reference_value(env, fn_ref, &fn) != napi_ok || fn == nullptr) {
    return false;
  }
  if (napi_make_callback(env, context, recv, fn, argc, argv, &result) == napi_ok) return true;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
  return false;
}

// Scoped napi_open_handle_scope that tolerates failure (ok() is false).
class HandleScopeC {
 public:
  explicit HandleScopeC(napi_env env) : env_(env) {
    if (napi_open_handle_scope(env, &scope_) != napi_ok) scope_ = nullptr;
  }
  ~HandleScopeC() {
    if (scope_ != nullptr) napi_close_handle_scope(env_, scope_);
  }
  HandleScopeC(const HandleScopeC&) = delete;
  HandleScopeC& operator=(const HandleScopeC&) = delete;
  bool ok() const { return scope_ != nullptr; }

 private:
  napi_env env_;
  napi_handle_scope scope_ = nullptr;
};

}  // namespace ums

#endif  // UMS_JS_CALL_H_
