// Reading the JS arguments of the native functions. The TypeScript layer
// validates everything first (src/stream/validate.ts); these guards only keep
// a direct require() of the .node file from crashing the process, so they
// throw a TypeError and never abort.
#ifndef UMS_JS_VALUES_H_
#define UMS_JS_VALUES_H_

#include <sys/uio.h>

#include <string>
#include <vector>

#include "napi.h"

namespace ums {

// A Buffer, a TypedArray or a DataView: appends one iovec.
bool AppendBytes(Napi::Env env, Napi::Value value, std::vector<struct iovec>* iov);

// One byte view, or an Array of them.
bool GatherBytes(Napi::Env env, Napi::Value value, std::vector<struct iovec>* iov);

// null/undefined (no fds), an Array of integers, or an Int32Array.
bool GetFds(Napi::Env env, Napi::Value value, std::vector<int>* fds);

// null/undefined gives false (no address); a string gives true.
bool GetAddress(Napi::Env env, Napi::Value value, std::string* out, bool* present);

// Common argument guard: throws a TypeError and returns false.
bool Require(Napi::Env env, bool ok, const char* message);

// Reads argument i as an int32 (fd, flags, level...).
bool ArgInt(const Napi::CallbackInfo& info, size_t i, int* out);

}  // namespace ums

#endif  // UMS_JS_VALUES_H_
