// The module's `constants` object: the kernel's numbers the TypeScript layer
// needs (socket types, levels, options, flags), and the shape of what the
// addon shares with binding.ts (shared_layout.h), each by name.
#include <limits.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "cmsg.h"
#include "functions.h"
#include "js_values.h"
#include "shared_layout.h"

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace ums {

bool Constants(napi_env env, napi_value* out) {
  if (napi_create_object(env, out) != napi_ok) return false;
  bool ok = true;
  const auto set = [&](const char* name, int64_t v) { ok = ok && SetNamed(env, *out, name, Int(env, v)); };
#define UMS_CONSTANT(name) set(#name, name)
  UMS_CONSTANT(AF_UNIX);
  UMS_CONSTANT(SOCK_STREAM);
  UMS_CONSTANT(SOCK_DGRAM);
  UMS_CONSTANT(SOCK_SEQPACKET);
  UMS_CONSTANT(SOL_SOCKET);
  UMS_CONSTANT(SCM_RIGHTS);
  UMS_CONSTANT(SCM_CREDENTIALS);
  UMS_CONSTANT(SCM_PIDFD);
  UMS_CONSTANT(SO_TYPE);
  UMS_CONSTANT(SO_DOMAIN);
  UMS_CONSTANT(SO_ERROR);
  UMS_CONSTANT(SO_ACCEPTCONN);
  UMS_CONSTANT(SO_PASSCRED);
  UMS_CONSTANT(SO_PASSPIDFD);
  UMS_CONSTANT(SO_PEERPIDFD);
  UMS_CONSTANT(SO_PASSRIGHTS);
  UMS_CONSTANT(SO_PEERCRED);
  UMS_CONSTANT(SO_SNDBUF);
  UMS_CONSTANT(SO_RCVBUF);
  UMS_CONSTANT(SO_SNDBUFFORCE);
  UMS_CONSTANT(SO_RCVBUFFORCE);
  UMS_CONSTANT(SO_PEERGROUPS);
  UMS_CONSTANT(SO_PEERSEC);
  UMS_CONSTANT(MSG_PEEK);
  UMS_CONSTANT(MSG_TRUNC);
  UMS_CONSTANT(MSG_CTRUNC);
  UMS_CONSTANT(MSG_DONTWAIT);
  UMS_CONSTANT(MSG_NOSIGNAL);
  UMS_CONSTANT(MSG_CMSG_CLOEXEC);
  UMS_CONSTANT(MSG_EOR);
  UMS_CONSTANT(MSG_OOB);
  UMS_CONSTANT(MSG_WAITALL);
  UMS_CONSTANT(SHUT_RD);
  UMS_CONSTANT(SHUT_WR);
  UMS_CONSTANT(SHUT_RDWR);
  UMS_CONSTANT(IOV_MAX);
  // Errnos that neither libuv nor os.constants.errno name.
  UMS_CONSTANT(ETOOMANYREFS);
  // inet sockets of the low-level API (ip(7), ipv6(7), socket(7)).
  UMS_CONSTANT(AF_INET);
  UMS_CONSTANT(AF_INET6);
  UMS_CONSTANT(IPPROTO_IP);
  UMS_CONSTANT(IP_PKTINFO);
  UMS_CONSTANT(IPPROTO_IPV6);
  UMS_CONSTANT(IPV6_RECVPKTINFO);
  UMS_CONSTANT(IPV6_PKTINFO);
  UMS_CONSTANT(SO_REUSEADDR);
  UMS_CONSTANT(SO_TIMESTAMP);
  UMS_CONSTANT(SCM_TIMESTAMP);
#undef UMS_CONSTANT
  set("SCM_MAX_FD", kMaxFdsPerMessage);
  // The shape of what the addon shares with binding.ts.
  set("BATCH_MESSAGES", kMaxBatch);
  set("META_STRIDE", kMetaStride);
  set("META_LENGTH", kMetaLength);
  set("META_FLAGS", kMetaFlags);
  set("META_FD_COUNT", kMetaFdCount);
  set("META_PID", kMetaPid);
  set("META_UID", kMetaUid);
  set("META_GID", kMetaGid);
  set("FLAG_TRUNCATED", kFlagTruncated);
  set("FLAG_FDS_TRUNCATED", kFlagFdsTruncated);
  set("FLAG_CREDENTIALS", kFlagCredentials);
  set("FLAG_PIDFD", kFlagPidfd);
  set("STATUS_NO_FD_ROOM", kStatusNoFdRoom);
  set("FD_RESERVE", kFdReserve);
  set("DISOWN_RING", kDisownRing);
  return ok;
}

}  // namespace ums
