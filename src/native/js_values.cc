#include "js_values.h"

namespace ums {

bool Require(Napi::Env env, bool ok, const char* message) {
  if (!ok) Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return ok;
}

bool ArgInt(const Napi::CallbackInfo& info, size_t i, int* out) {
  if (!Require(info.Env(), info.Length() > i && info[i].IsNumber(), "expected an integer argument")) {
    return false;
  }
  *out = info[i].As<Napi::Number>().Int32Value();
  return true;
}

namespace {

size_t ElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      return 8;
    default:
      return 1;
  }
}

// Whether value is null, undefined or empty (not passed): one napi_typeof.
bool IsNothing(napi_env env, Napi::Value value) {
  if (value.IsEmpty()) return true;
  napi_valuetype t;
  return napi_typeof(env, value, &t) == napi_ok && (t == napi_null || t == napi_undefined);
}

// The send paths call these per message: one N-API call per byte view, not
// an IsTypedArray, an info and an ElementSize call (bench/README.md, profile).
bool ViewBytes(napi_env env, napi_value value, struct iovec* out) {
  napi_typedarray_type type;
  size_t count;
  void* data;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, &count, &data, &ab, &offset) == napi_ok) {
    *out = {data, count * ElementSize(type)};
    return true;
  }
  size_t length;
  if (napi_get_dataview_info(env, value, &length, &data, &ab, &offset) == napi_ok) {
    *out = {data, length};
    return true;
  }
  return false;
}

}  // namespace

bool AppendBytes(Napi::Env env, Napi::Value value, std::vector<struct iovec>* iov) {
  struct iovec one;
  if (!Require(env, ViewBytes(env, value, &one), "data must be a Buffer, TypedArray or DataView")) {
    return false;
  }
  iov->push_back(one);
  return true;
}

bool GatherBytes(Napi::Env env, Napi::Value value, std::vector<struct iovec>* iov) {
  struct iovec one;
  if (ViewBytes(env, value, &one)) {
    iov->push_back(one);
    return true;
  }
  if (!value.IsArray()) return AppendBytes(env, value, iov);  // throws the TypeError
  Napi::Array arr = value.As<Napi::Array>();
  const uint32_t n = arr.Length();
  for (uint32_t i = 0; i < n; i++) {
    if (!AppendBytes(env, arr.Get(i), iov)) return false;
  }
  return true;
}

bool GetFds(Napi::Env env, Napi::Value value, std::vector<int>* fds) {
  if (IsNothing(env, value)) return true;
  if (value.IsTypedArray() &&
      value.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    Napi::Int32Array a = value.As<Napi::Int32Array>();
    fds->insert(fds->end(), a.Data(), a.Data() + a.ElementLength());
    return true;
  }
  if (!Require(env, value.IsArray(), "fds must be an array of integers")) return false;
  Napi::Array arr = value.As<Napi::Array>();
  const uint32_t n = arr.Length();
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value v = arr.Get(i);
    if (!Require(env, v.IsNumber(), "fds must be an array of integers")) return false;
    fds->push_back(v.As<Napi::Number>().Int32Value());
  }
  return true;
}

bool GetAddress(Napi::Env env, Napi::Value value, std::string* out, bool* present) {
  *present = false;
  if (IsNothing(env, value)) return true;
  if (!Require(env, value.IsString(), "address must be a string")) return false;
  *out = value.As<Napi::String>().Utf8Value();
  *present = true;
  return true;
}

}  // namespace ums
