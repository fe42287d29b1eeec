// Which inode a socket file is, as the kernel identifies it: the device of
// the inode's superblock and the low 32 bits of its inode number. A server
// records the identity of the file its bind(2) created and, on close,
// removes the file at its path only if that path still names the same inode
// (UnixMessageServer in src/stream/server.ts).
//
// boundFile(fd) asks NETLINK_SOCK_DIAG (sock_diag(7)) about the socket
// itself: an exact lookup by its sockfs inode number with UDIAG_SHOW_VFS
// returns the inode the socket is bound to, whatever the path names now. No
// privilege is needed. It answers only when the kernel has unix_diag
// (CONFIG_UNIX_DIAG) and for sockets of the caller's network namespace; the
// inode number it reports is 32 bits wide (struct unix_diag_vfs).
//
// fileAtPath(path) identifies the file a path names the same way. stat(2)'s
// st_dev is not always the superblock's device: btrfs reports one device per
// subvolume, and overlayfs over several filesystems one per layer (measured
// with a tmpfs lower and an ext4 upper layer: sock_diag said 0:42, st_dev
// 0:43). statx(2) gives the file's mount (STATX_MNT_ID), and
// /proc/self/mountinfo the device of that mount's superblock, which is the
// one sock_diag reports.
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <string>

#include "bound_file.h"
#include "functions.h"
#include "js_values.h"
#include "syscall.h"

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif

namespace ums {

namespace {

struct FileId {
  unsigned major;
  unsigned minor;
  uint32_t ino;
};

// unix_diag's device: the kernel's internal dev_t (linux/kdev_t.h), not
// userspace's encoding.
constexpr unsigned kMinorBits = 20;

int BoundFileOf(int fd, FileId* out) {
  // statx, not fstat: the prebuilt addon's glibc baseline is 2.28 (fd_room.cc).
  struct statx st;
  if (RETRY_EINTR(statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_INO, &st)) < 0) return -errno;
  if (!S_ISSOCK(st.stx_mode)) return -ENOTSOCK;
  // Non-blocking: the kernel answers a sock_diag request inside sendto(), so
  // the reply is already queued when recv() runs; if it ever is not, the
  // caller falls back instead of blocking the event loop.
  const int nl = RETRY_EINTR(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG));
  if (nl < 0) return -errno;
  struct {
    struct nlmsghdr nlh;
    struct unix_diag_req req;
  } request;
  memset(&request, 0, sizeof(request));
  request.nlh.nlmsg_len = sizeof(request);
  request.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  request.nlh.nlmsg_flags = NLM_F_REQUEST;  // one socket by inode, not a dump
  request.req.sdiag_family = AF_UNIX;
  request.req.udiag_states = ~0U;
  request.req.udiag_ino = static_cast<__u32>(st.stx_ino);
  request.req.udiag_show = UDIAG_SHOW_VFS;
  // No cookie to match (INET_DIAG_NOCOOKIE): the inode is the key.
  request.req.udiag_cookie[0] = ~0U;
  request.req.udiag_cookie[1] = ~0U;
  struct sockaddr_nl kernel;
  memset(&kernel, 0, sizeof(kernel));
  kernel.nl_family = AF_NETLINK;
  if (RETRY_EINTR(sendto(nl, &request, sizeof(request), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel))) < 0) {
    const int e = errno;
    CloseFd(nl);
    return -e;
  }
  alignas(struct nlmsghdr) char reply[8192];
  const ssize_t n = RETRY_EINTR(recv(nl, reply, sizeof(reply), 0));
  const int e = errno;
  CloseFd(nl);
  if (n < 0) return -e;
  int len = static_cast<int>(n);
  for (auto* h = reinterpret_cast<struct nlmsghdr*>(reply); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
    if (h->nlmsg_type == NLMSG_ERROR) {
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) return -EPROTO;
      const auto* err = static_cast<const struct nlmsgerr*>(NLMSG_DATA(h));
      return err->error < 0 ? err->error : -ENOENT;
    }
    if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg))) continue;
    const auto* msg = static_cast<const struct unix_diag_msg*>(NLMSG_DATA(h));
    if (msg->udiag_ino != static_cast<__u32>(st.stx_ino)) continue;
    int attrs = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(*msg)));
    for (auto* a = reinterpret_cast<const struct rtattr*>(msg + 1); RTA_OK(a, attrs); a = RTA_NEXT(a, attrs)) {
      if (a->rta_type != UNIX_DIAG_VFS || RTA_PAYLOAD(a) < sizeof(struct unix_diag_vfs)) continue;
      struct unix_diag_vfs vfs;
      memcpy(&vfs, RTA_DATA(a), sizeof(vfs));
      out->major = vfs.udiag_vfs_dev >> kMinorBits;
      out->minor = vfs.udiag_vfs_dev & ((1U << kMinorBits) - 1);
      out->ino = vfs.udiag_vfs_ino;
      return 0;
    }
    return -ENOENT;  // the socket is not bound to a file (unbound or abstract)
  }
  return -EPROTO;
}

