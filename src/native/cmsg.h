// Control-message (ancillary data) packing and unpacking for SCM_RIGHTS and
// SCM_CREDENTIALS.
#ifndef UMS_CMSG_H_
#define UMS_CMSG_H_

#include <sys/socket.h>

#include <vector>

#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

namespace ums {

// SCM_MAX_FD in the kernel: the most fds one sendmsg may carry (unix(7)).
constexpr int kMaxFdsPerMessage = 253;

// The receive control buffer is sized for the worst case, so that on Linux a
// MSG_CTRUNC can only mean EMFILE, an LSM denial or a peer bug, never "our
// buffer was too small" (docs/kernel.md, "Receive control buffer"):
// 253 fds, then credentials, then an SCM_PIDFD if SO_PASSPIDFD is on.
constexpr size_t kRecvControlSize =
    CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage) + CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int));

union RecvControl {
  struct cmsghdr align;
  char buf[kRecvControlSize];
};
static_assert(sizeof(RecvControl) >= 1088, "control buffer below the worst case");

union SendControl {
  struct cmsghdr align;
  char buf[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
};

struct Credentials {
  bool present = false;
  int pid = 0;
  int uid = 0;
  int gid = 0;
};

// Appends every SCM_RIGHTS fd of msg to fds (counts derived from cmsg_len,
// never from the buffer size), fills creds from SCM_CREDENTIALS, and closes
// SCM_PIDFD descriptors, which the kernel installs even though we never asked
// for them unless SO_PASSPIDFD is set (E19). With pidfd non-null (the socket
// asked for them, passPidfd) the SCM_PIDFD fd is stored there instead; it
// stays -1 when none came (or the kernel reported a negative errno for one
// it could not install).
void ParseControl(struct msghdr* msg, std::vector<int>* fds, Credentials* creds, int* pidfd = nullptr);

// Writes one SCM_RIGHTS cmsg for fds into control and returns msg_controllen.
size_t BuildRights(const int* fds, int count, SendControl* control);

}  // namespace ums

#endif  // UMS_CMSG_H_
