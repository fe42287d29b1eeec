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

bool AppendBytes(Napi::Env env, Napi::Value value, std::vector<struct iovec>* iov) {
  void* data = nullptr;
  size_t length = 0;
  napi_status s;
  if (value.IsTypedArray()) {
    napi_typedarray_type type;
    size_t count;
    napi_value ab;
    size_t offset;
    s = napi_get_typedarray_info(env, value, &type, &count, &data, &ab, &offset);
    if (s == napi_ok) length = count * value.As<Napi::TypedArray>().ElementSize();
  } else if (value.IsDataView()) {
    napi_value ab;
    size_t offset;
    s = napi_get_dataview_info(env, value, &length, &data, &ab, &offset);
  } else {
    return Require(env, false, "data must be a Buffer, TypedArray or DataView");
  }
  if (!Require(env, s == napi_ok, "could not read the data buffer")) return false;
  iov->push_back({data, length});
  return true;
}

bool GatherBytes(Napi::Env env, Napi::Value value, std::vector<struct iovec>* iov) {
  if (!value.IsArray()) return AppendBytes(env, value, iov);
  Napi::Array arr = value.As<Napi::Array>();
  const uint32_t n = arr.Length();
  for (uint32_t i = 0; i < n; i++) {
    if (!AppendBytes(env, arr.Get(i), iov)) return false;
  }
  return true;
}

bool GetFds(Napi::Env env, Napi::Value value, std::vector<int>* fds) {
  if (value.IsNull() || value.IsUndefined()) return true;
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
  if (value.IsNull() || value.IsUndefined()) return true;
  if (!Require(env, value.IsString(), "address must be a string")) return false;
  *out = value.As<Napi::String>().Utf8Value();
  *present = true;
  return true;
}

}  // namespace ums
