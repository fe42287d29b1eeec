// SocketHandle: the one owner of a socket fd and of its uv_poll_t.
//
// The handle is deliberately thin: it polls, reads whole batches of messages
// (or accepts batches of connections) and hands them to JS in one call,
// reports writability, and sends on its fd what JS gives it (send.h). All
// policy (backpressure, retries, fd ownership, errors) is in TypeScript.
//
// It is a JS class made with napi_define_class, its native part attached
// with napi_wrap and type-tagged, so that a method called on a foreign
// object returns -EINVAL instead of touching the wrong memory.
#ifndef UMS_SOCKET_HANDLE_H_
#define UMS_SOCKET_HANDLE_H_

#include <node_api.h>
#include <uv.h>

#include <memory>
#include <string>

#include "env_state.h"
#include "shared_layout.h"

namespace ums {

// Cap on bytes per JS call, so one busy socket cannot starve the loop
// (libuv uv__read "count = 32").
constexpr size_t kMaxBatchBytes = 1 << 20;
// A batch up to this size reaches JS as one Buffer, a larger one as a Buffer
// per message (SocketHandle::MessageBytes).
constexpr size_t kCopyChunk = 64 << 10;
// The uv_poll_t, allocated apart from the handle: libuv frees nothing, and
// the uv_close callback (SocketHandle::OnClosed) may run after the handle
// is gone, so the box lives until then, and keeps the ledger alive for the
// teardown to count the close as done (FdLedger::CloseCallbackDone).
struct PollBox {
  uv_poll_t poll;
  std::shared_ptr<FdLedger> ledger;
  SocketHandle* owner;
};

class SocketHandle {
 public:
  // The JS class; its constructor takes no arguments.
  static napi_status Define(napi_env env, napi_value* out);

  // Stops polling and closes the fd at once; idempotent. Safe without JS
  // (used by the env teardown hook).
  void CloseNow();
  // The env teardown hook's close: CloseNow(), after removing the socket
  // file a server asked for (setTeardownUnlink), as closing the server
  // from JS would have.
  void TeardownClose();

 private:
  explicit SocketHandle(AddonData* data) : data_(data) {}
  ~SocketHandle();

  static napi_value New(napi_env env, napi_callback_info info);
  static void Finalize(napi_env env, void* data, void* hint);
  // `this` of a method call, or nullptr (the call then returns -EINVAL).
  static SocketHandle* From(napi_env env, napi_value self);

  static napi_value Open(napi_env env, napi_callback_info info);
  static napi_value ReadStart(napi_env env, napi_callback_info info);
  static napi_value ReadStop(napi_env env, napi_callback_info info);
  static napi_value WriteStart(napi_env env, napi_callback_info info);
  static napi_value WriteStop(napi_env env, napi_callback_info info);
  static napi_value SetListening(napi_env env, napi_callback_info info);
  static napi_value SetMaxFds(napi_env env, napi_callback_info info);
  static napi_value SetTeardownUnlink(napi_env env, napi_callback_info info);
  static napi_value Ref(napi_env env, napi_callback_info info);
  static napi_value Unref(napi_env env, napi_callback_info info);
  static napi_value HasRef(napi_env env, napi_callback_info info);
  static napi_value Close(napi_env env, napi_callback_info info);
  static napi_value GetFd(napi_env env, napi_callback_info info);
  static napi_value Send(napi_env env, napi_callback_info info);
  static napi_value SendBatch(napi_env env, napi_callback_info info);

  int UpdatePoll();
  static void OnPoll(uv_poll_t* poll, int status, int events);
  static void OnClosed(uv_handle_t* handle);
  void HandleEvents(int status, int events);
  void DoRead(napi_env env);
  void DoAccept(napi_env env);
  void CloseReceived(int count);
  bool MessageBytes(napi_env env, int count, size_t used, napi_value* out, int64_t* base);
  // Each returns messages read (> 0), 0 for EAGAIN, or a final status.
  // `ask`: the fds one message may bring (ControlLength).
  // `size`: the bytes the read may take (max_message_, or a framed rest).
  int ReadStream(napi_env env, int ask, size_t size, int* count, size_t* used, int* fds_used);
  int ReadDatagrams(int limit, int ask, int* count, size_t* used, int* fds_used);
  bool SeqpacketEof();
  size_t ControlLength(int fds) const;
  // The fds one read asking for `ask` may leave with: ask, plus the pidfd.
  int ReadCost(int ask) const { return ask + (pass_pidfd_ ? 1 : 0); }
  // The most fds one recvmsg with ControlLength(ask) may install at once:
  // with passPidfd the room kept for the pidfd takes that many more
  // SCM_RIGHTS fds from a sender sending more than `ask` (DropExtraFds
  // closes them, but only after the call; recvmmsg installs every slot's
  // before any is closed).
  int InstallBound(int ask) const;
  // Closes the SCM_RIGHTS fds past `ask` that room left for the pidfd let
  // in (ReadStream, ReadDatagrams); true if any were.
  static bool DropExtraFds(int ask);

  AddonData* data_;
  napi_env env_ = nullptr;
  // The JS object: weak while closed, strong while open (the poll callback
  // needs it).
  napi_ref wrapper_ = nullptr;
  napi_async_context context_ = nullptr;
  PollBox* box_ = nullptr;
  int fd_ = -1;
  int type_ = 0;
  size_t max_message_ = 0;
  // The most fds one message may bring: SCM_MAX_FD, or maxFdsPerMessage. The
  // control buffer holds exactly that many, so more arrive fdsTruncated.
  int max_fds_ = 253;
  bool pass_credentials_ = false;
  // SO_PASSPIDFD (passPidfd): each message's SCM_PIDFD is kept and handed
  // to JS as its last fd (kFlagPidfd); otherwise it is closed on receipt.
  bool pass_pidfd_ = false;
  // A listening socket's file, removed by TeardownClose() if the path still
  // names the file the socket is bound to.
  std::string teardown_unlink_;
  // The last batch brought fds: count the process's fds more often (fd_room.h).
  bool fds_flowing_ = false;
  // The fds one wakeup may add (readStart), or, listening, the connections.
  int fd_budget_ = 0;
  // Stream: the bytes left of the framed message JS is assembling
  // (readStart's frameRest; 0: none). Reads take no more, asking no fds
  // (DoRead).
  size_t frame_rest_ = 0;
  // The events the poll handle is started with (0: stopped, -1: unknown).
  // uv_poll_start() always re-registers the fd with epoll (a DEL and an ADD
  // per call), so it is called only when the set changes.
  int polled_events_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool listening_ = false;
  bool refed_ = true;
  bool reset_seen_ = false;  // ECONNRESET came before the data
  // Stream: the last read filled max_message_, so the next one goes straight
  // into a new JS Buffer instead of the arena (ReadStream).
  bool read_direct_ = false;
  bool eof_ = false;
};

}  // namespace ums

#endif  // UMS_SOCKET_HANDLE_H_
