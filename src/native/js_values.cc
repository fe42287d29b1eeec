// Reading native functions' arguments and making their results with
// Node-API's C interface, every status checked (js_values.h says why).
#include "js_values.h"

#include <errno.h>

namespace ums {

thread_local int ArrayCall::depth_ = 0;

Args::Args(napi_env env, napi_callback_info info) {
  ok = napi_get_cb_info(env, info, &argc, argv, &self, nullptr) == napi_ok;
}

Read Classify(napi_status status) {
  switch (status) {
    case napi_ok:
      return Read::kOk;
    case napi_invalid_arg:
    case napi_object_expected:
    case napi_string_expected:
    case napi_number_expected:
    case napi_boolean_expected:
    case napi_array_expected:
    case napi_arraybuffer_expected:
    case napi_detachable_arraybuffer_expected:
      return Read::kBad;
    default:
      // napi_pending_exception (a caller's getter threw, or the env is being
      // torn down), napi_generic_failure...: give up without another call.
      return Read::kFailed;
  }
}

napi_value Failure(napi_env env, Read read) { return read == Read::kBad ? Int(env, -EINVAL) : nullptr; }

napi_value Int(napi_env env, int64_t v) {
  napi_value out;
  const napi_status s = v >= INT32_MIN && v <= INT32_MAX ? napi_create_int32(env, static_cast<int32_t>(v), &out)
                                                         : napi_create_double(env, static_cast<double>(v), &out);
  return s == napi_ok ? out : nullptr;
}

napi_value Bool(napi_env env, bool v) {
  napi_value out;
  return napi_get_boolean(env, v, &out) == napi_ok ? out : nullptr;
}

napi_value Undefined(napi_env env) {
  napi_value out;
  return napi_get_undefined(env, &out) == napi_ok ? out : nullptr;
}

napi_value Null(napi_env env) {
  napi_value out;
  return napi_get_null(env, &out) == napi_ok ? out : nullptr;
}

Read GetInt(napi_env env, napi_value value, int* out) {
  if (value == nullptr) return Read::kBad;
  int32_t v;
  const Read r = Classify(napi_get_value_int32(env, value, &v));
  if (r == Read::kOk) *out = v;
  return r;
}

Read GetBool(napi_env env, napi_value value, bool* out) {
  if (value == nullptr) return Read::kBad;
  return Classify(napi_get_value_bool(env, value, out));
}

bool IsNothing(napi_env env, napi_value value) {
  if (value == nullptr) return true;
  napi_valuetype t;
  return napi_typeof(env, value, &t) == napi_ok && (t == napi_null || t == napi_undefined);
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

}  // namespace

// One napi_get_typedarray_info per view on the send paths, not an
// IsTypedArray, an info and an element-size call (bench/README.md, profile).
Read ViewBytes(napi_env env, napi_value value, struct iovec* out) {
  if (value == nullptr) return Read::kBad;
  napi_typedarray_type type;
  size_t count;
  void* data;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, &count, &data, &ab, &offset) == napi_ok) {
    *out = {data, count * ElementSize(type)};
    return Read::kOk;
  }
  size_t length;
  if (napi_get_dataview_info(env, value, &length, &data, &ab, &offset) == napi_ok) {
    *out = {data, length};
    return Read::kOk;
  }
  return Read::kBad;
}

Read GatherViews(napi_env env, napi_value value, std::vector<napi_value>* views) {
  bool is_array = false;
  if (value == nullptr || napi_is_array(env, value, &is_array) != napi_ok) return Read::kBad;
  if (!is_array) {
    views->push_back(value);  // checked by ViewsBytes
    return Read::kOk;
  }
  uint32_t n;
  Read r = Classify(napi_get_array_length(env, value, &n));
  for (uint32_t i = 0; r == Read::kOk && i < n; i++) {
    napi_value part;
    r = Classify(napi_get_element(env, value, i, &part));
    if (r == Read::kOk) views->push_back(part);
  }
  return r;
}

Read ViewsBytes(napi_env env, const napi_value* views, size_t count, std::vector<struct iovec>* iov) {
  for (size_t i = 0; i < count; i++) {
    struct iovec one;
    const Read r = ViewBytes(env, views[i], &one);
    if (r != Read::kOk) return r;
    iov->push_back(one);
  }
  return Read::kOk;
}

Read GetFds(napi_env env, napi_value value, std::vector<int>* fds) {
  if (IsNothing(env, value)) return Read::kOk;
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) == napi_ok && is_typed) {
    napi_typedarray_type type;
    size_t count;
    void* data;
    napi_value ab;
    size_t offset;
    const Read r = Classify(napi_get_typedarray_info(env, value, &type, &count, &data, &ab, &offset));
    if (r != Read::kOk) return r;
    if (type != napi_int32_array) return Read::kBad;
    const int* p = static_cast<const int*>(data);
    if (count > 0) fds->insert(fds->end(), p, p + count);
    return Read::kOk;
  }
  bool is_array = false;
  if (napi_is_array(env, value, &is_array) != napi_ok || !is_array) return Read::kBad;
  uint32_t n;
  Read r = Classify(napi_get_array_length(env, value, &n));
  for (uint32_t i = 0; r == Read::kOk && i < n; i++) {
    napi_value v;
    int fd;
    r = Classify(napi_get_element(env, value, i, &v));
    if (r == Read::kOk) r = GetInt(env, v, &fd);
    if (r == Read::kOk) fds->push_back(fd);
  }
  return r;
}

Read GetAddress(napi_env env, napi_value value, std::string* out, bool* present) {
  *present = false;
  if (IsNothing(env, value)) return Read::kOk;
  size_t len;
  bool is_typed = false;
  Read r0 = Classify(napi_is_typedarray(env, value, &is_typed));
  if (r0 != Read::kOk) return r0;
  if (is_typed) {
    // Raw sun_path bytes (a Uint8Array snapshot JS made): copied as they are.
    napi_typedarray_type type;
    void* data;
    r0 = Classify(napi_get_typedarray_info(env, value, &type, &len, &data, nullptr, nullptr));
    if (r0 != Read::kOk) return r0;
    if (type != napi_uint8_array || len > 4096) return Read::kBad;
    out->assign(static_cast<const char*>(data), len);
    *present = true;
    return Read::kOk;
  }
  Read r = Classify(napi_get_value_string_utf8(env, value, nullptr, 0, &len));
  if (r != Read::kOk) return r;
  // Longer than any sun_path: refused by the caller without copying it all.
  if (len > 4096) return Read::kBad;
  out->resize(len + 1);
  r = Classify(napi_get_value_string_utf8(env, value, &(*out)[0], len + 1, &len));
  out->resize(len);
  *present = r == Read::kOk;
  return r;
}

napi_value AddressValue(napi_env env, const std::string& name) {
  napi_value out;
  for (unsigned char c : name) {
    if (c >= 0x80) {
      void* copy;
      return napi_create_buffer_copy(env, name.size(), name.data(), &copy, &out) == napi_ok ? out : nullptr;
    }
  }
  return napi_create_string_latin1(env, name.data(), name.size(), &out) == napi_ok ? out : nullptr;
}

bool SetElement(napi_env env, napi_value array, uint32_t i, napi_value v) {
  return v != nullptr && napi_set_element(env, array, i, v) == napi_ok;
}

bool SetNamed(napi_env env, napi_value object, const char* name, napi_value v) {
  return v != nullptr && napi_set_named_property(env, object, name, v) == napi_ok;
}

}  // namespace ums
