// Reading the arguments of the native functions and making their results,
// with Node-API's C interface and every status checked.
//
// Two rules keep any call from aborting the process:
//  - Nothing here throws. The TypeScript layer validates every value and
//    passes a snapshot it made itself (src/stream/validate.ts), so a value of
//    the wrong type can only come from a direct require() of the .node file:
//    the function then returns -EINVAL like any failed syscall.
//  - A failed Node-API call (an exception already pending, or the env going
//    away while a worker is terminated) makes the function return nullptr at
//    once, with no further call. node-addon-api's wrappers would instead turn
//    the second failure into Napi::Error::Fatal, which aborts (its
//    ThrowAsJavaScriptException cannot throw while an exception is pending).
#ifndef UMS_JS_VALUES_H_
#define UMS_JS_VALUES_H_

#include <node_api.h>
#include <sys/uio.h>

#include <string>
#include <vector>

namespace ums {

// The arguments of one call, read once with napi_get_cb_info. Missing ones
// read as undefined.
struct Args {
  static constexpr size_t kMax = 8;
  napi_value argv[kMax] = {};
  napi_value self = nullptr;
  size_t argc = kMax;
  bool ok = false;
  Args(napi_env env, napi_callback_info info);
  napi_value operator[](size_t i) const { return i < kMax ? argv[i] : nullptr; }
};

// What a failed read means: kBad for a value of the wrong type (the call
// returns -EINVAL), kFailed for a Node-API failure (the call returns nullptr).
enum class Read { kOk, kBad, kFailed };
Read Classify(napi_status status);

// The result of a call that could not read its arguments.
napi_value Failure(napi_env env, Read read);

// Results; nullptr if the value could not be made.
napi_value Int(napi_env env, int64_t v);
napi_value Bool(napi_env env, bool v);
napi_value Undefined(napi_env env);
napi_value Null(napi_env env);

Read GetInt(napi_env env, napi_value value, int* out);
Read GetBool(napi_env env, napi_value value, bool* out);
// null or undefined.
bool IsNothing(napi_env env, napi_value value);

// A TypedArray or DataView: its bytes, read from the view's internal slots
// (no JS runs). A detached view has no bytes.
Read ViewBytes(napi_env env, napi_value value, struct iovec* out);
// One byte view, or an Array of them (appended in order).
//
// Reading an Array's element can run JS (a getter, on a value that did not
// come from our TypeScript layer), and JS can detach or free a view whose
// bytes were already taken. So a call first reads every value that may run
// JS (GatherViews, GetFds, the elements of ancillary items), and only then
// takes the views' bytes (ViewsBytes), which runs none; the syscall follows
// with no JS in between.
Read GatherViews(napi_env env, napi_value value, std::vector<napi_value>* views);
Read ViewsBytes(napi_env env, const napi_value* views, size_t count, std::vector<struct iovec>* iov);
// null/undefined (none), an Int32Array, or an Array of int32 numbers.
Read GetFds(napi_env env, napi_value value, std::vector<int>* fds);

// The functions that read arrays keep what they read in thread_local
// buffers. A getter that calls one of them again would overwrite what the
// outer call had read (and send the inner call's fds with the outer
// message), so such a nested call is refused: Busy() is true inside, and
// the nested call returns -EINVAL.
class ArrayCall {
 public:
  ArrayCall() : nested_(depth_++ > 0) {}
  ~ArrayCall() { depth_--; }
  ArrayCall(const ArrayCall&) = delete;
  ArrayCall& operator=(const ArrayCall&) = delete;
  bool Nested() const { return nested_; }

 private:
  static thread_local int depth_;
  bool nested_;
};
// null/undefined: *present = false; a string: its UTF-8 bytes; a Uint8Array:
// its bytes as they are (raw sun_path bytes).
Read GetAddress(napi_env env, napi_value value, std::string* out, bool* present);

// A unix(7) name's raw bytes for JS: a string when every byte is ASCII (the
// common case, as cheap as before), else a Buffer; JS decodes it
// (src/stream/address-codec.ts). nullptr when napi fails.
napi_value AddressValue(napi_env env, const std::string& name);

// napi_set_element / napi_set_named_property that report success.
bool SetElement(napi_env env, napi_value array, uint32_t i, napi_value v);
bool SetNamed(napi_env env, napi_value object, const char* name, napi_value v);

}  // namespace ums

// Reads one argument or returns the failure from the enclosing function.
#define UMS_READ(env, expr)                                                     \
  do {                                                                          \
    const ::ums::Read ums_read_ = (expr);                                       \
    if (ums_read_ != ::ums::Read::kOk) return ::ums::Failure((env), ums_read_); \
  } while (0)

#endif  // UMS_JS_VALUES_H_
