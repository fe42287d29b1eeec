// SocketHandle: the one owner of a socket fd and of its uv_poll_t.
//
// The handle is deliberately thin: it polls, reads whole batches of messages
// and hands them to JS in one call, and reports writability. Sending, and all
// policy (backpressure, retries, fd ownership, errors), is in TypeScript.
#ifndef UMS_SOCKET_HANDLE_H_
#define UMS_SOCKET_HANDLE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "env_state.h"
#include "napi.h"
#include "uv.h"

namespace ums {

// Layout of one message's record in the shared meta Int32Array.
enum MetaField {
  kMetaLength = 0,  // bytes of data
  kMetaFlags,       // kFlag* bits below
  kMetaFdCount,     // fds of this message in the shared fds array
  kMetaPid,
  kMetaUid,
  kMetaGid,
  kMetaStride = 8,
};
enum MetaFlag {
  kFlagTruncated = 1,    // MSG_TRUNC
  kFlagFdsTruncated = 2, // MSG_CTRUNC
  kFlagCredentials = 4,
};

// Cap on messages per JS call; the meta array is sized from it.
constexpr int kMaxBatch = 256;
// Cap on bytes per JS call, so one busy socket cannot starve the loop
// (libuv uv__read "count = 32").
constexpr size_t kMaxBatchBytes = 1 << 20;
// A batch up to this size reaches JS as one Buffer, a larger one as a Buffer
// per message (SocketHandle::MessageBytes).
constexpr size_t kCopyChunk = 64 << 10;
// The shared slab for small batches, and the largest batch copied into it:
// Node's Buffer.poolSize and its allocUnsafe() limit (poolSize >>> 1).
constexpr size_t kSlabSize = 8 << 10;
constexpr size_t kSlabBatch = kSlabSize / 2;
// Read status reported after the batch: UV_EOF, or a negative errno.
constexpr int kStatusOk = 0;

struct PollBox {
  uv_poll_t poll;
  std::shared_ptr<Teardown> teardown;
  SocketHandle* owner;
};

class SocketHandle : public Napi::ObjectWrap<SocketHandle> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit SocketHandle(const Napi::CallbackInfo& info);
  ~SocketHandle() override;

  // Stops polling and closes the fd at once; idempotent. Safe without JS
  // (used by the env teardown hook).
  void CloseNow();

 private:
  Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value ReadStart(const Napi::CallbackInfo& info);
  Napi::Value ReadStop(const Napi::CallbackInfo& info);
  Napi::Value WriteStart(const Napi::CallbackInfo& info);
  Napi::Value WriteStop(const Napi::CallbackInfo& info);
  Napi::Value SetListening(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value HasRef(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);

  int UpdatePoll();
  static void OnPoll(uv_poll_t* poll, int status, int events);
  static void OnClosed(uv_handle_t* handle);
  void HandleEvents(int status, int events);
  void DoRead(napi_env env);
  void DoAccept(napi_env env);
  void OwnFds(const int* fds, int count);
  bool MessageBytes(napi_env env, int count, size_t used, napi_value* out, int64_t* base);
  bool SlabCopy(napi_env env, size_t used, napi_value* out, int64_t* base);
  // Each returns messages read (> 0), 0 for EAGAIN, or a final status.
  int ReadStream(napi_env env, int* count, size_t* used, int* fds_used);
  int ReadDatagrams(int* count, size_t* used, int* fds_used);
  bool SeqpacketEof();

  AddonData* data_ = nullptr;
  PollBox* box_ = nullptr;
  std::unique_ptr<Napi::AsyncContext> context_;
  int fd_ = -1;
  int type_ = 0;
  size_t max_message_ = 0;
  int fd_budget_ = 0;
  // The events the poll handle is started with (0: stopped, -1: unknown).
  // uv_poll_start() always re-registers the fd with epoll (a DEL and an ADD
  // per call), so it is called only when the set changes.
  int polled_events_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool listening_ = false;
  bool refed_ = true;
  bool reset_seen_ = false;  // ECONNRESET came before the data (E16)
  // Stream: the last read filled max_message_, so the next one goes straight
  // into a new JS Buffer instead of the arena (ReadStream).
  bool read_direct_ = false;
  bool eof_ = false;
};

}  // namespace ums

#endif  // UMS_SOCKET_HANDLE_H_
