/* The C reference of bench/handoff: the least a primary can do to hand
 * accepted TCP connections to two worker processes, so the pool's rate has a
 * ceiling to be measured against on the same machine in the same run.
 *
 *   handoff <port>
 *
 * The primary listens on 127.0.0.1:<port> (0: a free one) and prints
 * "READY <port>". Each
 * wakeup it accepts until EAGAIN (at most 2 x SCM_MAX_FD), splits the fds
 * between the two workers, sends each share in one sendmsg and closes its
 * copies: what the pool does, minus JavaScript. Each worker drains its
 * SEQPACKET channel and prints "H <pid> <count> <CLOCK_MONOTONIC ns>" once
 * the channel is empty, and closes what it holds after 20 ms of quiet, like
 * bench/handoff/worker-common.js. */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define SCM_MAX_FD 253
#define WORKERS 2
#define HELD_MAX (1 << 16)

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void worker(int chan) {
  static int held[HELD_MAX];
  int nheld = 0;
  long count = 0;
  union {
    char buf[CMSG_SPACE(SCM_MAX_FD * sizeof(int))];
    struct cmsghdr align;
  } ctl;
  char byte;
  for (;;) {
    struct pollfd p = {.fd = chan, .events = POLLIN};
    int r = poll(&p, 1, nheld > 0 ? 20 : -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die("poll");
    if (r == 0) {
      while (nheld > 0) close(held[--nheld]);
      continue;
    }
    for (;;) {
      struct iovec iov = {.iov_base = &byte, .iov_len = 1};
      struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
      ssize_t n = recvmsg(chan, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      if (n <= 0) exit(0); /* the primary is gone */
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *fds = (int *)CMSG_DATA(c);
        for (int i = 0; i < k; i++) {
          if (nheld < HELD_MAX) held[nheld++] = fds[i];
          else close(fds[i]);
        }
        count += k;
      }
    }
    printf("H %d %ld %llu\n", (int)getpid(), count, (unsigned long long)now_ns());
    fflush(stdout);
  }
}

static void send_share(int chan, const int *fds, int n) {
  union {
    char buf[CMSG_SPACE(SCM_MAX_FD * sizeof(int))];
    struct cmsghdr align;
  } ctl;
  char byte = 'c';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = CMSG_SPACE(n * sizeof(int))};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(n * sizeof(int));
  memcpy(CMSG_DATA(c), fds, n * sizeof(int));
  /* Blocking: the reference waits for a full channel instead of queueing. */
  while (sendmsg(chan, &msg, MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) die("sendmsg");
  }
  for (int i = 0; i < n; i++) close(fds[i]);
}

static pid_t pids[WORKERS];
static void on_term(int sig) {
  (void)sig;
  for (int i = 0; i < WORKERS; i++) kill(pids[i], SIGTERM);
  _exit(0);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: handoff <port>\n");
    return 2;
  }
  int chans[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) die("socketpair");
    pids[i] = fork();
    if (pids[i] < 0) die("fork");
    if (pids[i] == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      close(sv[0]);
      worker(sv[1]);
    }
    close(sv[1]);
    chans[i] = sv[0];
  }
  signal(SIGTERM, on_term);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  if (listen(lfd, 4096) < 0) die("listen");
  socklen_t alen = sizeof a;
  if (getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) die("getsockname");
  printf("READY %d\n", ntohs(a.sin_port));
  fflush(stdout);

  int accepted[WORKERS * SCM_MAX_FD];
  for (;;) {
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    int n = 0;
    while (n < WORKERS * SCM_MAX_FD) {
      int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c >= 0) {
        accepted[n++] = c;
        continue;
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN) break;
      die("accept4");
    }
    /* An even split, as the pool's round-robin spreads a batch. */
    int half = (n + 1) / 2;
    if (half > 0) send_share(chans[0], accepted, half);
    if (n - half > 0) send_share(chans[1], accepted + half, n - half);
  }
}
