// The shape of what the addon shares with src/native/binding.ts: the
// per-message records of a read batch in the shared meta Int32Array, their
// flags, the read statuses, and the capacities the shared arrays are sized
// from. Every name here is exported by name (addon.cc, Constants) and
// declared in binding.ts's NativeConstants; TypeScript reads the records by
// those names only.
#ifndef UMS_SHARED_LAYOUT_H_
#define UMS_SHARED_LAYOUT_H_

#include <cstdint>

namespace ums {

// One message's record in the meta array: META_STRIDE slots from
// index * META_STRIDE (SocketHandle::DoRead writes it, socket.ts reads it).
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
  kFlagTruncated = 1,     // MSG_TRUNC
  kFlagFdsTruncated = 2,  // MSG_CTRUNC
  kFlagCredentials = 4,
  kFlagPidfd = 8,  // SCM_PIDFD: the message's last fd is the sender's pidfd
};

// Cap on messages per JS call; the meta array is sized from it.
constexpr int kMaxBatch = 256;
// fds left free for the rest of the process: a read never takes the
// process's room below this, or below an eighth of RLIMIT_NOFILE when that
// is smaller (fd_room.h).
constexpr int kFdReserve = 32;
// Read status reported after the batch: 0, UV_EOF, a negative errno, or
// kStatusNoFdRoom: nothing was read because the process has too few free
// fds for another message; JS stops reading and retries on a timer.
constexpr int kStatusOk = 0;
constexpr int kStatusNoFdRoom = 1;

// Capacity of the disown ring (fd_ledger.h) that setup() expects.
constexpr uint32_t kDisownRing = 4096;

}  // namespace ums

#endif  // UMS_SHARED_LAYOUT_H_
