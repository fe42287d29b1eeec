// Building SCM_RIGHTS control messages and parsing received ones into fds
// and credentials (cmsg.h).
#include "cmsg.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "syscall.h"

namespace ums {

namespace {

// The ids the kernel reports for a message that was sent with no
// credentials attached (/proc/sys/kernel/overflowuid, overflowgid).
int ReadOverflowId(const char* path) {
  const int fd = RETRY_EINTR(open(path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return 65534;
  char buf[16] = {};
  const ssize_t n = RETRY_EINTR(read(fd, buf, sizeof(buf) - 1));
  CloseFd(fd);
  return n > 0 ? atoi(buf) : 65534;
}

// A message sent while neither socket had SO_PASSCRED carries no sender:
// the kernel still adds SCM_CREDENTIALS once the receiver has turned it on,
// with pid 0 and the overflow ids. That is not a sender to report.
bool NoSender(const struct ucred& uc) {
  static const int overflow_uid = ReadOverflowId("/proc/sys/kernel/overflowuid");
  static const int overflow_gid = ReadOverflowId("/proc/sys/kernel/overflowgid");
  return uc.pid == 0 && static_cast<int>(uc.uid) == overflow_uid && static_cast<int>(uc.gid) == overflow_gid;
}

}  // namespace

void ParseControl(struct msghdr* msg, std::vector<int>* fds, Credentials* creds, int* pidfd) {
  if (msg->msg_controllen == 0) return;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(msg); c != nullptr; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    const size_t payload = c->cmsg_len - CMSG_LEN(0);
    if (c->cmsg_type == SCM_RIGHTS || c->cmsg_type == SCM_PIDFD) {
      const size_t count = payload / sizeof(int);
      const unsigned char* p = CMSG_DATA(c);
      for (size_t i = 0; i < count; i++) {
        int fd;
        memcpy(&fd, p + i * sizeof(int), sizeof(int));
        if (c->cmsg_type == SCM_RIGHTS) {
          fds->push_back(fd);
        } else if (fd < 0) {
          continue;  // the kernel could not install it: nothing to close
        } else if (pidfd != nullptr && *pidfd < 0) {
          *pidfd = fd;
        } else {
          CloseFd(fd);
        }
      }
    } else if (c->cmsg_type == SCM_CREDENTIALS && payload >= sizeof(struct ucred)) {
      struct ucred uc;
      memcpy(&uc, CMSG_DATA(c), sizeof(uc));
      if (NoSender(uc)) continue;
      creds->present = true;
      creds->pid = uc.pid;
      creds->uid = static_cast<int>(uc.uid);
      creds->gid = static_cast<int>(uc.gid);
    }
  }
}

size_t BuildRights(const int* fds, int count, SendControl* control) {
  if (count <= 0) return 0;
  const size_t space = CMSG_SPACE(sizeof(int) * count);
  memset(control->buf, 0, space);
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_control = control->buf;
  msg.msg_controllen = space;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  // CMSG_LEN, not CMSG_SPACE: the padding must not count as a (garbage) fd
  // (mozilla/audioipc#9 leaked fd 0 that way).
  c->cmsg_len = CMSG_LEN(sizeof(int) * count);
  memcpy(CMSG_DATA(c), fds, sizeof(int) * count);  // count > 0: fds is not null
  return space;
}

}  // namespace ums
