/* Throughput reference: the raw sendmsg/recvmsg loop the Node numbers are
 * compared with.
 *
 *   throughput recv TYPE SIZE FDS BATCH WARM_MS MEAS_MS
 *   throughput send TYPE SIZE FDS BATCH
 *
 * TYPE is stream, seqpacket or dgram; SIZE the bytes per message; FDS 0 or 1
 * (the sender attaches the same open /dev/null to every message, the receiver
 * closes every fd it gets); BATCH 0 for one message per syscall
 * (sendmsg/recvmsg, "naive") or 1 for sendmmsg/recvmmsg with 64 messages per
 * call ("batched"). Both ends use blocking sockets.
 *
 * The receiver starts its clock at the first message, skips WARM_MS, counts
 * for MEAS_MS and prints the window; it then drains until the sender's end
 * marker (a 1-byte message; EOF on a stream) and prints its totals, so that
 * the harness can compare fds sent and received. The sender runs until
 * SIGUSR2. */
#include "common.h"

#include <sys/uio.h>

#define SLOTS 64
#define MAX_FDS 253

static int type, size, nfds, batch;

static char *slot_buf[SLOTS];
static size_t slot_cap;
static union {
  char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
  struct cmsghdr align;
} slot_ctl[SLOTS];
static struct iovec slot_iov[SLOTS];
static struct mmsghdr slot_hdr[SLOTS];

/* Closes the fds of one received message; returns how many there were. */
static int close_fds(struct msghdr *m) {
  int n = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int *fds = (int *)CMSG_DATA(c);
    for (int i = 0; i < count; i++) close(fds[i]);
    n += count;
  }
  return n;
}

static void reset_slot(int i) {
  slot_iov[i].iov_base = slot_buf[i];
  slot_iov[i].iov_len = slot_cap;
  memset(&slot_hdr[i].msg_hdr, 0, sizeof slot_hdr[i].msg_hdr);
  slot_hdr[i].msg_hdr.msg_iov = &slot_iov[i];
  slot_hdr[i].msg_hdr.msg_iovlen = 1;
  slot_hdr[i].msg_hdr.msg_control = slot_ctl[i].buf;
  slot_hdr[i].msg_hdr.msg_controllen = sizeof slot_ctl[i].buf;
}

static int do_recv(double warm, double meas) {
  /* Like the library: 64 KiB reads on a stream, room for the message otherwise. */
  slot_cap = type == SOCK_STREAM ? 65536 : (size_t)(size < 65536 ? 65536 : size);
  for (int i = 0; i < SLOTS; i++) slot_buf[i] = malloc(slot_cap);
  uint64_t msgs = 0, bytes = 0, fds = 0;
  uint64_t m0 = 0, b0 = 0;
  double t_first = 0, t0 = 0;
  int phase = 0; /* 0 before the first message, 1 warm-up, 2 measuring, 3 done */
  unsigned since_check = 0;
  int end = 0;
  out("{\"role\":\"recv\",\"event\":\"ready\"}");
  while (!end) {
    int n;
    if (batch) {
      for (int i = 0; i < SLOTS; i++) reset_slot(i);
      n = recvmmsg(SOCK_FD, slot_hdr, SLOTS, MSG_WAITFORONE | MSG_CMSG_CLOEXEC, NULL);
    } else {
      reset_slot(0);
      ssize_t r = recvmsg(SOCK_FD, &slot_hdr[0].msg_hdr, MSG_CMSG_CLOEXEC);
      if (r >= 0) slot_hdr[0].msg_len = (unsigned)r;
      n = r < 0 ? -1 : 1;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) break;
      die("recvmsg");
    }
    for (int i = 0; i < n; i++) {
      unsigned len = slot_hdr[i].msg_len;
      fds += close_fds(&slot_hdr[i].msg_hdr);
      if (len == 0 || (type != SOCK_STREAM && len == 1)) {
        end = 1; /* EOF, or the sender's end marker */
        break;
      }
      msgs++;
      bytes += len;
    }
    since_check += n;
    if (phase < 3 && (since_check >= 64 || phase == 0)) {
      since_check = 0;
      double t = now_s();
      if (phase == 0) {
        t_first = t;
        phase = 1;
      } else if (phase == 1 && t - t_first >= warm) {
        t0 = t;
        m0 = msgs;
        b0 = bytes;
        phase = 2;
        char line[128];
        snprintf(line, sizeof line, "{\"role\":\"recv\",\"event\":\"window\",\"pid\":%d}", (int)getpid());
        out(line);
      } else if (phase == 2 && t - t0 >= meas) {
        char line[256];
        snprintf(line, sizeof line,
                 "{\"role\":\"recv\",\"event\":\"measured\",\"msgs\":%llu,\"bytes\":%llu,\"seconds\":%.6f}",
                 (unsigned long long)(msgs - m0), (unsigned long long)(bytes - b0), t - t0);
        out(line);
        phase = 3;
      }
    }
  }
  char line[256];
  snprintf(line, sizeof line, "{\"role\":\"recv\",\"event\":\"done\",\"msgs\":%llu,\"bytes\":%llu,\"fds\":%llu}",
           (unsigned long long)msgs, (unsigned long long)bytes, (unsigned long long)fds);
  out(line);
  return 0;
}