// The superblock device of mount `id`, from its /proc/self/mountinfo line
// ("id parent major:minor ...", proc(5)).
int MountDevice(uint64_t id, unsigned* major, unsigned* minor) {
  const int fd = RETRY_EINTR(open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC));
  if (fd < 0) return -errno;
  std::string text;
  char buf[16384];
  for (;;) {
    const ssize_t n = RETRY_EINTR(read(fd, buf, sizeof(buf)));
    if (n < 0) {
      const int e = errno;
      CloseFd(fd);
      return -e;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  CloseFd(fd);
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    unsigned long long mount, parent;
    unsigned maj, min;
    if (sscanf(line.c_str(), "%llu %llu %u:%u", &mount, &parent, &maj, &min) == 4 && mount == id) {
      *major = maj;
      *minor = min;
      return 0;
    }
  }
  return -ENOENT;
}

int FileAtPathOf(const std::string& path, FileId* out) {
  if (path.empty() || path.find('\0') != std::string::npos) return -EINVAL;
  struct statx stx;
  if (RETRY_EINTR(statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_MNT_ID, &stx)) < 0)
    return -errno;
  if ((stx.stx_mask & STATX_MNT_ID) == 0 || (stx.stx_mask & STATX_INO) == 0) return -ENOSYS;  // before Linux 5.8
  const int r = MountDevice(stx.stx_mnt_id, &out->major, &out->minor);
  if (r < 0) return r;
  out->ino = static_cast<uint32_t>(stx.stx_ino);
  return 0;
}

// [major, minor, ino] for JS.
napi_value Identity(napi_env env, const FileId& id) {
  napi_value out;
  if (napi_create_array_with_length(env, 3, &out) != napi_ok) return nullptr;
  if (!SetElement(env, out, 0, Int(env, id.major)) || !SetElement(env, out, 1, Int(env, id.minor)) ||
      !SetElement(env, out, 2, Int(env, id.ino))) {
    return nullptr;
  }
  return out;
}

}  // namespace

bool PathNamesBoundFile(int fd, const std::string& path) {
  FileId bound, at;
  return BoundFileOf(fd, &bound) == 0 && FileAtPathOf(path, &at) == 0 && bound.major == at.major &&
         bound.minor == at.minor && bound.ino == at.ino;
}

// boundFile(fd) -> [major, minor, ino (low 32 bits)] of the file the socket
// is bound to | -errno (-ENOENT: not bound to a file, or sock_diag cannot
// see the socket).
napi_value BoundFile(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  int fd;
  UMS_READ(env, GetInt(env, args[0], &fd));
  FileId id;
  const int r = BoundFileOf(fd, &id);
  return r < 0 ? Int(env, r) : Identity(env, id);
}

// fileAtPath(path) -> [major, minor, ino (low 32 bits)] of the file the path
// names, not following a final symlink | -errno.
napi_value FileAtPath(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (!args.ok) return nullptr;
  std::string path;
  bool present;
  UMS_READ(env, GetAddress(env, args[0], &path, &present));
  if (!present) return Int(env, -EINVAL);
  FileId id;
  const int r = FileAtPathOf(path, &id);
  return r < 0 ? Int(env, r) : Identity(env, id);
}

}  // namespace ums
