// setup(): what each env shares with src/native/binding.ts, taken once:
// the batch record and fd arrays, the disown ring and the receivers of the
// handles' events (AddonData::AdoptShared). Their shape is shared_layout.h.
#include <cstdint>

#include "cmsg.h"
#include "env_state.h"
#include "functions.h"
#include "js_values.h"
#include "shared_layout.h"

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
      napi_get_typedarray_info(env, v, &type, &count, &p, &ab, &offset) != napi_ok || type != napi_int32_array ||
      count < min || napi_create_reference(env, v, 1, ref) != napi_ok) {
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

}  // namespace

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

}  // namespace ums