static union {
  char buf[CMSG_SPACE(sizeof(int))];
  struct cmsghdr align;
} send_ctl[SLOTS];

static void fill_send(struct msghdr *m, struct iovec *iov, int i, char *payload, size_t len, int fd) {
  memset(m, 0, sizeof *m);
  iov->iov_base = payload;
  iov->iov_len = len;
  m->msg_iov = iov;
  m->msg_iovlen = 1;
  if (fd >= 0) {
    m->msg_control = send_ctl[i].buf;
    m->msg_controllen = sizeof send_ctl[i].buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
}

/* A stream write that was cut short: the fds went with the first byte. */
static int send_rest(const char *p, size_t len) {
  while (len > 0) {
    ssize_t r = send(SOCK_FD, p, len, MSG_NOSIGNAL);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

static int do_send(void) {
  install_stop_handler();
  char ready[128];
  snprintf(ready, sizeof ready, "{\"role\":\"send\",\"event\":\"ready\",\"pid\":%d}", (int)getpid());
  out(ready);
  char *payload = malloc(size);
  memset(payload, 'x', size);
  int fd = nfds > 0 ? open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;
  uint64_t msgs = 0, fds = 0;
  struct iovec iov[SLOTS];
  struct mmsghdr hdr[SLOTS];
  memset(hdr, 0, sizeof hdr);
  for (int i = 0; i < SLOTS; i++) fill_send(&hdr[i].msg_hdr, &iov[i], i, payload, size, fd);
  while (!stop_requested) {
    if (batch) {
      int n = sendmmsg(SOCK_FD, hdr, SLOTS, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        die("sendmmsg");
      }
      if (type == SOCK_STREAM && hdr[n - 1].msg_len < (unsigned)size) {
        if (send_rest(payload + hdr[n - 1].msg_len, size - hdr[n - 1].msg_len) < 0) die("send");
      }
      msgs += n;
      if (fd >= 0) fds += n;
    } else {
      ssize_t r = sendmsg(SOCK_FD, &hdr[0].msg_hdr, MSG_NOSIGNAL);
      if (r < 0) {
        if (errno == EINTR) continue;
        die("sendmsg");
      }
      if (r < size && send_rest(payload + r, size - r) < 0) die("send");
      msgs++;
      if (fd >= 0) fds++;
    }
  }
  char line[256];
  snprintf(line, sizeof line, "{\"role\":\"send\",\"event\":\"done\",\"msgs\":%llu,\"fds\":%llu}",
           (unsigned long long)msgs, (unsigned long long)fds);
  out(line);
  if (type == SOCK_STREAM) {
    shutdown(SOCK_FD, SHUT_WR);
  } else {
    while (send(SOCK_FD, "E", 1, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
  }
  close(SOCK_FD);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s recv|send TYPE SIZE FDS BATCH [WARM_MS MEAS_MS]\n", argv[0]);
    return 2;
  }
  type = parse_type(argv[2]);
  size = atoi(argv[3]);
  nfds = atoi(argv[4]);
  batch = atoi(argv[5]);
  if (size < 2) {
    fprintf(stderr, "SIZE must be at least 2 (1-byte messages are the end marker)\n");
    return 2;
  }
  make_blocking(SOCK_FD);
  if (strcmp(argv[1], "recv") == 0) {
    if (argc < 8) return 2;
    return do_recv(atoi(argv[6]) / 1000.0, atoi(argv[7]) / 1000.0);
  }
  if (strcmp(argv[1], "send") == 0) return do_send();
  return 2;
}
